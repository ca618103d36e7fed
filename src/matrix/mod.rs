//! `splitbrain matrix FILE.toml`: runs a test matrix (systems × nemeses × seeds, with
//! fixed options, per-system refinements, exclusions and extra cells) as child
//! `splitbrain run`s, sharded across CI jobs and K at a time, and reports it as a table,
//! the results index and, on request, JUnit XML.
//!
//! Exit code: the worst cell's — 1 if any cell found a violation, else 3 if any cell
//! reached no verdict (its run said unknown, or it could not run at all: refused,
//! crashed, timed out), else 0; 2 for a bad matrix file or flag, before anything runs.
//!
//! Each cell's output goes to `<results>/matrix-logs/cell-NNN-….log`; its run lands in
//! `<results>/<run id>/` like any run, so `results/index.html` lists it. Ctrl-C or
//! SIGTERM starts no new cell and has each running one tear down (its verdict: unknown,
//! interrupted); the summary and JUnit are still written. A second Ctrl-C leaves at once.

mod exec;
mod file;
mod junit;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::Context;

pub use exec::{worst_exit, Verdict};
pub use file::Cell;

use crate::exit::Exit;

/// The most cells run at once; each is a whole cluster.
pub const PARALLEL_MAX: usize = 16;
/// The most shards a matrix can be split into.
pub const SHARDS_MAX: usize = 1_000;

#[derive(clap::Args, Debug)]
pub struct MatrixArgs {
    /// The matrix file (TOML); see matrix.toml at the repository root.
    pub file: PathBuf,
    /// Run only shard I of N (1-based): the cells whose position mod N is I-1.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// Write JUnit XML here: one testcase per cell.
    #[arg(long, value_name = "OUT.xml")]
    pub junit: Option<PathBuf>,
    /// How many cells run at once (1 to 16).
    #[arg(
        long,
        value_name = "K",
        default_value_t = 1,
        allow_negative_numbers = true
    )]
    pub parallel: i64,
    /// Where results land (overrides the file's `results`; default: results).
    #[arg(long, value_name = "DIR")]
    pub results: Option<PathBuf>,
    /// Print the cells (of this shard) and their commands; run nothing.
    #[arg(long)]
    pub list: bool,
}

/// `--shard I/N`, checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// 1-based.
    pub index: usize,
    pub count: usize,
}

impl Shard {
    pub const WHOLE: Shard = Shard { index: 1, count: 1 };

    pub fn parse(text: &str) -> Result<Shard, String> {
        let usage = "use I/N with 1 <= I <= N, e.g. --shard 2/4";
        let (i, n) = text
            .split_once('/')
            .ok_or_else(|| format!("--shard {text:?} has no '/'; {usage}"))?;
        let num = |s: &str| s.trim().parse::<usize>().ok();
        match (num(i), num(n)) {
            (Some(i), Some(n)) if (1..=SHARDS_MAX).contains(&n) && (1..=n).contains(&i) => {
                Ok(Shard { index: i, count: n })
            }
            (Some(_), Some(n)) if n > SHARDS_MAX => Err(format!(
                "--shard {text:?}: at most {SHARDS_MAX} shards; {usage}"
            )),
            _ => Err(format!("--shard {text:?} is out of range; {usage}")),
        }
    }

    pub fn holds(&self, position: usize) -> bool {
        position % self.count == self.index - 1
    }
}

/// The cells of one shard, in matrix order.
pub fn shard_cells(cells: &[Cell], shard: Shard) -> Vec<Cell> {
    cells
        .iter()
        .filter(|c| shard.holds(c.index))
        .cloned()
        .collect()
}

