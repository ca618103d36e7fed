//! Redlock: N independent Redis primaries (one per node, no replication, by default no
//! persistence) and the lock algorithm as Redis documents it
//! (<https://redis.io/docs/latest/develop/use/patterns/distributed-locks/>):
//!
//! 1. take the time;
//! 2. `SET key value NX PX ttl` on every instance at once, each bounded by a timeout
//!    small against the TTL, with a value no other attempt uses;
//! 3. the lock is acquired when a majority said OK and the time left, the TTL less the
//!    time spent and the clock drift allowance (1% of the TTL plus 2 ms), is positive:
//!    that is the lock's validity;
//! 4. otherwise, and on release, delete the key on every instance with a script that
//!    deletes it only if it still holds this attempt's value.
//!
//! A Redlock holder knows it holds the lock only by its validity, measured on its own
//! clock: `holding` answers from it and asks no server. Redlock gives no fencing token,
//! so the store the holders write to checks nothing; the adapter numbers its grants in
//! the order they were granted so the checkers can tell a superseded holder's writes.
//! The store is the resource the lock protects: a list kept by the controller, which
//! no fault touches, so that whatever goes wrong is the lock's doing.
//!
//! Known ways it fails, which a run shows with the operations that prove them: a holder
//! that pauses past its validity (a garbage-collection stall) and then writes; an
//! instance whose clock jumps ahead and expires the key early; an instance that
//! restarts without persistence and forgets it. The last two let a second client take
//! a majority while the first still holds by its validity: two holders at once.
//!
//! The algorithm is written here rather than taken from a crate: a crate's lock call
//! retries and hides each instance's answer, and a history must tell an attempt that
//! certainly failed (`fail`) from one that may have left the key set (`info`).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use checkers::{ErrorCode, LogEntry, Role};
use tokio::time::Instant;

use crate::client::{Client, Grant, NodeStatus, Outcome, Written, CLIENT_TIMEOUT_MS_DEFAULT};
use crate::etcd::refuse_raftd_options;
use crate::redis_link::{Fault, Links};
use crate::redis_sentinel::{self, REDIS_PORT, REDIS_SERVER_PROGRAM};
use crate::system::{
    program_version, validate_topology, Descriptor, FencingMode, Guarantees, Image, NodeAddr,
    NodePorts, NodeSpec, Serves, Setup, System, SystemError, SystemOption, SystemOptions, Topology,
};

/// A port nothing listens on: the instances never talk to each other.
pub const UNUSED_PEER_PORT: u16 = 16379;
/// The key an election's lock lives under.
pub const LOCK_KEY_PREFIX: &str = "splitbrain:lock:";
/// Redlock's release: delete the key only if it still holds this attempt's value.
pub const UNLOCK_SCRIPT: &str =
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";
/// The clock drift allowance, Redis's: 1% of the TTL plus 2 ms.
pub fn drift_ms(ttl_ms: u64) -> u64 {
    ttl_ms / 100 + 2
}

/// Redlock as splitbrain knows it.
pub static DESCRIPTOR: Descriptor = Descriptor {
    name: "redlock",
    bugs: &[],
    registers: false,
    lease_switch: false,
    // The local runtime routes each node's peers through proxies it finds in the
    // command; these instances have no peers to route.
    runs_local: false,
    clock: &redis_sentinel::clock,
    docker: true,
    external: false,
    build: &|setup: &Setup| {
        let shim = redis_sentinel::clock_shim_for(setup)?;
        Ok(Arc::new(RedlockSystem::new(shim, &setup.options)?))
    },
    file: None,
    fencing: &[FencingMode::None],
    options: &[SystemOption {
        name: "appendfsync",
        help: "none (default: no persistence, a restarted instance forgets every lock), or always, everysec, no: the append-only file on, synced so",
        check: |v| persistence(v).map(drop),
    }],
    crash_points: None,
};

