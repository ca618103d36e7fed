//! The run state file (`/run/splitbrain/<runid>.json`): what a netns or local run created
//! outside docker (processes, namespaces, interfaces) and which controller runs it, so
//! `splitbrain clean` can remove it after a crash.
//!
//! `clean` runs as root and kills and deletes what a state file names, so a state file is
//! trusted only when nobody but us could have written it: it lies in a private directory
//! (owned by the effective uid, mode 0700, no symlink), it is a regular file we own that
//! nobody else can write, and the run id inside matches its file name. Paths are never
//! read from the file: a run's data directory and shm files follow from its run id.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{validate_run_id, RuntimeError};

/// Root's state directory.
pub const ROOT_STATE_DIR: &str = "/run/splitbrain";
/// Where state went before it had to be private; anyone can write there, so it is ignored.
pub const LEGACY_STATE_DIR: &str = "/tmp/splitbrain-state";
/// The environment variable every node process is started with (`SPLITBRAIN_RUN=<id>`):
/// `clean` kills a recorded pid only if the process there still carries it.
pub const RUN_ENV: &str = "SPLITBRAIN_RUN";
/// A state file lists a few dozen names; anything bigger was not written by a run.
const STATE_FILE_BYTES_MAX: u64 = 1 << 20;
/// Bound on reading a process's environment to find [`RUN_ENV`]; we start node processes
/// with a handful of variables, so ours is far below it.
const ENVIRON_BYTES_MAX: u64 = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("{path}: {reason}")]
    Untrusted { path: PathBuf, reason: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a run state file: {source}")]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("no private directory for run state: {0}")]
    NoStateDir(String),
    /// A run id that [`validate_run_id`] refuses.
    #[error(transparent)]
    BadRunId(#[from] RuntimeError),
}

impl StateError {
    fn io(path: &Path, source: std::io::Error) -> Self {
        StateError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    fn untrusted(path: &Path, reason: impl Into<String>) -> Self {
        StateError::Untrusted {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }
}

impl From<StateError> for RuntimeError {
    fn from(e: StateError) -> Self {
        match e {
            StateError::Io { path, source } => RuntimeError::io(path, source),
            StateError::BadRunId(e) => e,
            other => RuntimeError::Plan(other.to_string()),
        }
    }
}

pub fn euid() -> u32 {
    // SAFETY: geteuid cannot fail and touches no memory.
    unsafe { libc::geteuid() }
}

/// The private directories this user's state may live in, preferred first: /run for
/// root (/run/user/<uid> for others), and a per-user directory in /tmp when that cannot
/// be created (a read-only /run, no login session).
pub fn state_dir_candidates() -> Vec<PathBuf> {
    let uid = euid();
    let first = if uid == 0 {
        PathBuf::from(ROOT_STATE_DIR)
    } else {
        PathBuf::from(format!("/run/user/{uid}/splitbrain"))
    };
    vec![first, PathBuf::from(format!("/tmp/splitbrain-{uid}"))]
}

/// Where state is written: the first candidate that exists or can be created, made
/// private. A candidate that exists but is not ours and private is refused, never
/// skipped for the next: a planted directory must stop the run, not be worked around.
pub fn state_dir() -> Result<PathBuf, StateError> {
    let mut why = Vec::new();
    for dir in state_dir_candidates() {
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                why.push(format!("{}: {e}", dir.display()));
                continue;
            }
        }
        verify_private_dir(&dir)?;
        return Ok(dir);
    }
    Err(StateError::NoStateDir(why.join("; ")))
}

/// Check that `dir` is a directory (not a symlink) owned by us that nobody else can write,
/// in a parent nobody else can rename it in, and make it mode 0700. A directory of ours
/// that others may only read (an older splitbrain made it 0755) is tightened, since
/// nobody else can have put anything in it.
pub fn verify_private_dir(dir: &Path) -> Result<(), StateError> {
    let parent = dir.parent().unwrap_or(Path::new("/"));
    let pm = std::fs::symlink_metadata(parent).map_err(|e| StateError::io(parent, e))?;
    let owner_ok = pm.uid() == 0 || pm.uid() == euid();
    let others_may_rename = pm.mode() & 0o022 != 0 && pm.mode() & libc::S_ISVTX == 0;
    if !pm.is_dir() || !owner_ok || others_may_rename {
        return Err(StateError::untrusted(
            parent,
            "others may replace what is in it (not a root- or self-owned directory that \
             only its owner can write, nor a sticky one)",
        ));
    }
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
        .open(dir)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) | Some(libc::ENOTDIR) => {
                StateError::untrusted(dir, "not a directory (a symlink or a file)")
            }
            _ => StateError::io(dir, e),
        })?;
    let m = f.metadata().map_err(|e| StateError::io(dir, e))?;
    if m.uid() != euid() {
        return Err(StateError::untrusted(
            dir,
            format!("owned by uid {}, not {}", m.uid(), euid()),
        ));
    }
    if m.mode() & 0o022 != 0 {
        return Err(StateError::untrusted(
            dir,
            format!("mode {:o}: others may write in it", m.mode() & 0o7777),
        ));
    }
    if m.mode() & 0o7777 != 0o700 {
        f.set_permissions(std::fs::Permissions::from_mode(0o700))
            .map_err(|e| StateError::io(dir, e))?;
    }
    Ok(())
}

