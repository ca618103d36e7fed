//! Scripted tests: a tiny command language over [`Cluster`] whose output is compared with
//! a golden file (etcd's `testdata/*.txt`). Set `REWRITE_GOLDEN=1` to rewrite the files.
//!
//! A file is a sequence of blocks: comment (`#`) or blank lines, a command line starting
//! with `> `, and the command's output (never blank lines). Commands:
//!
//! ```text
//! > cluster n=3 [pre-vote=B] [check-quorum=B] [lease=T] [election=MIN..MAX] [heartbeat=T]
//!           [bugs=a,b] [seed=S] [fence-on-grant=B]
//! > campaign N            > tick N [COUNT]        > tick-all [COUNT]     > tick-wall N MS
//! > deliver [COUNT]       > stabilize [quiet]     > run ROUNDS (tick all, stabilize; quiet)
//! > drop all|to=N|from=N  > in-flight
//! > partition A B | C     > isolate N             > cut FROM TO          > heal
//! > crash N               > restart N
//! > propose N REQ write ID [token=T] [election=E]  | acquire E CLIENT ttl=T
//!                       | release E TOKEN | read | holding E TOKEN
//!                       | register-read KEY | register-write KEY V | register-cas KEY FROM TO
//! > status [N…]           > log N                 > disk N               > leaders
//! > violations
//! ```
//!
//! Responses that nodes give are printed after each command as `N answered REQ: …`.

use std::fmt::Write as _;
use std::path::Path;

use super::{describe_entry, describe_message, describe_response, Cluster};
use crate::core::{BugSet, Config, Message, Request};

/// Runs the script in `path` and compares (or, with `REWRITE_GOLDEN=1`, rewrites) it.
pub fn run_golden(path: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let produced = run_script(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    if produced == text {
        return Ok(());
    }
    if std::env::var("REWRITE_GOLDEN").is_ok_and(|v| v == "1") {
        std::fs::write(path, &produced).map_err(|e| format!("{}: {e}", path.display()))?;
        return Ok(());
    }
    Err(first_difference(path, &text, &produced))
}

fn first_difference(path: &Path, want: &str, got: &str) -> String {
    let (w, g): (Vec<_>, Vec<_>) = (want.lines().collect(), got.lines().collect());
    let line = (0..w.len().max(g.len()))
        .find(|i| w.get(*i) != g.get(*i))
        .unwrap_or(0);
    format!(
        "{}:{}: golden output differs (REWRITE_GOLDEN=1 rewrites it)\n  want: {}\n  got:  {}",
        path.display(),
        line + 1,
        w.get(line).unwrap_or(&"<end of file>"),
        g.get(line).unwrap_or(&"<end of file>")
    )
}

/// Runs a script and returns the text it should be: its comments and commands with each
/// command's fresh output.
pub fn run_script(text: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut runner = Runner { cluster: None };
    let mut in_output = false;
    for (n, line) in text.lines().enumerate() {
        if let Some(command) = line.strip_prefix("> ") {
            in_output = true;
            out.push_str(line);
            out.push('\n');
            let produced = runner
                .run(command)
                .map_err(|e| format!("line {}: {e}", n + 1))?;
            out.push_str(&produced);
        } else if line.trim().is_empty() || line.starts_with('#') {
            in_output = false;
            out.push_str(line);
            out.push('\n');
        } else if !in_output {
            return Err(format!(
                "line {}: expected a command (`> …`), a comment or a blank line",
                n + 1
            ));
        }
    }
    Ok(out)
}

struct Runner {
    cluster: Option<Cluster>,
}

impl Runner {
    fn run(&mut self, command: &str) -> Result<String, String> {
        let words: Vec<&str> = command.split_whitespace().collect();
        let (&name, args) = words.split_first().ok_or("empty command")?;
        let mut out = String::new();
        if name == "cluster" {
            self.cluster = Some(new_cluster(args)?);
        } else {
            let c = self
                .cluster
                .as_mut()
                .ok_or("no cluster yet: start with `cluster n=…`")?;
            out = run_on(c, name, args)?;
        }
        if let Some(c) = self.cluster.as_mut() {
            for (node, req, r) in c.take_all_responses() {
                let _ = writeln!(out, "{node} answered {req}: {}", describe_response(&r));
            }
        }
        Ok(out)
    }
}

fn new_cluster(args: &[&str]) -> Result<Cluster, String> {
    let mut n = 3;
    let mut seed = 0;
    let mut settings: Vec<(String, String)> = Vec::new();
    for arg in args {
        let (k, v) = arg
            .split_once('=')
            .ok_or_else(|| format!("expected key=value, got {arg:?}"))?;
        match k {
            "n" => n = parse(v)?,
            "seed" => seed = parse(v)?,
            _ => settings.push((k.to_string(), v.to_string())),
        }
    }
    let ids = super::node_ids(n);
    let mut configs = std::collections::BTreeMap::new();
    for id in &ids {
        let mut cfg = Config::new(id.clone(), ids.clone());
        cfg.seed = seed;
        for (k, v) in &settings {
            apply_setting(&mut cfg, k, v)?;
        }
        cfg.validate().map_err(|e| e.to_string())?;
        configs.insert(id.clone(), cfg);
    }
    Ok(Cluster::with_configs(configs))
}

fn apply_setting(cfg: &mut Config, k: &str, v: &str) -> Result<(), String> {
    match k {
        "pre-vote" => cfg.pre_vote = parse(v)?,
        "check-quorum" => cfg.check_quorum = parse(v)?,
        "lease" => cfg.lease_ticks = Some(parse(v)?),
        "heartbeat" => cfg.heartbeat_ticks = parse(v)?,
        "fence-on-grant" => cfg.fence_on_grant = parse(v)?,
        "bugs" => cfg.bugs = BugSet::parse(v).map_err(|e| e.to_string())?,
        "election" => {
            let (lo, hi) = v.split_once("..").ok_or("election=MIN..MAX")?;
            cfg.election_ticks_min = parse(lo)?;
            cfg.election_ticks_max = parse(hi)?;
        }
        _ => return Err(format!("unknown cluster setting {k:?}")),
    }
    Ok(())
}

fn parse<T: std::str::FromStr>(v: &str) -> Result<T, String> {
    v.parse().map_err(|_| format!("cannot parse {v:?}"))
}

fn arg<'a>(args: &[&'a str], i: usize, what: &str) -> Result<&'a str, String> {
    args.get(i)
        .copied()
        .ok_or_else(|| format!("missing {what}"))
}

