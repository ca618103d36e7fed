//! The `raftd` command line: parses and validates flags, then runs one node.
//!
//! Exit codes: 0 stopped by a signal, 1 the node failed (storage, a port in use), 2 bad
//! usage (a flag, a bug name or a configuration that makes no sense).

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use raftd::core::{Bug, BugSet, Config, NodeId};
use raftd::server::driver::DriverSetup;
use raftd::server::{self, ServerConfig};
use tracing::{error, info, Instrument};

const EXIT_FAILED: u8 = 1;
const EXIT_BAD_USAGE: u8 = 2;

/// One node of raftd, the built-in Raft election service.
///
/// Example (node n1 of three on loopback):
///   raftd --id n1 --data-dir /tmp/n1 --listen 127.0.0.1:8081 --peer-listen 127.0.0.1:9081
///     --peer n1=127.0.0.1:9081/127.0.0.1:8081 --peer n2=127.0.0.1:9082/127.0.0.1:8082
///     --peer n3=127.0.0.1:9083/127.0.0.1:8083
#[derive(Parser, Debug)]
#[command(name = "raftd", version, about, verbatim_doc_comment)]
struct Cli {
    /// This node's id (as in the --peer list).
    #[arg(long)]
    id: String,
    /// Directory holding this node's log and hard state; created if missing.
    #[arg(long)]
    data_dir: PathBuf,
    /// Address of the HTTP client API (HOST:PORT).
    #[arg(long, value_parser = parse_host_port)]
    listen: String,
    /// Address peers connect to (HOST:PORT).
    #[arg(long, value_parser = parse_host_port)]
    peer_listen: String,
    /// A cluster member: ID=RAFTHOST:RAFTPORT/CLIENTHOST:CLIENTPORT. Repeat for every
    /// node, this one included (it is added from --peer-listen/--listen if missing), or
    /// give several separated by commas.
    #[arg(long = "peer", value_parser = parse_peer, value_delimiter = ',')]
    peers: Vec<PeerSpec>,
    /// Length of a tick in milliseconds.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    tick_ms: u64,
    /// Lower bound (inclusive) of the randomized election timeout, in ticks.
    #[arg(long, default_value_t = 10)]
    election_ticks_min: u64,
    /// Upper bound (exclusive) of the randomized election timeout, in ticks.
    #[arg(long, default_value_t = 20)]
    election_ticks_max: u64,
    /// A leader sends heartbeats every this many ticks.
    #[arg(long, default_value_t = 2)]
    heartbeat_ticks: u64,
    /// Run a pre-vote round before campaigning (the default).
    #[arg(long, overrides_with = "no_pre_vote")]
    pre_vote: bool,
    /// Campaign without a pre-vote round.
    #[arg(long, overrides_with = "pre_vote")]
    no_pre_vote: bool,
    /// A leader steps down without a quorum's contact within election_ticks_min (the default).
    #[arg(long, overrides_with = "no_check_quorum")]
    check_quorum: bool,
    /// No check-quorum (refused together with a lease, unless the bug is on).
    #[arg(long, overrides_with = "check_quorum")]
    no_check_quorum: bool,
    /// Most entries one append carries (a follower that lags gets its entries in appends
    /// of at most this many).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    max_entries_per_append: u64,
    /// Leader lease in ticks (below election_ticks_min; needs check-quorum).
    #[arg(long)]
    lease_ticks: Option<u64>,
    /// Fenced writes must carry the current grant's token, not just the largest seen.
    #[arg(long)]
    fence_on_grant: bool,
    /// Switch a deliberate bug on (repeatable).
    #[arg(long = "bug", value_parser = parse_bug)]
    bugs: Vec<Bug>,
    /// Seed of the election-timeout randomness.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// How long a client request waits for its answer before 504 timeout, in ms.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..=600_000))]
    request_timeout_ms: u64,
}

/// One `--peer` value.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PeerSpec {
    id: NodeId,
    raft_addr: String,
    client_addr: String,
}

fn parse_peer(s: &str) -> Result<PeerSpec, String> {
    let shape = "expected ID=RAFTHOST:PORT/CLIENTHOST:PORT";
    let (id, addrs) = s
        .split_once('=')
        .ok_or_else(|| format!("{shape}; no `=`"))?;
    let (raft_addr, client_addr) = addrs
        .split_once('/')
        .ok_or_else(|| format!("{shape}; no `/` between the two addresses"))?;
    if id.is_empty() || id.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{shape}; the id {id:?} is empty or has spaces"));
    }
    check_host_port(raft_addr).map_err(|e| format!("raft address: {e}"))?;
    check_host_port(client_addr).map_err(|e| format!("client address: {e}"))?;
    Ok(PeerSpec {
        id: id.to_string(),
        raft_addr: raft_addr.to_string(),
        client_addr: client_addr.to_string(),
    })
}

fn check_host_port(s: &str) -> Result<(), String> {
    let (host, port) = s
        .rsplit_once(':')
        .ok_or_else(|| format!("{s:?} is not HOST:PORT"))?;
    if host.is_empty() {
        return Err(format!("{s:?} has no host"));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(()),
        _ => Err(format!("{s:?} has no valid port (1-65535)")),
    }
}

fn parse_host_port(s: &str) -> Result<String, String> {
    check_host_port(s).map(|()| s.to_string())
}

