//! Durable storage in the data directory: an append-only log file of checksummed records
//! and a hard-state file replaced atomically. Generic over the core's entry and hard-state
//! types, which it stores as JSON.
//!
//! Log file (`log`): records `[len: u32 LE][crc32(payload): u32 LE][payload: len bytes]`
//! (CRC-32 of IEEE 802.3, the reflected polynomial 0xEDB88320, as zlib computes it),
//! each payload a JSON [`Record`]. A record is durable once [`Storage::sync`] returns. On
//! open, the first record that is short or fails its checksum ends the log: a torn tail
//! left by a SIGKILL mid-write is cut off (no record after it was ever synced).
//!
//! Hard-state file (`hard_state.json`): written to a temporary file, fsynced, renamed over
//! the old one, then the directory fsynced, so a crash leaves either the old or the new.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crc32fast::hash as crc32;

/// Largest record accepted when reading the log back, in bytes; a longer length header is
/// taken as garbage from a torn write.
pub const RECORD_BYTES_MAX: u32 = 256 * 1024 * 1024;
const HEADER_BYTES: usize = 8;
const LOG_FILE: &str = "log";
const HARD_STATE_FILE: &str = "hard_state.json";
const HARD_STATE_TMP_FILE: &str = "hard_state.json.tmp";
const NODE_FILE: &str = "node_id";

/// What went wrong with the data directory.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path} is corrupt: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error("data directory {path} belongs to node {found:?}, not {expected:?}")]
    WrongNode {
        path: PathBuf,
        found: String,
        expected: String,
    },
    #[error("cannot encode a record: {0}")]
    Encode(#[from] serde_json::Error),
}

/// One record of the log file.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", bound(deserialize = "E: DeserializeOwned"))]
enum Record<E> {
    /// Entries starting at `first_index`; any entries at or after it are replaced.
    Append { first_index: u64, entries: Vec<E> },
    /// Every entry at or after `from_index` is gone.
    Truncate { from_index: u64 },
}

/// What the data directory held when it was opened.
#[derive(Debug)]
pub struct Recovered<H, E> {
    pub hard_state: Option<H>,
    /// The log, entry `i` at index `i + 1`.
    pub entries: Vec<E>,
    /// Bytes cut off the log file's tail because they formed no whole, valid record.
    pub torn_tail_bytes: u64,
}

/// The open data directory.
pub struct Storage<H, E> {
    dir: PathBuf,
    log: File,
    /// Index of the last entry in the log.
    last_index: u64,
    /// Whether records were written since the last fsync.
    dirty: bool,
    _types: PhantomData<fn(H, E)>,
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> StorageError + 'a {
    move |source| StorageError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

impl<H, E> Storage<H, E>
where
    H: Serialize + DeserializeOwned,
    E: Serialize + DeserializeOwned,
{
    /// Opens (creating if needed) the data directory of node `node_id` and reads it back.
    pub fn open(dir: &Path, node_id: &str) -> Result<(Self, Recovered<H, E>), StorageError> {
        fs::create_dir_all(dir).map_err(io_err("create", dir))?;
        check_node_id(dir, node_id)?;
        let hard_state = read_hard_state(dir)?;
        let log_path = dir.join(LOG_FILE);
        let mut log = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&log_path)
            .map_err(io_err("open", &log_path))?;
        let (entries, good_len, file_len) = replay(&mut log, &log_path)?;
        if good_len < file_len {
            log.set_len(good_len)
                .map_err(io_err("truncate", &log_path))?;
            log.sync_all().map_err(io_err("fsync", &log_path))?;
        }
        log.seek(SeekFrom::End(0))
            .map_err(io_err("seek", &log_path))?;
        sync_dir(dir)?;
        let storage = Storage {
            dir: dir.to_path_buf(),
            log,
            last_index: entries.len() as u64,
            dirty: false,
            _types: PhantomData,
        };
        let recovered = Recovered {
            hard_state,
            entries,
            torn_tail_bytes: file_len - good_len,
        };
        Ok((storage, recovered))
    }

    /// Index of the last entry written (synced or not).
    pub fn last_index(&self) -> u64 {
        self.last_index
    }

    /// Writes `entries` at `first_index`, replacing whatever was at or after it. Durable
    /// only after [`Storage::sync`].
    pub fn append(&mut self, first_index: u64, entries: &[E]) -> Result<(), StorageError> {
        if entries.is_empty() {
            return Ok(());
        }
        assert!(
            first_index >= 1 && first_index <= self.last_index + 1,
            "append at {first_index} would leave a gap after {}",
            self.last_index
        );
        let record = RecordRef::Append {
            first_index,
            entries,
        };
        self.write_record(&serde_json::to_vec(&record)?)?;
        self.last_index = first_index + entries.len() as u64 - 1;
        Ok(())
    }

