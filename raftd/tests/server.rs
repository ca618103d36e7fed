//! Integration tests of the raftd binary: real processes on 127.0.0.1, each test in its
//! own temporary directory with its own ports. One binary, a module per area.

mod common;

mod cluster {
    //! Elections and the client API's happy paths.

    use serde_json::json;

    use crate::common::*;

    #[test]
    fn three_nodes_elect_a_leader_and_serve_grants_writes_and_reads() {
        let c = Cluster::start(3, &[]);
        let l = c.wait_leader(&[0, 1, 2]);
        let a = c.addr(l);

        let acq = post(
            a,
            "/acquire",
            &json!({"election":"e1","client":"p1","ttl_ms":60000}),
        );
        assert_eq!(acq.status, 200, "{:?}", acq.body);
        let token = acq.body["token"].as_u64().expect("a token");
        assert!(token >= 1);

        let held = post(
            a,
            "/acquire",
            &json!({"election":"e1","client":"p2","ttl_ms":60000}),
        );
        assert_eq!(held.status, 409, "{:?}", held.body);
        assert_eq!(held.body["error"], "held");
        assert_eq!(held.body["holder"], "p1");
        assert_eq!(held.body["token"], token);

        let h = post(a, "/holding", &json!({"election":"e1","token":token}));
        assert_eq!(
            (h.status, &h.body["holding"]),
            (200, &json!(true)),
            "{:?}",
            h.body
        );

        let w = post(
            a,
            "/write",
            &json!({"id":"w1","token":token,"election":"e1"}),
        );
        assert_eq!(w.status, 200, "{:?}", w.body);
        assert_eq!(w.body, json!({"id":"w1","token":token}));
        let w = post(a, "/write", &json!({"id":"w2","token":null}));
        assert_eq!(w.status, 200, "{:?}", w.body);

        let r = get(a, "/read");
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!(
            r.body["log"],
            json!([{"id":"w1","token":token},{"id":"w2","token":null}])
        );

        // Every node applies the same writes; a local read shows them once applied.
        for i in 0..3 {
            wait_for(5000, "the writes to reach every node", || {
                let r = get(c.addr(i), "/read?local=true");
                (r.status == 200 && r.body["log"].as_array().map(Vec::len) == Some(2)).then_some(())
            });
        }

        let rel = post(a, "/release", &json!({"election":"e1","token":token}));
        assert_eq!((rel.status, &rel.body), (200, &json!({})));
        let h = post(a, "/holding", &json!({"election":"e1","token":token}));
        assert_eq!(h.body["holding"], false);
        let rel = post(a, "/release", &json!({"election":"e1","token":token}));
        assert_eq!(
            (rel.status, &rel.body["error"]),
            (409, &json!("not-holder"))
        );
    }

