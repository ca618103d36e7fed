//! The matrix file (TOML): its keys, their validation, and its expansion into cells in a
//! stable order. Every cell is checked with `splitbrain run`'s own flag validation before
//! anything runs, so a matrix that would fail half-way for a typo fails at once instead.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::Parser;
use serde::Deserialize;

use crate::spec::{RunArgs, TestSpec};

/// More cells than this is a mistake in the file (an axis pasted twice, say), not a plan.
pub const CELLS_MAX: usize = 10_000;

/// A matrix file that cannot be run: what is wrong and what would be right.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct MatrixError(pub String);

fn bad(message: impl Into<String>) -> MatrixError {
    MatrixError(message.into())
}

/// Declares a struct whose fields are `extra` plus every fixed `splitbrain run` option a
/// matrix may set, so that the top level, `[system.NAME]` and `[[include]]` accept the
/// same option keys while serde still refuses unknown ones (`flatten` cannot do both).
macro_rules! with_options {
    ($(#[$meta:meta])* struct $name:ident { $($extra:tt)* }) => {
        $(#[$meta])*
        #[derive(Debug, Default, Deserialize)]
        #[serde(deny_unknown_fields)]
        struct $name {
            $($extra)*
            nodes: Option<i64>,
            runtime: Option<String>,
            time_limit: Option<i64>,
            nemesis_interval_ms: Option<i64>,
            nemesis_duration_ms: Option<i64>,
            rate: Option<f64>,
            concurrency: Option<i64>,
            recovery_secs: Option<i64>,
            stall_probability: Option<f64>,
            bugs: Option<Vec<String>>,
            lease: Option<bool>,
            fencing: Option<String>,
            workload: Option<String>,
            image: Option<String>,
            /// `--docker-host`s: the Docker hosts a cell's nodes are spread over.
            docker_hosts: Option<Vec<String>>,
            /// `--system-option`s: `{ wait = 1, min-replicas-to-write = 1 }`.
            system_options: Option<BTreeMap<String, toml::Value>>,
        }

        impl $name {
            fn options(&self) -> Options {
                Options {
                    nodes: self.nodes,
                    runtime: self.runtime.clone(),
                    time_limit: self.time_limit,
                    nemesis_interval_ms: self.nemesis_interval_ms,
                    nemesis_duration_ms: self.nemesis_duration_ms,
                    rate: self.rate,
                    concurrency: self.concurrency,
                    recovery_secs: self.recovery_secs,
                    stall_probability: self.stall_probability,
                    bugs: self.bugs.clone(),
                    lease: self.lease,
                    fencing: self.fencing.clone(),
                    workload: self.workload.clone(),
                    image: self.image.clone(),
                    docker_hosts: self.docker_hosts.clone(),
                    system_options: self.system_options.as_ref().map(|o| {
                        o.iter().map(|(k, v)| (k.clone(), scalar_text(v))).collect()
                    }),
                }
            }
        }
    };
}

with_options! {
    /// The whole file: the axes, the fixed options, and the refinements.
    struct RawFile {
        systems: Option<Vec<String>>,
        nemeses: Option<Vec<String>>,
        seeds: Option<Vec<u64>>,
        results: Option<PathBuf>,
        #[serde(default)]
        system: BTreeMap<String, RawSystem>,
        #[serde(default)]
        exclude: Vec<RawExclude>,
        #[serde(default)]
        include: Vec<RawInclude>,
    }
}

with_options! {
    /// `[system.NAME]`: this system's own nemeses, seeds or options, and for a system
    /// of the user's own, its system file (relative to the matrix file).
    struct RawSystem {
        nemeses: Option<Vec<String>>,
        seeds: Option<Vec<u64>>,
        system_file: Option<PathBuf>,
    }
}

with_options! {
    /// `[[include]]`: one extra cell, with options of its own.
    struct RawInclude {
        system: Option<String>,
        nemesis: Option<String>,
        seed: Option<u64>,
    }
}

/// `[[exclude]]`: cells of the product to leave out; every key given must match.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExclude {
    system: Option<String>,
    nemesis: Option<String>,
    seed: Option<u64>,
}

/// The fixed `splitbrain run` options; unset ones take `run`'s defaults.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Options {
    pub nodes: Option<i64>,
    pub runtime: Option<String>,
    pub time_limit: Option<i64>,
    pub nemesis_interval_ms: Option<i64>,
    pub nemesis_duration_ms: Option<i64>,
    pub rate: Option<f64>,
    pub concurrency: Option<i64>,
    pub recovery_secs: Option<i64>,
    pub stall_probability: Option<f64>,
    pub bugs: Option<Vec<String>>,
    pub lease: Option<bool>,
    pub fencing: Option<String>,
    pub workload: Option<String>,
    pub image: Option<String>,
    pub docker_hosts: Option<Vec<String>>,
    pub system_options: Option<BTreeMap<String, String>>,
}