/// The directories `clean` reads state from: this user's candidates that exist and are
/// private. The rest are named in the returned notes.
pub fn readable_state_dirs() -> (Vec<PathBuf>, Vec<String>) {
    let mut dirs = Vec::new();
    let mut notes = Vec::new();
    for dir in state_dir_candidates() {
        if std::fs::symlink_metadata(&dir).is_err() {
            continue;
        }
        match verify_private_dir(&dir) {
            Ok(()) => dirs.push(dir),
            Err(e) => notes.push(format!("ignored state directory {e}")),
        }
    }
    if Path::new(LEGACY_STATE_DIR).exists() {
        notes.push(format!(
            "ignored {LEGACY_STATE_DIR}: any user can write there, so nothing in it is \
             trusted (splitbrain keeps state in {ROOT_STATE_DIR} now)"
        ));
    }
    (dirs, notes)
}

/// Create the run's data directory (`/tmp/sb-<runid>`) private to us, or check that the
/// one there already is. /tmp is shared, and the run id shows in namespace names before
/// node directories are made: another user could have put a symlink or a directory of
/// their own there first, for us to write node data through as root.
pub fn ensure_run_dir(run_id: &str) -> Result<PathBuf, StateError> {
    let dir = super::host_run_dir(run_id);
    match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(StateError::io(&dir, e)),
    }
    verify_private_dir(&dir)?;
    Ok(dir)
}

/// The controller process of a run: `clean` leaves a run alone while it lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Controller {
    pub pid: i32,
    /// Field 22 of /proc/<pid>/stat, so a reused pid is not taken for the controller.
    pub start_ticks: u64,
}

impl Controller {
    pub fn current() -> Self {
        let pid = std::process::id() as i32;
        Controller {
            pid,
            start_ticks: process_start_ticks(pid).unwrap_or(0),
        }
    }

    /// Whether the controller still runs. A start time we never learnt cannot tell a
    /// reused pid from ours, so such a controller counts as running while its pid lives:
    /// the mistake leaves a run to `--force` instead of removing a live one.
    pub fn is_running(&self) -> bool {
        match proc_stat(self.pid) {
            Some((state, ticks)) => {
                state != 'Z' && state != 'X' && (self.start_ticks == 0 || ticks == self.start_ticks)
            }
            None => false,
        }
    }

    /// Whether this process is the controller (a run tearing itself down).
    pub fn is_this_process(&self) -> bool {
        *self == Controller::current()
    }

    /// `<pid>:<start ticks>`, the value of the docker label naming the controller.
    pub fn label(&self) -> String {
        format!("{}:{}", self.pid, self.start_ticks)
    }

    pub fn parse_label(s: &str) -> Option<Self> {
        let (pid, ticks) = s.split_once(':')?;
        Some(Controller {
            pid: pid.parse().ok().filter(|p| *p > 0)?,
            start_ticks: ticks.parse().ok()?,
        })
    }
}

/// One process a run started, identified by pid and its start time (so a reused pid is
/// never mistaken for ours).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackedProcess {
    pub node: String,
    pub pid: i32,
    /// Field 22 of /proc/<pid>/stat (clock ticks since boot); 0 if it could not be read,
    /// and then `clean` never kills the pid.
    pub start_ticks: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunState {
    pub run_id: String,
    /// None in files written before controllers were recorded.
    #[serde(default)]
    pub controller: Option<Controller>,
    pub processes: Vec<TrackedProcess>,
    /// Network namespaces: `sb-<runid>-…`; `clean` ignores any other name.
    pub netns: Vec<String>,
    /// Interfaces in the host's own namespace (veth ends): `sb-<runid>-…` too.
    pub host_links: Vec<String>,
    /// Docker hosts the run spread its nodes over (`--docker-host`), for `clean`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub docker_hosts: Vec<String>,
}