/// The `appendfsync` option: `None` for no persistence, else the sync policy.
fn persistence(v: &str) -> Result<Option<String>, String> {
    match v {
        "none" => Ok(None),
        "always" | "everysec" | "no" => Ok(Some(v.to_string())),
        _ => Err(format!("{v:?} is none of none, always, everysec, no")),
    }
}

/// Redlock's instances and the state its clients share: the grants they hold, by
/// token, and the store they write to.
#[derive(Clone, Debug)]
pub struct RedlockSystem {
    /// The clock shim on this machine, for the image.
    pub clock_shim: PathBuf,
    /// `appendfsync`, or `None` for no persistence.
    pub appendfsync: Option<String>,
    pub client_timeout_ms: u64,
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    /// Every instance, `ip:port`, by node name.
    instances: Mutex<BTreeMap<String, String>>,
    /// The last grant's number.
    granted: AtomicU64,
    grants: Mutex<HashMap<u64, Held>>,
    store: Mutex<Vec<LogEntry>>,
}

/// A grant as its holder knows it.
#[derive(Clone, Debug)]
struct Held {
    key: String,
    value: String,
    ttl_ms: u64,
    /// The end of its validity, on the holder's clock.
    until: Instant,
}

impl RedlockSystem {
    pub fn new(
        clock_shim: impl Into<PathBuf>,
        options: &BTreeMap<String, String>,
    ) -> Result<RedlockSystem, SystemError> {
        let appendfsync = match options.get("appendfsync") {
            None => None,
            Some(v) => persistence(v)
                .map_err(|why| SystemError::BadOption(format!("appendfsync {why}")))?,
        };
        if let Some(key) = options.keys().find(|k| *k != "appendfsync") {
            return Err(SystemError::BadOption(format!(
                "redlock has no option {key:?}"
            )));
        }
        Ok(RedlockSystem {
            clock_shim: clock_shim.into(),
            appendfsync,
            client_timeout_ms: CLIENT_TIMEOUT_MS_DEFAULT,
            shared: Arc::default(),
        })
    }

    /// redis.conf of one instance: a primary of its own.
    pub fn redis_config(&self, node: &NodeAddr, data_dir: &str) -> String {
        let mut lines = redis_sentinel::server_lines(node.client_port, data_dir);
        lines.push("save \"\"".into());
        match &self.appendfsync {
            None => lines.push("appendonly no".into()),
            Some(sync) => {
                lines.push("appendonly yes".into());
                lines.push(format!("appendfsync {sync}"));
            }
        }
        lines.join("\n") + "\n"
    }

    fn learn(&self, node: &NodeAddr) {
        let mut instances = self
            .shared
            .instances
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        instances.insert(
            node.name.clone(),
            format!("{}:{}", node.host, node.client_port),
        );
    }

    fn instances(&self) -> Vec<String> {
        let instances = self
            .shared
            .instances
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        instances.values().cloned().collect()
    }

    /// A majority of the instances.
    pub fn quorum(instances: usize) -> usize {
        instances / 2 + 1
    }
}

#[async_trait]
impl System for RedlockSystem {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    fn ports(&self) -> NodePorts {
        NodePorts {
            client_port: REDIS_PORT,
            peer_port: UNUSED_PEER_PORT,
            extra_ports: 0,
        }
    }

    fn node_specs(
        &self,
        topology: &Topology,
        options: &SystemOptions,
    ) -> Result<Vec<NodeSpec>, SystemError> {
        validate_topology(topology)?;
        refuse_raftd_options("redlock", options)?;
        Ok(topology
            .nodes
            .iter()
            .map(|node| {
                self.learn(node);
                let data_dir = format!("{}/{}", options.data_root.trim_end_matches('/'), node.name);
                let conf = format!("{data_dir}/redis.conf");
                NodeSpec {
                    name: node.name.clone(),
                    image: Image::Recipe(redis_sentinel::image(&self.clock_shim)),
                    clock: redis_sentinel::clock(),
                    command: vec![REDIS_SERVER_PROGRAM.to_string(), conf.clone()],
                    env: Vec::new(),
                    files: vec![(conf, self.redis_config(node, &data_dir))],
                    data_dir,
                }
            })
            .collect())
    }