    /// Removes every entry at or after `from_index`. Durable only after [`Storage::sync`].
    pub fn truncate(&mut self, from_index: u64) -> Result<(), StorageError> {
        if from_index > self.last_index {
            return Ok(());
        }
        let record: Record<E> = Record::Truncate { from_index };
        self.write_record(&serde_json::to_vec(&record)?)?;
        self.last_index = from_index.saturating_sub(1);
        Ok(())
    }

    /// Makes every record written so far durable.
    pub fn sync(&mut self) -> Result<(), StorageError> {
        if self.dirty {
            let path = self.dir.join(LOG_FILE);
            self.log.sync_data().map_err(io_err("fsync", &path))?;
            self.dirty = false;
        }
        Ok(())
    }

    /// Whether records were written since the last [`Storage::sync`].
    pub fn unsynced(&self) -> bool {
        self.dirty
    }

    /// Replaces the hard state atomically and durably.
    pub fn save_hard_state(&mut self, hard_state: &H) -> Result<(), StorageError> {
        let bytes = serde_json::to_vec(hard_state)?;
        write_atomically(&self.dir, HARD_STATE_FILE, HARD_STATE_TMP_FILE, &bytes)
    }

    fn write_record(&mut self, payload: &[u8]) -> Result<(), StorageError> {
        let path = self.dir.join(LOG_FILE);
        let len = u32::try_from(payload.len())
            .ok()
            .filter(|&n| n <= RECORD_BYTES_MAX)
            .ok_or_else(|| StorageError::Corrupt {
                path: path.clone(),
                reason: format!("a record of {} bytes is too large", payload.len()),
            })?;
        let mut buf = Vec::with_capacity(HEADER_BYTES + payload.len());
        buf.extend_from_slice(&len.to_le_bytes());
        buf.extend_from_slice(&crc32(payload).to_le_bytes());
        buf.extend_from_slice(payload);
        self.log.write_all(&buf).map_err(io_err("write", &path))?;
        self.dirty = true;
        Ok(())
    }
}

/// Serialises like [`Record::Append`] without owning the entries.
#[derive(Serialize)]
#[serde(rename_all = "snake_case")]
enum RecordRef<'a, E> {
    Append { first_index: u64, entries: &'a [E] },
}

/// Reads every whole, valid record; returns the log, the length of the valid prefix and
/// the file's length.
fn replay<E: DeserializeOwned>(
    log: &mut File,
    path: &Path,
) -> Result<(Vec<E>, u64, u64), StorageError> {
    let mut bytes = Vec::new();
    log.seek(SeekFrom::Start(0)).map_err(io_err("seek", path))?;
    log.read_to_end(&mut bytes).map_err(io_err("read", path))?;
    let mut entries: Vec<E> = Vec::new();
    let mut pos = 0usize;
    while let Some((payload, next)) = next_record(&bytes, pos) {
        let record: Record<E> = match serde_json::from_slice(payload) {
            Ok(r) => r,
            // A checksummed record that does not parse was written by something else.
            Err(e) => {
                return Err(StorageError::Corrupt {
                    path: path.to_path_buf(),
                    reason: format!("record at byte {pos} does not parse: {e}"),
                })
            }
        };
        apply_record(&mut entries, record).map_err(|reason| StorageError::Corrupt {
            path: path.to_path_buf(),
            reason: format!("record at byte {pos}: {reason}"),
        })?;
        pos = next;
    }
    Ok((entries, pos as u64, bytes.len() as u64))
}

/// The payload of the record at `pos` and where the next begins, if it is whole and valid.
fn next_record(bytes: &[u8], pos: usize) -> Option<(&[u8], usize)> {
    let header = bytes.get(pos..pos + HEADER_BYTES)?;
    let len = u32::from_le_bytes(header[0..4].try_into().ok()?);
    let crc = u32::from_le_bytes(header[4..8].try_into().ok()?);
    if len > RECORD_BYTES_MAX {
        return None;
    }
    let start = pos + HEADER_BYTES;
    let payload = bytes.get(start..start + len as usize)?;
    (crc32(payload) == crc).then_some((payload, start + len as usize))
}