/// A TOML value as `--system-option` takes it: a string as it is, any other scalar
/// as TOML writes it (an array or a table too, for the option's check to refuse).
fn scalar_text(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl Options {
    /// `self` with every option `over` sets replaced by `over`'s.
    fn overlaid(&self, over: &Options) -> Options {
        Options {
            nodes: over.nodes.or(self.nodes),
            runtime: over.runtime.clone().or_else(|| self.runtime.clone()),
            time_limit: over.time_limit.or(self.time_limit),
            nemesis_interval_ms: over.nemesis_interval_ms.or(self.nemesis_interval_ms),
            nemesis_duration_ms: over.nemesis_duration_ms.or(self.nemesis_duration_ms),
            rate: over.rate.or(self.rate),
            concurrency: over.concurrency.or(self.concurrency),
            recovery_secs: over.recovery_secs.or(self.recovery_secs),
            stall_probability: over.stall_probability.or(self.stall_probability),
            bugs: over.bugs.clone().or_else(|| self.bugs.clone()),
            lease: over.lease.or(self.lease),
            fencing: over.fencing.clone().or_else(|| self.fencing.clone()),
            workload: over.workload.clone().or_else(|| self.workload.clone()),
            image: over.image.clone().or_else(|| self.image.clone()),
            docker_hosts: over
                .docker_hosts
                .clone()
                .or_else(|| self.docker_hosts.clone()),
            system_options: over
                .system_options
                .clone()
                .or_else(|| self.system_options.clone()),
        }
    }

    /// The `splitbrain run` flags for the options that are set.
    fn flags(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut push = |flag: &str, value: Option<String>| {
            if let Some(v) = value {
                out.push(flag.to_string());
                out.push(v);
            }
        };
        push("--nodes", self.nodes.map(|v| v.to_string()));
        push("--runtime", self.runtime.clone());
        push("--time-limit", self.time_limit.map(|v| v.to_string()));
        push(
            "--nemesis-interval-ms",
            self.nemesis_interval_ms.map(|v| v.to_string()),
        );
        push(
            "--nemesis-duration-ms",
            self.nemesis_duration_ms.map(|v| v.to_string()),
        );
        push("--rate", self.rate.map(|v| v.to_string()));
        push("--concurrency", self.concurrency.map(|v| v.to_string()));
        push("--recovery-secs", self.recovery_secs.map(|v| v.to_string()));
        push(
            "--stall-probability",
            self.stall_probability.map(|v| v.to_string()),
        );
        push("--fencing", self.fencing.clone());
        push("--workload", self.workload.clone());
        push("--image", self.image.clone());
        for (k, v) in self.system_options.iter().flatten() {
            out.push("--system-option".into());
            out.push(format!("{k}={v}"));
        }
        for bug in self.bugs.iter().flatten() {
            out.push("--bug".into());
            out.push(bug.clone());
        }
        for host in self.docker_hosts.iter().flatten() {
            out.push("--docker-host".into());
            out.push(host.clone());
        }
        match self.lease {
            Some(true) => out.push("--lease".into()),
            Some(false) => out.push("--no-lease".into()),
            None => {}
        }
        out
    }
}

/// What a cell runs, before validation.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub system: String,
    /// The system file of a system of the user's own; `None` for a built-in one.
    pub system_file: Option<PathBuf>,
    pub nemesis: String,
    pub seed: u64,
    pub options: Options,
}

impl Plan {
    /// `nemesis/seed=N`, plus the bugs, fencing mode, workload and system options when set: unique
    /// within a system.
    pub fn name(&self) -> String {
        let mut name = format!("{}/seed={}", self.nemesis, self.seed);
        for bug in self.options.bugs.iter().flatten() {
            name.push_str(&format!("/bug={bug}"));
        }
        if let Some(f) = &self.options.fencing {
            name.push_str(&format!("/fencing={f}"));
        }
        if let Some(w) = &self.options.workload {
            name.push_str(&format!("/workload={w}"));
        }
        for (k, v) in self.options.system_options.iter().flatten() {
            name.push_str(&format!("/{k}={v}"));
        }
        name
    }

