//! Integration tests of the raftd binary: real processes on 127.0.0.1, each test in its
//! own temporary directory with its own ports. One binary, a module per area.

mod common;

mod cluster {
    //! Elections and the client API's happy paths.

    use serde_json::{json, Value};

    use crate::common::*;

    const ALL: [usize; 3] = [0, 1, 2];

    /// Acquires `election` for `client` at whoever leads; returns the token. A repeat after
    /// an unknown outcome finds the grant held by `client` itself: that is its token.
    fn acquire(c: &Cluster, election: &str, client: &str) -> u64 {
        let body = json!({"election":election,"client":client,"ttl_ms":60000});
        let (_, a) = c.post_at_leader(&ALL, "/acquire", &body);
        match a.status {
            200 => a.body["token"].as_u64(),
            409 if a.body["holder"] == client => a.body["token"].as_u64(),
            _ => None,
        }
        .unwrap_or_else(|| panic!("acquire {election} for {client}: {a:?}"))
    }

    /// Releases a grant at whoever leads; a repeat after an unknown outcome answers
    /// `not-holder` when the first one released it, which `holding` then tells apart.
    fn release(c: &Cluster, election: &str, token: u64) {
        let body = json!({"election":election,"token":token});
        let (_, rel) = c.post_at_leader(&ALL, "/release", &body);
        let repeated = rel.status == 409 && rel.body["error"] == "not-holder";
        assert!(rel.status == 200 || repeated, "{rel:?}");
        assert!(!holding(c, election, token), "released, yet holding");
    }

    fn holding(c: &Cluster, election: &str, token: u64) -> bool {
        let body = json!({"election":election,"token":token});
        let (_, h) = c.post_at_leader(&ALL, "/holding", &body);
        assert_eq!(h.status, 200, "{:?}", h.body);
        h.body["holding"].as_bool().expect("a holding answer")
    }

    /// A write at whoever leads that must succeed; returns its answer's body.
    fn write(c: &Cluster, body: Value) -> Value {
        let (_, w) = c.post_at_leader(&ALL, "/write", &body);
        assert_eq!(w.status, 200, "{body}: {:?}", w.body);
        w.body
    }

    /// The distinct records of a linearizable read, in log order.
    fn records(c: &Cluster) -> Vec<Value> {
        let (_, r) = c.read_at_leader(&ALL);
        assert_eq!(r.status, 200, "{:?}", r.body);
        let mut seen = std::collections::HashSet::new();
        let log = r.body["log"].as_array().expect("a log").clone();
        log.into_iter()
            .filter(|w| seen.insert(w["id"].to_string()))
            .collect()
    }

    #[test]
    fn three_nodes_elect_a_leader_and_serve_grants_writes_and_reads() {
        let c = Cluster::start(3, &[]);
        let token = acquire(&c, "e1", "p1");
        assert!(token >= 1);

        let body = json!({"election":"e1","client":"p2","ttl_ms":60000});
        let (_, held) = c.post_at_leader(&ALL, "/acquire", &body);
        assert_eq!(held.status, 409, "{:?}", held.body);
        assert_eq!(held.body["error"], "held");
        assert_eq!(held.body["holder"], "p1");
        assert_eq!(held.body["token"], token);

        assert!(holding(&c, "e1", token));

        let w = write(&c, json!({"id":"w1","token":token,"election":"e1"}));
        assert_eq!(w, json!({"id":"w1","token":token}));
        write(&c, json!({"id":"w2","token":null}));
        let want = [
            json!({"id":"w1","token":token}),
            json!({"id":"w2","token":null}),
        ];
        assert_eq!(records(&c), want);

        // Every node applies the same writes; a local read shows them once applied.
        for i in 0..3 {
            wait_for(WAIT_MS_MAX, "the writes to reach every node", || {
                let r = get(c.addr(i), "/read?local=true");
                (r.status == 200 && distinct(ids(&r)) == ["w1", "w2"]).then_some(())
            });
        }

        release(&c, "e1", token);
        let body = json!({"election":"e1","token":token});
        let (_, rel) = c.post_at_leader(&ALL, "/release", &body);
        assert_eq!(
            (rel.status, &rel.body["error"]),
            (409, &json!("not-holder"))
        );
    }

