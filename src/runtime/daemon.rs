//! The docker daemon as every part of the runtime meets it: connecting, asking whether
//! it answers, the subnets its networks hold, and the label that names a run's
//! controller. The docker runtime, the netns runtime (which must not take a docker
//! subnet) and the sweep of leftovers all start here.

use std::time::Duration;

use bollard::query_parameters::ListNetworksOptions;
use bollard::Docker;

use super::subnet::Net;
use super::RuntimeError;

/// Connect to the local daemon, speaking whatever API version it has.
pub async fn connect() -> Result<Docker, RuntimeError> {
    let d = Docker::connect_with_local_defaults()?;
    Ok(d.negotiate_version().await?)
}

/// Whether the daemon answers within `timeout`; its version if so, else why not.
pub async fn ping(timeout: Duration) -> Result<String, String> {
    let work = async {
        let d = connect().await.map_err(|e| e.to_string())?;
        d.ping().await.map_err(|e| e.to_string())?;
        let v = d.version().await.map_err(|e| e.to_string())?;
        Ok::<_, String>(v.version.unwrap_or_else(|| "unknown".into()))
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(r) => r,
        Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
    }
}

/// Subnets of every docker network (empty if docker is not reachable).
pub async fn existing_subnets() -> Vec<Net> {
    let Ok(Ok(d)) = tokio::time::timeout(Duration::from_secs(2), connect()).await else {
        return Vec::new();
    };
    subnets_of(&d).await
}

/// Subnets of every network of one daemon (none if it does not answer within 3 s).
pub async fn subnets_of(d: &Docker) -> Vec<Net> {
    let listed = tokio::time::timeout(
        Duration::from_secs(3),
        d.list_networks(None::<ListNetworksOptions>),
    )
    .await;
    let Ok(Ok(nets)) = listed else {
        return Vec::new();
    };
    nets.iter()
        .filter_map(|n| n.ipam.as_ref()?.config.as_ref())
        .flatten()
        .filter_map(|c| Net::parse(c.subnet.as_deref()?))
        .collect()
}

/// Docker label naming the controller of a run (`<pid>:<start ticks>`), so `clean`
/// leaves a run alone while its controller lives.
pub const CONTROLLER_LABEL: &str = "splitbrain.controller";
