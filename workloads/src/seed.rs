//! Seed derivation: every random decision of a run comes from its one seed.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Mixes `salt` into `seed` (SplitMix64's finaliser), so that streams derived from one
/// seed for different salts are unrelated.
pub fn mix(seed: u64, salt: u64) -> u64 {
    let mut z = seed ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The random stream of one party (a client process) of a seeded run.
pub fn rng_for(seed: u64, salt: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(mix(seed, salt))
}