    #[test]
    fn a_follower_answers_421_with_the_leaders_address_and_a_stale_token_gets_409() {
        let c = Cluster::start(3, &[]);
        // Ask a follower while the leader it names still leads: find a round in which
        // the follower's status and its 421 agree with who leads.
        wait_for(
            WAIT_MS_MAX,
            "a follower to answer 421 naming the leader",
            || {
                let l = c.wait_leader(&ALL);
                let f = (l + 1) % 3;
                let s = c.status(f)?;
                let w = post(c.addr(f), "/write", &json!({"id":"to-a-follower"}));
                let r = get(c.addr(f), "/read");
                let named = |body: &Value| {
                    body["leader"] == c.nodes[l].id.as_str() && body["leader_addr"] == c.addr(l)
                };
                if !(s["role"] == "follower" && named(&s) && w.status == 421 && named(&w.body)) {
                    return None;
                }
                assert_eq!(w.body["error"], "not-leader");
                assert!(w.body["reason"].as_str().is_some_and(|r| !r.is_empty()));
                (r.status == 421).then_some(())
            },
        );

        let t1 = acquire(&c, "e", "p1");
        write(&c, json!({"id":"a","token":t1}));
        release(&c, "e", t1);
        let t2 = acquire(&c, "e", "p2");
        assert!(t2 > t1, "tokens increase: {t1} then {t2}");
        write(&c, json!({"id":"b","token":t2}));
        let (_, stale) = c.post_at_leader(&ALL, "/write", &json!({"id":"c","token":t1}));
        assert_eq!(stale.status, 409, "{:?}", stale.body);
        assert_eq!(stale.body["error"], "stale-token");
        let ids: Vec<Value> = records(&c).into_iter().map(|w| w["id"].clone()).collect();
        // The follower's write was refused, unless leadership moved to it just then and
        // it took the write as leader; either way the stale one never got in.
        let ids: Vec<Value> = ids.into_iter().filter(|i| i != "to-a-follower").collect();
        assert_eq!(ids, ["a", "b"]);
    }

    #[test]
    fn the_admin_clock_shows_in_status() {
        let c = Cluster::start(1, &[]);
        let s = get(c.addr(0), "/status");
        assert_eq!(
            (
                s.body["clock_offset_ms"].as_i64(),
                s.body["clock_rate"].as_f64()
            ),
            (Some(0), Some(1.0))
        );
        let r = post(
            c.addr(0),
            "/admin/clock",
            &json!({"offset_ms":-30000,"rate":1.5}),
        );
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!(r.body, json!({"clock_offset_ms":-30000,"clock_rate":1.5}));
        let s = get(c.addr(0), "/status");
        assert_eq!(s.body["clock_offset_ms"], -30000);
        assert_eq!(s.body["clock_rate"], 1.5);
        let bad = post(c.addr(0), "/admin/clock", &json!({"offset_ms":0,"rate":-1}));
        assert_eq!(bad.status, 422, "{:?}", bad.body);
        assert!(bad.body["reason"].as_str().unwrap().contains("rate"));
    }
}

mod crash_points {
    //! `POST /admin/crash-point`: a node dies at the armed point of its code, with the
    //! round it had decided durable and unsent.

    use serde_json::json;

    use crate::common::*;

    /// The exit code raftd gives a crash point (raftd::server::crash).
    const CRASH_POINT_EXIT_CODE: i32 = 86;

    #[test]
    fn a_leader_dies_as_its_commit_moves_and_the_next_as_it_wins_before_anyone_hears() {
        let mut c = Cluster::start(3, &[]);
        post_ok_at_leader(&c, "w1");
        // Quiet: every node holds the same log before anything is armed.
        let (l, status) = wait_for(WAIT_MS_MAX, "every node to hold the same log", || {
            let (l, s) = c.wait_leader_status(&[0, 1, 2]);
            let last = s["last_index"].as_u64()?;
            (0..3)
                .all(|i| {
                    c.status(i)
                        .is_some_and(|t| t["last_index"] == last && t["commit"] == last)
                })
                .then_some((l, s))
        });
        let before = status["last_index"].as_u64().unwrap();
        for i in 0..3 {
            let point = if i == l {
                "leader-commit"
            } else {
                "won-election"
            };
            let r = post(
                c.addr(i),
                "/admin/crash-point",
                &json!({ "points": [point] }),
            );
            assert_eq!(r.status, 200, "{:?}", r.body);
            assert_eq!(r.body, json!({ "points": [point] }));
        }
        // The write's answer never comes: its leader dies as the commit moves.
        let _ = request(
            c.addr(l),
            "POST",
            "/write",
            json!({"id":"w2"}).to_string().as_bytes(),
        );
        let died = wait_for(WAIT_MS_MAX, "two nodes to reach their crash points", || {
            let died: Vec<usize> = (0..3)
                .filter(|&i| c.exit_code(i) == Some(CRASH_POINT_EXIT_CODE))
                .collect();
            (died.len() == 2).then_some(died)
        });
        assert!(died.contains(&l), "the leader died: {died:?}");
        for &i in &died {
            assert!(
                c.log_tail(i).contains("crash point reached"),
                "{}",
                c.log_tail(i)
            );
        }
        // The survivor holds the write the dead leader sent before its commit moved, and
        // never heard of that commit, nor of the next leader's first entry.
        let s = (0..3).find(|i| !died.contains(i)).unwrap();
        let st = c.status(s).expect("the survivor serves");
        assert_eq!(st["last_index"], before + 1, "{st}");
        assert_eq!(st["commit"], before, "{st}");
        assert_ne!(st["role"], "leader", "{st}");
    }

