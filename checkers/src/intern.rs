//! A compact string interner (node names, write ids, elections) and a fast hasher.
//!
//! Write ids can number in the millions, so the interner keeps every name in one arena
//! and an open-addressing table of `u32` slots: about 20 bytes per name, against about
//! 80 for a `HashMap<String, u32>` plus a reverse `Vec<String>`.

use std::hash::{BuildHasherDefault, Hasher};

/// The id of an interned string; dense from 0.
pub type Sym = u32;

/// `Sym` meaning "none" in compact records.
pub const NO_SYM: Sym = u32::MAX;

/// The multiply-rotate hash of rustc (FxHash): fast for short keys; not DoS-resistant,
/// which does not matter for a history the user hands us.
#[derive(Default, Clone, Copy)]
pub struct FxHasher {
    hash: u64,
}

const FX_SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(FX_SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.add(u64::from_le_bytes(chunk.try_into().expect("8-byte chunk")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut buf = [0u8; 8];
            buf[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(buf));
        }
    }
    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }
    #[inline]
    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }
    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

pub type FxBuildHasher = BuildHasherDefault<FxHasher>;
pub type FxHashMap<K, V> = std::collections::HashMap<K, V, FxBuildHasher>;

/// Hashes a name so that every bit of the result depends on every byte: Fx alone
/// leaves the low bits depending on the first bytes only, and ids like `w1234567`
/// share those.
pub(crate) fn hash_str(s: &str) -> u64 {
    let mut h = FxHasher::default();
    h.write(s.as_bytes());
    h.add(s.len() as u64);
    // The finalizer of MurmurHash3.
    let mut x = h.hash;
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

/// Interns strings into dense `Sym`s and gives their text back.
#[derive(Clone, Debug)]
pub struct Interner {
    arena: String,
    /// `ends[i]` is where symbol `i`'s text ends in the arena; it starts where `i-1` ends.
    ends: Vec<usize>,
    /// Each slot holds the high half of its name's hash (so most mismatches are decided
    /// without touching the arena) and the symbol, or `EMPTY_SLOT`.
    slots: Vec<u64>,
}

const EMPTY_SLOT: u64 = u64::MAX;

impl Default for Interner {
    fn default() -> Self {
        Interner::with_capacity(8)
    }
}

fn slot_of(hash: u64, sym: Sym) -> u64 {
    (hash & 0xffff_ffff_0000_0000) | u64::from(sym)
}

impl Interner {
    /// An interner that takes `names` names before it has to grow its table.
    pub fn with_capacity(names: usize) -> Interner {
        Interner {
            arena: String::new(),
            ends: Vec::new(),
            slots: vec![EMPTY_SLOT; (names * 2).next_power_of_two().max(16)],
        }
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The text of `sym`.
    pub fn name(&self, sym: Sym) -> &str {
        let i = sym as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.arena[start..self.ends[i]]
    }

    /// The symbol of `s`, if it was interned.
    pub fn get(&self, s: &str) -> Option<Sym> {
        let hash = hash_str(s);
        let (slot, found) = self.probe(s, hash);
        found.then(|| self.slots[slot] as Sym)
    }

    /// The symbol of `s`, interning it if new.
    pub fn intern(&mut self, s: &str) -> Sym {
        let hash = hash_str(s);
        let (slot, found) = self.probe(s, hash);
        if found {
            return self.slots[slot] as Sym;
        }
        let sym = u32::try_from(self.ends.len())
            .ok()
            .filter(|&n| n != NO_SYM)
            .expect("fewer than 2^32-1 distinct names in a history");
        self.arena.push_str(s);
        self.ends.push(self.arena.len());
        self.slots[slot] = slot_of(hash, sym);
        if self.ends.len() * 2 > self.slots.len() {
            self.grow();
        }
        sym
    }

    /// The slot holding `s`, or the empty slot where it would go.
    #[inline]
    fn probe(&self, s: &str, hash: u64) -> (usize, bool) {
        let mask = self.slots.len() - 1;
        let fingerprint = hash & 0xffff_ffff_0000_0000;
        let mut slot = hash as usize & mask;
        loop {
            match self.slots[slot] {
                EMPTY_SLOT => return (slot, false),
                v if v & 0xffff_ffff_0000_0000 == fingerprint && self.name(v as Sym) == s => {
                    return (slot, true)
                }
                _ => slot = (slot + 1) & mask,
            }
        }
    }

    fn grow(&mut self) {
        let capacity = self.slots.len() * 2;
        let mask = capacity - 1;
        let mut slots = vec![EMPTY_SLOT; capacity];
        for sym in 0..self.ends.len() as u32 {
            let hash = hash_str(self.name(sym));
            let mut slot = hash as usize & mask;
            while slots[slot] != EMPTY_SLOT {
                slot = (slot + 1) & mask;
            }
            slots[slot] = slot_of(hash, sym);
        }
        self.slots = slots;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interns_and_names_back() {
        let mut i = Interner::default();
        let syms: Vec<Sym> = (0..1000).map(|n| i.intern(&format!("w{n}"))).collect();
        assert_eq!(syms, (0..1000).collect::<Vec<_>>());
        assert_eq!(i.intern("w17"), 17);
        assert_eq!(i.name(999), "w999");
        assert_eq!(i.get("w1000"), None);
        assert_eq!(i.intern(""), 1000);
        assert_eq!(i.name(1000), "");
    }
}
