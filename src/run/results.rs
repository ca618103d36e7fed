//! A run's results directory: its name, `test.json`, the fallback `results.json` the run
//! writes when the checkers cannot, and the `latest` symlink.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::spec::TestSpec;

/// What `test.json` holds: everything needed to understand and repeat the run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TestDoc {
    pub run_id: String,
    /// UTC, RFC 3339, when the run started.
    pub started_at: String,
    /// The command that reproduces this run.
    pub command: String,
    pub seed: u64,
    pub spec: TestSpec,
    pub guarantees: checkers::Guarantees,
    /// The runtime actually used and why it was picked.
    pub runtime: RuntimeDoc,
    pub versions: Versions,
    /// The nemesis schedule exactly as it was run (replay runs it again).
    pub schedule: serde_json::Value,
    /// One line per fault, for people.
    pub schedule_summary: String,
    /// Where each node could be reached.
    #[serde(default)]
    pub topology: serde_json::Value,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RuntimeDoc {
    pub name: String,
    pub reason: String,
    /// The id the run's containers, namespaces and processes are named with
    /// (`splitbrain clean --run ID` removes what a crash left).
    #[serde(default)]
    pub run_id: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Versions {
    pub splitbrain: String,
    /// The system under test's version as it reports it, or what is known of it.
    pub system: String,
}

/// `<UTC time>-<system>-<nemesis>-<seed>`, as docs/design.md names a run.
pub fn run_id(spec: &TestSpec, started: SystemTime) -> String {
    format!(
        "{}-{}-{}-{}",
        crate::utc::compact(started),
        spec.system.name(),
        spec.nemesis_label(),
        spec.seed
    )
}

/// Creates `<root>/<run_id>/nodes/`; a second run in the same second with the same seed
/// gets a `-2`, `-3` … suffix rather than mixing two runs in one directory.
pub fn create_run_dir(root: &Path, run_id: &str) -> io::Result<(String, PathBuf)> {
    fs::create_dir_all(root)?;
    const SUFFIX_MAX: u32 = 100;
    for n in 1..=SUFFIX_MAX {
        let id = if n == 1 {
            run_id.to_string()
        } else {
            format!("{run_id}-{n}")
        };
        let dir = root.join(&id);
        match fs::create_dir(&dir) {
            Ok(()) => {
                fs::create_dir_all(dir.join("nodes"))?;
                return Ok((id, dir));
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other(format!(
        "{SUFFIX_MAX} results directories named {run_id} already exist"
    )))
}

/// Writes a JSON document whole: to a temporary file, fsynced, then renamed into place,
/// so a reader never sees half of it. On failure (a full disk) the document already
/// there is left as it was and the temporary file is removed.
pub fn write_json_atomic(path: &Path, value: &impl Serialize) -> io::Result<()> {
    crate::atomic::write_atomic_with(path, |w| {
        serde_json::to_writer_pretty(&mut *w, value).map_err(io::Error::other)?;
        w.write_all(b"\n")
    })
}

/// Removes the temporary files that this process's writers of a run's documents leave
/// when a write fails half-way (a full disk): each writes `NAME.tmp` or a name with this
/// process's id, and renames it into place only once it is whole.
/// Adds `left_behind` (what teardown could not remove, and where) to results.json.
pub fn note_left_behind(dir: &Path, what: &str) -> io::Result<()> {
    let path = dir.join("results.json");
    let text = std::fs::read_to_string(&path)?;
    let mut doc: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    if let Some(obj) = doc.as_object_mut() {
        obj.insert(
            "left_behind".into(),
            serde_json::Value::String(what.to_string()),
        );
    }
    write_json_atomic(&path, &doc)
}

pub fn remove_temporaries(root: &Path, dir: &Path) {
    let pid = std::process::id();
    let in_dir = ["test.json.tmp", "results.json.tmp", "timeline.html.tmp"].map(|n| dir.join(n));
    let in_root =
        [format!(".index.html.{pid}.tmp"), format!(".latest-{pid}")].map(|n| root.join(n));
    for path in in_dir.iter().chain(&in_root) {
        match fs::remove_file(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                eprintln!("splitbrain: warning: cannot remove {}: {e}", path.display())
            }
            _ => {}
        }
    }
}

pub fn read_test_doc(dir: &Path) -> anyhow::Result<TestDoc> {
    let path = dir.join("test.json");
    let text = fs::read_to_string(&path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{} is not a splitbrain test.json: {e}", path.display()))
}

/// Points `<root>/latest` at `run_id` (relative, so the tree can move).
pub fn point_latest(root: &Path, run_id: &str) -> io::Result<()> {
    let link = root.join("latest");
    let tmp = root.join(format!(".latest-{}", std::process::id()));
    let _ = fs::remove_file(&tmp);
    std::os::unix::fs::symlink(run_id, &tmp)?;
    fs::rename(&tmp, &link).inspect_err(|_| {
        let _ = fs::remove_file(&tmp);
    })
}

/// Marks a run's results as unknown: it was interrupted or the harness failed. What the
/// checkers found in the partial history (if they ran) is kept, so a violation seen
/// before the interruption is still there to read; the verdict is not theirs to give.
pub fn write_unknown_results(
    dir: &Path,
    reason: &str,
    harness_error: Option<&str>,
) -> io::Result<()> {
    let path = dir.join("results.json");
    let mut doc = checkers::read_results(&path).unwrap_or_else(|_| {
        // Nothing was checked: the document still says what the test claimed.
        let guarantees = read_test_doc(dir).map(|t| t.guarantees).unwrap_or_default();
        checkers::CheckResult::unknown(guarantees)
    });
    doc.without_verdict(reason, harness_error);
    write_json_atomic(&path, &doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_dirs_never_collide_and_latest_moves() {
        let tmp = tempfile::tempdir().unwrap();
        let (a, _) = create_run_dir(tmp.path(), "x").unwrap();
        let (b, dir_b) = create_run_dir(tmp.path(), "x").unwrap();
        assert_eq!((a.as_str(), b.as_str()), ("x", "x-2"));
        assert!(dir_b.join("nodes").is_dir());
        point_latest(tmp.path(), &a).unwrap();
        point_latest(tmp.path(), &b).unwrap();
        assert_eq!(
            fs::read_link(tmp.path().join("latest")).unwrap(),
            PathBuf::from("x-2")
        );
    }

    #[test]
    fn test_json_guarantees_keep_their_keys() {
        let g = checkers::Guarantees {
            exclusive_leadership: true,
            fence_on_grant: false,
            leaderless: false,
        };
        let json = serde_json::to_value(g).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"exclusive_leadership": true, "fence_on_grant": false})
        );
        assert_eq!(
            serde_json::from_value::<checkers::Guarantees>(json).unwrap(),
            g
        );
        let leaderless = checkers::Guarantees {
            leaderless: true,
            ..g
        };
        let json = serde_json::to_value(leaderless).unwrap();
        assert_eq!(json["leaderless"], true);
        assert_eq!(
            serde_json::from_value::<checkers::Guarantees>(json).unwrap(),
            leaderless
        );
    }
}