fn run_on(c: &mut Cluster, name: &str, args: &[&str]) -> Result<String, String> {
    let count = |i: usize| args.get(i).map_or(Ok(1), |v| parse::<usize>(v));
    let mut out = String::new();
    match name {
        "campaign" => c.campaign(arg(args, 0, "node")?),
        "tick" => {
            let id = arg(args, 0, "node")?;
            (0..count(1)?).for_each(|_| c.tick(id));
        }
        "tick-all" => (0..count(0)?).for_each(|_| c.tick_all()),
        "tick-wall" => c.tick_wall(arg(args, 0, "node")?, parse(arg(args, 1, "wall ms")?)?),
        "deliver" => {
            for _ in 0..count(0)? {
                if let Some((m, arrived)) = c.deliver_one() {
                    print_delivery(&mut out, &m, arrived);
                }
            }
        }
        "stabilize" => {
            let quiet = args.first() == Some(&"quiet");
            for (m, arrived) in c.stabilize(100_000) {
                if !quiet {
                    print_delivery(&mut out, &m, arrived);
                }
            }
        }
        "run" => {
            for _ in 0..parse::<usize>(arg(args, 0, "rounds")?)? {
                c.tick_all();
                c.stabilize(100_000);
            }
        }
        "drop" => {
            let what = arg(args, 0, "all|to=N|from=N")?;
            let n = match what.split_once('=') {
                Some(("to", id)) => c.drop_where(|m| m.to == id),
                Some(("from", id)) => c.drop_where(|m| m.from == id),
                _ if what == "all" => c.drop_where(|_| true),
                _ => return Err(format!("drop what? {what:?}")),
            };
            let _ = writeln!(out, "dropped {n}");
        }
        "in-flight" => c.in_flight().iter().for_each(|m| {
            let _ = writeln!(out, "{}", describe_message(m));
        }),
        "partition" => {
            let groups: Vec<Vec<String>> = args
                .split(|a| *a == "|")
                .map(|g| g.iter().map(|s| s.to_string()).collect())
                .collect();
            c.partition(&groups);
        }
        "isolate" => c.isolate(arg(args, 0, "node")?),
        "cut" => c.cut(arg(args, 0, "from")?, arg(args, 1, "to")?),
        "heal" => c.heal(),
        "crash" => c.crash(arg(args, 0, "node")?),
        "restart" => c.restart(arg(args, 0, "node")?),
        "propose" => out = propose(c, args)?,
        _ => out = inspect(c, name, args)?,
    }
    Ok(out)
}