fn apply_record<E>(entries: &mut Vec<E>, record: Record<E>) -> Result<(), String> {
    match record {
        Record::Append {
            first_index,
            entries: new,
        } => {
            if first_index == 0 || first_index > entries.len() as u64 + 1 {
                return Err(format!(
                    "append at index {first_index} leaves a gap after {}",
                    entries.len()
                ));
            }
            entries.truncate(first_index as usize - 1);
            entries.extend(new);
        }
        Record::Truncate { from_index } => {
            entries.truncate(from_index.saturating_sub(1) as usize);
        }
    }
    Ok(())
}

fn read_hard_state<H: DeserializeOwned>(dir: &Path) -> Result<Option<H>, StorageError> {
    let path = dir.join(HARD_STATE_FILE);
    match fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| StorageError::Corrupt {
                path,
                reason: e.to_string(),
            }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err("read", &path)(e)),
    }
}

/// Refuses a data directory that another node wrote; claims a fresh one.
fn check_node_id(dir: &Path, node_id: &str) -> Result<(), StorageError> {
    let path = dir.join(NODE_FILE);
    match fs::read_to_string(&path) {
        Ok(found) if found.trim() == node_id => Ok(()),
        Ok(found) => Err(StorageError::WrongNode {
            path: dir.to_path_buf(),
            found: found.trim().to_string(),
            expected: node_id.to_string(),
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => write_atomically(
            dir,
            NODE_FILE,
            "node_id.tmp",
            format!("{node_id}\n").as_bytes(),
        ),
        Err(e) => Err(io_err("read", &path)(e)),
    }
}

fn write_atomically(dir: &Path, name: &str, tmp: &str, bytes: &[u8]) -> Result<(), StorageError> {
    let tmp_path = dir.join(tmp);
    let path = dir.join(name);
    let mut file = File::create(&tmp_path).map_err(io_err("create", &tmp_path))?;
    file.write_all(bytes).map_err(io_err("write", &tmp_path))?;
    file.sync_all().map_err(io_err("fsync", &tmp_path))?;
    drop(file);
    fs::rename(&tmp_path, &path).map_err(io_err("rename", &tmp_path))?;
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("fsync", dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    type Store = Storage<(u64, u64), String>;

    fn strings(xs: &[&str]) -> Vec<String> {
        xs.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn entries_and_hard_state_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, rec) = Store::open(dir.path(), "n1").unwrap();
        assert!(rec.hard_state.is_none() && rec.entries.is_empty());
        s.append(1, &strings(&["a", "b", "c"])).unwrap();
        s.append(3, &strings(&["C", "d"])).unwrap();
        s.truncate(4).unwrap();
        s.sync().unwrap();
        s.save_hard_state(&(5, 2)).unwrap();
        drop(s);
        let (s, rec) = Store::open(dir.path(), "n1").unwrap();
        assert_eq!(rec.entries, strings(&["a", "b", "C"]));
        assert_eq!(rec.hard_state, Some((5, 2)));
        assert_eq!(rec.torn_tail_bytes, 0);
        assert_eq!(s.last_index(), 3);
    }

    /// The log file's bytes for append(1, [a, b]) then truncate(2), checksums from
    /// Python's `zlib.crc32` (IEEE CRC-32): logs written by any raftd stay readable.
    const GOLDEN_LOG_HEX: &str = "300000001c503a3c7b22617070656e64223a7b2266697273745f696e\
        646578223a312c22656e7472696573223a5b2261222c2262225d7d7d1d000000969268627b227472756e\
        63617465223a7b2266726f6d5f696e646578223a327d7d";

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn the_checksum_is_ieee_crc32() {
        // The standard check value of CRC-32/ISO-HDLC, the one zlib and Ethernet use.
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn the_log_file_format_is_stable() {
        let golden = unhex(GOLDEN_LOG_HEX);
        let dir = tempfile::tempdir().unwrap();
        let (mut s, _) = Store::open(dir.path(), "n1").unwrap();
        s.append(1, &strings(&["a", "b"])).unwrap();
        s.truncate(2).unwrap();
        s.sync().unwrap();
        drop(s);
        assert_eq!(fs::read(dir.path().join(LOG_FILE)).unwrap(), golden);

        let dir = tempfile::tempdir().unwrap();
        Store::open(dir.path(), "n1").unwrap();
        fs::write(dir.path().join(LOG_FILE), &golden).unwrap();
        let (_, rec) = Store::open(dir.path(), "n1").unwrap();
        assert_eq!(rec.entries, strings(&["a"]));
        assert_eq!(rec.torn_tail_bytes, 0);
    }

    #[test]
    fn a_torn_tail_is_cut_off_and_appends_continue() {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, _) = Store::open(dir.path(), "n1").unwrap();
        s.append(1, &strings(&["a"])).unwrap();
        s.append(2, &strings(&["b"])).unwrap();
        s.sync().unwrap();
        drop(s);
        let path = dir.path().join(LOG_FILE);
        let len = fs::metadata(&path).unwrap().len();
        let f = OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(len - 3).unwrap();
        drop(f);
        let (mut s, rec) = Store::open(dir.path(), "n1").unwrap();
        assert_eq!(rec.entries, strings(&["a"]));
        assert!(rec.torn_tail_bytes > 0);
        s.append(2, &strings(&["x"])).unwrap();
        s.sync().unwrap();
        drop(s);
        let (_, rec) = Store::open(dir.path(), "n1").unwrap();
        assert_eq!(rec.entries, strings(&["a", "x"]));
        assert_eq!(rec.torn_tail_bytes, 0);
    }

    #[test]
    fn a_flipped_byte_ends_the_log_there() {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, _) = Store::open(dir.path(), "n1").unwrap();
        s.append(1, &strings(&["a"])).unwrap();
        s.append(2, &strings(&["b"])).unwrap();
        s.sync().unwrap();
        drop(s);
        let path = dir.path().join(LOG_FILE);
        let mut bytes = fs::read(&path).unwrap();
        let last = bytes.len() - 2;
        bytes[last] ^= 0xff;
        fs::write(&path, &bytes).unwrap();
        let (_, rec) = Store::open(dir.path(), "n1").unwrap();
        assert_eq!(rec.entries, strings(&["a"]));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Append { back: u64, n: u8 },
        Truncate { back: u64 },
        Reopen,
        Tear { bytes: u8 },
    }

    fn op() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        prop_oneof![
            4 => (0u64..4, 1u8..5).prop_map(|(back, n)| Op::Append { back, n }),
            1 => (0u64..4).prop_map(|back| Op::Truncate { back }),
            1 => Just(Op::Reopen),
            1 => (1u8..40).prop_map(|bytes| Op::Tear { bytes }),
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(32))]

        /// Synced records always come back; a torn write loses only what it tore.
        #[test]
        fn the_log_matches_a_model_across_reopens_and_torn_tails(ops in proptest::collection::vec(op(), 1..40)) {
            let dir = tempfile::tempdir().unwrap();
            let (mut s, _) = Store::open(dir.path(), "n1").unwrap();
            let mut model: Vec<String> = Vec::new();
            let mut counter = 0u64;
            // The model as it was after each synced record, by the log file's length.
            let mut history: Vec<(u64, Vec<String>)> = vec![(0, Vec::new())];
            let path = dir.path().join(LOG_FILE);
            for op in ops {
                match op {
                    Op::Append { back, n } => {
                        let first = (model.len() as u64 + 1).saturating_sub(back).max(1);
                        let entries: Vec<String> = (0..n).map(|_| { counter += 1; format!("e{counter}") }).collect();
                        s.append(first, &entries).unwrap();
                        model.truncate(first as usize - 1);
                        model.extend(entries);
                    }
                    Op::Truncate { back } => {
                        let from = (model.len() as u64 + 1).saturating_sub(back).max(1);
                        s.truncate(from).unwrap();
                        model.truncate(from as usize - 1);
                    }
                    Op::Reopen => {
                        drop(s);
                        let (s2, rec) = Store::open(dir.path(), "n1").unwrap();
                        proptest::prop_assert_eq!(&rec.entries, &model);
                        s = s2;
                    }
                    Op::Tear { bytes } => {
                        drop(s);
                        let len = fs::metadata(&path).unwrap().len();
                        let torn = len.saturating_sub(bytes as u64);
                        OpenOptions::new().write(true).open(&path).unwrap().set_len(torn).unwrap();
                        let (s2, rec) = Store::open(dir.path(), "n1").unwrap();
                        // What survives is the model as of the last whole record.
                        let (_, expected) = history.iter().rev().find(|(at, _)| *at <= torn).unwrap().clone();
                        proptest::prop_assert_eq!(&rec.entries, &expected);
                        model = expected;
                        s = s2;
                        let keep = fs::metadata(&path).unwrap().len();
                        history.retain(|(at, _)| *at <= keep);
                    }
                }
                s.sync().unwrap();
                let at = fs::metadata(&path).unwrap().len();
                if history.last().map(|(l, _)| *l) != Some(at) {
                    history.push((at, model.clone()));
                }
                proptest::prop_assert_eq!(s.last_index(), model.len() as u64);
            }
        }
    }

    #[test]
    fn another_nodes_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        drop(Store::open(dir.path(), "n1").unwrap());
        let err = Store::open(dir.path(), "n2").err().unwrap();
        assert!(matches!(err, StorageError::WrongNode { .. }), "{err}");
    }
}
