//! The system under test as the run sees it: the adapter for the spec's system, its
//! version, the raftd binary (built beside this executable if missing), and the names
//! `--bug` accepts.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use workloads::system::ImageKind;
use workloads::System;

use crate::runtime;
use crate::spec::{Fencing, SystemKind, TestSpec};

/// The names `--bug` accepts: raftd's catalogue.
pub fn known_bugs() -> Vec<String> {
    raftd::core::Bug::ALL
        .iter()
        .map(|b| b.name().to_string())
        .collect()
}

/// The adapter for the spec's system, the image its faults are decided by, and its
/// version. A custom image (`--image`) of raftd runs raftd as its program, so it takes
/// raftd's faults (the clock through raftd's admin call) like the built-in image.
pub(super) fn system_for(spec: &TestSpec) -> anyhow::Result<(Arc<dyn System>, ImageKind, String)> {
    match spec.system {
        SystemKind::Raftd => {
            let binary = match (find_raftd(), &spec.image) {
                (Ok(binary), _) => binary,
                // The custom image brings its own raftd; the host needs none.
                (Err(_), Some(_)) => PathBuf::from(runtime::images::RAFTD_IN_IMAGE),
                (Err(e), None) => return Err(e),
            };
            let image = ImageKind::Raftd {
                binary: binary.clone(),
            };
            let version = match &spec.image {
                Some(custom) => format!("raftd in the custom image {custom}"),
                None => host_version(&binary.display().to_string(), "raftd"),
            };
            Ok((
                Arc::new(workloads::raftd::RaftdSystem::new(binary)),
                image,
                version,
            ))
        }
        SystemKind::Etcd => Ok((
            Arc::new(workloads::etcd::EtcdSystem::new(fencing_mode(spec.fencing))),
            ImageKind::Etcd,
            host_version(workloads::etcd::ETCD_PROGRAM, "etcd"),
        )),
        SystemKind::Zookeeper => Ok((
            Arc::new(workloads::zookeeper::ZkSystem::new(fencing_mode(
                spec.fencing,
            ))),
            ImageKind::Zookeeper,
            zookeeper_version(),
        )),
    }
}

pub(super) fn fencing_mode(fencing: Fencing) -> workloads::FencingMode {
    match fencing {
        Fencing::Grant => workloads::FencingMode::Grant,
        Fencing::Write => workloads::FencingMode::Write,
        Fencing::None => workloads::FencingMode::None,
    }
}

/// The first line `PROGRAM --version` prints: the nodes run the host's own build of a
/// system (images are assembled from host files), so the host's version is theirs.
fn host_version(program: &str, name: &str) -> String {
    std::process::Command::new(program)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(|l| l.trim().to_string())
        })
        .filter(|l| !l.is_empty())
        .unwrap_or_else(|| format!("{name} (version unknown: {program} --version failed)"))
}

/// ZooKeeper's version from its jar's Maven properties (the JVM would take seconds).
fn zookeeper_version() -> String {
    let jar = crate::runtime::images::ZOOKEEPER_JAR;
    std::process::Command::new("unzip")
        .args([
            "-p",
            jar,
            "META-INF/maven/org.apache.zookeeper/zookeeper/pom.properties",
        ])
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .find_map(|l| l.strip_prefix("version="))
                .map(|v| format!("zookeeper {}", v.trim()))
        })
        .unwrap_or_else(|| format!("zookeeper (version unknown: no Maven version in {jar})"))
}

/// The raftd binary: `$SPLITBRAIN_RAFTD`, else next to this executable (cargo puts every
/// workspace binary in one directory; test executables sit one level deeper, in `deps`).
pub fn find_raftd() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("SPLITBRAIN_RAFTD") {
        let p = PathBuf::from(p);
        anyhow::ensure!(
            p.is_file(),
            "SPLITBRAIN_RAFTD={} is not a file",
            p.display()
        );
        return Ok(p);
    }
    let exe = std::env::current_exe()?;
    let mut tried = Vec::new();
    for dir in exe.ancestors().skip(1).take(2) {
        let candidate = dir.join("raftd");
        if candidate.is_file() {
            return Ok(candidate.canonicalize()?);
        }
        tried.push(candidate.display().to_string());
    }
    if let Some(built) = build_raftd_beside(&exe) {
        return Ok(built);
    }
    anyhow::bail!(
        "cannot find the raftd binary (tried {}); build it with `cargo build -p raftd` or set SPLITBRAIN_RAFTD",
        tried.join(", ")
    )
}

/// `cargo run -- run` builds splitbrain alone; when this executable sits in a cargo
/// target directory of the workspace, build raftd into the same profile directory.
fn build_raftd_beside(exe: &Path) -> Option<PathBuf> {
    let profile_dir = exe.parent()?;
    let profile = profile_dir.file_name()?.to_str()?;
    let target = profile_dir.parent()?;
    let workspace = target.parent()?;
    let is_workspace = target.file_name()? == "target"
        && workspace.join("raftd").join("Cargo.toml").is_file()
        && matches!(profile, "debug" | "release");
    if !is_workspace {
        return None;
    }
    eprintln!("splitbrain: building raftd (cargo build -p raftd, {profile} profile)");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = std::process::Command::new(cargo);
    cmd.args(["build", "-p", "raftd", "--bin", "raftd"])
        .current_dir(workspace);
    if profile == "release" {
        cmd.arg("--release");
    }
    let ok = cmd.status().is_ok_and(|s| s.success());
    let built = profile_dir.join("raftd");
    (ok && built.is_file()).then_some(built)
}

/// The raftd adapter names the host's binary as the program; inside a container it sits
/// at `RAFTD_IN_IMAGE`, and the process runtimes map any program named `raftd` back to
/// the host binary, so the in-image path serves every runtime. A custom image (`--image`)
/// must hold raftd at that same path.
pub(super) fn in_image_programs(
    specs: &mut [workloads::system::NodeSpec],
    custom_image: Option<&str>,
) {
    for spec in specs {
        if let (ImageKind::Raftd { .. }, Some(program)) = (&spec.image, spec.command.first_mut()) {
            *program = runtime::images::RAFTD_IN_IMAGE.to_string();
        }
        if let Some(image) = custom_image {
            spec.image = ImageKind::Custom {
                image: image.to_string(),
            };
        }
    }
}
