//! Specs for the unit tests of the run: flags as a user would give them, validated.

use crate::spec::{RunArgs, TestSpec};

/// A small valid run of `system` on `runtime` with `nemesis`; `edit` changes any flag.
pub fn spec_with(
    system: &str,
    runtime: &str,
    nemesis: &str,
    edit: impl FnOnce(&mut RunArgs),
) -> TestSpec {
    let mut args = RunArgs {
        system: Some(system.into()),
        nodes: Some(3),
        runtime: runtime.into(),
        nemesis: nemesis.into(),
        time_limit_secs: 10,
        nemesis_interval_ms: Some(1000),
        nemesis_duration_ms: Some(500),
        rate_hz: 10.0,
        concurrency: 2,
        seed: Some(1),
        fencing: Some("grant".into()),
        system_options: Vec::new(),
        results: "results".into(),
        ..RunArgs::default()
    };
    edit(&mut args);
    TestSpec::from_args(&args).unwrap_or_else(|e| panic!("{e}"))
}

pub fn spec(system: &str, runtime: &str, nemesis: &str) -> TestSpec {
    spec_with(system, runtime, nemesis, |_| {})
}
