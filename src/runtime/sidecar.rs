//! The network holder of a node on a Docker host reached only through its API: a small
//! container that owns the node's network namespace (the node's container joins it with
//! `network_mode: container:<holder>`), publishes the node's ports, and carries
//! `NET_ADMIN`, so that partitions are iptables rules applied by `exec` in it — no
//! `nsenter`, no host-side iptables, nothing installed on the host.
//!
//! Because the holder outlives the node's process, the namespace, its published ports
//! and the rules in force survive a kill and a restart of the node, and the holder still
//! answers while the node is frozen by a pause.
//!
//! Partitions behind published ports cannot go by source address: every node on one host
//! reaches the others from that host's address. They go by the ports each node publishes
//! (a block of its own) and by connection tracking. "R drops what comes from S" is:
//! - in S's namespace, on the way out, packets to R's address and ports (what S sends on
//!   connections S opened to R);
//! - in R's namespace, on the way in, replies on connections R opened to S's address and
//!   ports (what S answers on them).
//!
//! Together that is every packet from S to R, and nothing else.

use std::collections::BTreeMap;
use std::time::Duration;

use bollard::exec::StartExecOptions;
use bollard::exec::StartExecResults;
use bollard::models::ExecConfig;
use bollard::Docker;
use futures_util::StreamExt;
use nemesis::runtime::Grudge;
use workloads::system::{ImagePart, ImageRecipe};

use super::RuntimeError;

/// The holder's image: iptables (nf_tables) with the extensions our rules use, bash for
/// its here-strings and `/dev/tcp` probes, and coreutils' `sleep` and `timeout`.
pub fn image() -> ImageRecipe {
    let program = |host: &str, package: &str| ImagePart::Program {
        host: host.into(),
        at: host.into(),
        package: Some(package.into()),
        optional: false,
    };
    let xtables = "/usr/lib/x86_64-linux-gnu/xtables";
    let mut parts = vec![
        program("/usr/sbin/iptables-restore", "iptables"),
        program("/usr/sbin/iptables", "iptables"),
        program("/usr/bin/bash", "bash"),
        program("/usr/bin/sleep", "coreutils"),
        program("/usr/bin/timeout", "coreutils"),
    ];
    for ext in ["standard", "tcp", "udp", "conntrack"] {
        parts.push(program(&format!("{xtables}/libxt_{ext}.so"), "iptables"));
    }
    ImageRecipe {
        name: "holder".into(),
        parts,
    }
}

/// What the holder runs: nothing but staying alive.
pub fn command() -> Vec<String> {
    vec!["/usr/bin/sleep".into(), "infinity".into()]
}

/// Bound on one exec in a holder.
pub const EXEC_TIMEOUT_MS: u64 = 10_000;

/// Run `cmd` in `container` and wait for it; its output, or why it failed.
pub async fn exec(docker: &Docker, container: &str, cmd: &[&str]) -> Result<String, RuntimeError> {
    let what = format!(
        "exec in {container}: {}",
        cmd.first().copied().unwrap_or("")
    );
    let fail = |reason: String| RuntimeError::Command {
        what: what.clone(),
        reason,
    };
    let work = async {
        let created = docker
            .create_exec(
                container,
                ExecConfig {
                    cmd: Some(cmd.iter().map(|s| s.to_string()).collect()),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| fail(e.to_string()))?;
        let started = docker
            .start_exec(&created.id, None::<StartExecOptions>)
            .await
            .map_err(|e| fail(e.to_string()))?;
        let mut text = String::new();
        if let StartExecResults::Attached { mut output, .. } = started {
            while let Some(chunk) = output.next().await {
                let chunk = chunk.map_err(|e| fail(e.to_string()))?;
                text.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
            }
        }
        let inspected = docker
            .inspect_exec(&created.id)
            .await
            .map_err(|e| fail(e.to_string()))?;
        match inspected.exit_code {
            Some(0) => Ok(text),
            code => Err(fail(format!(
                "exit {}: {}",
                code.map_or("unknown".into(), |c| c.to_string()),
                text.trim()
            ))),
        }
    };
    tokio::time::timeout(Duration::from_millis(EXEC_TIMEOUT_MS), work)
        .await
        .map_err(|_| fail(format!("no answer within {EXEC_TIMEOUT_MS} ms")))?
}

/// Where one node is reached: its host's address and its block of published ports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reach {
    pub addr: String,
    pub ports: (u16, u16),
}

