//! The user's own running cluster (`--endpoints`): nothing to start or remove, and no
//! fault, since every fault needs access to the nodes themselves.

use std::collections::BTreeMap;
use std::path::PathBuf;

use async_trait::async_trait;
use nemesis::runtime::{Capabilities, FaultError, FaultKind, FaultRuntime, Grudge};
use workloads::system::{NodeAddr, NodeSpec, Topology};

use super::{NodePorts, Runtime, RuntimeError, RuntimeKind};

/// Why no fault can be injected into a cluster given by `--endpoints`.
pub const EXTERNAL_FAULT_REASON: &str = "the cluster is your own (--endpoints): partitions, \
pauses, kills and clock jumps need access to its nodes, which splitbrain does not have";

/// `host:port` endpoints, checked: a host and a port from 1 to 65535 each.
pub fn parse_endpoints(text: &str) -> Result<Vec<(String, u16)>, String> {
    let mut out = Vec::new();
    for word in text.split(',').map(str::trim).filter(|w| !w.is_empty()) {
        let (host, port) = word
            .rsplit_once(':')
            .ok_or_else(|| format!("{word:?} has no port; write host:port, e.g. 127.0.0.1:2379"))?;
        let port: u16 = port
            .parse()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("{word:?} has no valid port (1 to 65535)"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || host.contains(char::is_whitespace) {
            return Err(format!("{word:?} has no host"));
        }
        if out.iter().any(|(h, p)| h == host && *p == port) {
            return Err(format!("{word:?} is named twice"));
        }
        out.push((host.to_string(), port));
    }
    if out.is_empty() {
        return Err("no endpoint given; write host:port,host:port,…".into());
    }
    Ok(out)
}

/// What fault capabilities a cluster of the user's own has: none.
pub fn capabilities() -> Capabilities {
    let mut caps = Capabilities::default();
    for fault in FaultKind::ALL {
        caps.refused
            .insert(fault, EXTERNAL_FAULT_REASON.to_string());
    }
    caps
}

/// A runtime over nodes that already run elsewhere, named `n1` … `nN` in endpoint order.
pub struct ExternalRuntime {
    run_id: String,
    topology: Topology,
}

impl ExternalRuntime {
    pub fn new(run_id: &str, endpoints: &[String]) -> Result<ExternalRuntime, RuntimeError> {
        let parsed = parse_endpoints(&endpoints.join(",")).map_err(RuntimeError::Plan)?;
        let nodes = parsed
            .into_iter()
            .enumerate()
            .map(|(i, (host, port))| NodeAddr {
                bind: None,
                name: format!("n{}", i + 1),
                host,
                client_port: port,
                peer_port: 0,
                extra_ports: Vec::new(),
            })
            .collect();
        Ok(ExternalRuntime {
            run_id: run_id.to_string(),
            topology: Topology { nodes },
        })
    }

    fn refuse(fault: FaultKind) -> FaultError {
        FaultError::Unsupported {
            fault,
            reason: EXTERNAL_FAULT_REASON.to_string(),
        }
    }
}

#[async_trait]
impl FaultRuntime for ExternalRuntime {
    fn capabilities(&self) -> Capabilities {
        capabilities()
    }

    async fn partition(&self, _grudge: &Grudge) -> Result<(), FaultError> {
        Err(Self::refuse(FaultKind::Partition))
    }

    /// Nothing was cut, so nothing needs healing.
    async fn heal(&self) -> Result<(), FaultError> {
        Ok(())
    }

    async fn pause(&self, _nodes: &[String]) -> Result<(), FaultError> {
        Err(Self::refuse(FaultKind::Pause))
    }

    async fn resume(&self, _nodes: &[String]) -> Result<(), FaultError> {
        Err(Self::refuse(FaultKind::Pause))
    }

    async fn kill(&self, _nodes: &[String]) -> Result<(), FaultError> {
        Err(Self::refuse(FaultKind::Kill))
    }

    async fn start(&self, _nodes: &[String]) -> Result<(), FaultError> {
        Err(Self::refuse(FaultKind::Kill))
    }

    async fn clock(&self, _offsets_ms: &BTreeMap<String, i64>) -> Result<(), FaultError> {
        Err(Self::refuse(FaultKind::Clock))
    }

    /// No clock was moved.
    async fn clock_reset(&self) -> Result<(), FaultError> {
        Ok(())
    }
}

#[async_trait]
impl Runtime for ExternalRuntime {
    fn kind(&self) -> RuntimeKind {
        // Not one of the kinds a user picks with --runtime; nothing is created either way.
        RuntimeKind::Local
    }

    fn run_id(&self) -> &str {
        &self.run_id
    }

    async fn plan(&self, n: usize, _ports: &NodePorts) -> Result<Topology, RuntimeError> {
        if n != self.topology.nodes.len() {
            return Err(RuntimeError::Plan(format!(
                "{n} nodes asked for, but --endpoints names {}",
                self.topology.nodes.len()
            )));
        }
        Ok(self.topology.clone())
    }

    async fn start_cluster(&self, _specs: Vec<NodeSpec>) -> Result<(), RuntimeError> {
        Ok(())
    }

    async fn stop_node(&self, _name: &str) -> Result<(), RuntimeError> {
        Err(RuntimeError::Unsupported(EXTERNAL_FAULT_REASON.into()))
    }

    async fn start_node(&self, _name: &str) -> Result<(), RuntimeError> {
        Err(RuntimeError::Unsupported(EXTERNAL_FAULT_REASON.into()))
    }

    async fn node_netns(&self, _name: &str) -> Result<Option<PathBuf>, RuntimeError> {
        Ok(None)
    }

    async fn is_paused(&self, _name: &str) -> Result<bool, RuntimeError> {
        Ok(false)
    }

    /// The cluster is the user's: it stays as it was.
    async fn teardown(&self) -> Result<(), RuntimeError> {
        Ok(())
    }

    fn limitations(&self) -> Vec<String> {
        vec![EXTERNAL_FAULT_REASON.to_string()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse_and_bad_ones_are_named() {
        assert_eq!(
            parse_endpoints("127.0.0.1:2379, 10.0.0.2:2379").unwrap(),
            vec![
                ("127.0.0.1".to_string(), 2379),
                ("10.0.0.2".to_string(), 2379)
            ]
        );
        assert_eq!(parse_endpoints("[::1]:2181").unwrap()[0].0, "::1");
        for bad in ["", "host", "host:0", "host:99999", ":2379", "a:1,a:1"] {
            assert!(parse_endpoints(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn every_fault_is_refused_with_the_reason() {
        let caps = capabilities();
        assert!(caps.supported.is_empty());
        assert_eq!(caps.refused.len(), FaultKind::ALL.len());
        assert!(caps.refused[&FaultKind::Kill].contains("--endpoints"));
    }
}