    /// The nemesis, plus the bugs and fencing mode when set.
    pub fn variant(&self) -> String {
        let name = self.name();
        name.replacen(&format!("/seed={}", self.seed), "", 1)
    }

    /// The arguments after `splitbrain` that run this cell into `results`.
    pub fn run_args(&self, results: &Path) -> Vec<String> {
        let mut args = vec!["run".to_string()];
        match &self.system_file {
            Some(file) => args.extend(["--system-file".into(), file.display().to_string()]),
            None => args.extend(["--system".into(), self.system.clone()]),
        }
        args.extend([
            "--nemesis".into(),
            self.nemesis.clone(),
            "--seed".into(),
            self.seed.to_string(),
        ]);
        args.extend(self.options.flags());
        args.push("--results".into());
        args.push(results.display().to_string());
        args
    }
}

/// One run of the matrix.
#[derive(Clone, Debug, PartialEq)]
pub struct Cell {
    /// Position in the whole matrix (0-based), the same in every shard.
    pub index: usize,
    pub plan: Plan,
    /// The validated spec, as the child `splitbrain run` will see it.
    pub spec: TestSpec,
}

impl Cell {
    /// An upper bound on how long the child may take before it is stopped.
    pub fn deadline_secs(&self) -> u64 {
        // Startup, teardown and image builds come on top of the test itself.
        const CELL_SLACK_SECS: u64 = 300;
        self.spec.time_limit_secs + self.spec.recovery_secs + CELL_SLACK_SECS
    }
}

/// A parsed, validated matrix.
#[derive(Debug)]
pub struct Matrix {
    pub results: PathBuf,
    pub cells: Vec<Cell>,
}

/// Only to reuse `splitbrain run`'s clap defaults and checks on a cell's flags.
#[derive(Parser)]
#[command(no_binary_name = true)]
struct RunFlags {
    #[command(subcommand)]
    run: RunCommand,
}

#[derive(clap::Subcommand)]
enum RunCommand {
    Run(RunArgs),
}

/// Reads and validates `path`; `results` (the `--results` flag) wins over the file's.
pub fn load(path: &Path, results: Option<&Path>) -> Result<Matrix, MatrixError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| bad(format!("cannot read {}: {e}", path.display())))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    parse_in(&text, results, dir).map_err(|e| bad(format!("{}: {}", path.display(), e.0)))
}

/// Parses and validates a matrix from its text; system files are found relative to the
/// current directory.
#[cfg(test)]
pub fn parse(text: &str, results: Option<&Path>) -> Result<Matrix, MatrixError> {
    parse_in(text, results, Path::new("."))
}

/// Parses and validates a matrix from its text; system files are found relative to `dir`.
fn parse_in(text: &str, results: Option<&Path>, dir: &Path) -> Result<Matrix, MatrixError> {
    let mut raw: RawFile = toml::from_str(text).map_err(|e| bad(describe_toml_error(&e)))?;
    for sys in raw.system.values_mut() {
        if let Some(file) = &mut sys.system_file {
            *file = dir.join(&*file);
        }
    }
    refuse_flag_values(&raw)?;
    let results = match results {
        Some(r) => r.to_path_buf(),
        None => raw
            .results
            .clone()
            .unwrap_or_else(|| PathBuf::from("results")),
    };
    if looks_like_flag(&results.to_string_lossy()) {
        return Err(bad(format!(
            "--results {:?} looks like a flag, not a directory; give a path such as ./{}",
            results.display(),
            results.display()
        )));
    }
    let candidates = expand(&raw)?;
    let mut cells = Vec::with_capacity(candidates.len());
    for (index, plan) in candidates.into_iter().enumerate() {
        let spec = validate(index, &plan, &results)?;
        check_faults(index, &plan, &spec)?;
        cells.push(Cell { index, plan, spec });
    }
    check_unique(&cells)?;
    Ok(Matrix { results, cells })
}