impl RunState {
    pub fn new(run_id: &str) -> Self {
        RunState {
            run_id: run_id.to_string(),
            controller: Some(Controller::current()),
            ..Default::default()
        }
    }

    /// Where this run's state file is written.
    pub fn path(run_id: &str) -> Result<PathBuf, StateError> {
        Ok(state_dir()?.join(file_name(run_id)))
    }

    /// Write atomically (temp file then rename), so a crash never leaves half a file;
    /// mode 0600, as `clean` refuses a file others could have written.
    pub fn save(&self) -> Result<(), RuntimeError> {
        validate_run_id(&self.run_id)?;
        let path = Self::path(&self.run_id)?;
        let tmp = path.with_extension("json.tmp");
        let text = serde_json::to_vec_pretty(self).expect("run state serialises");
        let _ = std::fs::remove_file(&tmp);
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)
            .map_err(|e| RuntimeError::io(&tmp, e))?;
        f.write_all(&text).map_err(|e| RuntimeError::io(&tmp, e))?;
        drop(f);
        std::fs::rename(&tmp, &path).map_err(|e| RuntimeError::io(&path, e))
    }

    /// This run's state file from this user's state directories, if one is there and
    /// trusted (see [`load_trusted`]).
    pub fn load(run_id: &str) -> Result<Option<(PathBuf, Self)>, StateError> {
        validate_run_id(run_id)?;
        let (dirs, _) = readable_state_dirs();
        for dir in dirs {
            let path = dir.join(file_name(run_id));
            if std::fs::symlink_metadata(&path).is_ok() {
                return load_trusted(&path, run_id).map(|s| Some((path, s)));
            }
        }
        Ok(None)
    }

    pub fn track(&mut self, node: &str, pid: i32) {
        let start_ticks = process_start_ticks(pid).unwrap_or(0);
        self.processes.retain(|p| p.node != node);
        self.processes.push(TrackedProcess {
            node: node.to_string(),
            pid,
            start_ticks,
        });
    }
}

fn file_name(run_id: &str) -> String {
    format!("{run_id}.json")
}

/// Read a state file only if nobody but us can have written it: a regular file (opened
/// without following a symlink) with one link, owned by our effective uid, writable by
/// nobody else, of a sane size, whose run id is `run_id` (its file name).
pub fn load_trusted(path: &Path, run_id: &str) -> Result<RunState, StateError> {
    let f = OpenOptions::new()
        .read(true)
        // O_NONBLOCK: a planted FIFO must not hang clean.
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => StateError::untrusted(path, "a symlink"),
            _ => StateError::io(path, e),
        })?;
    let m = f.metadata().map_err(|e| StateError::io(path, e))?;
    let reason = if !m.is_file() {
        Some("not a regular file".to_string())
    } else if m.uid() != euid() {
        Some(format!("owned by uid {}, not {}", m.uid(), euid()))
    } else if m.mode() & 0o022 != 0 {
        Some(format!("mode {:o}: others may write it", m.mode() & 0o7777))
    } else if m.nlink() != 1 {
        Some(format!("{} hard links: it is also elsewhere", m.nlink()))
    } else if m.len() > STATE_FILE_BYTES_MAX {
        Some(format!("{} bytes, more than a run writes", m.len()))
    } else {
        None
    };
    if let Some(r) = reason {
        return Err(StateError::untrusted(path, r));
    }
    let text = read_bounded(f, STATE_FILE_BYTES_MAX).map_err(|e| StateError::io(path, e))?;
    let st: RunState = serde_json::from_slice(&text).map_err(|source| StateError::Parse {
        path: path.to_path_buf(),
        source,
    })?;
    if st.run_id != run_id {
        return Err(StateError::untrusted(
            path,
            format!("names run {:?}, not its file's {run_id:?}", st.run_id),
        ));
    }
    Ok(st)
}

fn read_bounded(f: File, bytes_max: u64) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    f.take(bytes_max).read_to_end(&mut out)?;
    Ok(out)
}