    fn guarantees(&self, _options: &SystemOptions) -> Guarantees {
        Guarantees {
            // Nothing leads.
            exclusive_leadership: false,
            // What a lock is for: once another client holds it, the old holder's
            // writes must not land. Redlock has no token to make it so.
            fence_on_grant: true,
            leaderless: true,
        }
    }

    fn version(&self) -> String {
        program_version(std::path::Path::new(REDIS_SERVER_PROGRAM), "redis-server")
    }

    fn serves(&self) -> Serves {
        Serves {
            locks: true,
            // The store is one list: there is no node's own view of it.
            read_local: false,
            leaders: false,
        }
    }

    async fn client(&self, node: &NodeAddr) -> Result<Box<dyn Client>, SystemError> {
        if self.client_timeout_ms == 0 {
            return Err(SystemError::BadOption("client_timeout_ms is 0".into()));
        }
        self.learn(node);
        Ok(Box::new(RedlockClient {
            node: node.name.clone(),
            addr: format!("{}:{}", node.host, node.client_port),
            timeout: Duration::from_millis(self.client_timeout_ms),
            system: self.clone(),
            links: Links::default(),
        }))
    }
}

/// One node's client: its instance for `status`, every instance for the lock.
pub struct RedlockClient {
    node: String,
    addr: String,
    timeout: Duration,
    system: RedlockSystem,
    links: Links,
}

/// What one instance answered to a command of the lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Answer {
    /// It did what was asked (`SET` said OK; the script ran).
    Done,
    /// It refused: the key is held by another value (`SET NX` said nil).
    Held,
    /// It certainly did nothing: unreachable, or an error reply.
    NotDone,
    /// It may have done it: no answer in time, or the connection broke.
    Unknown,
}

impl Answer {
    fn of_fault(fault: &Fault) -> Answer {
        if fault.took_no_effect() {
            Answer::NotDone
        } else {
            Answer::Unknown
        }
    }
}

/// How a failed attempt ends: `fail` when it certainly holds no majority, `info` when
/// instances it may have set were not certainly cleared again.
fn failed_attempt(set: &[Answer], cleared: &[Answer], quorum: usize) -> Outcome<Grant> {
    let may_hold = set
        .iter()
        .zip(cleared)
        .filter(|(s, c)| matches!(s, Answer::Done | Answer::Unknown) && **c != Answer::Done)
        .count();
    let held = set.iter().filter(|a| **a == Answer::Held).count();
    if may_hold > 0
        && set
            .iter()
            .filter(|a| matches!(a, Answer::Done | Answer::Unknown))
            .count()
            >= quorum
    {
        return Outcome::info(format!(
            "{may_hold} instances may still hold the key: they did not confirm its release"
        ));
    }
    if held > 0 {
        Outcome::fail(ErrorCode::Held)
    } else {
        Outcome::fail(ErrorCode::NoQuorum)
    }
}

impl RedlockClient {
    /// Each instance's bound: small against the TTL, as Redlock asks, so an instance
    /// that does not answer cannot eat the validity.
    fn per_instance(&self, ttl_ms: u64) -> Duration {
        Duration::from_millis((ttl_ms / 10).max(50)).min(self.timeout)
    }

    /// `cmd` on every instance at once, each bounded by `bound`; answers in instance
    /// order.
    async fn on_all(
        &self,
        instances: &[String],
        cmd: &redis::Cmd,
        bound: Duration,
        done: fn(&redis::Value) -> Option<bool>,
    ) -> Vec<Answer> {
        let calls = instances.iter().map(|addr| async move {
            let deadline = Instant::now() + bound;
            match self.links.query::<redis::Value>(addr, cmd, deadline).await {
                Ok(v) => match done(&v) {
                    Some(true) => Answer::Done,
                    Some(false) => Answer::Held,
                    None => Answer::Unknown,
                },
                Err(e) => Answer::of_fault(&e),
            }
        });
        futures_util::future::join_all(calls).await
    }

