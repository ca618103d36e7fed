//! `splitbrain conform --system-file PATH`: before anyone spends a minute on faults, a
//! small cluster of the file's system is started as a run would start it (same runtime
//! choice, node specs and teardown), every node is awaited at the file's ready path, and
//! every endpoint the file claims is exercised (`crate::conform`). The report goes to
//! stdout and, with the node logs, to `<results>/conform-<time>-<name>/`.
//!
//! Exit codes: 0 it conforms, 1 it does not, 2 a bad file or flag, 3 the harness could
//! not start the cluster or was interrupted.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use workloads::file::Loaded;
use workloads::system::NodeAddr;

use super::reporter::Reporter;
use super::schedule::new_schedule;
use super::select::{select, SelectError};
use crate::conform::{Check, Claims, Exchange, Node, Report, Settings};
use crate::exit::Exit;
use crate::runtime::{self, RuntimeConfig, RuntimeKind};
use crate::spec::{RunArgs, TestSpec};

#[derive(clap::Args, Debug)]
pub struct ConformArgs {
    /// The system file (docs/protocol.md, "The system file").
    #[arg(long = "system-file", value_name = "PATH")]
    pub system_file: PathBuf,
    /// Where nodes run: auto, docker, netns or local.
    #[arg(value_name = "KIND", long, default_value = "auto")]
    pub runtime: String,
    /// Nodes in the cluster, 3 to 9.
    #[arg(
        value_name = "N",
        long,
        default_value_t = 3,
        allow_negative_numbers = true
    )]
    pub nodes: i64,
    /// Where the report and the node logs land.
    #[arg(value_name = "DIR", long = "results", default_value = "results")]
    pub results: PathBuf,
    /// Print the report as JSON rather than text.
    #[arg(long)]
    pub json: bool,
}

/// How long a leader may take to emerge once every node is up, and how long a call
/// meant for the leader keeps trying while leadership moves.
const LEADER_WAIT_SECS: u64 = 30;

pub fn conform(args: ConformArgs) -> anyhow::Result<ExitCode> {
    let report = Reporter::stderr();
    let run_args = RunArgs {
        system_file: Some(args.system_file.clone()),
        nodes: Some(args.nodes),
        runtime: args.runtime.clone(),
        nemesis: "none".into(),
        time_limit_secs: 1,
        rate_hz: 1.0,
        concurrency: 1,
        recovery_secs: 0,
        results: args.results.clone(),
        ..RunArgs::default()
    };
    let spec = match TestSpec::from_args(&run_args) {
        Ok(spec) if spec.runtime == crate::spec::RuntimeChoice::Sim => {
            report
                .refuse("--runtime: sim runs raftd's core only; use auto, docker, netns or local");
            return Ok(Exit::Usage.into());
        }
        Ok(spec) => spec,
        Err(e) => {
            report.refuse(&e.to_string());
            return Ok(Exit::Usage.into());
        }
    };
    // The spec read the file: its descriptor comes with it.
    let loaded = Loaded::of(spec.system.descriptor()).expect("--system-file gives a file's system");
    let rt = tokio::runtime::Runtime::new()?;
    let exit = rt.block_on(conform_async(&spec, loaded, &args, &report));
    Ok(exit.into())
}

async fn conform_async(
    spec: &TestSpec,
    loaded: &Loaded,
    args: &ConformArgs,
    report: &Reporter,
) -> Exit {
    let schedule = match new_schedule(spec) {
        Ok(s) => s,
        Err(e) => {
            report.refuse(&e);
            return Exit::Usage;
        }
    };
    let sel = match select(spec, &schedule).await {
        Ok(sel) => sel,
        Err(SelectError::Usage(e)) => {
            report.refuse(&e);
            return Exit::Usage;
        }
        Err(SelectError::Harness(e)) => {
            report.refuse(&format!("{e:#}"));
            return Exit::Unknown;
        }
    };
    let run_id = runtime::new_run_id();
    let name = format!(
        "conform-{}-{}",
        crate::utc::compact(SystemTime::now()),
        spec.system.name()
    );
    let dir = match super::results::create_run_dir(&args.results, &name) {
        Ok((_, dir)) => dir,
        Err(e) => {
            report.refuse(&format!(
                "cannot create the results directory under {}: {e}",
                args.results.display()
            ));
            return Exit::Unknown;
        }
    };
    report.say(&format!(
        "conform: {} × {} nodes on {} ({}), run id {run_id}",
        spec.system.name(),
        spec.nodes,
        sel.runtime_name,
        sel.runtime_reason
    ));
    let cfg = match RuntimeConfig::new(&run_id, &dir) {
        Ok(cfg) => cfg,
        Err(e) => {
            report.refuse(&e.to_string());
            return Exit::Unknown;
        }
    };
    let rt = match runtime::create(sel.runtime_kind, cfg).await {
        Ok(rt) => rt,
        Err(e) => {
            report.refuse(&format!(
                "cannot create the {} runtime: {e}",
                sel.runtime_kind
            ));
            return Exit::Unknown;
        }
    };
    let ports = sel.system.ports();
    let wanted = runtime::NodePorts {
        client: ports.client_port,
        peer: ports.peer_port,
        extra: Vec::new(),
    };
    let exercised = async {
        let topology = rt.plan(spec.nodes, &wanted).await?;
        let specs = sel.system.node_specs(&topology, &sel.options)?;
        rt.start_cluster(specs).await?;
        anyhow::Ok(exercise(loaded, &topology.nodes, sel.runtime_kind).await)
    };
    let outcome = tokio::select! {
        r = exercised => Some(r),
        _ = tokio::signal::ctrl_c() => None,
    };
    if let Err(e) = rt.teardown().await {
        report.warning(&format!(
            "teardown: {e}; `splitbrain clean` removes what is left"
        ));
    }
    let conformance = match outcome {
        None => {
            report.refuse("interrupted; the cluster is torn down");
            return Exit::Unknown;
        }
        Some(Err(e)) => {
            report.refuse(&format!(
                "the cluster did not start: {e:#}; the node logs are in {}",
                dir.join("nodes").display()
            ));
            return Exit::Unknown;
        }
        Some(Ok(report)) => report,
    };
    let json = conformance.to_json();
    if let Err(e) = crate::atomic::write_atomic(
        &dir.join("conform.json"),
        &serde_json::to_vec_pretty(&json).unwrap_or_default(),
    ) {
        report.warning(&format!("cannot write conform.json: {e}"));
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json).unwrap_or_default()
        );
    } else {
        print!("{}", conformance.to_text());
        println!("report and node logs: {}", dir.display());
    }
    if conformance.conforms() {
        Exit::Valid
    } else {
        Exit::Violations
    }
}