/// Every trusted state file in this user's state directories (of one run, or of all),
/// with its path; what was ignored and why is in the notes.
pub fn trusted_states(run: Option<&str>) -> (Vec<(PathBuf, RunState)>, Vec<String>) {
    let (dirs, mut notes) = readable_state_dirs();
    let mut out = Vec::new();
    for dir in dirs {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in rd.flatten() {
            let name = entry.file_name();
            let Some(id) = name.to_str().and_then(|n| n.strip_suffix(".json")) else {
                continue; // temp files and the image tag cache
            };
            if validate_run_id(id).is_err() {
                notes.push(format!(
                    "ignored {}: not named after a run id",
                    entry.path().display()
                ));
                continue;
            }
            if run.is_some_and(|r| r != id) {
                continue;
            }
            match load_trusted(&entry.path(), id) {
                Ok(st) => out.push((entry.path(), st)),
                Err(e) => notes.push(format!("ignored state file {e}")),
            }
        }
    }
    (out, notes)
}

/// Parse /proc/<pid>/stat: (state char, start ticks).
pub fn proc_stat(pid: i32) -> Option<(char, u64)> {
    if pid <= 0 {
        return None;
    }
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    // Field 22 overall is index 19 after the state (field 3).
    let start = fields.get(19)?.parse().ok()?;
    Some((state, start))
}

pub fn process_start_ticks(pid: i32) -> Option<u64> {
    proc_stat(pid).map(|(_, t)| t)
}

/// The real uid of a process.
fn process_uid(pid: i32) -> Option<u32> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Whether the process carries `SPLITBRAIN_RUN=<run_id>` in its environment.
pub fn carries_run_marker(pid: i32, run_id: &str) -> bool {
    let Ok(f) = File::open(format!("/proc/{pid}/environ")) else {
        return false;
    };
    let Ok(env) = read_bounded(f, ENVIRON_BYTES_MAX) else {
        return false;
    };
    let want = format!("{RUN_ENV}={run_id}");
    env.split(|b| *b == 0).any(|kv| kv == want.as_bytes())
}

