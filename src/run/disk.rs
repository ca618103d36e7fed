//! Free space on the filesystems a run writes to — the results directory's and, for the
//! process runtimes, the nodes' data directory's — so that a full disk is reported as what
//! it is, a failure of the machine the harness runs on, and never blamed on the cluster.

use std::fmt;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Below this much free space a run does not start. A short run writes about 150 KiB
/// (history, node logs, report); an hour at the default rate writes tens of MiB, which
/// the watch during the run catches.
pub const DISK_FREE_BYTES_START_MIN: u64 = 16 << 20;
/// Below this much free space during a run the disk is about to fill: the run stops
/// while the history it holds can still be flushed whole.
pub const DISK_FREE_BYTES_RUN_MIN: u64 = 1 << 20;
/// How often a running test looks at the free space.
pub const DISK_CHECK_INTERVAL_MS: u64 = 1_000;

/// How every message about a full disk begins.
pub const DISK_FULL: &str = "the disk is full";

/// What a filesystem holds for the run, for messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Results,
    NodeData,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Results => "results",
            Role::NodeData => "node data",
        }
    }

    fn remedy(self) -> &'static str {
        match self {
            Role::Results => "free space there or give --results a directory on another disk",
            Role::NodeData => {
                "free space there (the nodes of the process runtimes keep their data under it)"
            }
        }
    }
}

/// The filesystems one run writes to, each named once.
#[derive(Clone, Debug, Default)]
pub struct Disks {
    places: Vec<(Role, PathBuf)>,
}

/// A filesystem with less free space than a run needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Low {
    pub role: Role,
    pub path: PathBuf,
    pub free_bytes: u64,
    pub needed_bytes: u64,
}

impl fmt::Display for Low {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{DISK_FULL}: the {} filesystem at {} has {} free, less than the {} a run needs; {}",
            self.role.name(),
            self.path.display(),
            human_bytes(self.free_bytes),
            human_bytes(self.needed_bytes),
            self.role.remedy()
        )
    }
}

impl Disks {
    /// The results root, and the nodes' data directory when the nodes run as host
    /// processes (containers keep theirs inside docker). Two paths on one filesystem are
    /// watched once, under the first role.
    pub fn for_run(results: &Path, node_data: Option<&Path>) -> Disks {
        let mut places: Vec<(Role, PathBuf)> = Vec::new();
        let mut devices = Vec::new();
        let wanted = [(Role::Results, Some(results)), (Role::NodeData, node_data)];
        for (role, path) in wanted {
            let Some(path) = path else { continue };
            let existing = nearest_existing(path);
            let device = std::fs::metadata(&existing).ok().map(|m| m.dev());
            if device.is_some() && devices.contains(&device) {
                continue;
            }
            devices.push(device);
            places.push((role, existing));
        }
        Disks { places }
    }

    /// The first filesystem with less than `needed_bytes` free; one whose free space
    /// cannot be read is passed over (the writes themselves will tell).
    pub fn low(&self, needed_bytes: u64) -> Option<Low> {
        self.places.iter().find_map(|(role, path)| {
            let free_bytes = free_bytes(path).ok()?;
            (free_bytes < needed_bytes).then(|| Low {
                role: *role,
                path: path.clone(),
                free_bytes,
                needed_bytes,
            })
        })
    }
}

/// `path`, or its closest ancestor that exists (a results root is made by the run).
fn nearest_existing(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    absolute
        .ancestors()
        .find(|p| p.exists())
        .map_or_else(|| PathBuf::from("/"), Path::to_path_buf)
}

/// The bytes this process may still write on `path`'s filesystem: root may use the
/// blocks reserved for it, anyone else only the rest. A filesystem that counts no blocks
/// at all (`/proc`, `/sys`) keeps no account of space, so it has none to tell.
pub fn free_bytes(path: &Path) -> io::Result<u64> {
    let st = nix::sys::statvfs::statvfs(path).map_err(io::Error::from)?;
    if st.blocks() == 0 {
        return Err(io::Error::other("the filesystem keeps no account of space"));
    }
    let blocks = if crate::runtime::is_root() {
        st.blocks_free()
    } else {
        st.blocks_available()
    };
    Ok(blocks.saturating_mul(st.fragment_size()))
}

/// Whether an error says that a disk (or a quota on it) is full.
pub fn is_full(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
    )
}

/// Whether any error in the chain says that a disk is full.
pub fn any_full(e: &anyhow::Error) -> bool {
    e.chain()
        .filter_map(|c| c.downcast_ref::<io::Error>())
        .any(is_full)
}

fn human_bytes(n: u64) -> String {
    const KIB: u64 = 1 << 10;
    const MIB: u64 = 1 << 20;
    match n {
        n if n >= MIB => format!("{:.1} MiB", n as f64 / MIB as f64),
        n if n >= KIB => format!("{:.1} KiB", n as f64 / KIB as f64),
        n => format!("{n} bytes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_filesystem_is_watched_once_and_a_missing_root_by_its_parent() {
        let tmp = tempfile::tempdir().unwrap();
        let results = tmp.path().join("not").join("yet");
        let disks = Disks::for_run(&results, Some(tmp.path()));
        assert_eq!(
            disks.places,
            vec![(Role::Results, tmp.path().to_path_buf())]
        );
        assert_eq!(disks.low(0), None);
        let low = disks.low(u64::MAX).expect("no disk has that much free");
        let text = low.to_string();
        assert!(
            text.contains("disk is full")
                && text.contains("results filesystem")
                && text.contains(&tmp.path().display().to_string())
                && text.contains("--results"),
            "{text}"
        );
    }

    #[test]
    fn full_disks_are_told_from_other_errors() {
        let full = io::Error::from(io::ErrorKind::StorageFull);
        assert!(is_full(&full));
        assert!(!is_full(&io::Error::from(io::ErrorKind::PermissionDenied)));
        let chained = anyhow::Error::new(full).context("cannot record the history");
        assert!(any_full(&chained));
        assert!(!any_full(&anyhow::anyhow!("no space left, in words only")));
        assert_eq!(human_bytes(0), "0 bytes");
        assert_eq!(human_bytes(16 << 20), "16.0 MiB");
    }
}