    /// The compare-and-delete on every instance.
    async fn unlock_all(
        &self,
        instances: &[String],
        key: &str,
        value: &str,
        bound: Duration,
    ) -> Vec<Answer> {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(UNLOCK_SCRIPT).arg(1).arg(key).arg(value);
        // Deleted or not there: either way the key no longer holds this value.
        self.on_all(instances, &cmd, bound, |v| match v {
            redis::Value::Int(_) => Some(true),
            _ => None,
        })
        .await
    }

    fn grants(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Held>> {
        self.system
            .shared
            .grants
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl Client for RedlockClient {
    fn node(&self) -> &str {
        &self.node
    }

    /// The instance answers `PING`. It leads nothing.
    async fn status(&self) -> Outcome<NodeStatus> {
        let deadline = Instant::now() + self.timeout;
        match self
            .links
            .query::<String>(&self.addr, &redis::cmd("PING"), deadline)
            .await
        {
            Ok(_) => Outcome::Ok(NodeStatus {
                role: Role::Other("primary".into()),
                term: Some(0),
                leader: None,
                applied: None,
                commit: None,
                vote: None,
                last_index: None,
                terms: None,
            }),
            Err(e) => e.read_outcome(),
        }
    }

    async fn acquire(&self, election: &str, client: &str, ttl_ms: u64) -> Outcome<Grant> {
        let instances = self.system.instances();
        let quorum = RedlockSystem::quorum(instances.len());
        let key = format!("{LOCK_KEY_PREFIX}{election}");
        let value = format!("{client}:{:016x}", rand::random::<u64>());
        let bound = self.per_instance(ttl_ms);
        let start = Instant::now();
        let mut set = redis::cmd("SET");
        set.arg(&key).arg(&value).arg("NX").arg("PX").arg(ttl_ms);
        let answers = self
            .on_all(&instances, &set, bound, |v| match v {
                redis::Value::Okay => Some(true),
                redis::Value::SimpleString(s) if s == "OK" => Some(true),
                redis::Value::Nil => Some(false),
                _ => None,
            })
            .await;
        let spent = start.elapsed().as_millis() as u64;
        let validity = ttl_ms.saturating_sub(spent + drift_ms(ttl_ms));
        let acquired = answers.iter().filter(|a| **a == Answer::Done).count();
        if acquired >= quorum && validity > 0 {
            let token = self.system.shared.granted.fetch_add(1, Ordering::SeqCst) + 1;
            let until = start + Duration::from_millis(validity);
            self.grants().insert(
                token,
                Held {
                    key,
                    value,
                    ttl_ms,
                    until,
                },
            );
            return Outcome::Ok(Grant { token });
        }
        let cleared = self.unlock_all(&instances, &key, &value, bound).await;
        failed_attempt(&answers, &cleared, quorum)
    }

    /// Whether the grant's validity lasts, on this client's clock: all a Redlock holder
    /// can know.
    async fn holding(&self, _election: &str, token: u64) -> Outcome<bool> {
        match self.grants().get(&token) {
            Some(held) => Outcome::Ok(Instant::now() < held.until),
            None => Outcome::fail(ErrorCode::UnknownGrant),
        }
    }

    /// The compare-and-delete on every instance: ok once a majority confirmed (the
    /// rest cannot keep a majority from another client), unknown otherwise.
    async fn release(&self, _election: &str, token: u64) -> Outcome<()> {
        let Some(held) = self.grants().remove(&token) else {
            return Outcome::fail(ErrorCode::UnknownGrant);
        };
        let instances = self.system.instances();
        let quorum = RedlockSystem::quorum(instances.len());
        let bound = self.per_instance(held.ttl_ms);
        let cleared = self
            .unlock_all(&instances, &held.key, &held.value, bound)
            .await;
        let confirmed = cleared.iter().filter(|a| **a == Answer::Done).count();
        if confirmed >= quorum {
            Outcome::Ok(())
        } else {
            Outcome::info(format!(
                "{confirmed} of {} instances confirmed the release",
                instances.len()
            ))
        }
    }

    /// Appends to the store, which checks nothing: Redlock gives it no token to check.
    async fn write(
        &self,
        id: &str,
        token: Option<u64>,
        _election: Option<&str>,
    ) -> Outcome<Written> {
        let mut store = self
            .system
            .shared
            .store
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        store.push(LogEntry {
            id: id.to_string(),
            token,
        });
        Outcome::Ok(Written {
            id: id.to_string(),
            token,
        })
    }

    async fn read(&self) -> Outcome<Vec<LogEntry>> {
        let store = self
            .system
            .shared
            .store
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        Outcome::Ok(store.clone())
    }

    async fn read_local(&self) -> Outcome<Vec<LogEntry>> {
        Outcome::fail("unsupported")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHIM: &str = "/opt/libsplitbrain_clock.so";

    fn topology(n: usize) -> Topology {
        Topology {
            nodes: (0..n)
                .map(|i| NodeAddr {
                    bind: None,
                    name: format!("n{}", i + 1),
                    host: format!("10.9.0.{}", i + 2),
                    client_port: REDIS_PORT,
                    peer_port: UNUSED_PEER_PORT,
                    extra_ports: Vec::new(),
                })
                .collect(),
        }
    }

    #[test]
    fn every_instance_is_a_primary_without_persistence_by_default() {
        let system = RedlockSystem::new(SHIM, &BTreeMap::new()).unwrap();
        let specs = system
            .node_specs(&topology(5), &SystemOptions::default())
            .unwrap();
        assert_eq!(specs.len(), 5);
        for spec in &specs {
            let (_, conf) = &spec.files[0];
            assert!(conf.contains("appendonly no"), "{conf}");
            assert!(!conf.contains("replicaof"), "{conf}");
            assert_eq!(spec.command[0], REDIS_SERVER_PROGRAM);
        }
        assert_eq!(system.instances().len(), 5);
    }

    #[test]
    fn appendfsync_turns_persistence_on_and_a_bad_value_is_refused() {
        let options = BTreeMap::from([("appendfsync".to_string(), "always".to_string())]);
        let system = RedlockSystem::new(SHIM, &options).unwrap();
        let conf = system.redis_config(&topology(1).nodes[0], "/data/n1");
        assert!(
            conf.contains("appendonly yes\nappendfsync always"),
            "{conf}"
        );
        let bad = BTreeMap::from([("appendfsync".to_string(), "sometimes".to_string())]);
        assert!(RedlockSystem::new(SHIM, &bad).is_err());
        let unknown = BTreeMap::from([("wait".to_string(), "1".to_string())]);
        assert!(RedlockSystem::new(SHIM, &unknown).is_err());
    }

    #[test]
    fn a_failed_attempt_is_unknown_only_when_it_may_still_hold_a_majority() {
        use Answer::*;
        // Two of five set, none cleared: no majority possible, a plain failure.
        let o = failed_attempt(&[Done, Done, Held, Held, Held], &[Unknown; 5], 3);
        assert!(
            matches!(o, Outcome::Fail(ref f) if f.error == "held"),
            "{o:?}"
        );
        // Two set, one unknown: a majority may hold it, and one did not confirm.
        let o = failed_attempt(
            &[Done, Done, Unknown, NotDone, NotDone],
            &[Done, Unknown, Done, Done, Done],
            3,
        );
        assert!(matches!(o, Outcome::Info(_)), "{o:?}");
        // The same, every release confirmed: certainly not held.
        let o = failed_attempt(&[Done, Done, Unknown, NotDone, NotDone], &[Done; 5], 3);
        assert!(
            matches!(o, Outcome::Fail(ref f) if f.error == "no-quorum"),
            "{o:?}"
        );
    }

    #[test]
    fn the_drift_allowance_is_redis_s() {
        assert_eq!(drift_ms(2000), 22);
        assert_eq!(RedlockSystem::quorum(5), 3);
        assert_eq!(RedlockSystem::quorum(4), 3);
    }
}