    /// Writes `id` at whoever leads, until it is acknowledged.
    fn post_ok_at_leader(c: &Cluster, id: &str) {
        let (_, a) = c.post_at_leader(&[0, 1, 2], "/write", &json!({ "id": id }));
        assert_eq!(a.status, 200, "{:?}", a.body);
    }

    #[test]
    fn a_point_unknown_or_named_twice_is_refused_and_nothing_is_armed() {
        let c = Cluster::start(1, &[]);
        let a = c.addr(0);
        let unknown = post(a, "/admin/crash-point", &json!({"points":["on-tuesday"]}));
        assert_error(&unknown, 422, "bad-request");
        let twice = post(
            a,
            "/admin/crash-point",
            &json!({"points":["won-election","won-election"]}),
        );
        assert_error(&twice, 422, "bad-request");
        assert!(twice.body["reason"].as_str().unwrap().contains("twice"));
        let none = post(a, "/admin/crash-point", &json!({"points":[]}));
        assert_eq!((none.status, &none.body), (200, &json!({"points":[]})));
    }
}

mod failover {
    //! Kills and restarts: durability of what was acknowledged, and new leaders.

    use serde_json::json;

    use crate::common::*;

    const ALL: [usize; 3] = [0, 1, 2];

    #[test]
    fn acknowledged_writes_survive_sigkill_of_every_node() {
        let mut c = Cluster::start(3, &[]);
        let mut acked = Vec::new();
        for k in 0..20 {
            let id = format!("w{k}");
            let (_, w) = c.post_at_leader(&ALL, "/write", &json!({"id":id}));
            assert_eq!(w.status, 200, "{:?}", w.body);
            acked.push(id);
        }
        for i in 0..3 {
            c.kill_node(i);
        }
        for i in 0..3 {
            c.start_node(i);
        }
        for i in 0..3 {
            c.wait_serving(i);
        }
        let (_, r) = c.read_at_leader(&ALL);
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!(distinct(ids(&r)), acked);
        for i in 0..3 {
            let local = wait_for(WAIT_MS_MAX, "every node to apply the log again", || {
                let r = get(c.addr(i), "/read?local=true");
                (distinct(ids(&r)).len() >= acked.len()).then_some(r)
            });
            assert_eq!(distinct(ids(&local)), acked, "node {i}");
        }
    }

    #[test]
    fn killing_the_leader_elects_another_and_a_restarted_node_catches_up() {
        let mut c = Cluster::start(3, &[]);
        let (_, w) = c.post_at_leader(&ALL, "/write", &json!({"id":"before"}));
        assert_eq!(w.status, 200, "{:?}", w.body);
        // The leader and its term from one status: if it loses leadership before the
        // kill, whoever took over did so in a later term too.
        let (old, s) = c.wait_leader_status(&ALL);
        let old_term = s["term"].as_u64().unwrap();
        c.kill_node(old);
        let rest: Vec<usize> = (0..3).filter(|&i| i != old).collect();
        let (new, s) = c.wait_leader_status(&rest);
        assert_ne!(new, old);
        assert!(
            s["term"].as_u64().unwrap() > old_term,
            "{s} after term {old_term}"
        );
        let (_, w) = c.post_at_leader(&rest, "/write", &json!({"id":"after"}));
        assert_eq!(w.status, 200, "{:?}", w.body);
        assert_eq!(
            distinct(ids(&c.read_at_leader(&rest).1)),
            ["before", "after"]
        );

        c.start_node(old);
        c.wait_serving(old);
        wait_for(WAIT_MS_MAX, "the restarted node to catch up", || {
            let r = get(c.addr(old), "/read?local=true");
            (distinct(ids(&r)) == ["before", "after"]).then_some(())
        });
        // It follows whoever leads, which by now need not be `new`.
        let (leader, s) = wait_for(WAIT_MS_MAX, "the restarted node to name the leader", || {
            let leader = c.wait_leader(&ALL);
            let s = c.status(old)?;
            (s["leader"] == c.nodes[leader].id.as_str()).then_some((leader, s))
        });
        assert_eq!(s["leader_addr"], c.addr(leader));
    }
}

