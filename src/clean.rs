//! `splitbrain clean`: removes what runs left behind, through the runtimes' own sweep
//! ([`crate::runtime::leftovers`]), and says what it removed and what it left.

use std::process::ExitCode;

use crate::runtime::leftovers::sweep_hosts;
use crate::runtime::validate_run_id;

#[derive(clap::Args, Debug)]
#[command(after_help = "\
A run whose controller (the `splitbrain run` that started it) is still running is live: \
clean skips it and says so, unless --force. Without --run, clean also skips leftovers \
that record no controller (made by an older splitbrain); name them with --run or use \
--force.

Clean trusts only state files in a private directory (/run/splitbrain for root, mode \
0700) that the user running clean owns and nobody else can write, and removes only files \
and directories that user owns.")]
pub struct CleanArgs {
    /// Only remove what this run id created (default: every run's leftovers).
    #[arg(long = "run", value_name = "ID")]
    pub run: Option<String>,
    /// Remove runs whose controller is still running too (this ends those tests), and,
    /// without --run, runs that record no controller.
    #[arg(long)]
    pub force: bool,
    /// Also look on these Docker hosts (repeat or comma list). Hosts that runs recorded
    /// (`run --docker-host`) are looked on without it.
    #[arg(long = "docker-host", value_name = "URL")]
    pub docker_hosts: Vec<String>,
}

pub fn run(args: CleanArgs) -> anyhow::Result<ExitCode> {
    if let Some(id) = &args.run {
        validate_run_id(id)?;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let hosts =
        crate::runtime::hosts::parse_hosts(&args.docker_hosts).map_err(|e| anyhow::anyhow!(e))?;
    let hosts: Vec<String> = hosts.into_iter().map(|h| h.url).collect();
    let out = rt.block_on(sweep_hosts(args.run.as_deref(), args.force, &hosts))?;
    for note in &out.notes {
        eprintln!("splitbrain clean: {note}");
    }
    if out.removed.is_empty() && out.skipped.is_empty() {
        println!("nothing to remove");
    }
    for item in &out.removed {
        println!("removed {item}");
    }
    for why in &out.skipped {
        println!("{why}");
    }
    // What is left on a host that did not answer stays recorded for the next clean.
    for why in &out.unreached {
        eprintln!("splitbrain clean: {why}; its record is kept for the next clean");
    }
    Ok(if out.unreached.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