fn print_delivery(out: &mut String, m: &Message, arrived: bool) {
    let lost = if arrived { "" } else { " (lost)" };
    let _ = writeln!(out, "{}{lost}", describe_message(m));
}

fn propose(c: &mut Cluster, args: &[&str]) -> Result<String, String> {
    let node = arg(args, 0, "node")?;
    let req_id: u64 = parse(arg(args, 1, "request id")?)?;
    let kind = arg(args, 2, "request kind")?;
    let rest = &args[3.min(args.len())..];
    let opt = |key: &str| {
        rest.iter()
            .find_map(|a| a.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
    };
    let request = match kind {
        "write" => Request::Write {
            id: arg(rest, 0, "write id")?.to_string(),
            token: opt("token").map(parse).transpose()?,
            election: opt("election").map(str::to_string),
        },
        "acquire" => Request::Acquire {
            election: arg(rest, 0, "election")?.to_string(),
            client: arg(rest, 1, "client")?.to_string(),
            ttl_ticks: parse(opt("ttl").ok_or("missing ttl=")?)?,
        },
        "release" => Request::Release {
            election: arg(rest, 0, "election")?.to_string(),
            token: parse(arg(rest, 1, "token")?)?,
        },
        "holding" => Request::Holding {
            election: arg(rest, 0, "election")?.to_string(),
            token: parse(arg(rest, 1, "token")?)?,
        },
        "read" => Request::Read,
        "register-read" => Request::RegisterRead {
            key: arg(rest, 0, "key")?.to_string(),
        },
        "register-write" => Request::RegisterWrite {
            key: arg(rest, 0, "key")?.to_string(),
            value: parse(arg(rest, 1, "value")?)?,
        },
        "register-cas" => Request::RegisterCas {
            key: arg(rest, 0, "key")?.to_string(),
            from: parse(arg(rest, 1, "from")?)?,
            to: parse(arg(rest, 2, "to")?)?,
        },
        _ => return Err(format!("unknown request {kind:?}")),
    };
    Ok(match c.propose(node, req_id, request) {
        Ok(()) => String::new(),
        Err(e) => format!("refused: {e}\n"),
    })
}

fn inspect(c: &mut Cluster, name: &str, args: &[&str]) -> Result<String, String> {
    let mut out = String::new();
    match name {
        "status" => {
            let ids: Vec<String> = if args.is_empty() {
                c.ids()
            } else {
                args.iter().map(|s| s.to_string()).collect()
            };
            for id in ids {
                let line = match c.status(&id) {
                    Some(s) => format!(
                        "{id}: {} term={} leader={} commit={} applied={} lease={} acting={}",
                        s.reported_role(),
                        s.term,
                        s.leader.as_deref().unwrap_or("-"),
                        s.commit,
                        s.applied,
                        s.lease_valid,
                        s.acting_leader
                    ),
                    None => format!("{id}: down"),
                };
                let _ = writeln!(out, "{line}");
            }
        }
        "log" => {
            let id = arg(args, 0, "node")?;
            let node = c.node(id).ok_or_else(|| format!("{id} is down"))?;
            let _ = writeln!(out, "commit={}", node.status().commit);
            node.log_entries().iter().for_each(|e| {
                let _ = writeln!(out, "{}", describe_entry(e));
            });
        }
        "disk" => {
            let id = arg(args, 0, "node")?;
            let disk = c.disk(id).ok_or_else(|| format!("no node {id}"))?;
            let hs = &disk.hard_state;
            let vote = hs.vote.as_deref().unwrap_or("-");
            let _ = writeln!(
                out,
                "term={} vote={vote} commit={} entries={}",
                hs.term,
                hs.commit,
                disk.entries.len()
            );
        }
        "leaders" => c.leaders().iter().for_each(|(id, term)| {
            let _ = writeln!(out, "{id} term={term}");
        }),
        "violations" => {
            if c.violations().is_empty() {
                out.push_str("none\n");
            }
            for v in c.violations() {
                let _ = writeln!(out, "{v:?}");
            }
        }
        _ => return Err(format!("unknown command {name:?}")),
    }
    Ok(out)
}
