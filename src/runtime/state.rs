//! The run state file (`/run/splitbrain/<runid>.json`): what a netns or local run created
//! outside docker (processes, namespaces, interfaces, directories), so `splitbrain clean`
//! can remove it after a crash.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::RuntimeError;

/// Where state files live: /run when we may write there, else /tmp.
pub fn state_dir() -> PathBuf {
    let run = PathBuf::from("/run/splitbrain");
    if std::fs::create_dir_all(&run).is_ok() {
        return run;
    }
    PathBuf::from("/tmp/splitbrain-state")
}

/// Every directory a state file may be in (clean looks in all of them).
pub fn state_dirs() -> Vec<PathBuf> {
    vec![
        PathBuf::from("/run/splitbrain"),
        PathBuf::from("/tmp/splitbrain-state"),
    ]
}

/// One process a run started, identified by pid and its start time (so a reused pid is
/// never mistaken for ours).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackedProcess {
    pub node: String,
    pub pid: i32,
    /// Field 22 of /proc/<pid>/stat (clock ticks since boot).
    pub start_ticks: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunState {
    pub run_id: String,
    pub processes: Vec<TrackedProcess>,
    pub netns: Vec<String>,
    /// Interfaces in the host's own namespace (veth ends).
    pub host_links: Vec<String>,
    pub dirs: Vec<PathBuf>,
    pub shm_files: Vec<PathBuf>,
}

impl RunState {
    pub fn new(run_id: &str) -> Self {
        RunState {
            run_id: run_id.to_string(),
            ..Default::default()
        }
    }

    pub fn path(run_id: &str) -> PathBuf {
        state_dir().join(format!("{run_id}.json"))
    }

    /// Write atomically (temp file then rename), so a crash never leaves half a file.
    pub fn save(&self) -> Result<(), RuntimeError> {
        let path = Self::path(&self.run_id);
        let tmp = path.with_extension("json.tmp");
        let text = serde_json::to_vec_pretty(self).expect("run state serialises");
        std::fs::write(&tmp, text).map_err(|e| RuntimeError::io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| RuntimeError::io(&path, e))
    }

    pub fn load(path: &Path) -> Result<Self, RuntimeError> {
        let text = std::fs::read(path).map_err(|e| RuntimeError::io(path, e))?;
        serde_json::from_slice(&text).map_err(|e| {
            RuntimeError::Plan(format!("{}: not a run state file: {e}", path.display()))
        })
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

/// Every state file on this machine, with its run id.
pub fn all_state_files() -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    for dir in state_dirs() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in rd.flatten() {
            let p = entry.path();
            if p.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            if let Some(stem) = p.file_stem().and_then(|s| s.to_str()) {
                out.push((stem.to_string(), p.clone()));
            }
        }
    }
    out
}

/// Parse /proc/<pid>/stat: (state char, start ticks).
pub fn proc_stat(pid: i32) -> Option<(char, u64)> {
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

/// Whether the tracked process is still the one we started (and not a zombie).
pub fn is_same_process(p: &TrackedProcess) -> bool {
    match proc_stat(p.pid) {
        Some((state, ticks)) => state != 'Z' && (p.start_ticks == 0 || ticks == p.start_ticks),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_stat_parses() {
        let pid = std::process::id() as i32;
        let (state, ticks) = proc_stat(pid).expect("own stat");
        assert!(ticks > 0);
        assert!(state == 'R' || state == 'S');
    }
}
