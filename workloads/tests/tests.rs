//! The workloads crate's tests: outcome mapping against a scripted HTTP server, node
//! specs, and the election workload against a real three-node raftd cluster.

mod adapters;
mod support;

use workloads::system::NodeAddr;

fn loopback(name: &str, port: u16) -> NodeAddr {
    NodeAddr {
        bind: None,
        name: name.into(),
        host: "127.0.0.1".into(),
        client_port: port,
        peer_port: 1,
        extra_ports: Vec::new(),
    }
}

mod mapping {
    use super::loopback;
    use crate::support::fake::{closed_port, Behaviour, FakeServer};
    use checkers::Role;
    use workloads::protocol::ProtocolClient;
    use workloads::{Client, Failure, Grant, Outcome};

    const TIMEOUT_MS: u64 = 300;

    async fn client_of(behaviour: Behaviour) -> (FakeServer, ProtocolClient) {
        let server = FakeServer::start(behaviour).await;
        let client = ProtocolClient::new(&loopback("n1", server.addr.port()), TIMEOUT_MS).unwrap();
        (server, client)
    }

    fn answer(status: u16, body: &str) -> Behaviour {
        Behaviour::Answer(status, body.to_string())
    }

    #[tokio::test]
    async fn ok_acquire_carries_the_token_and_sends_the_request_api_md_names() {
        let (server, client) = client_of(answer(200, r#"{"token":118}"#)).await;
        let outcome = client.acquire("e1", "p7", 3000).await;
        assert_eq!(outcome, Outcome::Ok(Grant { token: 118 }));
        let requests = server.requests.lock().unwrap().clone();
        assert_eq!(requests.len(), 1);
        assert!(requests[0].0.starts_with("POST /acquire "), "{requests:?}");
        let body: serde_json::Value = serde_json::from_str(&requests[0].1).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"election":"e1","client":"p7","ttl_ms":3000})
        );
    }

    #[tokio::test]
    async fn stale_token_is_a_failure() {
        let body =
            r#"{"error":"stale-token","reason":"token 3 is not the current grant","token":9}"#;
        let (_server, client) = client_of(answer(409, body)).await;
        let outcome = client.write("w1", Some(3), Some("e1")).await;
        assert_eq!(outcome, Outcome::fail("stale-token"));
    }

    #[tokio::test]
    async fn held_and_not_holder_are_failures() {
        let body = r#"{"error":"held","reason":"held","holder":"p2","token":4}"#;
        let (_server, client) = client_of(answer(409, body)).await;
        assert_eq!(client.acquire("e1", "p1", 100).await, Outcome::fail("held"));
        let body = r#"{"error":"not-holder","reason":"no"}"#;
        let (_server, client) = client_of(answer(409, body)).await;
        assert_eq!(client.release("e1", 4).await, Outcome::fail("not-holder"));
    }

    #[tokio::test]
    async fn not_leader_is_a_failure_that_names_the_leader() {
        let body = r#"{"error":"not-leader","reason":"ask n3","leader":"n3","leader_addr":"10.0.0.4:8080"}"#;
        let (_server, client) = client_of(answer(421, body)).await;
        let outcome = client.write("w1", None, None).await;
        let expected = Failure {
            error: "not-leader".into(),
            leader: Some("n3".into()),
        };
        assert_eq!(outcome, Outcome::Fail(expected));
    }

    #[tokio::test]
    async fn no_quorum_is_a_failure() {
        let body = r#"{"error":"no-quorum","reason":"cannot reach a majority"}"#;
        let (_server, client) = client_of(answer(503, body)).await;
        assert_eq!(client.holding("e1", 5).await, Outcome::fail("no-quorum"));
    }

    #[tokio::test]
    async fn gateway_timeout_and_internal_errors_are_unknown() {
        let body = r#"{"error":"timeout","reason":"proposed, no answer in time"}"#;
        let (_server, client) = client_of(answer(504, body)).await;
        assert_eq!(
            client.write("w1", None, None).await,
            Outcome::info("timeout")
        );
        let (_server, client) = client_of(answer(500, "not json")).await;
        assert_eq!(
            client.write("w1", None, None).await,
            Outcome::info("http-500")
        );
    }

    #[tokio::test]
    async fn an_ok_answer_that_cannot_be_read_is_unknown_not_failed() {
        let (_server, client) = client_of(answer(200, r#"{"tok":1}"#)).await;
        assert_eq!(
            client.acquire("e1", "p1", 100).await,
            Outcome::info("malformed-answer")
        );
    }

    #[tokio::test]
    async fn refused_connection_is_a_failure() {
        let client = ProtocolClient::new(&loopback("n1", closed_port()), TIMEOUT_MS).unwrap();
        assert_eq!(
            client.write("w1", None, None).await,
            Outcome::fail("unreachable")
        );
    }

    #[tokio::test]
    async fn no_answer_within_the_timeout_is_unknown() {
        let (server, client) = client_of(Behaviour::Hang).await;
        assert_eq!(
            client.write("w1", Some(2), Some("e1")).await,
            Outcome::info("timeout")
        );
        assert_eq!(
            server.requests.lock().unwrap().len(),
            1,
            "the request was sent"
        );
    }

    #[tokio::test]
    async fn a_connection_closed_after_sending_is_unknown() {
        let (server, client) = client_of(Behaviour::Close).await;
        assert_eq!(
            client.release("e1", 2).await,
            Outcome::info("connection-lost")
        );
        assert_eq!(
            server.requests.lock().unwrap().len(),
            1,
            "the request was sent"
        );
    }

    #[tokio::test]
    async fn status_keeps_roles_it_does_not_know() {
        let body = r#"{"id":"n1","role":"pre-candidate","term":5,"leader":null,"leader_addr":null,"commit":7,"applied":6,"lease":false,"clock_offset_ms":0,"clock_rate":1.0}"#;
        let (_server, client) = client_of(answer(200, body)).await;
        let status = client.status().await.ok().expect("status");
        assert_eq!(status.role, Role::Other("pre-candidate".into()));
        assert_eq!(
            (status.term, status.leader, status.applied, status.commit),
            (Some(5), None, Some(6), Some(7))
        );
    }

    #[tokio::test]
    async fn reads_carry_the_log_and_local_reads_say_so() {
        let body = r#"{"log":[{"id":"w1","token":null},{"id":"w2","token":4}]}"#;
        let (server, client) = client_of(answer(200, body)).await;
        let log = client.read_local().await.ok().expect("log");
        assert_eq!(log.len(), 2);
        assert_eq!((log[1].id.as_str(), log[1].token), ("w2", Some(4)));
        let requests = server.requests.lock().unwrap().clone();
        assert!(
            requests[0].0.starts_with("GET /read?local=true "),
            "{requests:?}"
        );
    }
}

mod specs {
    use super::loopback;
    use workloads::raftd::{RaftdSystem, Switch, APPEND_BATCHES, RAFTD_BUGS};
    use workloads::system::{FencingMode, System, SystemError, SystemOptions, Topology};

    fn topology(n: usize) -> Topology {
        Topology {
            nodes: (1..=n)
                .map(|i| loopback(&format!("n{i}"), 8000 + i as u16))
                .collect(),
        }
    }

    fn has_flag(command: &[String], flag: &str, value: &str) -> bool {
        command.windows(2).any(|w| w[0] == flag && w[1] == value)
    }

    #[test]
    fn default_specs_carry_leases_fencing_peers_and_distinct_seeds() {
        let system = RaftdSystem::new("/opt/raftd");
        let specs = system
            .node_specs(&topology(3), &SystemOptions::default())
            .unwrap();
        assert_eq!(specs.len(), 3);
        for (i, spec) in specs.iter().enumerate() {
            let name = format!("n{}", i + 1);
            assert_eq!(spec.name, name);
            assert_eq!(spec.command[0], workloads::raftd::RAFTD_IN_IMAGE);
            assert_eq!(
                spec.host_program().unwrap(),
                std::path::Path::new("/opt/raftd")
            );
            assert!(has_flag(&spec.command, "--id", &name));
            assert!(has_flag(
                &spec.command,
                "--data-dir",
                &format!("/data/{name}")
            ));
            assert_eq!(spec.data_dir, format!("/data/{name}"));
            assert!(has_flag(&spec.command, "--lease-ticks", "8"));
            assert!(spec.command.contains(&"--fence-on-grant".to_string()));
            let peers = spec.command.iter().filter(|a| *a == "--peer").count();
            assert_eq!(peers, 3);
            assert!(has_flag(
                &spec.command,
                "--peer",
                "n2=127.0.0.1:1/127.0.0.1:8002"
            ));
        }
        let seeds: std::collections::BTreeSet<_> = specs
            .iter()
            .map(|s| {
                s.command
                    .iter()
                    .skip_while(|a| *a != "--seed")
                    .nth(1)
                    .cloned()
            })
            .collect();
        assert_eq!(seeds.len(), 3, "every node draws its own timeouts");
    }

    #[test]
    fn fencing_and_lease_options_change_flags_and_guarantees() {
        let system = RaftdSystem::new("raftd");
        let options = SystemOptions {
            fencing: FencingMode::None,
            lease: false,
            ..SystemOptions::default()
        };
        let spec = &system.node_specs(&topology(3), &options).unwrap()[0];
        assert!(has_flag(&spec.command, "--bug", "no-fencing"));
        assert!(!spec.command.contains(&"--fence-on-grant".to_string()));
        assert!(!spec.command.contains(&"--lease-ticks".to_string()));
        let g = system.guarantees(&options);
        assert!(!g.exclusive_leadership && g.fence_on_grant);
        let g = system.guarantees(&SystemOptions::default());
        assert!(g.exclusive_leadership && g.fence_on_grant);
        let write = SystemOptions {
            fencing: FencingMode::Write,
            ..SystemOptions::default()
        };
        let spec = &system.node_specs(&topology(3), &write).unwrap()[0];
        assert!(!spec.command.contains(&"--fence-on-grant".to_string()));
        assert!(!spec.command.contains(&"--bug".to_string()));
    }

    #[test]
    fn the_unchecked_lease_bug_runs_without_check_quorum() {
        let system = RaftdSystem::new("raftd");
        let options = SystemOptions {
            bugs: vec!["lease-without-quorum-check".into()],
            ..SystemOptions::default()
        };
        let spec = &system.node_specs(&topology(3), &options).unwrap()[0];
        assert!(spec.command.contains(&"--no-check-quorum".to_string()));
        assert!(has_flag(&spec.command, "--lease-ticks", "8"));
        let spec = &system
            .node_specs(&topology(3), &SystemOptions::default())
            .unwrap()[0];
        assert!(!spec.command.contains(&"--no-check-quorum".to_string()));
    }

    #[test]
    fn no_step_down_runs_without_check_quorum_and_so_without_leases() {
        let system = RaftdSystem::new("raftd");
        let options = SystemOptions {
            bugs: vec!["no-step-down".into()],
            ..SystemOptions::default()
        };
        assert!(options.lease, "leases are asked for");
        let spec = &system.node_specs(&topology(3), &options).unwrap()[0];
        assert!(spec.command.contains(&"--no-check-quorum".to_string()));
        assert!(has_flag(&spec.command, "--bug", "no-step-down"));
        // raftd refuses a lease without check-quorum, and the test claims no more than
        // the nodes run with.
        assert!(!spec.command.contains(&"--lease-ticks".to_string()));
        assert!(!system.guarantees(&options).exclusive_leadership);
    }

    #[test]
    fn election_bugs_run_without_pre_vote_or_check_quorum() {
        let system = RaftdSystem::new("raftd");
        for bug in ["vote-twice", "forget-vote", "no-log-check"] {
            let options = SystemOptions {
                bugs: vec![bug.into()],
                ..SystemOptions::default()
            };
            let spec = &system.node_specs(&topology(3), &options).unwrap()[0];
            assert!(spec.command.contains(&"--no-pre-vote".to_string()), "{bug}");
            assert!(
                spec.command.contains(&"--no-check-quorum".to_string()),
                "{bug}"
            );
            assert!(
                !spec.command.contains(&"--lease-ticks".to_string()),
                "{bug}"
            );
            assert!(!system.guarantees(&options).exclusive_leadership, "{bug}");
            // What a bug needs off stays off whatever the user set.
            let mut pinned = RaftdSystem::new("raftd");
            pinned.pre_vote = Switch::Drawn;
            let spec = &pinned.node_specs(&topology(3), &options).unwrap()[0];
            assert!(spec.command.contains(&"--no-pre-vote".to_string()), "{bug}");
        }
        let mut on = RaftdSystem::new("raftd");
        on.pre_vote = Switch::On;
        let spec = &on
            .node_specs(&topology(3), &SystemOptions::default())
            .unwrap()[0];
        assert!(!spec.command.contains(&"--no-pre-vote".to_string()));
    }

    #[test]
    fn the_seed_draws_pre_vote_and_without_a_lease_check_quorum() {
        let system = RaftdSystem::new("raftd");
        let flags = |options: &SystemOptions| {
            let spec = &system.node_specs(&topology(3), options).unwrap()[0];
            (
                spec.command.contains(&"--no-pre-vote".to_string()),
                spec.command.contains(&"--no-check-quorum".to_string()),
                spec.command.contains(&"--lease-ticks".to_string()),
            )
        };
        let mut leased = std::collections::BTreeSet::new();
        let mut unleased = std::collections::BTreeSet::new();
        for seed in 0..40 {
            let lease = SystemOptions {
                seed,
                ..SystemOptions::default()
            };
            let (no_pre_vote, no_check_quorum, lease_ticks) = flags(&lease);
            assert!(
                !no_check_quorum && lease_ticks,
                "seed {seed}: a lease needs check-quorum"
            );
            assert!(system.guarantees(&lease).exclusive_leadership);
            assert_eq!(
                flags(&lease),
                (no_pre_vote, no_check_quorum, lease_ticks),
                "seeded"
            );
            leased.insert(no_pre_vote);
            let no_lease = SystemOptions {
                seed,
                lease: false,
                ..SystemOptions::default()
            };
            unleased.insert(flags(&no_lease));
            let said = system.configuration(&no_lease).unwrap();
            assert!(said.contains("drawn from the seed"), "{said}");
        }
        assert_eq!(leased.len(), 2, "pre-vote is drawn both ways");
        assert_eq!(
            unleased.len(),
            4,
            "both protections drawn both ways: {unleased:?}"
        );
    }

    #[test]
    fn protections_set_by_the_user_stand_and_one_that_takes_the_lease_is_refused() {
        let mut system = RaftdSystem::new("raftd");
        system.pre_vote = Switch::Off;
        system.check_quorum = Switch::On;
        let no_lease = SystemOptions {
            lease: false,
            ..SystemOptions::default()
        };
        for seed in 0..10 {
            let options = SystemOptions {
                seed,
                ..no_lease.clone()
            };
            let spec = &system.node_specs(&topology(3), &options).unwrap()[0];
            assert!(spec.command.contains(&"--no-pre-vote".to_string()));
            assert!(!spec.command.contains(&"--no-check-quorum".to_string()));
        }
        system.check_quorum = Switch::Off;
        let err = system
            .node_specs(&topology(3), &SystemOptions::default())
            .unwrap_err();
        assert!(
            matches!(&err, SystemError::BadOption(m) if m.contains("--no-lease")),
            "{err}"
        );
        assert!(Switch::parse("maybe").unwrap_err().contains("maybe"));
    }

    #[test]
    fn the_seed_draws_the_append_batch_unless_the_user_sets_it() {
        let batch = |system: &RaftdSystem, seed: u64| {
            let options = SystemOptions {
                seed,
                ..SystemOptions::default()
            };
            let spec = &system.node_specs(&topology(3), &options).unwrap()[0];
            let at = spec
                .command
                .iter()
                .position(|a| a == "--max-entries-per-append")
                .expect("every node is told its batch");
            let said = system.configuration(&options).unwrap();
            (spec.command[at + 1].parse::<u64>().unwrap(), said)
        };
        let drawn = RaftdSystem::new("raftd");
        let mut seen = std::collections::BTreeSet::new();
        for seed in 0..40 {
            let (n, said) = batch(&drawn, seed);
            assert_eq!(batch(&drawn, seed).0, n, "seeded");
            assert!(said.contains("per append (drawn from the seed)"), "{said}");
            seen.insert(n);
        }
        assert_eq!(seen.into_iter().collect::<Vec<_>>(), APPEND_BATCHES);
        let mut set = RaftdSystem::new("raftd");
        set.append_batch = Some(7);
        for seed in 0..10 {
            let (n, said) = batch(&set, seed);
            assert_eq!(n, 7);
            assert!(said.contains("7 entries per append (set)"), "{said}");
        }
    }

    #[test]
    fn bad_options_are_refused_with_a_reason() {
        let system = RaftdSystem::new("raftd");
        let options = SystemOptions {
            bugs: vec!["vote-thrice".into()],
            ..SystemOptions::default()
        };
        let err = system.node_specs(&topology(3), &options).unwrap_err();
        assert!(
            matches!(&err, SystemError::BadOption(m) if m.contains("vote-thrice")),
            "{err}"
        );
        let mut twice = topology(2);
        twice.nodes[1].name = "n1".into();
        let err = system
            .node_specs(&twice, &SystemOptions::default())
            .unwrap_err();
        assert!(matches!(err, SystemError::BadTopology(_)), "{err}");
        let err = "grants".parse::<FencingMode>().unwrap_err();
        assert!(err.to_string().contains("grants"));
        let mut tuned = RaftdSystem::new("raftd");
        tuned.tuning.lease_ticks = tuned.tuning.election_ticks_min;
        assert!(tuned
            .node_specs(&topology(3), &SystemOptions::default())
            .is_err());
    }

    #[test]
    fn the_bug_catalogue_matches_raftd() {
        let raftd: Vec<&str> = raftd::core::Bug::ALL.iter().map(|b| b.name()).collect();
        assert_eq!(RAFTD_BUGS.to_vec(), raftd);
    }
}

/// The registry is the one place systems are named: each is found by its name, and the
/// node specs its adapter writes carry the clock its descriptor declares.
mod registry {
    use workloads::system::{Descriptor, NodeAddr, Setup, SystemOptions, Topology};
    use workloads::SYSTEMS;

    #[test]
    fn each_system_is_found_by_its_name_and_its_specs_carry_its_clock() {
        let mut names: Vec<&str> = SYSTEMS.iter().map(|d| d.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), SYSTEMS.len(), "two systems share a name");
        let topology = Topology {
            nodes: (1..=3u16)
                .map(|i| NodeAddr {
                    bind: None,
                    extra_ports: vec![3888],
                    ..super::loopback(&format!("n{i}"), 8000 + i)
                })
                .collect(),
        };
        // raftd's adapter needs its binary only to run; the user's image stands in.
        let setup = Setup {
            image: Some("user/own:image".into()),
            ..Setup::default()
        };
        for d in SYSTEMS {
            assert!(std::ptr::eq(Descriptor::find(d.name).unwrap(), d));
            let system = (d.build)(&setup).unwrap();
            assert_eq!(system.name(), d.name);
            let specs = system
                .node_specs(&topology, &SystemOptions::default())
                .unwrap();
            assert!(specs.iter().all(|s| s.clock == (d.clock)()), "{}", d.name);
            assert_eq!(system.refused_faults(), d.refused_faults());
        }
        assert!(Descriptor::find("mysql").is_none());
        assert_eq!(
            Descriptor::names(),
            "raftd, etcd, zookeeper, redis-sentinel, redlock"
        );
    }
}