mod partition {
    //! Partitions (through proxies) and SIGSTOP/SIGCONT of a leader that holds a lease.

    use std::time::{Duration, Instant};

    use crate::common::*;

    const ALL: [usize; 3] = [0, 1, 2];
    /// How long a resumed, cut-off leader is watched for a claim to leadership, and how
    /// many of its statuses that must include at least.
    const WATCH_MS: u64 = 600;
    const WATCH_STATUSES_MIN: usize = 3;

    #[test]
    fn a_resumed_leader_never_claims_leadership_it_lost_while_paused() {
        let c = Cluster::start_partitionable(3, &["--lease-ticks", "8"]);
        let old = wait_for(WAIT_MS_MAX, "a leader holding its lease", || {
            let (l, s) = c.wait_leader_status(&ALL);
            (s["lease"] == true).then_some(l)
        });
        c.signal_node(old, "STOP");
        // Cut it off too, so that nothing tells it that it was deposed: only its own
        // sense of time can void its lease when it resumes.
        c.isolate(old, true);
        let rest: Vec<usize> = (0..3).filter(|&i| i != old).collect();
        c.wait_leader(&rest);
        c.signal_node(old, "CONT");
        // A status not answered in time claims nothing; the watch lasts until enough
        // were answered, bounded.
        let started = Instant::now();
        let mut seen = 0;
        while started.elapsed() < Duration::from_millis(WATCH_MS) || seen < WATCH_STATUSES_MIN {
            assert!(
                started.elapsed() < Duration::from_millis(WAIT_MS_MAX),
                "the resumed node answered {seen} statuses in {WAIT_MS_MAX} ms"
            );
            let Some(s) = c.status(old) else {
                std::thread::sleep(Duration::from_millis(POLL_INTERVAL_MS));
                continue;
            };
            seen += 1;
            assert_ne!(
                s["role"], "leader",
                "the paused leader claimed leadership: {s}"
            );
            assert_ne!(s["lease"], true, "the paused leader kept its lease: {s}");
        }
        c.isolate(old, false);
        // Healed, it rejoins: all three agree on a leader.
        c.wait_leader(&ALL);
    }

    #[test]
    fn an_isolated_leader_loses_its_lease_and_the_majority_elects_another() {
        let c = Cluster::start_partitionable(3, &["--lease-ticks", "8"]);
        let old = c.wait_leader(&ALL);
        c.isolate(old, true);
        let s = wait_for(WAIT_MS_MAX, "the isolated leader to drop its claim", || {
            c.status(old).filter(|s| s["role"] != "leader")
        });
        assert_eq!(s["lease"], false, "{s}");
        let rest: Vec<usize> = (0..3).filter(|&i| i != old).collect();
        let majority = serde_json::json!({"id":"majority"});
        let (_, w) = c.post_at_leader(&rest, "/write", &majority);
        assert_eq!(w.status, 200, "{:?}", w.body);
        let w = post(c.addr(old), "/write", &serde_json::json!({"id":"minority"}));
        assert!(
            w.status == 421 || w.status == 503 || w.status == 504,
            "{:?}",
            w
        );
        c.isolate(old, false);
        // Healed, it rejoins: all three agree on a leader, and the majority's write holds.
        c.wait_leader(&ALL);
        let (_, r) = c.read_at_leader(&ALL);
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert!(ids(&r).iter().any(|id| id == "majority"), "{:?}", r.body);
    }
}

mod flags {
    //! Flags that change the state machine reach the core.

    use serde_json::json;

    use crate::common::*;

    /// Acquires, writes under the grant, releases, and writes again under the released
    /// grant's token; returns the status of that last write.
    fn write_after_release(c: &Cluster) -> u16 {
        let a = c.addr(c.wait_leader(&[0]));
        let acq = post(
            a,
            "/acquire",
            &json!({"election":"e","client":"p","ttl_ms":60000}),
        );
        let t = acq.body["token"].as_u64().expect("a token");
        assert_eq!(
            post(a, "/write", &json!({"id":"a","token":t,"election":"e"})).status,
            200
        );
        assert_eq!(
            post(a, "/release", &json!({"election":"e","token":t})).status,
            200
        );
        let w = post(a, "/write", &json!({"id":"b","token":t,"election":"e"}));
        assert!(
            w.status == 200 || w.body["error"] == "stale-token",
            "{:?}",
            w.body
        );
        w.status
    }

