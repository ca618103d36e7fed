//! `splitbrain clean`: removes what runs left behind, through the runtimes' own sweep
//! ([`crate::runtime::leftovers`]), and says what it removed and what it left.

use std::process::ExitCode;

use crate::runtime::leftovers::sweep;
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
}

pub fn run(args: CleanArgs) -> anyhow::Result<ExitCode> {
    if let Some(id) = &args.run {
        validate_run_id(id)?;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let out = rt.block_on(sweep(args.run.as_deref(), args.force))?;
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
    Ok(ExitCode::SUCCESS)
}