pub fn run(args: MatrixArgs) -> anyhow::Result<ExitCode> {
    let usage = |msg: String| {
        eprintln!("splitbrain matrix: {msg}");
        Ok(ExitCode::from(Exit::Usage))
    };
    let shard = match args.shard.as_deref().map(Shard::parse).transpose() {
        Ok(s) => s.unwrap_or(Shard::WHOLE),
        Err(e) => return usage(e),
    };
    let parallel = match usize::try_from(args.parallel) {
        Ok(k) if (1..=PARALLEL_MAX).contains(&k) => k,
        _ => {
            return usage(format!(
                "--parallel {} is out of range; use 1 to {PARALLEL_MAX} cells at once",
                args.parallel
            ))
        }
    };
    if let Some(j) = &args.junit {
        if j.is_dir() {
            return usage(format!(
                "--junit {} is a directory; give a file such as junit.xml",
                j.display()
            ));
        }
        let parent = j.parent().filter(|p| !p.as_os_str().is_empty());
        if parent.is_some_and(|p| !p.is_dir()) {
            return usage(format!(
                "--junit {}: the directory it would go in does not exist; create it or give another path",
                j.display()
            ));
        }
    }
    let matrix = match file::load(&args.file, args.results.as_deref()) {
        Ok(m) => m,
        Err(e) => return usage(e.0),
    };
    let cells = shard_cells(&matrix.cells, shard);
    if cells.is_empty() {
        // A CI job that runs nothing and passes would hide the cells it was meant to run.
        let total = matrix.cells.len();
        return usage(format!(
            "--shard {}/{} holds no cell: the matrix has {total} cell{}, so shards past {total} are empty; split it into at most {total} shards, e.g. --shard 1/{total}",
            shard.index,
            shard.count,
            if total == 1 { "" } else { "s" },
        ));
    }
    if args.list {
        print_list(&matrix.cells, &cells, shard, &matrix.results);
        return Ok(ExitCode::from(Exit::Valid));
    }
    let code = execute(&args, &matrix.results, &cells, shard, parallel)?;
    Ok(ExitCode::from(code))
}

fn print_list(all: &[Cell], cells: &[Cell], shard: Shard, results: &Path) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    // A reader that stops early (`| head`) is no error.
    let _ = writeln!(
        out,
        "{} of {} cells (shard {}/{})",
        cells.len(),
        all.len(),
        shard.index,
        shard.count
    );
    for c in cells {
        let _ = writeln!(
            out,
            "{:>4}  {:<10} {:<40} splitbrain {}",
            c.index + 1,
            c.plan.system,
            c.plan.name(),
            c.plan.run_args(results).join(" ")
        );
    }
}

fn execute(
    args: &MatrixArgs,
    results: &Path,
    cells: &[Cell],
    shard: Shard,
    parallel: usize,
) -> anyhow::Result<Exit> {
    let logs = results.join("matrix-logs");
    std::fs::create_dir_all(&logs).with_context(|| format!("cannot create {}", logs.display()))?;
    let started = SystemTime::now();
    eprintln!(
        "splitbrain matrix: {} cells (shard {}/{}), {parallel} at a time; logs in {}",
        cells.len(),
        shard.index,
        shard.count,
        logs.display()
    );
    let done = std::sync::atomic::AtomicUsize::new(0);
    let total = cells.len();
    let on_done = |cell: &Cell, o: &exec::Outcome| {
        let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        eprintln!(
            "splitbrain matrix: [{n}/{total}] cell {} {} {}: {} ({:.1} s)",
            cell.index + 1,
            cell.plan.system,
            cell.plan.name(),
            o.verdict.label(),
            o.duration.as_secs_f64()
        );
    };
    exec::install_stop_handler();
    let outcomes = exec::run_cells(cells, results, &logs, parallel, &on_done);
    say(&summary_table(cells, &outcomes));
    if results.is_dir() {
        if let Err(e) = crate::report::write_index(results) {
            eprintln!("splitbrain matrix: warning: the results index was not refreshed: {e:#}");
        }
    }
    if let Some(path) = &args.junit {
        let suite = format!(
            "splitbrain matrix {} shard {}/{}",
            args.file.display(),
            shard.index,
            shard.count
        );
        let xml = junit::render(&suite, &crate::utc::rfc3339(started), cells, &outcomes);
        std::fs::write(path, xml).with_context(|| format!("cannot write {}", path.display()))?;
        say(&format!("junit: {}\n", path.display()));
    }
    let verdicts: Vec<&Verdict> = outcomes.iter().map(|o| &o.verdict).collect();
    Ok(worst_exit(&verdicts))
}