    #[test]
    fn fence_on_grant_refuses_a_released_grants_token() {
        assert_eq!(write_after_release(&Cluster::start(1, &[])), 200);
        assert_eq!(
            write_after_release(&Cluster::start(1, &["--fence-on-grant"])),
            409
        );
    }

    #[test]
    fn the_no_fencing_bug_accepts_a_stale_token() {
        let c = Cluster::start(1, &["--bug", "no-fencing"]);
        let a = c.addr(c.wait_leader(&[0]));
        assert_eq!(
            post(a, "/write", &json!({"id":"new","token":50})).status,
            200
        );
        let w = post(a, "/write", &json!({"id":"old","token":3}));
        assert_eq!(
            w.status, 200,
            "the bug is on, so the stale token passes: {:?}",
            w.body
        );
    }
}

mod fencing {
    //! Tokens on writes: only granted ones count, and a refusal says which rule refused.

    use serde_json::json;

    use crate::common::*;

    fn acquire(a: &str, client: &str) -> u64 {
        let acq = post(
            a,
            "/acquire",
            &json!({"election":"e","client":client,"ttl_ms":60000}),
        );
        acq.body["token"]
            .as_u64()
            .unwrap_or_else(|| panic!("{acq:?}"))
    }

    fn write(a: &str, id: &str, token: u64) -> Answer {
        post(a, "/write", &json!({"id":id,"token":token,"election":"e"}))
    }

    #[test]
    fn a_token_never_granted_is_refused_and_poisons_nothing_even_after_a_restart() {
        let mut c = Cluster::start(1, &[]);
        let a = c.addr(c.wait_leader(&[0])).to_string();
        for body in [
            json!({"id":"forged","token":u64::MAX}),
            json!({"id":"forged","token":u64::MAX,"election":"e"}),
        ] {
            let forged = post(&a, "/write", &body);
            assert_eq!(forged.status, 409, "{:?}", forged.body);
            assert_eq!(forged.body["error"], "unknown-token", "{:?}", forged.body);
            let reason = forged.body["reason"].as_str().unwrap_or("");
            assert!(reason.contains("never granted"), "{reason}");
        }
        let t = acquire(&a, "p1");
        assert_eq!(write(&a, "a", t).status, 200);
        // The log index of a write is no grant either.
        let not_a_grant = write(&a, "b", t + 1);
        assert_eq!(not_a_grant.body["error"], "unknown-token");

        c.kill_node(0);
        c.start_node(0);
        c.wait_serving(0);
        c.wait_leader(&[0]);
        let w = write(&a, "c", t);
        assert_eq!(
            w.status, 200,
            "replaying the log poisons nothing: {:?}",
            w.body
        );
        assert_eq!(ids(&get(&a, "/read")), ["a", "c"]);
    }

    #[test]
    fn a_stale_token_is_refused_with_the_reason_of_the_mode() {
        for on_grant in [false, true] {
            let flags: &[&str] = if on_grant { &["--fence-on-grant"] } else { &[] };
            let c = Cluster::start(1, flags);
            let a = c.addr(c.wait_leader(&[0])).to_string();
            let t1 = acquire(&a, "p1");
            assert_eq!(write(&a, "a", t1).status, 200);
            let rel = post(&a, "/release", &json!({"election":"e","token":t1}));
            assert_eq!(rel.status, 200, "{:?}", rel.body);
            let t2 = acquire(&a, "p2");
            assert_eq!(write(&a, "b", t2).status, 200);
            let stale = write(&a, "c", t1);
            assert_eq!(stale.status, 409, "{:?}", stale.body);
            assert_eq!(stale.body["error"], "stale-token", "{:?}", stale.body);
            assert_eq!(stale.body["token"], t2, "{:?}", stale.body);
            let reason = stale.body["reason"].as_str().unwrap_or("");
            let names_the_rule = if on_grant {
                reason.contains("not the current grant")
            } else {
                reason.contains(&format!("larger token {t2}")) && !reason.contains("current grant")
            };
            assert!(names_the_rule, "fence-on-grant {on_grant}: {reason}");
        }
    }
}