/// Every text value of the file goes to a child `splitbrain run` as a flag's value, where
/// one that starts with `-` would be read as a flag of its own (`image = "--help"`
/// printing run's help): such a value is refused here, naming its key.
fn refuse_flag_values(raw: &RawFile) -> Result<(), MatrixError> {
    let mut values: Vec<(String, String)> = Vec::new();
    for v in raw.systems.iter().flatten() {
        values.push(("systems".into(), v.clone()));
    }
    for v in raw.nemeses.iter().flatten() {
        values.push(("nemeses".into(), v.clone()));
    }
    if let Some(r) = raw.results.as_ref().and_then(|r| r.to_str()) {
        values.push(("results".into(), r.to_string()));
    }
    option_values(&mut values, "", &raw.options());
    for (name, sys) in &raw.system {
        let table = format!("[system.{name}] ");
        for v in sys.nemeses.iter().flatten() {
            values.push((format!("{table}nemeses"), v.clone()));
        }
        option_values(&mut values, &table, &sys.options());
    }
    for (i, inc) in raw.include.iter().enumerate() {
        let table = format!("[[include]] number {} ", i + 1);
        for (key, v) in [("system", &inc.system), ("nemesis", &inc.nemesis)] {
            if let Some(v) = v {
                values.push((format!("{table}{key}"), v.clone()));
            }
        }
        option_values(&mut values, &table, &inc.options());
    }
    for (i, x) in raw.exclude.iter().enumerate() {
        let table = format!("[[exclude]] number {} ", i + 1);
        for (key, v) in [("system", &x.system), ("nemesis", &x.nemesis)] {
            if let Some(v) = v {
                values.push((format!("{table}{key}"), v.clone()));
            }
        }
    }
    match values.into_iter().find(|(_, v)| looks_like_flag(v)) {
        None => Ok(()),
        Some((key, v)) => Err(bad(format!(
            "{key} = {v:?} looks like a flag, not a value; each value is handed to `splitbrain run` after its flag, so it must not start with '-'"
        ))),
    }
}

fn option_values(out: &mut Vec<(String, String)>, table: &str, o: &Options) {
    for (key, v) in [
        ("runtime", &o.runtime),
        ("fencing", &o.fencing),
        ("workload", &o.workload),
        ("image", &o.image),
    ] {
        if let Some(v) = v {
            out.push((format!("{table}{key}"), v.clone()));
        }
    }
    for v in o.bugs.iter().flatten() {
        out.push((format!("{table}bugs"), v.clone()));
    }
    for v in o.docker_hosts.iter().flatten() {
        out.push((format!("{table}docker_hosts"), v.clone()));
    }
    for (k, v) in o.system_options.iter().flatten() {
        out.push((format!("{table}system_options.{k}"), v.clone()));
    }
}

fn looks_like_flag(v: &str) -> bool {
    v.trim_start().starts_with('-')
}

/// toml's message names the line, the column and, for an unknown key, the valid ones.
fn describe_toml_error(e: &toml::de::Error) -> String {
    e.to_string().trim_end().to_string()
}

/// The product systems × nemeses × seeds (per-system axes where given), in file order,
/// minus the exclusions, then the inclusions.
fn expand(raw: &RawFile) -> Result<Vec<Plan>, MatrixError> {
    let systems = non_empty(
        "systems",
        raw.systems.as_deref(),
        r#"systems = ["raftd", "etcd", "zookeeper"]"#,
    )?;
    for name in raw.system.keys() {
        if !systems.contains(name) {
            return Err(bad(format!(
                "[system.{name}] refines a system that is not in systems ({}); add {name:?} to systems or remove the table",
                systems.join(", ")
            )));
        }
    }
    check_excludes(&raw.exclude)?;
    let top = raw.options();
    let mut out = Vec::new();
    let mut product = Product {
        excludes_matched: vec![false; raw.exclude.len()],
        ..Product::default()
    };
    for system in systems {
        let own = raw.system.get(system);
        let nemeses = axis(
            "nemeses",
            system,
            own.and_then(|s| s.nemeses.as_deref()),
            raw.nemeses.as_deref(),
        )?;
        let seeds = axis(
            "seeds",
            system,
            own.and_then(|s| s.seeds.as_deref()),
            raw.seeds.as_deref(),
        )?;
        let options = own.map_or(top.clone(), |s| top.overlaid(&s.options()));
        for nemesis in nemeses {
            for seed in seeds {
                product.saw(system, nemesis, *seed);
                let mut excluded = false;
                for (x, matched) in raw.exclude.iter().zip(&mut product.excludes_matched) {
                    let hit = excludes(x, system, nemesis, *seed);
                    *matched |= hit;
                    excluded |= hit;
                }
                if !excluded {
                    out.push(Plan {
                        system: system.clone(),
                        system_file: own.and_then(|s| s.system_file.clone()),
                        nemesis: nemesis.clone(),
                        seed: *seed,
                        options: options.clone(),
                    });
                }
                if out.len() > CELLS_MAX {
                    return Err(too_many());
                }
            }
        }
    }
    product.check_excludes(&raw.exclude)?;
    for (i, inc) in raw.include.iter().enumerate() {
        out.push(include_cell(raw, &top, i, inc)?);
        if out.len() > CELLS_MAX {
            return Err(too_many());
        }
    }
    if out.is_empty() {
        return Err(bad(
            "the matrix has no cells: [[exclude]] removed every one; narrow the exclusions",
        ));
    }
    Ok(out)
}

