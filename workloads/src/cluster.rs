//! A cluster as a client sees it: one client per node, and the question "who leads now",
//! answered from the nodes' own status.

use std::sync::Arc;

use checkers::Role;

use crate::client::{Client, Outcome};
use crate::system::{System, SystemError, Topology};

/// Clients of every node of one cluster, in node order.
#[derive(Clone)]
pub struct Cluster {
    clients: Vec<Arc<dyn Client>>,
}

impl Cluster {
    /// Wraps clients built elsewhere. Node names must be unique.
    pub fn new(clients: Vec<Arc<dyn Client>>) -> Result<Cluster, SystemError> {
        if clients.is_empty() {
            return Err(SystemError::BadTopology("it has no nodes".into()));
        }
        let mut names = std::collections::BTreeSet::new();
        for client in &clients {
            if !names.insert(client.node().to_string()) {
                return Err(SystemError::BadTopology(format!(
                    "node name {} appears twice",
                    client.node()
                )));
            }
        }
        Ok(Cluster { clients })
    }

    /// A client of each node of `topology`, as `system` opens them.
    pub async fn connect(system: &dyn System, topology: &Topology) -> Result<Cluster, SystemError> {
        crate::system::validate_topology(topology)?;
        let mut clients: Vec<Arc<dyn Client>> = Vec::with_capacity(topology.nodes.len());
        for node in &topology.nodes {
            clients.push(Arc::from(system.client(node).await?));
        }
        Cluster::new(clients)
    }

    pub fn clients(&self) -> &[Arc<dyn Client>] {
        &self.clients
    }

    pub fn len(&self) -> usize {
        self.clients.len()
    }

    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }

    pub fn name(&self, index: usize) -> &str {
        self.clients[index].node()
    }

    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.clients.iter().position(|c| c.node() == name)
    }

    /// The node that says it leads in the highest term, asking every node at once; `None`
    /// when no node answers as leader. These probes are not recorded in any history.
    pub async fn leader(&self) -> Option<String> {
        let mut probes = tokio::task::JoinSet::new();
        for client in &self.clients {
            let client = Arc::clone(client);
            probes.spawn(async move { (client.node().to_string(), client.status().await) });
        }
        let mut best: Option<(u64, String)> = None;
        while let Some(joined) = probes.join_next().await {
            let Ok((name, Outcome::Ok(status))) = joined else {
                continue;
            };
            // A leader whose term is uncertain ranks below every certain one.
            let term = status.term.unwrap_or(0);
            let newer = best.as_ref().is_none_or(|(t, _)| term > *t);
            if status.role == Role::Leader && newer {
                best = Some((term, name));
            }
        }
        best.map(|(_, name)| name)
    }
}

impl Cluster {
    /// Every node answers `status` ok.
    pub async fn all_answer(&self) -> bool {
        let mut probes = tokio::task::JoinSet::new();
        for client in &self.clients {
            let client = Arc::clone(client);
            probes.spawn(async move { client.status().await.is_ok() });
        }
        let mut all = true;
        while let Some(joined) = probes.join_next().await {
            all &= joined.unwrap_or(false);
        }
        all
    }
}

#[async_trait::async_trait]
impl nemesis::LeaderProbe for Cluster {
    async fn leader(&self) -> Option<String> {
        Cluster::leader(self).await
    }
}