/// The iptables-restore input that puts `grudge` in force in `node`'s namespace (an empty
/// grudge gives empty chains). The holder's filter table is ours alone, so the script
/// replaces it whole, atomically.
pub fn rules(run_id: &str, grudge: &Grudge, node: &str, reach: &BTreeMap<String, Reach>) -> String {
    let inbound = format!("SB-{run_id}-IN");
    let outbound = format!("SB-{run_id}-OUT");
    let mut s = format!(
        "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:{inbound} - [0:0]\n:{outbound} - [0:0]\n-A INPUT -j {inbound}\n-A OUTPUT -j {outbound}\n"
    );
    let range = |r: &Reach| format!("{}:{}", r.ports.0, r.ports.1);
    // Nodes that drop what `node` sends: cut on the way out of `node`.
    for (receiver, senders) in &grudge.drops {
        if receiver == node || !senders.contains(node) {
            continue;
        }
        let Some(r) = reach.get(receiver) else {
            continue;
        };
        for proto in ["tcp", "udp"] {
            s.push_str(&format!(
                "-A {outbound} -p {proto} -d {} --dport {} -j DROP\n",
                r.addr,
                range(r)
            ));
        }
    }
    // What `node` drops: replies on connections it opened to those senders.
    for sender in grudge.drops.get(node).into_iter().flatten() {
        if sender == node {
            continue;
        }
        let Some(r) = reach.get(sender) else { continue };
        s.push_str(&format!(
            "-A {inbound} -m conntrack --ctdir REPLY --ctorigdst {} --ctorigdstport {} -j DROP\n",
            r.addr,
            range(r)
        ));
    }
    s.push_str("COMMIT\n");
    s
}

/// Put `script` in force in the holder's namespace.
pub async fn restore(docker: &Docker, holder: &str, script: &str) -> Result<(), RuntimeError> {
    exec(
        docker,
        holder,
        &[
            "/usr/bin/bash",
            "-c",
            "exec /usr/sbin/iptables-restore -w <<< \"$1\"",
            "restore",
            script,
        ],
    )
    .await
    .map(|_| ())
}

/// Write a clock control file in the holder (a volume it shares with the node) in place:
/// `1<>` opens without truncating, so a reader sees the old line or the new one.
pub async fn write_clock(
    docker: &Docker,
    holder: &str,
    path: &str,
    text: &str,
) -> Result<(), RuntimeError> {
    exec(
        docker,
        holder,
        &[
            "/usr/bin/bash",
            "-c",
            "printf %s \"$1\" 1<>\"$2\"",
            "clock",
            text,
            path,
        ],
    )
    .await
    .map(|_| ())
}

/// Whether a TCP connection from the holder's namespace to `addr:port` gets an answer
/// (accepted or refused both prove the address is reached); why not if it does not.
pub async fn probe(docker: &Docker, holder: &str, addr: &str, port: u16) -> Result<(), String> {
    let target = format!("/dev/tcp/{addr}/{port}");
    let out = exec(
        docker,
        holder,
        &[
            "/usr/bin/timeout",
            "3",
            "/usr/bin/bash",
            "-c",
            "(exec 3<>\"$1\") 2>&1; true",
            "probe",
            &target,
        ],
    )
    .await;
    match out {
        Ok(text) if text.is_empty() || text.contains("refused") => Ok(()),
        Ok(text) => Err(text.trim().to_string()),
        Err(e) if e.to_string().contains("exit 124") => Err("no answer within 3 s".to_string()),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reach() -> BTreeMap<String, Reach> {
        BTreeMap::from([
            (
                "n1".into(),
                Reach {
                    addr: "10.1.0.1".into(),
                    ports: (20010, 20012),
                },
            ),
            (
                "n2".into(),
                Reach {
                    addr: "10.2.0.1".into(),
                    ports: (20020, 20022),
                },
            ),
            (
                "n3".into(),
                Reach {
                    addr: "10.2.0.1".into(),
                    ports: (20030, 20032),
                },
            ),
        ])
    }

    #[test]
    fn a_one_way_cut_is_the_senders_output_and_the_receivers_replies() {
        let mut g = Grudge::default();
        // n1 drops what comes from n2.
        g.drops.insert("n1".into(), ["n2".to_string()].into());
        let n2 = rules("r1", &g, "n2", &reach());
        assert!(n2.contains("-A SB-r1-OUT -p tcp -d 10.1.0.1 --dport 20010:20012 -j DROP\n"));
        assert!(!n2.contains("SB-r1-IN -m"));
        let n1 = rules("r1", &g, "n1", &reach());
        assert!(n1.contains(
            "-A SB-r1-IN -m conntrack --ctdir REPLY --ctorigdst 10.2.0.1 --ctorigdstport 20020:20022 -j DROP\n"
        ));
        assert!(!n1.contains("SB-r1-OUT -p"));
        // n3 shares n2's host address but not its ports: untouched.
        let n3 = rules("r1", &g, "n3", &reach());
        assert!(!n3.contains("DROP"), "{n3}");
        assert!(n3.starts_with("*filter\n") && n3.ends_with("COMMIT\n"));
    }
}