fn parse_bug(s: &str) -> Result<Bug, String> {
    s.parse::<Bug>().map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(EXIT_BAD_USAGE)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RAFTD_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
    let config = match server_config(&cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("raftd: error: {e:#}");
            return ExitCode::from(EXIT_BAD_USAGE);
        }
    };
    match run(config) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("raftd: error: {e:#}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}

/// The validated configuration the flags describe.
fn server_config(cli: &Cli) -> anyhow::Result<ServerConfig> {
    let mut peers = cli.peers.clone();
    if !peers.iter().any(|p| p.id == cli.id) {
        peers.push(PeerSpec {
            id: cli.id.clone(),
            raft_addr: cli.peer_listen.clone(),
            client_addr: cli.listen.clone(),
        });
    }
    let mut client_addrs = HashMap::new();
    for p in &peers {
        if client_addrs
            .insert(p.id.clone(), p.client_addr.clone())
            .is_some()
        {
            anyhow::bail!("--peer: {} is given twice", p.id);
        }
    }
    let mut core = Config::new(cli.id.clone(), peers.iter().map(|p| p.id.clone()).collect());
    core.election_ticks_min = cli.election_ticks_min;
    core.election_ticks_max = cli.election_ticks_max;
    core.heartbeat_ticks = cli.heartbeat_ticks;
    core.pre_vote = !cli.no_pre_vote;
    core.check_quorum = !cli.no_check_quorum;
    core.lease_ticks = cli.lease_ticks;
    core.max_entries_per_append = cli.max_entries_per_append;
    core.fence_on_grant = cli.fence_on_grant;
    core.bugs = cli.bugs.iter().copied().collect::<BugSet>();
    core.seed = cli.seed;
    core.tick_ms = cli.tick_ms;
    core.validate().context("configuration")?;
    let raft_addrs = peers
        .iter()
        .filter(|p| p.id != cli.id)
        .map(|p| (p.id.clone(), p.raft_addr.clone()))
        .collect();
    Ok(ServerConfig {
        setup: DriverSetup {
            core,
            data_dir: cli.data_dir.clone(),
            client_addrs,
        },
        listen: cli.listen.clone(),
        peer_listen: cli.peer_listen.clone(),
        raft_addrs,
        request_timeout: Duration::from_millis(cli.request_timeout_ms),
    })
}

fn run(config: ServerConfig) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    let span = tracing::info_span!("node", id = %config.setup.core.id);
    runtime
        .block_on(
            async move {
                info!(
                    bugs = %config.setup.core.bugs,
                    lease_ticks = ?config.setup.core.lease_ticks,
                    tick_ms = config.setup.core.tick_ms,
                    "starting"
                );
                let bound = server::bind(&config).await?;
                tokio::select! {
                    r = server::run(config, bound) => {
                        r?;
                        Ok(ExitCode::SUCCESS)
                    }
                    signal = shutdown_signal() => {
                        info!("stopping on {signal}");
                        Ok(ExitCode::SUCCESS)
                    }
                }
            }
            .instrument(span),
        )
        .inspect_err(|e: &anyhow::Error| error!("{e:#}"))
}

/// Waits for SIGINT or SIGTERM. Everything acknowledged is already durable, so stopping
/// needs no flush.
async fn shutdown_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        let _ = tokio::signal::ctrl_c().await;
        return "SIGINT";
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_specs_parse_and_bad_ones_are_named() {
        let p = parse_peer("n1=10.0.0.2:9000/10.0.0.2:8080").unwrap();
        assert_eq!(p.id, "n1");
        assert_eq!(p.raft_addr, "10.0.0.2:9000");
        assert_eq!(p.client_addr, "10.0.0.2:8080");
        assert!(parse_peer("n1=10.0.0.2:9000").unwrap_err().contains('/'));
        assert!(parse_peer("n1=h:0/h:1")
            .unwrap_err()
            .contains("raft address"));
        assert!(parse_peer("=h:1/h:2").is_err());
    }

    #[test]
    fn defaults_turn_pre_vote_and_check_quorum_on() {
        let cli = Cli::try_parse_from([
            "raftd",
            "--id",
            "n1",
            "--data-dir",
            "/tmp/x",
            "--listen",
            "127.0.0.1:1",
            "--peer-listen",
            "127.0.0.1:2",
        ])
        .unwrap();
        let c = server_config(&cli).unwrap();
        assert!(c.setup.core.pre_vote && c.setup.core.check_quorum);
        assert_eq!(c.setup.core.max_entries_per_append, 64);
        assert_eq!(c.setup.core.peers, vec!["n1".to_string()]);
        let cli = Cli::try_parse_from([
            "raftd",
            "--id",
            "n1",
            "--data-dir",
            "/tmp/x",
            "--listen",
            "127.0.0.1:1",
            "--peer-listen",
            "127.0.0.1:2",
            "--no-pre-vote",
            "--bug",
            "vote-twice",
            "--max-entries-per-append",
            "1",
        ])
        .unwrap();
        let c = server_config(&cli).unwrap();
        assert!(!c.setup.core.pre_vote);
        assert_eq!(c.setup.core.max_entries_per_append, 1);
        assert!(c.setup.core.bugs.has(Bug::VoteTwice));
        assert!(Cli::try_parse_from(["raftd", "--bug", "nope"]).is_err());
        let zero = Cli::try_parse_from(["raftd", "--max-entries-per-append", "0"]).unwrap_err();
        assert!(
            zero.to_string().contains("max-entries-per-append"),
            "{zero}"
        );
    }
}