fn too_many() -> MatrixError {
    bad(format!(
        "the matrix has more than {CELLS_MAX} cells; split it into several files"
    ))
}

fn non_empty<'a, T>(key: &str, v: Option<&'a [T]>, example: &str) -> Result<&'a [T], MatrixError> {
    match v {
        None => Err(bad(format!("{key} is missing; add it, e.g. {example}"))),
        Some([]) => Err(bad(format!(
            "{key} is empty; list at least one, e.g. {example}"
        ))),
        Some(v) => Ok(v),
    }
}

/// A per-system axis if `[system.NAME]` gives one, else the top-level one.
fn axis<'a, T>(
    key: &str,
    system: &str,
    own: Option<&'a [T]>,
    top: Option<&'a [T]>,
) -> Result<&'a [T], MatrixError> {
    let example = match key {
        "nemeses" => r#"nemeses = ["partition", "pause"]"#,
        _ => "seeds = [1, 2]",
    };
    match own {
        Some([]) => Err(bad(format!(
            "[system.{system}] {key} is empty; list at least one, e.g. {example}"
        ))),
        Some(v) => Ok(v),
        None => non_empty(key, top, example)
            .map_err(|e| bad(format!("{} (or give [system.{system}] its own {key})", e.0))),
    }
}

fn check_excludes(excludes: &[RawExclude]) -> Result<(), MatrixError> {
    for (i, x) in excludes.iter().enumerate() {
        if x.system.is_none() && x.nemesis.is_none() && x.seed.is_none() {
            return Err(bad(format!(
                "[[exclude]] number {} matches every cell; give at least one of system, nemesis, seed",
                i + 1
            )));
        }
    }
    Ok(())
}

/// What the product of the axes held, to tell an `[[exclude]]` that matches no cell
/// (a typo in a value) what the values are.
#[derive(Default)]
struct Product {
    systems: Vec<String>,
    nemeses: Vec<String>,
    seeds: Vec<u64>,
    /// Per `[[exclude]]`, whether it matched a cell of the product.
    excludes_matched: Vec<bool>,
}

impl Product {
    fn saw(&mut self, system: &str, nemesis: &str, seed: u64) {
        if !self.systems.iter().any(|s| s == system) {
            self.systems.push(system.to_string());
        }
        if !self.nemeses.iter().any(|n| n == nemesis) {
            self.nemeses.push(nemesis.to_string());
        }
        if !self.seeds.contains(&seed) {
            self.seeds.push(seed);
        }
    }

