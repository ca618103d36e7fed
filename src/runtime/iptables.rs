//! Partitions by iptables inside a node's own network namespace: a chain of our own,
//! `SB-<runid>`, jumped to first thing from INPUT, dropping packets from grudged peers.
//! Dropping on input gives exact one-way semantics ("n1 drops what comes from n2").
//!
//! We enter the namespace with the host's `nsenter --net=<path>` and run the host's
//! iptables there, so no image needs iptables and nothing runs inside the node.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use nemesis::runtime::Grudge;

use tokio::process::Command;

use super::RuntimeError;

/// The addresses node `name` drops packets from under `grudge` (never its own).
pub fn dropped_addrs(
    grudge: &Grudge,
    name: &str,
    ips: &BTreeMap<String, Ipv4Addr>,
) -> Vec<Ipv4Addr> {
    grudge
        .drops
        .get(name)
        .into_iter()
        .flatten()
        .filter(|peer| *peer != name)
        .map(|peer| ips[peer])
        .collect()
}

/// Bound on one iptables invocation (they take milliseconds; `-w` waits on the xtables lock).
pub const IPTABLES_CALL_TIMEOUT_MS: u64 = 10_000;

pub fn chain_name(run_id: &str) -> String {
    format!("SB-{run_id}")
}

/// Run a program inside a network namespace, feeding `stdin`; error with its stderr.
pub async fn run_in_netns(
    netns: &Path,
    args: &[&str],
    stdin: Option<&str>,
) -> Result<String, RuntimeError> {
    let mut cmd = Command::new("nsenter");
    cmd.arg(format!("--net={}", netns.display()))
        .args(args)
        .stdin(if stdin.is_some() {
            std::process::Stdio::piped()
        } else {
            std::process::Stdio::null()
        })
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let what = format!("nsenter --net={} {}", netns.display(), args.join(" "));
    let fail = |reason: String| RuntimeError::Command {
        what: what.clone(),
        reason,
    };
    let mut child = cmd.spawn().map_err(|e| fail(e.to_string()))?;
    if let Some(text) = stdin {
        use tokio::io::AsyncWriteExt;
        let mut pipe = child.stdin.take().expect("stdin was piped");
        pipe.write_all(text.as_bytes())
            .await
            .map_err(|e| fail(e.to_string()))?;
        drop(pipe);
    }
    let out = tokio::time::timeout(
        Duration::from_millis(IPTABLES_CALL_TIMEOUT_MS),
        child.wait_with_output(),
    )
    .await
    .map_err(|_| fail(format!("no answer within {IPTABLES_CALL_TIMEOUT_MS} ms")))?
    .map_err(|e| fail(e.to_string()))?;
    if !out.status.success() {
        return Err(fail(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The iptables-restore input that (re)creates our chain holding exactly these drops.
/// With `--noflush`, declaring the chain flushes it and leaves every other rule alone.
pub fn restore_script(run_id: &str, drop_from: &[Ipv4Addr]) -> String {
    let chain = chain_name(run_id);
    let mut s = format!("*filter\n:{chain} - [0:0]\n");
    for ip in drop_from {
        s.push_str(&format!("-A {chain} -s {ip}/32 -j DROP\n"));
    }
    s.push_str("COMMIT\n");
    s
}

/// Make the node drop every packet from `drop_from` (replacing what was in force).
/// An empty list removes our chain and its jump.
pub async fn apply(netns: &Path, run_id: &str, drop_from: &[Ipv4Addr]) -> Result<(), RuntimeError> {
    if drop_from.is_empty() {
        return remove(netns, run_id).await;
    }
    let script = restore_script(run_id, drop_from);
    install_chain(netns, "INPUT", &chain_name(run_id), &script).await
}

/// Load `script` (an iptables-restore input that (re)creates `chain`) and make `chain`
/// the first jump from `hook` (a built-in chain such as INPUT or OUTPUT), once.
pub async fn install_chain(
    netns: &Path,
    hook: &str,
    chain: &str,
    script: &str,
) -> Result<(), RuntimeError> {
    run_in_netns(
        netns,
        &["iptables-restore", "-w", "--noflush"],
        Some(script),
    )
    .await?;
    let has_jump = run_in_netns(netns, &["iptables", "-w", "-C", hook, "-j", chain], None)
        .await
        .is_ok();
    if !has_jump {
        run_in_netns(
            netns,
            &["iptables", "-w", "-I", hook, "1", "-j", chain],
            None,
        )
        .await?;
    }
    Ok(())
}

/// Remove our jump and chain from the namespace; nothing else is touched.
pub async fn remove(netns: &Path, run_id: &str) -> Result<(), RuntimeError> {
    remove_chain(netns, "INPUT", &chain_name(run_id)).await
}

/// Remove every jump from `hook` (a built-in chain such as INPUT or OUTPUT) to `chain`,
/// then `chain` itself; nothing else is touched.
pub async fn remove_chain(netns: &Path, hook: &str, chain: &str) -> Result<(), RuntimeError> {
    // The jump is inserted once, but a crashed apply could have left more; bounded loop.
    for _ in 0..16 {
        let deleted = run_in_netns(netns, &["iptables", "-w", "-D", hook, "-j", chain], None)
            .await
            .is_ok();
        if !deleted {
            break;
        }
    }
    let exists = run_in_netns(netns, &["iptables", "-w", "-S", chain], None)
        .await
        .is_ok();
    if exists {
        run_in_netns(netns, &["iptables", "-w", "-F", chain], None).await?;
        run_in_netns(netns, &["iptables", "-w", "-X", chain], None).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_declares_chain_and_drops() {
        let s = restore_script("abc", &[Ipv4Addr::new(10, 0, 0, 3)]);
        assert!(s.starts_with("*filter\n:SB-abc - [0:0]\n"));
        assert!(s.contains("-A SB-abc -s 10.0.0.3/32 -j DROP\n"));
        assert!(s.ends_with("COMMIT\n"));
    }
}