    #[test]
    fn a_follower_answers_421_with_the_leaders_address_and_a_stale_token_gets_409() {
        let c = Cluster::start(3, &[]);
        let l = c.wait_leader(&[0, 1, 2]);
        let f = (l + 1) % 3;
        let s = get(c.addr(f), "/status");
        assert_eq!(s.body["role"], "follower");
        assert_eq!(s.body["leader_addr"], c.addr(l));

        let w = post(c.addr(f), "/write", &json!({"id":"w1"}));
        assert_eq!(w.status, 421, "{:?}", w.body);
        assert_eq!(w.body["error"], "not-leader");
        assert_eq!(w.body["leader"], c.nodes[l].id.as_str());
        assert_eq!(w.body["leader_addr"], c.addr(l));
        assert!(w.body["reason"].as_str().is_some_and(|r| !r.is_empty()));
        let r = get(c.addr(f), "/read");
        assert_eq!(r.status, 421);

        let a = c.addr(l);
        let t1 = post(
            a,
            "/acquire",
            &json!({"election":"e","client":"p1","ttl_ms":60000}),
        )
        .body["token"]
            .as_u64()
            .unwrap();
        assert_eq!(post(a, "/write", &json!({"id":"a","token":t1})).status, 200);
        assert_eq!(
            post(a, "/release", &json!({"election":"e","token":t1})).status,
            200
        );
        let t2 = post(
            a,
            "/acquire",
            &json!({"election":"e","client":"p2","ttl_ms":60000}),
        )
        .body["token"]
            .as_u64()
            .unwrap();
        assert!(t2 > t1, "tokens increase: {t1} then {t2}");
        assert_eq!(post(a, "/write", &json!({"id":"b","token":t2})).status, 200);
        let stale = post(a, "/write", &json!({"id":"c","token":t1}));
        assert_eq!(stale.status, 409, "{:?}", stale.body);
        assert_eq!(stale.body["error"], "stale-token");
        let ids: Vec<String> = get(a, "/read").body["log"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["id"].as_str().unwrap().to_string())
            .collect();
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

mod failover {
    //! Kills and restarts: durability of what was acknowledged, and new leaders.

    use serde_json::json;

    use crate::common::*;

    #[test]
    fn acknowledged_writes_survive_sigkill_of_every_node() {
        let mut c = Cluster::start(3, &[]);
        let l = c.wait_leader(&[0, 1, 2]);
        let mut acked = Vec::new();
        for k in 0..20 {
            let id = format!("w{k}");
            let w = post(c.addr(l), "/write", &json!({"id":id}));
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
        let l = c.wait_leader(&[0, 1, 2]);
        let r = get(c.addr(l), "/read");
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!(ids(&r), acked);
        for i in 0..3 {
            let local = wait_for(5000, "every node to apply the log again", || {
                let r = get(c.addr(i), "/read?local=true");
                (ids(&r).len() == acked.len()).then_some(r)
            });
            assert_eq!(ids(&local), acked, "node {i}");
        }
    }

    #[test]
    fn killing_the_leader_elects_another_and_a_restarted_node_catches_up() {
        let mut c = Cluster::start(3, &[]);
        let old = c.wait_leader(&[0, 1, 2]);
        let old_term = get(c.addr(old), "/status").body["term"].as_u64().unwrap();
        assert_eq!(
            post(c.addr(old), "/write", &json!({"id":"before"})).status,
            200
        );
        c.kill_node(old);
        let rest: Vec<usize> = (0..3).filter(|&i| i != old).collect();
        let new = c.wait_leader(&rest);
        assert_ne!(new, old);
        let s = get(c.addr(new), "/status");
        assert!(s.body["term"].as_u64().unwrap() > old_term, "{:?}", s.body);
        let w = post(c.addr(new), "/write", &json!({"id":"after"}));
        assert_eq!(w.status, 200, "{:?}", w.body);
        assert_eq!(ids(&get(c.addr(new), "/read")), ["before", "after"]);

        c.start_node(old);
        c.wait_serving(old);
        wait_for(10_000, "the restarted node to catch up", || {
            let r = get(c.addr(old), "/read?local=true");
            (ids(&r) == ["before", "after"]).then_some(())
        });
        let s = wait_for(5000, "the restarted node to follow", || {
            c.status(old)
                .filter(|s| s["role"] == "follower" && s["leader"].is_string())
        });
        assert_eq!(s["leader_addr"], c.addr(new));
    }
}

mod partition {
    //! Partitions (through proxies) and SIGSTOP/SIGCONT of a leader that holds a lease.

    use std::time::{Duration, Instant};

    use crate::common::*;

    #[test]
    fn a_resumed_leader_never_claims_leadership_it_lost_while_paused() {
        let c = Cluster::start_partitionable(3, &["--lease-ticks", "8"]);
        let old = c.wait_leader(&[0, 1, 2]);
        wait_for(5000, "the leader's lease", || {
            c.status(old).filter(|s| s["lease"] == true).map(|_| ())
        });
        c.signal_node(old, "STOP");
        // Cut it off too, so that nothing tells it that it was deposed: only its own
        // sense of time can void its lease when it resumes.
        c.isolate(old, true);
        let rest: Vec<usize> = (0..3).filter(|&i| i != old).collect();
        let new = c.wait_leader(&rest);
        c.signal_node(old, "CONT");
        let deadline = Instant::now() + Duration::from_millis(600);
        while Instant::now() < deadline {
            let s = c.status(old).expect("the resumed node answers");
            assert_ne!(
                s["role"], "leader",
                "the paused leader claimed leadership: {s}"
            );
            assert_ne!(s["lease"], true, "the paused leader kept its lease: {s}");
        }
        c.isolate(old, false);
        let new_id = c.nodes[new].id.clone();
        wait_for(5000, "the resumed node to follow the new leader", || {
            let s = c.status(old)?;
            (s["role"] == "follower" && s["leader"] == new_id.as_str()).then_some(())
        });
    }

    #[test]
    fn an_isolated_leader_loses_its_lease_and_the_majority_elects_another() {
        let c = Cluster::start_partitionable(3, &["--lease-ticks", "8"]);
        let old = c.wait_leader(&[0, 1, 2]);
        c.isolate(old, true);
        let s = wait_for(5000, "the isolated leader to drop its claim", || {
            c.status(old).filter(|s| s["role"] != "leader")
        });
        assert_eq!(s["lease"], false, "{s}");
        let rest: Vec<usize> = (0..3).filter(|&i| i != old).collect();
        let new = c.wait_leader(&rest);
        let w = post(c.addr(new), "/write", &serde_json::json!({"id":"majority"}));
        assert_eq!(w.status, 200, "{:?}", w.body);
        let w = post(c.addr(old), "/write", &serde_json::json!({"id":"minority"}));
        assert!(
            w.status == 421 || w.status == 503 || w.status == 504,
            "{:?}",
            w
        );
        c.isolate(old, false);
        let new_id = c.nodes[new].id.clone();
        wait_for(5000, "the old leader to follow", || {
            let s = c.status(old)?;
            (s["role"] == "follower" && s["leader"] == new_id.as_str()).then_some(())
        });
        let r = get(c.addr(new), "/read");
        let ids: Vec<&str> = r.body["log"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["id"].as_str().unwrap())
            .collect();
        assert!(ids.contains(&"majority"), "{ids:?}");
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

mod bad_input {
    //! Nonsense gets a 4xx with a reason and never hurts the server.

    use serde_json::{json, Value};

    use crate::common::*;

    fn assert_error(a: &Answer, status: u16, error: &str) {
        assert_eq!(a.status, status, "{:?}", a.body);
        assert_eq!(a.body["error"], error, "{:?}", a.body);
        let reason = a.body["reason"].as_str().unwrap_or("");
        assert!(!reason.is_empty(), "no reason in {:?}", a.body);
    }

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