/// Writes to stdout; a reader gone early (`| head`) must not stop the matrix's own work.
fn say(text: &str) {
    use std::io::Write;
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

/// One row per cell, columns aligned, then the totals.
fn summary_table(cells: &[Cell], outcomes: &[exec::Outcome]) -> String {
    let mut rows = vec![[
        "cell",
        "system",
        "nemesis",
        "seed",
        "verdict",
        "anomalies",
        "duration",
        "results",
    ]
    .map(String::from)
    .to_vec()];
    for (c, o) in cells.iter().zip(outcomes) {
        let anomalies = match (
            o.count(checkers::Severity::Violation),
            o.count(checkers::Severity::Observation),
        ) {
            (0, 0) => "-".to_string(),
            (v, obs) => format!("{v} viol, {obs} obs"),
        };
        rows.push(vec![
            (c.index + 1).to_string(),
            c.plan.system.clone(),
            c.plan.variant(),
            c.plan.seed.to_string(),
            o.verdict.label().to_string(),
            anomalies,
            format!("{:.1} s", o.duration.as_secs_f64()),
            o.results_dir
                .as_ref()
                .map_or_else(|| o.log.display().to_string(), |d| d.display().to_string()),
        ]);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::from("\n");
    for row in &rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    let tally = |f: fn(&Verdict) -> bool| outcomes.iter().filter(|o| f(&o.verdict)).count();
    out.push_str(&format!(
        "{} cells: {} valid, {} violation, {} unknown, {} error\n",
        outcomes.len(),
        tally(|v| matches!(v, Verdict::Valid)),
        tally(|v| matches!(v, Verdict::Violation)),
        tally(|v| matches!(v, Verdict::Unknown(_))),
        tally(|v| matches!(v, Verdict::Error(_))),
    ));
    for (c, o) in cells.iter().zip(outcomes) {
        if let Verdict::Unknown(r) | Verdict::Error(r) = &o.verdict {
            out.push_str(&format!(
                "cell {} {}: {r}\n",
                c.index + 1,
                o.verdict.label()
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
systems = ["raftd", "etcd"]
nemeses = ["partition", "pause", "kill"]
seeds = [1, 2, 3]
nodes = 3
[system.etcd]
nemeses = ["partition"]
[[exclude]]
system = "raftd"
nemesis = "kill"
seed = 2
[[include]]
system = "raftd"
nemesis = "pause"
seed = 9
bugs = ["no-fencing"]
[[include]]
system = "etcd"
nemesis = "partition"
seed = 1
workload = "register"
"#;

    fn cells() -> Vec<Cell> {
        file::parse(FILE, None).unwrap().cells
    }

    #[test]
    fn the_product_is_expanded_in_file_order() {
        let names: Vec<String> = cells()
            .iter()
            .map(|c| format!("{} {}", c.plan.system, c.plan.name()))
            .collect();
        // raftd: 3 nemeses × 3 seeds minus one exclusion; etcd: partition × 3; two
        // includes.
        assert_eq!(names.len(), 8 + 3 + 2, "{names:?}");
        assert_eq!(names[0], "raftd partition/seed=1");
        assert_eq!(names[7], "raftd kill/seed=3");
        assert!(!names.contains(&"raftd kill/seed=2".to_string()));
        assert_eq!(names[8], "etcd partition/seed=1");
        assert_eq!(names[11], "raftd pause/seed=9/bug=no-fencing");
        assert_eq!(names[12], "etcd partition/seed=1/workload=register");
        assert_eq!(cells()[12].spec.workload, workloads::WorkloadKind::Register);
        assert!(cells().iter().enumerate().all(|(i, c)| c.index == i));
        assert!(cells().iter().all(|c| c.spec.nodes == 3));
    }

    #[test]
    fn shards_cover_every_cell_exactly_once() {
        let all = cells();
        for n in 1..=all.len() + 2 {
            let mut seen = vec![0usize; all.len()];
            for i in 1..=n {
                let shard = Shard::parse(&format!("{i}/{n}")).unwrap();
                let part = shard_cells(&all, shard);
                // Shards differ in size by at most one cell.
                assert!(part.len() >= all.len() / n && part.len() <= all.len().div_ceil(n));
                for c in part {
                    seen[c.index] += 1;
                }
            }
            assert!(seen.iter().all(|&k| k == 1), "{n} shards: {seen:?}");
        }
    }

    #[test]
    fn bad_shards_are_refused_with_the_form_to_use() {
        for bad in ["0/4", "5/4", "1/0", "x", "1/x", "-1/4", "1/1001", ""] {
            let e = Shard::parse(bad).unwrap_err();
            assert!(e.contains("--shard") && e.contains("I/N"), "{bad}: {e}");
        }
        assert_eq!(
            Shard::parse(" 2 / 4").unwrap(),
            Shard { index: 2, count: 4 }
        );
    }

    #[test]
    fn the_worst_verdict_decides_the_exit_code() {
        let (v, x, u) = (
            Verdict::Valid,
            Verdict::Violation,
            Verdict::Unknown("interrupted".into()),
        );
        let e = Verdict::Error("refused".into());
        assert_eq!(worst_exit(&[]), Exit::Valid);
        assert_eq!(worst_exit(&[&v, &v]), Exit::Valid);
        assert_eq!(worst_exit(&[&v, &u]), Exit::Unknown);
        assert_eq!(worst_exit(&[&e, &v]), Exit::Unknown);
        assert_eq!(worst_exit(&[&u, &x, &e]), Exit::Violations);
    }

    #[test]
    fn docker_hosts_spread_every_cell_unless_a_system_says_otherwise() {
        let text = "systems = [\"raftd\", \"etcd\"]\nnemeses = [\"partition\"]\nseeds = [1]\ndocker_hosts = [\"unix:///var/run/docker.sock\", \"tcp://10.0.0.12:2375\"]\n[system.etcd]\ndocker_hosts = [\"tcp://10.0.0.13:2375\"]\n";
        let cells = file::parse(text, None).unwrap().cells;
        assert_eq!(
            cells[0].spec.docker_hosts,
            ["unix:///var/run/docker.sock", "tcp://10.0.0.12:2375"]
        );
        assert_eq!(cells[1].spec.docker_hosts, ["tcp://10.0.0.13:2375"]);
        let args = cells[0].plan.run_args(Path::new("results"));
        assert!(
            args.windows(2)
                .any(|w| w == ["--docker-host", "tcp://10.0.0.12:2375"]),
            "{args:?}"
        );
        let bad = text.replace("tcp://10.0.0.13:2375", "10.0.0.13");
        let e = file::parse(&bad, None).unwrap_err().to_string();
        assert!(
            e.contains("docker_hosts") || e.contains("--docker-host"),
            "{e}"
        );
    }

    #[test]
    fn a_system_file_joins_the_matrix_under_its_name() {
        let text = "systems = [\"raftd\", \"bully\"]\nnemeses = [\"partition\"]\nseeds = [1]\nruntime = \"netns\"\n[system.bully]\nsystem_file = \"examples/bully/system.toml\"\n";
        let cells = file::parse(text, None).unwrap().cells;
        assert_eq!(cells.len(), 2);
        let bully = &cells[1];
        assert_eq!(bully.spec.system.name(), "bully");
        let args = bully.plan.run_args(Path::new("results"));
        assert_eq!(
            args[1..3],
            ["--system-file", "./examples/bully/system.toml"]
        );
        assert!(cells[0]
            .plan
            .run_args(Path::new("r"))
            .contains(&"--system".to_string()));
        // The table must be named after the file's system.
        let renamed = text
            .replace("bully", "bullies")
            .replace("examples/bullies", "examples/bully");
        let e = file::parse(&renamed, None).unwrap_err().to_string();
        assert!(e.contains("system_file names the system \"bully\""), "{e}");
        // A file that is not there is named.
        let missing = text.replace("examples/bully/system.toml", "nowhere/system.toml");
        let e = file::parse(&missing, None).unwrap_err().to_string();
        assert!(e.contains("nowhere/system.toml"), "{e}");
    }

    #[test]
    fn file_mistakes_say_what_is_wrong() {
        let cases = [
            ("systems = [\"raftd\"]\nnemeses = [\"pause\"]\nseeds = [1]\nnode = 3", "unknown field `node`"),
            ("systems = []\nnemeses = [\"pause\"]\nseeds = [1]", "systems is empty"),
            ("nemeses = [\"pause\"]\nseeds = [1]", "systems is missing"),
            ("systems = [\"raftd\"]\nnemeses = [\"pause\"]", "seeds is missing"),
            ("systems = [\"raftd\"]\nnemeses = [\"pause\"]\nseeds = [-1]", "seeds"),
            ("systems = [\"mysql\"]\nnemeses = [\"pause\"]\nseeds = [1]", "unknown system \"mysql\""),
            ("systems = [\"raftd\"]\nnemeses = [\"flood\"]\nseeds = [1]", "unknown nemesis \"flood\""),
            ("systems = [\"raftd\"]\nnemeses = [\"pause\"]\nseeds = [1]\nnodes = 2", "--nodes"),
            ("systems = [\"etcd\"]\nnemeses = [\"pause\"]\nseeds = [1]\nbugs = [\"no-fencing\"]", "--bug"),
            ("systems = [\"raftd\"]\nnemeses = [\"pause\"]\nseeds = [1]\n[system.etcd]\nseeds = [2]", "[system.etcd]"),
            ("systems = [\"raftd\"]\nnemeses = [\"pause\"]\nseeds = [1]\n[[exclude]]\nseed = 1", "no cells"),
            ("systems = [\"raftd\"]\nnemeses = [\"pause\"]\nseeds = [1]\n[[exclude]]\n", "matches every cell"),
            ("systems = [\"raftd\"]\nnemeses = [\"pause\"]\nseeds = [1]\n[[include]]\nsystem = \"raftd\"\nseed = 2", "has no nemesis"),
            ("systems = [\"raftd\"]\nnemeses = [\"pause\"]\nseeds = [1, 1]", "the same test"),
            ("systems = [\"etcd\"]\nnemeses = [\"partition\", \"clock\"]\nseeds = [1]", "clock faults cannot be injected into etcd"),
            ("systems = [\"raftd\"]\nnemeses = [\"pause\"]\nseeds = [1]\n[[exclude]]\nsystem = \"raftd\"\nbug = \"x\"", "unknown field `bug`"),
            ("systems = [\"raftd\"]\nnemeses = [\"pause\"]\nseeds = [1, 2]\n[[exclude]]\nnemesis = \"puase\"", "[[exclude]] number 1 (nemesis = \"puase\") matches no cell"),
            ("systems = [\"raftd\"]\nnemeses = [\"pause\"]\nseeds = [1]\nimage = \"--help\"", "image = \"--help\" looks like a flag"),
            ("systems = [\"raftd\"]\nnemeses = [\"pause\"]\nseeds = [1]\nresults = \"-r\"", "results = \"-r\" looks like a flag"),
            ("systems = [\"raftd\"]\nnemeses = [\"pause\"]\nseeds = [1]\ntime_limit = 2", "--time-limit"),
        ];
        for (text, expected) in cases {
            let e = file::parse(text, None).unwrap_err().0;
            assert!(e.contains(expected), "{text:?}: {e}");
        }
    }
}
