//! Helpers shared by the core tests.

use raftd::core::testkit::Cluster;
use raftd::core::{Config, Message, Request, Response, Role};

/// `n` nodes that never time out on their own unless ticked a lot: elections in
/// [10, 20) ticks, heartbeats every tick, no pre-vote or check-quorum unless `tweak` says.
pub fn cluster(n: usize, tweak: impl Fn(&mut Config)) -> Cluster {
    Cluster::new(n, 7, |c| {
        c.election_ticks_min = 10;
        c.election_ticks_max = 20;
        c.heartbeat_ticks = 1;
        c.pre_vote = false;
        c.check_quorum = false;
        tweak(c);
    })
}

pub fn write(id: &str) -> Request {
    Request::Write {
        id: id.to_string(),
        token: None,
        election: None,
    }
}

pub fn fenced(id: &str, token: u64, election: &str) -> Request {
    Request::Write {
        id: id.to_string(),
        token: Some(token),
        election: Some(election.to_string()),
    }
}

pub fn acquire(election: &str, client: &str, ttl_ticks: u64) -> Request {
    Request::Acquire {
        election: election.to_string(),
        client: client.to_string(),
        ttl_ticks,
    }
}

pub fn role(c: &Cluster, id: &str) -> Option<Role> {
    c.status(id).map(|s| s.role)
}

pub fn term(c: &Cluster, id: &str) -> u64 {
    c.status(id).expect("node up").term
}

/// Makes `id` leader (campaign and deliver everything), asserting it worked.
pub fn elect(c: &mut Cluster, id: &str) {
    assert!(
        c.elect(id, 50),
        "{id} did not become leader: leaders {:?}",
        c.leaders()
    );
}

/// Delivers messages until none are left, dropping those `keep` refuses.
pub fn deliver_only(c: &mut Cluster, keep: impl Fn(&Message) -> bool) {
    deliver_if(c, |_, m| keep(m));
}

/// Like [`deliver_only`], with a look at the cluster before each delivery.
pub fn deliver_if(c: &mut Cluster, keep: impl Fn(&Cluster, &Message) -> bool) {
    for _ in 0..100_000 {
        let Some(m) = c.in_flight().front().cloned() else {
            return;
        };
        if keep(c, &m) {
            c.deliver_one();
        } else {
            c.drop_at(0);
        }
    }
    panic!("messages never stopped");
}

/// Proposes `request` at `node`, delivers everything and returns `node`'s answer.
pub fn ask(c: &mut Cluster, node: &str, req_id: u64, request: Request) -> Option<Response> {
    c.propose(node, req_id, request).expect("proposal accepted");
    c.stabilize(100_000);
    answer(c, node, req_id)
}

/// `node`'s answer to `req_id`, if given (taking all of `node`'s answers).
pub fn answer(c: &mut Cluster, node: &str, req_id: u64) -> Option<Response> {
    c.take_responses(node)
        .into_iter()
        .find(|(r, _)| *r == req_id)
        .map(|(_, a)| a)
}

/// Ticks every node once and delivers everything, `rounds` times.
pub fn run(c: &mut Cluster, rounds: usize) {
    for _ in 0..rounds {
        c.tick_all();
        c.stabilize(100_000);
    }
}

/// Ids of the applied writes at `node`.
pub fn applied_ids(c: &Cluster, node: &str) -> Vec<String> {
    let sm = c.node(node).expect("node up").state_machine();
    sm.write_log().iter().map(|w| w.id.clone()).collect()
}