mod reads {
    //! Large answers: concurrent reads of a large log share its encoding.

    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Barrier};

    use crate::common::*;

    /// Bytes of each write id, so that a few thousand writes make a log of megabytes.
    const ID_BYTES: usize = 230;
    const WRITES: u64 = 4000;
    const WRITERS: usize = 16;
    /// Concurrent reads: half linearizable, half local.
    const READERS: usize = 64;
    /// Growth of raftd's peak RSS the reads may cause. Each answer is ~1 MB, so answers
    /// that each held their own copy of the log (and its encoding) would need ~150 MB.
    const READ_PEAK_GROWTH_KIB_MAX: u64 = 48 * 1024;

    #[test]
    fn concurrent_reads_of_a_large_log_hold_one_copy_of_it() {
        let c = Cluster::start(1, &[]);
        let a = c.addr(c.wait_leader(&[0])).to_string();
        let next = AtomicU64::new(0);
        std::thread::scope(|s| {
            for _ in 0..WRITERS {
                s.spawn(|| loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    if k >= WRITES {
                        return;
                    }
                    let body = format!("{{\"id\":\"{k:0>ID_BYTES$}\"}}");
                    let w = request(&a, "POST", "/write", body.as_bytes()).expect("a write");
                    assert_eq!(w.status, 200, "{:?}", w.body);
                });
            }
        });
        let pid = c.pid(0);
        let before = rss_kib(pid);
        let reset = reset_peak_rss(pid);
        let start = Arc::new(Barrier::new(READERS));
        let answers: Vec<Answer> = std::thread::scope(|s| {
            let readers: Vec<_> = (0..READERS)
                .map(|i| {
                    let (a, start) = (&a, start.clone());
                    let path = if i % 2 == 0 {
                        "/read"
                    } else {
                        "/read?local=true"
                    };
                    s.spawn(move || {
                        start.wait();
                        get(a, path)
                    })
                })
                .collect();
            readers.into_iter().map(|r| r.join().unwrap()).collect()
        });
        let peak = peak_rss_kib(pid);
        for r in &answers {
            assert_eq!(r.status, 200, "{:?}", r.body);
            assert_eq!(ids(r).len() as u64, WRITES);
        }
        eprintln!(
            "{READERS} concurrent reads of {WRITES} writes: raftd RSS {before} KiB before, peak \
             {peak} KiB (peak reset: {reset})"
        );
        assert!(
            peak < before + READ_PEAK_GROWTH_KIB_MAX,
            "RSS {before} KiB -> peak {peak} KiB"
        );
    }
}

mod registers {
    //! The register endpoints: reads, writes and compare-and-sets at the leader, 421 at a
    //! follower, 409 for a mismatch, 422 for a key or value raftd refuses, and registers
    //! kept across SIGKILL of every node.

    use serde_json::{json, Value};

    use crate::common::*;

    const ALL: [usize; 3] = [0, 1, 2];

    /// A request at whoever leads, sent again when leadership moved under it.
    fn at_leader(c: &Cluster, method: &str, path: &str, body: Option<Value>) -> Answer {
        let bytes = body.map_or_else(Vec::new, |b| serde_json::to_vec(&b).unwrap());
        c.at_leader(&ALL, &format!("{method} {path}"), |a| {
            request(a, method, path, &bytes)
        })
        .1
    }

    fn value(c: &Cluster, key: &str) -> Value {
        let r = at_leader(c, "GET", &format!("/registers/{key}"), None);
        assert_eq!(r.status, 200, "{:?}", r.body);
        r.body["value"].clone()
    }

    /// A compare-and-set that must take effect. One sent again after an unknown outcome
    /// finds the register already set to `to` by the first: that is success too.
    fn cas_ok(c: &Cluster, key: &str, from: i64, to: i64) {
        let body = json!({"from":from,"to":to});
        let r = at_leader(c, "POST", &format!("/registers/{key}/cas"), Some(body));
        let repeated = r.status == 409 && r.body["current"] == to;
        assert!(r.status == 200 || repeated, "{:?}", r.body);
        if r.status == 200 {
            assert_eq!(r.body, json!({"value":to}));
        }
    }

