//! Helpers shared by the integration tests.

use std::process::Command;

/// Whether a docker daemon answers. Outside CI a machine without one skips the docker
/// runs; in CI (`CI` set) they must really run, so a missing daemon fails.
pub fn docker_available() -> bool {
    let up = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        up || std::env::var_os("CI").is_none(),
        "CI is set but no docker daemon answers: the docker runs must run in CI"
    );
    up
}
