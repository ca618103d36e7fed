//! The command line: the subcommands, their arguments, and the dispatch to each module.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::exit::Exit;
use crate::{check, clean, matrix, report, run, sim, spec, stdio};

/// A Jepsen-style correctness and chaos harness for leader election and failover.
///
/// Exit codes: 0 valid, 1 violations found, 2 bad usage or input, 3 unknown.
#[derive(Parser, Debug)]
#[command(name = "splitbrain", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check a history (history.jsonl) or a results directory for anomalies.
    Check(check::CheckArgs),
    /// Start a small cluster of a system file's system and check that every endpoint it
    /// claims follows the node protocol (docs/protocol.md), request by request.
    ///
    /// Exit codes: 0 it conforms, 1 it does not, 2 a bad file or flag, 3 the cluster
    /// could not be started or the check was interrupted.
    Conform(run::conform::ConformArgs),
    /// Remove every container, network, volume, namespace, process and shm file a crashed run left.
    Clean(clean::CleanArgs),
    /// Run a test matrix (TOML: systems × nemeses × seeds) as `run`s, sharded and in
    /// parallel; a summary table, the results index and, with --junit, JUnit XML.
    ///
    /// Exit codes: the worst cell's — 1 a violation, else 3 a cell without a verdict,
    /// else 0; 2 a bad matrix file or flag, before anything runs.
    Matrix(matrix::MatrixArgs),
    /// Regenerate a run's report (timeline.html) and the results index.
    Report(report::ReportArgs),
    /// Serve the results directory on localhost.
    Serve(report::ServeArgs),
    /// Start a cluster, attack it, and check whether leadership stayed safe.
    ///
    /// Exit codes: 0 valid, 1 violations found, 2 bad usage, 3 unknown — a checker could
    /// not tell, the run was interrupted (Ctrl-C, SIGTERM), or the harness itself failed;
    /// results.json then says which.
    Run(Box<spec::RunArgs>),
    /// Run an earlier run's spec and nemesis schedule again, into a new results directory.
    Replay(run::ReplayArgs),
    /// Deterministic simulation of raftd: sweep seeds, reproduce and shrink the first failure.
    Sim(sim::SimArgs),
}

/// Parses the process's arguments, runs the subcommand, and returns its exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(Exit::Usage)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let shield = stdio::shield();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SPLITBRAIN_LOG")
                // The ZooKeeper client warns of every lost connection, which faults cause
                // by design; the history records what matters of them.
                .unwrap_or_else(|_| {
                    tracing_subscriber::EnvFilter::new("warn,zookeeper_client=error")
                }),
        )
        .with_writer(std::io::stderr)
        .init();
    let code = match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("splitbrain: error: {e:#}");
            ExitCode::from(Exit::Usage)
        }
    };
    shield.finish();
    code
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Check(args) => check::run(args),
        Command::Clean(args) => clean::run(args),
        Command::Conform(args) => run::conform::conform(args),
        Command::Matrix(args) => matrix::run(args),
        Command::Report(args) => report::run_report(args),
        Command::Serve(args) => report::run_serve(args),
        Command::Run(args) => run::run(*args),
        Command::Replay(args) => run::replay(args),
        Command::Sim(args) => sim::run(args),
    }
}
