//! Files splitbrain builds itself and puts in its nodes (raftd, the clock shim): where
//! they are on this machine, and building them when splitbrain runs from this
//! workspace's target directory.

use std::path::{Path, PathBuf};

use crate::system::SystemError;

/// One file a workspace package builds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Built {
    /// What it is, for messages: `the raftd binary`.
    pub what: &'static str,
    /// The file's name in a cargo profile directory.
    pub file: &'static str,
    /// The cargo package that builds it.
    pub package: &'static str,
    /// The package's directory in the workspace, which tells a workspace target
    /// directory from any other.
    pub member: &'static str,
    /// cargo's selection of the target that makes it (`--bin raftd`, `--lib`).
    pub target: &'static [&'static str],
    /// The environment variable that names it, before any other place.
    pub env: &'static str,
}

/// The clock shim: a preload library that moves a program's wall clock
/// (`ClockControl::Preload`).
pub const CLOCK_SHIM: Built = Built {
    what: "the clock shim",
    file: "libsplitbrain_clock.so",
    package: "splitbrain-clock",
    member: "clock",
    target: &["--lib"],
    env: "SPLITBRAIN_CLOCK_LIB",
};

/// Where an image recipe puts the clock shim, and so the library a node preloads. A
/// user's image (`--image`) of a system that uses it must hold it at this path too.
pub const CLOCK_SHIM_IN_IMAGE: &str = "/usr/lib/splitbrain/libsplitbrain_clock.so";

impl Built {
    /// The file: `$env`, else next to the running executable (cargo puts every
    /// workspace binary and library in one directory; test executables sit one level
    /// deeper, in `deps`), else built there when that directory is this workspace's
    /// target.
    pub fn find(&self) -> Result<PathBuf, SystemError> {
        let exe = std::env::current_exe().map_err(|e| SystemError::Missing {
            what: self.what.into(),
            reason: e.to_string(),
        })?;
        self.find_from(std::env::var_os(self.env), &exe)
    }

    /// [`Built::find`] with the variable's value and the executable's path given.
    fn find_from(
        &self,
        named: Option<std::ffi::OsString>,
        exe: &Path,
    ) -> Result<PathBuf, SystemError> {
        let missing = |reason: String| SystemError::Missing {
            what: self.what.into(),
            reason,
        };
        if let Some(p) = named {
            let p = PathBuf::from(p);
            if !p.is_file() {
                return Err(missing(format!(
                    "{}={} is not a file",
                    self.env,
                    p.display()
                )));
            }
            return Ok(p);
        }
        let mut tried = Vec::new();
        for dir in exe.ancestors().skip(1).take(2) {
            let candidate = dir.join(self.file);
            if candidate.is_file() {
                return candidate.canonicalize().map_err(|e| missing(e.to_string()));
            }
            tried.push(candidate.display().to_string());
        }
        if let Some(built) = self.build_beside(exe) {
            return Ok(built);
        }
        Err(missing(format!(
            "tried {}; build it with `cargo build -p {}` or set {}",
            tried.join(", "),
            self.package,
            self.env
        )))
    }

    /// `cargo run -- run` builds splitbrain alone; when this executable sits in a cargo
    /// target directory of the workspace, build the file into the same profile
    /// directory.
    fn build_beside(&self, exe: &Path) -> Option<PathBuf> {
        let profile_dir = exe.parent()?;
        let profile = profile_dir.file_name()?.to_str()?;
        let target = profile_dir.parent()?;
        let workspace = target.parent()?;
        let is_workspace = target.file_name()? == "target"
            && workspace.join(self.member).join("Cargo.toml").is_file()
            && matches!(profile, "debug" | "release");
        if !is_workspace {
            return None;
        }
        eprintln!(
            "splitbrain: building {} (cargo build -p {}, {profile} profile)",
            self.what, self.package
        );
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = std::process::Command::new(cargo);
        cmd.args(["build", "-p", self.package])
            .args(self.target)
            .current_dir(workspace);
        if profile == "release" {
            cmd.arg("--release");
        }
        let ok = cmd.status().is_ok_and(|s| s.success());
        let built = profile_dir.join(self.file);
        (ok && built.is_file()).then_some(built)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_variable_comes_first_and_must_name_a_file() {
        let exe = Path::new("/usr/local/bin/splitbrain");
        let text = CLOCK_SHIM
            .find_from(Some("/nonexistent/libsplitbrain_clock.so".into()), exe)
            .unwrap_err()
            .to_string();
        assert!(text.contains("the clock shim"), "{text}");
        assert!(
            text.contains("SPLITBRAIN_CLOCK_LIB=/nonexistent/libsplitbrain_clock.so"),
            "{text}"
        );
        let dir = tempfile::tempdir().unwrap();
        let named = dir.path().join("shim.so");
        std::fs::write(&named, "").unwrap();
        let found = CLOCK_SHIM.find_from(Some(named.clone().into()), exe);
        assert_eq!(found.unwrap(), named);
    }

    #[test]
    fn the_file_is_found_beside_the_executable_or_one_level_up() {
        let dir = tempfile::tempdir().unwrap();
        let deps = dir.path().join("debug").join("deps");
        std::fs::create_dir_all(&deps).unwrap();
        let exe = deps.join("tests-0123");
        let text = CLOCK_SHIM.find_from(None, &exe).unwrap_err().to_string();
        assert!(text.contains("cargo build -p splitbrain-clock"), "{text}");
        assert!(text.contains(&deps.display().to_string()), "{text}");
        let beside = dir.path().join("debug").join(CLOCK_SHIM.file);
        std::fs::write(&beside, "").unwrap();
        let found = CLOCK_SHIM.find_from(None, &exe).unwrap();
        assert_eq!(found, beside.canonicalize().unwrap());
    }

    #[test]
    fn outside_a_workspace_target_nothing_is_built() {
        let exe = Path::new("/usr/local/bin/splitbrain");
        assert_eq!(CLOCK_SHIM.build_beside(exe), None);
        // A test executable in `deps`: cargo is building already, and holds the lock.
        let exe = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug/deps/t-0");
        assert_eq!(CLOCK_SHIM.build_beside(&exe), None);
    }
}