mod election {
    use std::collections::{BTreeMap, BTreeSet, HashMap};
    use std::time::Duration;

    use checkers::{AnomalyKind, Op, OpType, Process, Recorder, F};
    use workloads::system::{FencingMode, SystemOptions};
    use workloads::{CancellationToken, Election, Outcome, System, WorkloadParams};

    use crate::support::cluster::RaftdCluster;

    /// Every op pairs up: indices are consecutive, times never decrease, a process has
    /// one op in flight, a completion matches its invocation, nothing follows an `info`.
    fn assert_well_formed(ops: &[Op]) {
        let mut in_flight: HashMap<Process, &Op> = HashMap::new();
        let mut retired = BTreeSet::new();
        let mut last_time = 0;
        for (i, op) in ops.iter().enumerate() {
            assert_eq!(op.index, i as u64);
            assert!(op.time >= last_time, "time goes back at op {i}");
            last_time = op.time;
            assert!(
                !retired.contains(&op.process),
                "op {i} follows an info of its process"
            );
            if op.kind == OpType::Invoke {
                let earlier = in_flight.insert(op.process, op);
                assert!(earlier.is_none(), "op {i}: a second op in flight");
                continue;
            }
            let invoke = in_flight
                .remove(&op.process)
                .unwrap_or_else(|| panic!("op {i} completes nothing"));
            assert_eq!((invoke.f, &invoke.node), (op.f, &op.node), "op {i}");
            if op.kind == OpType::Info {
                retired.insert(op.process);
            }
        }
        assert!(in_flight.is_empty(), "ops never completed: {in_flight:?}");
    }