/// Whether the tracked process is still the one run `run_id` started: alive (not a
/// zombie), started at the recorded time (0, unknown, never matches), ours, and
/// carrying the run's marker.
pub fn is_same_process(p: &TrackedProcess, run_id: &str) -> bool {
    if p.start_ticks == 0 {
        return false;
    }
    let alive_and_same = match proc_stat(p.pid) {
        Some((state, ticks)) => state != 'Z' && state != 'X' && ticks == p.start_ticks,
        None => false,
    };
    alive_and_same && process_uid(p.pid) == Some(euid()) && carries_run_marker(p.pid, run_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn own_process_stat_parses() {
        let pid = std::process::id() as i32;
        let (state, ticks) = proc_stat(pid).expect("own stat");
        assert!(ticks > 0);
        assert!(state == 'R' || state == 'S');
    }

    fn write_mode(path: &Path, mode: u32, bytes: &[u8]) {
        std::fs::write(path, bytes).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    fn state_bytes(run_id: &str) -> Vec<u8> {
        serde_json::to_vec(&RunState::new(run_id)).unwrap()
    }

    fn refusal(path: &Path, run_id: &str) -> String {
        match load_trusted(path, run_id) {
            Err(StateError::Untrusted { reason, .. }) => reason,
            other => panic!("{}: expected a refusal, got {other:?}", path.display()),
        }
    }

    #[test]
    fn state_files_are_trusted_only_if_nobody_else_could_write_them() {
        let d = tempfile::tempdir().unwrap();
        let p = |name: &str| d.path().join(name);
        write_mode(&p("good.json"), 0o600, &state_bytes("good"));
        let st = load_trusted(&p("good.json"), "good").unwrap();
        assert_eq!(st.controller, Some(Controller::current()));

        write_mode(&p("other.json"), 0o600, &state_bytes("good"));
        assert!(refusal(&p("other.json"), "other").contains("names run \"good\""));
        for mode in [0o620, 0o602, 0o666] {
            write_mode(&p("open.json"), mode, &state_bytes("open"));
            assert!(refusal(&p("open.json"), "open").contains("others may write it"));
        }
        symlink(p("good.json"), p("link.json")).unwrap();
        assert_eq!(refusal(&p("link.json"), "link"), "a symlink");
        nix::unistd::mkfifo(
            &p("fifo.json"),
            nix::sys::stat::Mode::from_bits_truncate(0o600),
        )
        .unwrap();
        assert_eq!(refusal(&p("fifo.json"), "fifo"), "not a regular file");
        write_mode(
            &p("big.json"),
            0o600,
            &vec![b' '; STATE_FILE_BYTES_MAX as usize + 1],
        );
        assert!(refusal(&p("big.json"), "big").contains("more than a run writes"));
        std::fs::hard_link(p("good.json"), p("twin.json")).unwrap();
        assert!(refusal(&p("twin.json"), "twin").contains("2 hard links"));
        if euid() == 0 {
            write_mode(&p("theirs.json"), 0o600, &state_bytes("theirs"));
            std::os::unix::fs::chown(p("theirs.json"), Some(65534), None).unwrap();
            assert_eq!(
                refusal(&p("theirs.json"), "theirs"),
                "owned by uid 65534, not 0"
            );
        }
    }

    fn dir_refusal(dir: &Path) -> String {
        match verify_private_dir(dir) {
            Err(StateError::Untrusted { path, reason }) => format!("{}: {reason}", path.display()),
            other => panic!("{}: expected a refusal, got {other:?}", dir.display()),
        }
    }

    #[test]
    fn state_directories_must_be_ours_and_private() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("state");
        std::fs::create_dir(&dir).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().mode() & 0o7777;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        verify_private_dir(&dir).unwrap();
        assert_eq!(
            mode(&dir),
            0o700,
            "a directory only we can write is tightened"
        );
        for m in [0o770, 0o777, 0o1777] {
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(m)).unwrap();
            assert!(dir_refusal(&dir).contains("others may write in it"));
        }
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        symlink(&dir, d.path().join("link")).unwrap();
        assert!(dir_refusal(&d.path().join("link")).contains("a symlink"));
        // A private directory inside one anybody may rename it in is not private.
        std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let r = dir_refusal(&dir);
        assert!(r.starts_with(&d.path().display().to_string()), "{r}");
        std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
        verify_private_dir(&dir).unwrap();
        if euid() == 0 {
            std::os::unix::fs::chown(&dir, Some(65534), None).unwrap();
            assert!(dir_refusal(&dir).contains("owned by uid 65534, not 0"));
        }
    }

    #[test]
    fn a_pid_is_ours_only_with_its_start_time_and_the_run_marker() {
        let spawn = |env: &[(&str, &str)]| {
            std::process::Command::new("sleep")
                .arg("600")
                .env_clear()
                .envs(env.iter().copied())
                .spawn()
                .unwrap()
        };
        let mut marked = spawn(&[(RUN_ENV, "abc"), ("OTHER", "1")]);
        let mut plain = spawn(&[("OTHER", "abc")]);
        let tracked = |c: &std::process::Child, ticks: Option<u64>| {
            let pid = c.id() as i32;
            TrackedProcess {
                node: "n1".into(),
                pid,
                start_ticks: ticks.unwrap_or_else(|| process_start_ticks(pid).unwrap()),
            }
        };
        let ours = tracked(&marked, None);
        assert!(is_same_process(&ours, "abc"));
        assert!(!is_same_process(&ours, "abd"), "another run's marker");
        assert!(!is_same_process(&ours, "ab"), "a prefix of the marker");
        assert!(
            !is_same_process(&tracked(&marked, Some(0)), "abc"),
            "unknown start"
        );
        let later = tracked(&marked, Some(ours.start_ticks + 1));
        assert!(!is_same_process(&later, "abc"), "a reused pid");
        assert!(!is_same_process(&tracked(&plain, None), "abc"), "no marker");
        for c in [&mut marked, &mut plain] {
            c.kill().unwrap();
            c.wait().unwrap();
        }
        assert!(!is_same_process(&ours, "abc"), "a dead process");
    }

    #[test]
    fn controllers_round_trip_through_labels() {
        let me = Controller::current();
        assert!(me.start_ticks > 0 && me.is_running() && me.is_this_process());
        assert_eq!(Controller::parse_label(&me.label()), Some(me));
        for bad in ["", "12", "x:1", "0:5", "-3:5", "12:x"] {
            assert_eq!(Controller::parse_label(bad), None, "{bad}");
        }
        let gone = Controller {
            pid: me.pid,
            start_ticks: me.start_ticks + 1,
        };
        assert!(!gone.is_running() && !gone.is_this_process());
    }
}