/// Every node awaited at the ready path, then every claimed endpoint exercised. A node
/// that never answers is the first failed check, and nothing else is tried.
async fn exercise(loaded: &Loaded, addrs: &[NodeAddr], kind: RuntimeKind) -> Report {
    let protocol = &loaded.file.protocol;
    let mut nodes = Vec::new();
    for addr in addrs {
        match loaded.base_url(addr) {
            Ok(base_url) => nodes.push(Node {
                name: addr.name.clone(),
                base_url,
            }),
            Err(e) => {
                return Report {
                    checks: vec![Check {
                        endpoint: "protocol.base_url".into(),
                        name: "names a URL for every node".into(),
                        passed: false,
                        problem: Some(e),
                        exchange: None,
                    }],
                }
            }
        }
    }
    let ready = await_ready(
        &nodes,
        &protocol.ready_path,
        protocol.ready_timeout_ms,
        kind,
    )
    .await;
    if ready.iter().any(|c| !c.passed) {
        return Report { checks: ready };
    }
    let c = &loaded.file.claims;
    let claims = Claims {
        locks: c.locks,
        read_local: c.read_local,
        vote: c.vote,
        fencing: c.fencing,
        exclusive_leadership: c.exclusive_leadership,
    };
    let settings = Settings {
        request_timeout: Duration::from_millis(protocol.client_timeout_ms),
        leader_wait: Duration::from_secs(LEADER_WAIT_SECS),
    };
    let mut report = crate::conform::exercise(&nodes, &claims, &settings).await;
    let mut checks = ready;
    checks.append(&mut report.checks);
    Report { checks }
}

/// One check per node: `GET ready_path` answered 200 within `timeout_ms` of the start.
async fn await_ready(nodes: &[Node], path: &str, timeout_ms: u64, kind: RuntimeKind) -> Vec<Check> {
    const READY_POLL_MS: u64 = 100;
    let http = match reqwest::Client::builder()
        .timeout(Duration::from_millis(1000))
        .no_proxy()
        .build()
    {
        Ok(http) => http,
        Err(e) => {
            return vec![Check {
                endpoint: path.into(),
                name: "an HTTP client can be built".into(),
                passed: false,
                problem: Some(e.to_string()),
                exchange: None,
            }]
        }
    };
    let deadline = tokio::time::Instant::now() + Duration::from_millis(timeout_ms);
    let mut checks = Vec::new();
    for node in nodes {
        let url = format!("{}{path}", node.base_url);
        let mut last: (Option<u16>, String) = (None, "never tried".into());
        let ok = loop {
            match http.get(&url).send().await {
                Ok(r) => {
                    let status = r.status().as_u16();
                    let body = r.text().await.unwrap_or_default();
                    if status == 200 {
                        break true;
                    }
                    last = (Some(status), crate::conform::truncated(body.as_bytes()));
                }
                Err(e) => last = (None, e.to_string()),
            }
            if tokio::time::Instant::now() >= deadline {
                break false;
            }
            tokio::time::sleep(Duration::from_millis(READY_POLL_MS)).await;
        };
        checks.push(Check {
            endpoint: path.into(),
            name: format!("{} is up (GET answered 200)", node.name),
            passed: ok,
            problem: (!ok).then(|| {
                format!(
                    "no 200 within protocol.ready_timeout_ms ({timeout_ms} ms) of the {kind} runtime starting the node; its log is under nodes/{}/",
                    node.name
                )
            }),
            exchange: (!ok).then(|| Exchange {
                node: node.name.clone(),
                method: "GET".into(),
                path: path.into(),
                body: None,
                status: last.0,
                answer: Some(last.1.clone()),
            }),
        });
    }
    checks
}