    #[test]
    fn registers_are_read_written_and_compared_and_set_at_the_leader() {
        let mut c = Cluster::start(3, &[]);
        assert_eq!(
            value(&c, "r0"),
            Value::Null,
            "a key never written reads null"
        );
        let body = json!({"from":0,"to":1});
        let miss = at_leader(&c, "POST", "/registers/r0/cas", Some(body));
        assert_eq!(miss.status, 409, "{:?}", miss.body);
        assert_eq!(miss.body["error"], "cas-mismatch");
        assert_eq!(miss.body["current"], Value::Null);
        assert_eq!(value(&c, "r0"), Value::Null, "a mismatch writes nothing");

        let w = at_leader(&c, "PUT", "/registers/r0", Some(json!({"value":3})));
        assert_eq!((w.status, &w.body), (200, &json!({"value":3})));
        assert_eq!(value(&c, "r0"), 3);
        let body = json!({"from":2,"to":9});
        let miss = at_leader(&c, "POST", "/registers/r0/cas", Some(body));
        assert_eq!(miss.status, 409, "{:?}", miss.body);
        assert_eq!(miss.body["current"], 3);
        cas_ok(&c, "r0", 3, -4);
        assert_eq!(value(&c, "r0"), -4);
        let w = at_leader(
            &c,
            "PUT",
            "/registers/r.1_x-y~z",
            Some(json!({"value":i64::MAX})),
        );
        assert_eq!(w.status, 200, "{:?}", w.body);
        assert_eq!(value(&c, "r.1_x-y~z"), i64::MAX);

        // A follower names the leader, for registers as for everything else.
        wait_for(
            WAIT_MS_MAX,
            "a follower to answer 421 naming the leader",
            || {
                let l = c.wait_leader(&ALL);
                let f = (l + 1) % 3;
                let named = |a: &Answer| {
                    a.status == 421
                        && a.body["error"] == "not-leader"
                        && a.body["leader_addr"] == c.addr(l)
                };
                let r = request(c.addr(f), "GET", "/registers/r0", b"").ok()?;
                let w = request(c.addr(f), "PUT", "/registers/r0", br#"{"value":1}"#).ok()?;
                let x = request(
                    c.addr(f),
                    "POST",
                    "/registers/r0/cas",
                    br#"{"from":1,"to":2}"#,
                )
                .ok()?;
                (named(&r) && named(&w) && named(&x)).then_some(())
            },
        );
        // The follower's write and compare-and-set were refused, unless leadership moved
        // to it just then; the register holds -4 or what those set.
        let now = value(&c, "r0");
        assert!([json!(-4), json!(1), json!(2)].contains(&now), "{now}");
        let before = now;

        // Every node keeps its registers across a SIGKILL of all of them: the log holds
        // them and a restart applies it again.
        for i in 0..3 {
            c.kill_node(i);
        }
        for i in 0..3 {
            c.start_node(i);
        }
        assert_eq!(value(&c, "r0"), before);
        assert_eq!(value(&c, "r.1_x-y~z"), i64::MAX);
    }

    #[test]
    fn register_nonsense_gets_422_and_wrong_methods_405() {
        let c = Cluster::start(1, &[]);
        c.wait_leader(&[0]);
        let a = c.addr(0);
        let raw = |method: &str, path: &str, body: &[u8]| {
            request(a, method, path, body).unwrap_or_else(|e| panic!("{method} {a}{path}: {e}"))
        };
        let refused = |r: Answer, status: u16, error: &str| assert_error(&r, status, error);
        for body in [
            &br#"{"value":1.5}"#[..],
            br#"{"value":"3"}"#,
            br#"{"value":null}"#,
            br#"{"value":9223372036854775808}"#,
            br#"{}"#,
            br#"{"value":1,"from":2}"#,
        ] {
            refused(raw("PUT", "/registers/r0", body), 422, "bad-request");
        }
        refused(
            raw("POST", "/registers/r0/cas", br#"{"from":1}"#),
            422,
            "bad-request",
        );
        refused(
            raw("POST", "/registers/r0/cas", br#"{"from":1,"to":0.5}"#),
            422,
            "bad-request",
        );
        refused(raw("PUT", "/registers/r0", b"{oops"), 400, "bad-json");
        let long = format!("/registers/{}", "k".repeat(129));
        refused(raw("GET", &long, b""), 422, "bad-request");
        refused(raw("GET", "/registers/a%20b", b""), 422, "bad-request");
        refused(
            raw("PUT", "/registers/a%2Fb", br#"{"value":1}"#),
            422,
            "bad-request",
        );
        refused(raw("GET", "/registers/r0/x", b""), 404, "not-found");
        refused(
            raw("POST", "/registers/r0", br#"{"value":1}"#),
            405,
            "method-not-allowed",
        );
        refused(
            raw("GET", "/registers/r0/cas", b""),
            405,
            "method-not-allowed",
        );
        // None of it was written.
        let r = raw("GET", "/registers/r0", b"");
        assert_eq!((r.status, &r.body), (200, &json!({"value":null})));
        let long_ok = format!("/registers/{}", "k".repeat(128));
        let w = raw("PUT", &long_ok, br#"{"value":-1}"#);
        assert_eq!((w.status, &w.body), (200, &json!({"value":-1})));
    }
}

mod bad_input {
    //! Nonsense gets a 4xx with a reason and never hurts the server.

    use serde_json::{json, Value};

    use crate::common::*;

    #[test]
    fn nonsense_requests_get_4xx_with_a_reason() {
        let c = Cluster::start(1, &[]);
        c.wait_leader(&[0]);
        let a = c.addr(0);
        let raw = |method: &str, path: &str, body: &[u8]| {
            request(a, method, path, body).unwrap_or_else(|e| panic!("{method} {a}{path}: {e}"))
        };

        assert_error(&raw("POST", "/write", b"{not json"), 400, "bad-json");
        assert_error(&raw("POST", "/write", b""), 400, "bad-json");
        assert_error(&raw("POST", "/write", br#"{"id":5}"#), 422, "bad-request");
        assert_error(
            &raw("POST", "/write", br#"{"token":3}"#),
            422,
            "bad-request",
        );
        assert_error(
            &raw("POST", "/write", br#"{"id":"w","token":-1}"#),
            422,
            "bad-request",
        );
        assert_error(&raw("POST", "/write", br#"{"id":""}"#), 422, "bad-request");
        assert_error(&raw("POST", "/write", br#"[1,2,3]"#), 422, "bad-request");
        assert_error(
            &raw(
                "POST",
                "/acquire",
                br#"{"election":"e","client":"c","ttl_ms":0}"#,
            ),
            422,
            "bad-request",
        );
        assert_error(
            &raw(
                "POST",
                "/acquire",
                br#"{"election":"e","client":"c","ttl_ms":1e99}"#,
            ),
            422,
            "bad-request",
        );
        assert_error(
            &raw("POST", "/holding", br#"{"election":"e","token":"x"}"#),
            422,
            "bad-request",
        );
        assert_error(
            &raw("POST", "/admin/clock", br#"{"offset_ms":"soon"}"#),
            422,
            "bad-request",
        );
        assert_error(&get(a, "/read?local=maybe"), 422, "bad-request");

        let huge = format!(r#"{{"id":"{}"}}"#, "x".repeat(100 * 1024));
        assert_error(&raw("POST", "/write", huge.as_bytes()), 413, "too-large");

        assert_error(&get(a, "/no/such/path"), 404, "not-found");
        assert_error(&raw("DELETE", "/status", b""), 405, "method-not-allowed");
        assert_error(&get(a, "/write"), 405, "method-not-allowed");

        // Still serving, and none of the nonsense was written.
        let w = post(a, "/write", &json!({"id":"ok"}));
        assert_eq!(w.status, 200, "{:?}", w.body);
        let r = get(a, "/read");
        assert_eq!(r.body["log"], json!([{"id":"ok","token":null}]));
        assert_eq!(get(a, "/status").body["role"], Value::from("leader"));
    }

    #[test]
    fn bad_flags_exit_2_with_a_clear_message() {
        let (code, err) = run_raftd(&["--id", "n1"]);
        assert_eq!(code, Some(2), "{err}");
        let base = [
            "--id",
            "n1",
            "--data-dir",
            "/nonexistent/raftd-test",
            "--listen",
            "127.0.0.1:1",
            "--peer-listen",
            "127.0.0.1:2",
        ];
        let with = |extra: &[&str]| {
            let mut v: Vec<&str> = base.to_vec();
            v.extend_from_slice(extra);
            run_raftd(&v)
        };
        let (code, err) = with(&["--bug", "vote-thrice"]);
        assert_eq!(code, Some(2), "{err}");
        assert!(
            err.contains("vote-thrice") && err.contains("vote-twice"),
            "{err}"
        );
        let (code, err) = with(&["--peer", "n2=127.0.0.1:3"]);
        assert_eq!(code, Some(2), "{err}");
        let (code, err) = with(&["--election-ticks-min", "20", "--election-ticks-max", "10"]);
        assert_eq!(code, Some(2), "{err}");
        assert!(err.contains("election_ticks_max"), "{err}");
        let (code, err) = with(&["--lease-ticks", "5", "--no-check-quorum"]);
        assert_eq!(code, Some(2), "{err}");
        assert!(err.contains("lease"), "{err}");
        let (code, err) = with(&["--listen", "nowhere"]);
        assert_eq!(code, Some(2), "{err}");
    }
}