    /// An exclusion that matches nothing excludes nothing, which its author did not mean.
    fn check_excludes(&self, excludes: &[RawExclude]) -> Result<(), MatrixError> {
        let Some(i) = self.excludes_matched.iter().position(|m| !m) else {
            return Ok(());
        };
        let x = &excludes[i];
        let mut keys = Vec::new();
        if let Some(s) = &x.system {
            keys.push(format!("system = {s:?}"));
        }
        if let Some(n) = &x.nemesis {
            keys.push(format!("nemesis = {n:?}"));
        }
        if let Some(seed) = x.seed {
            keys.push(format!("seed = {seed}"));
        }
        let quoted = |v: &[String]| {
            v.iter()
                .map(|s| format!("{s:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let seeds: Vec<String> = self.seeds.iter().map(u64::to_string).collect();
        Err(bad(format!(
            "[[exclude]] number {} ({}) matches no cell, so it excludes nothing; the matrix's systems are {}, its nemeses {} and its seeds {}; correct the value or remove the [[exclude]]",
            i + 1,
            keys.join(", "),
            quoted(&self.systems),
            quoted(&self.nemeses),
            seeds.join(", ")
        )))
    }
}

fn excludes(x: &RawExclude, system: &str, nemesis: &str, seed: u64) -> bool {
    x.system.as_deref().is_none_or(|s| s == system)
        && x.nemesis.as_deref().is_none_or(|n| n == nemesis)
        && x.seed.is_none_or(|s| s == seed)
}

fn include_cell(
    raw: &RawFile,
    top: &Options,
    i: usize,
    inc: &RawInclude,
) -> Result<Plan, MatrixError> {
    let missing = |key: &str, example: &str| {
        bad(format!(
            "[[include]] number {} has no {key}; an included cell names system, nemesis and seed, e.g. {example}",
            i + 1
        ))
    };
    let system = inc
        .system
        .clone()
        .ok_or_else(|| missing("system", r#"system = "raftd""#))?;
    let nemesis = inc
        .nemesis
        .clone()
        .ok_or_else(|| missing("nemesis", r#"nemesis = "pause""#))?;
    let seed = inc.seed.ok_or_else(|| missing("seed", "seed = 1"))?;
    let base = raw
        .system
        .get(&system)
        .map_or(top.clone(), |s| top.overlaid(&s.options()));
    Ok(Plan {
        system_file: raw.system.get(&system).and_then(|s| s.system_file.clone()),
        system,
        nemesis,
        seed,
        options: base.overlaid(&inc.options()),
    })
}

/// Runs the cell's flags through `splitbrain run`'s clap parser and spec validation.
fn validate(index: usize, plan: &Plan, results: &Path) -> Result<TestSpec, MatrixError> {
    let where_ = format!("cell {} ({} {})", index + 1, plan.system, plan.name());
    let flags = RunFlags::try_parse_from(plan.run_args(results)).map_err(|e| {
        let text = e.to_string();
        let first = text
            .lines()
            .next()
            .unwrap_or("")
            .trim_start_matches("error: ");
        bad(format!("{where_}: {first}"))
    })?;
    let RunCommand::Run(args) = flags.run;
    let spec = TestSpec::from_args(&args).map_err(|e| {
        bad(format!(
            "{where_}: {} (in the matrix file: {})",
            e,
            file_key(e.flag)
        ))
    })?;
    if spec.system.name() != plan.system {
        return Err(bad(format!(
            "{where_}: [system.{}] system_file names the system {:?}; name the table and the systems entry after it",
            plan.system,
            spec.system.name()
        )));
    }
    Ok(spec)
}

/// A fault the system can never take (clock jumps in etcd) is refused here, as `run`
/// would refuse it, so that the matrix fails before it starts rather than cell by cell.
/// What a runtime cannot do depends on the machine and is left to the cell's run.
fn check_faults(index: usize, plan: &Plan, spec: &TestSpec) -> Result<(), MatrixError> {
    let refused = spec.system.descriptor().refused_faults();
    for fault in spec.fault_kinds() {
        if let Some(why) = refused.get(&fault) {
            return Err(bad(format!(
                "cell {} ({} {}): {} faults cannot be injected into {}: {why}; leave them out of its nemeses, e.g. with [system.{}] nemeses = [...] or an [[exclude]]",
                index + 1,
                plan.system,
                plan.name(),
                crate::spec::fault_name(fault),
                plan.system,
                plan.system,
            )));
        }
    }
    Ok(())
}

/// The matrix key that sets a `splitbrain run` flag.
fn file_key(flag: &str) -> &'static str {
    match flag {
        "--system" => "systems, [system.NAME] or an include's system",
        "--system-file" => "[system.NAME] system_file",
        "--nemesis" => "nemeses or an include's nemesis",
        "--nodes" => "nodes",
        "--runtime" => "runtime",
        "--time-limit" => "time_limit",
        "--nemesis-interval-ms" => "nemesis_interval_ms",
        "--nemesis-duration-ms" => "nemesis_duration_ms",
        "--rate" => "rate",
        "--concurrency" => "concurrency",
        "--recovery-secs" => "recovery_secs",
        "--stall-probability" => "stall_probability",
        "--bug" => "bugs",
        "--lease" => "lease",
        "--fencing" => "fencing",
        "--workload" => "workload",
        "--results" => "results",
        "--image" => "image",
        "--docker-host" => "docker_hosts",
        "--system-option" => "system_options",
        _ => "the key for that flag",
    }
}

/// Two cells that would run the same test twice are a mistake in the file.
fn check_unique(cells: &[Cell]) -> Result<(), MatrixError> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for c in cells {
        let key = c.spec.command_line();
        if let Some(first) = seen.insert(key, c.index) {
            return Err(bad(format!(
                "cells {} and {} are the same test ({} {}); remove the duplicate [[include]] or seed",
                first + 1,
                c.index + 1,
                c.plan.system,
                c.plan.name()
            )));
        }
    }
    Ok(())
}
