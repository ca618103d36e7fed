//! Reports: the self-contained timeline.html, the results index, and `splitbrain serve`.
//!
//! timeline.html needs no network: its script, style and data are inline. The URL
//! fragment sets what it shows: `#view=T0,T1` (nanoseconds since the test started),
//! `#anomaly=K` (select the K-th anomaly and zoom to its ops); `#bench` and `#selftest`
//! draw zoom frames and drive every handler, logging to the console, for tests.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use serde_json::Value as Json;

use crate::exit::Exit;

mod encode;
mod faults;
mod idle;
mod index;
mod model;
mod page;
mod read;
mod serve;
pub mod text;

pub use index::write_index;

/// The results root when none is given.
pub const RESULTS_ROOT_DEFAULT: &str = "results";

#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// A results directory, or a run's name inside the results root.
    pub dir: PathBuf,
    /// The results root whose index.html to refresh (default: the run's parent directory).
    #[arg(long)]
    pub results: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// The port to listen on, on 127.0.0.1 only; 0 picks a free one. Requests must name
    /// it in their Host header as 127.0.0.1:PORT or localhost:PORT.
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// The results root to serve: a directory holding run directories (each with a
    /// test.json or results.json); any other directory is refused.
    #[arg(long, default_value = RESULTS_ROOT_DEFAULT)]
    pub results: PathBuf,
}

pub fn run_report(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let dir = if args.dir.is_dir() {
        args.dir.clone()
    } else {
        let root = args
            .results
            .clone()
            .unwrap_or_else(|| PathBuf::from(RESULTS_ROOT_DEFAULT));
        let inside = root.join(&args.dir);
        anyhow::ensure!(
            inside.is_dir(),
            "{} is not a results directory",
            args.dir.display()
        );
        inside
    };
    write_report(&dir)?;
    println!("{}", dir.join("timeline.html").display());
    let root = match args.results {
        Some(root) => root,
        None => dir
            .canonicalize()
            .with_context(|| format!("cannot resolve {}", dir.display()))?
            .parent()
            .map(Path::to_path_buf)
            .context("a results directory has a parent")?,
    };
    write_index(&root)?;
    println!("{}", root.join("index.html").display());
    Ok(ExitCode::from(Exit::Valid))
}

pub fn run_serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    serve::run(&args.results, args.port)?;
    Ok(ExitCode::from(Exit::Valid))
}

/// Writes `timeline.html` into the results directory `dir` from its history.jsonl,
/// results.json and test.json (the latter two optional).
pub fn write_report(dir: &Path) -> anyhow::Result<()> {
    let history = dir.join("history.jsonl");
    anyhow::ensure!(history.is_file(), "{} has no history.jsonl", dir.display());
    let test = read_json_if_present(&dir.join("test.json"))?.unwrap_or(Json::Null);
    let results = read_results_if_present(&dir.join("results.json"))?;
    let anomalies = page::anomalies_of(results.as_ref());
    let results = match results {
        Some(r) => serde_json::to_value(r).context("cannot encode results.json")?,
        None => Json::Null,
    };
    let model = read::read_history(&history, &page::shown_indices(&anomalies))?;
    let title = dir
        .canonicalize()
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| dir.display().to_string());
    page::write_page(
        &dir.join("timeline.html"),
        &title,
        &test,
        &results,
        &anomalies,
        &model,
    )
}

/// Reads results.json; `None` when it does not exist, an error naming it when it is not a
/// results document.
fn read_results_if_present(path: &Path) -> anyhow::Result<Option<checkers::CheckResult>> {
    match checkers::read_results(path) {
        Ok(r) => Ok(Some(r)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Reads a JSON file; `None` when it does not exist, an error naming it when it is not JSON.
fn read_json_if_present(path: &Path) -> anyhow::Result<Option<Json>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let json = serde_json::from_str(&text)
        .with_context(|| format!("{} is not valid JSON", path.display()))?;
    Ok(Some(json))
}