    /// Writes a history to `$WORKLOADS_TEST_HISTORY_DIR/<name>.jsonl` when that is set,
    /// to inspect what a test saw.
    fn keep_history(name: &str, ops: &[Op]) {
        let Some(dir) = std::env::var_os("WORKLOADS_TEST_HISTORY_DIR") else {
            return;
        };
        let text: String = ops
            .iter()
            .map(|o| serde_json::to_string(o).unwrap() + "\n")
            .collect();
        std::fs::write(
            std::path::Path::new(&dir).join(format!("{name}.jsonl")),
            text,
        )
        .unwrap();
    }

    fn ok_counts(ops: &[Op]) -> BTreeMap<F, usize> {
        let mut counts = BTreeMap::new();
        for op in ops.iter().filter(|op| op.kind == OpType::Ok) {
            *counts.entry(op.f).or_insert(0) += 1;
        }
        counts
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_follower_refuses_writes_and_names_the_leader() {
        let raftd = RaftdCluster::start(3, SystemOptions::default());
        let cluster = raftd.clients().await;
        let leader = raftd.wait_for_leader(&cluster).await;
        let follower = cluster
            .clients()
            .iter()
            .find(|c| c.node() != leader)
            .unwrap();
        match follower.write("w1", None, None).await {
            Outcome::Fail(f) => {
                assert_eq!(f.error, "not-leader");
                assert_eq!(f.leader.as_deref(), Some(leader.as_str()));
            }
            other => panic!("a follower answered {other:?}; logs:\n{}", raftd.logs()),
        }
        let leader_client = &cluster.clients()[cluster.index_of(&leader).unwrap()];
        let grant = leader_client
            .acquire("e1", "p1", 5000)
            .await
            .ok()
            .expect("grant");
        assert_eq!(
            leader_client.holding("e1", grant.token).await,
            Outcome::Ok(true)
        );
        let written = leader_client
            .write("w2", Some(grant.token), Some("e1"))
            .await
            .ok()
            .expect("write");
        assert_eq!(written.token, Some(grant.token));
        assert_eq!(
            leader_client.release("e1", grant.token).await,
            Outcome::Ok(())
        );
        let stale = leader_client
            .write("w3", Some(grant.token), Some("e1"))
            .await;
        assert_eq!(
            stale,
            Outcome::fail("stale-token"),
            "a released grant's token is stale under --fence-on-grant"
        );
    }

    fn fast_params(seed: u64) -> WorkloadParams {
        WorkloadParams {
            rate_hz: 40.0,
            concurrency: 4,
            status_interval_ms: 50,
            ttl_ms: 600,
            stall_probability: 0.2,
            stall_ms_max: 1000,
            seed,
            ..WorkloadParams::default()
        }
    }

    /// Runs `election` until `faults` returns, then stops it and waits for it.
    async fn run_while<F: std::future::Future<Output = ()>>(election: &Election, faults: F) {
        let stop = CancellationToken::new();
        let running = tokio::spawn({
            let (election, stop) = (election.clone(), stop.clone());
            async move { election.run(stop).await }
        });
        faults.await;
        stop.cancel();
        tokio::time::timeout(Duration::from_secs(10), running)
            .await
            .expect("the workload stops within its client timeout")
            .unwrap()
            .unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_paused_leader_retires_processes_and_the_history_stays_valid() {
        let raftd = RaftdCluster::start(3, SystemOptions::default());
        let cluster = raftd.clients().await;
        let first = raftd.wait_for_leader(&cluster).await;
        let recorder = Recorder::in_memory();
        let election = Election::new(fast_params(11), cluster.clone(), recorder.clone()).unwrap();
        let paused = raftd.index_of(&first);
        run_while(&election, async {
            // Phases of the run, not waits for a condition.
            tokio::time::sleep(Duration::from_secs(1)).await;
            raftd.signal(paused, "STOP");
            tokio::time::sleep(Duration::from_secs(3)).await;
            raftd.signal(paused, "CONT");
            tokio::time::sleep(Duration::from_secs(1)).await;
        })
        .await;
        let finals = election.final_reads().await.unwrap();
        let ops = recorder.ops();
        keep_history("paused-leader", &ops);
        assert_well_formed(&ops);
        assert!(
            finals.linearizable.is_some(),
            "no final read; logs:\n{}",
            raftd.logs()
        );
        let infos = ops.iter().filter(|op| op.kind == OpType::Info).count();
        assert!(infos > 0, "calls to a stopped node must end unknown");
        let later_leader = ops.iter().any(|op| {
            op.kind == OpType::Ok
                && op.f == F::Status
                && op
                    .value()
                    .is_some_and(|v| v.role == Some(checkers::Role::Leader))
                && op.node.as_deref() != Some(first.as_str())
        });
        assert!(
            later_leader,
            "another node took over; logs:\n{}",
            raftd.logs()
        );
        let ok_writes_after_pause = ops
            .iter()
            .filter(|op| op.f == F::Write && op.kind == OpType::Ok && op.time > 2_000_000_000)
            .count();
        assert!(
            ok_writes_after_pause > 0,
            "writes resume under the new leader"
        );
        let guarantees = raftd.system.guarantees(&SystemOptions::default());
        let result = checkers::check(&checkers::History::from_ops(&ops).unwrap(), &guarantees);
        assert_eq!(
            result.valid,
            checkers::Validity::Valid,
            "{:#?}",
            result.anomalies
        );
    }

    /// Holders stall past their grant's TTL often, so that stale writes are attempted.
    fn stalling_params(seed: u64) -> WorkloadParams {
        WorkloadParams {
            rate_hz: 60.0,
            concurrency: 4,
            ttl_ms: 300,
            stall_probability: 0.7,
            stall_ms_max: 900,
            plain_write_probability: 0.1,
            ..fast_params(seed)
        }
    }

    async fn stalling_run(fencing: FencingMode) -> (RaftdCluster, Vec<Op>, SystemOptions) {
        let options = SystemOptions {
            fencing,
            ..SystemOptions::default()
        };
        let raftd = RaftdCluster::start(3, options.clone());
        let cluster = raftd.clients().await;
        raftd.wait_for_leader(&cluster).await;
        let recorder = Recorder::in_memory();
        let election = Election::new(stalling_params(3), cluster, recorder.clone()).unwrap();
        // The workload's length, not a wait for a condition.
        run_while(&election, tokio::time::sleep(Duration::from_secs(4))).await;
        election.final_reads().await.unwrap();
        let ops = recorder.ops();
        keep_history(&format!("stalling-{}", fencing.name()), &ops);
        assert_well_formed(&ops);
        (raftd, ops, options)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stalled_holders_expose_an_unfenced_store() {
        let (raftd, ops, options) = stalling_run(FencingMode::None).await;
        let guarantees = raftd.system.guarantees(&options);
        assert!(
            guarantees.fence_on_grant,
            "the user's need is claimed even unfenced"
        );
        let result = checkers::check(&checkers::History::from_ops(&ops).unwrap(), &guarantees);
        assert_eq!(
            result.valid,
            checkers::Validity::Invalid,
            "{:#?}",
            result.anomalies
        );
        let kinds: BTreeSet<AnomalyKind> = result
            .anomalies
            .iter()
            .filter(|a| a.severity == checkers::Severity::Violation)
            .map(|a| a.kind)
            .collect();
        assert!(kinds.contains(&AnomalyKind::StaleGrantWrite), "{kinds:?}");
        let fencing = BTreeSet::from([
            AnomalyKind::StaleGrantWrite,
            AnomalyKind::StaleTokenAccepted,
        ]);
        assert!(
            kinds.is_subset(&fencing),
            "only fencing violations expected: {kinds:?}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stalled_holders_are_fenced_off_by_grant_fencing() {
        let (raftd, ops, options) = stalling_run(FencingMode::Grant).await;
        let rejected = ops
            .iter()
            .filter(|op| op.kind == OpType::Fail && op.error.as_deref() == Some("stale-token"))
            .count();
        assert!(
            rejected > 0,
            "stalled holders' writes were attempted and rejected"
        );
        let guarantees = raftd.system.guarantees(&options);
        let result = checkers::check(&checkers::History::from_ops(&ops).unwrap(), &guarantees);
        assert_eq!(
            result.valid,
            checkers::Validity::Valid,
            "{:#?}",
            result.anomalies
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_workload_records_a_well_formed_valid_history() {
        let raftd = RaftdCluster::start(3, SystemOptions::default());
        let cluster = raftd.clients().await;
        raftd.wait_for_leader(&cluster).await;
        let params = WorkloadParams {
            rate_hz: 40.0,
            concurrency: 4,
            status_interval_ms: 50,
            ttl_ms: 600,
            stall_probability: 0.2,
            stall_ms_max: 1000,
            seed: 7,
            ..WorkloadParams::default()
        };
        let recorder = Recorder::in_memory();
        let election = Election::new(params, cluster, recorder.clone()).unwrap();
        let stop = CancellationToken::new();
        let running = tokio::spawn({
            let (election, stop) = (election.clone(), stop.clone());
            async move { election.run(stop).await }
        });
        // The workload's length, not a wait for a condition.
        tokio::time::sleep(Duration::from_secs(3)).await;
        stop.cancel();
        tokio::time::timeout(Duration::from_secs(10), running)
            .await
            .expect("the workload stops within its client timeout")
            .unwrap()
            .unwrap();
        let finals = election.final_reads().await.unwrap();
        let ops = recorder.ops();
        keep_history("healthy", &ops);
        assert_well_formed(&ops);

        let counts = ok_counts(&ops);
        for f in [
            F::Status,
            F::Acquire,
            F::Holding,
            F::Write,
            F::Release,
            F::Read,
        ] {
            assert!(
                counts.get(&f).copied().unwrap_or(0) > 0,
                "no ok {f:?} in {counts:?}; logs:\n{}",
                raftd.logs()
            );
        }
        let log = finals.linearizable.expect("a final linearizable read");
        for (node, local) in &finals.local {
            assert_eq!(local.as_ref(), Some(&log), "{node}'s final view differs");
        }
        let present: BTreeSet<&str> = log.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(present.len(), log.len(), "an id appears twice in the log");
        for op in ops
            .iter()
            .filter(|op| op.f == F::Write && op.kind == OpType::Ok)
        {
            let id = op.value().and_then(|v| v.id.as_deref()).unwrap();
            assert!(present.contains(id), "acknowledged write {id} is missing");
        }
        let snapshot = election.stats().snapshot();
        assert!(snapshot.ok > 0 && snapshot.leader.is_some(), "{snapshot:?}");

        let guarantees = raftd.system.guarantees(&SystemOptions::default());
        let history = checkers::History::from_ops(&ops).unwrap();
        let result = checkers::check(&history, &guarantees);
        assert_eq!(
            result.valid,
            checkers::Validity::Valid,
            "{:#?}",
            result.anomalies
        );
    }
}
