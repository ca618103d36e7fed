//! The `RawNode` API contract: readiness, the persistence ordering, refusals of bad
//! input, restore, serialisation.

use raftd::core::{
    Bug, BugSet, Config, Entry, EntryData, HardState, Message, MessageBody, Persisted,
    ProposeError, RawNode, Request, RestoreError, Role, StepError,
};

fn three(id: &str) -> Config {
    Config::new(id, vec!["n1".into(), "n2".into(), "n3".into()])
}

/// Runs the ready loop as a driver with perfect storage would; returns everything sent.
fn drain(node: &mut RawNode) -> Vec<Message> {
    let mut sent = Vec::new();
    for _ in 0..100 {
        if !node.has_ready() {
            return sent;
        }
        let mut rd = node.ready();
        sent.append(&mut rd.messages);
        let proof = rd.persist.durable();
        sent.extend(rd.persisted_messages.take(proof));
        node.advance(rd);
    }
    panic!("ready never ran dry");
}

#[test]
fn a_single_node_elects_itself_and_commits() {
    let mut node = RawNode::new(Config::new("n1", vec!["n1".into()])).unwrap();
    for _ in 0..20 {
        node.tick();
    }
    assert_eq!(node.status().role, Role::Leader);
    node.propose(
        1,
        Request::Write {
            id: "w".into(),
            token: None,
            election: None,
        },
    )
    .unwrap();
    let rd = node.ready();
    assert_eq!(
        rd.persist.entries.len(),
        2,
        "no-op and the write, to persist"
    );
    assert!(
        rd.responses.is_empty(),
        "not committed before the leader's own entries are durable"
    );
    node.advance(rd);
    let rd = node.ready();
    assert_eq!(rd.responses.len(), 1);
    assert!(rd.responses[0].1.is_ok());
    node.advance(rd);
    node.propose(2, Request::Read).unwrap();
    let rd = node.ready();
    assert_eq!(rd.responses.len(), 1, "a single node confirms reads alone");
}

#[test]
fn votes_leave_only_after_persistence_and_appends_at_once() {
    let mut n2 = RawNode::new(three("n2")).unwrap();
    let vote = Message {
        from: "n1".into(),
        to: "n2".into(),
        term: 1,
        body: MessageBody::Vote {
            last_index: 0,
            last_term: 0,
        },
    };
    n2.step(vote).unwrap();
    let mut rd = n2.ready();
    assert!(rd.messages.is_empty());
    assert_eq!(
        rd.persist.hard_state,
        Some(HardState {
            term: 1,
            vote: Some("n1".into()),
            commit: 0
        })
    );
    assert!(matches!(
        rd.persisted_messages.as_slice(),
        [Message {
            body: MessageBody::VoteResp { reject: false },
            ..
        }]
    ));
    let proof = rd.persist.durable();
    assert_eq!(rd.persisted_messages.take(proof).len(), 1);
    n2.advance(rd);
    assert!(
        !n2.has_ready(),
        "nothing new: the hard state is not handed out twice"
    );

    let mut n1 = RawNode::new(three("n1")).unwrap();
    n1.campaign();
    let sent = drain(&mut n1);
    assert!(sent
        .iter()
        .all(|m| matches!(m.body, MessageBody::PreVote { .. })));
}

#[test]
fn forget_vote_keeps_the_vote_off_the_disk() {
    let mut cfg = three("n2");
    cfg.bugs = BugSet::none().with(Bug::ForgetVote);
    let mut n2 = RawNode::new(cfg).unwrap();
    let vote = Message {
        from: "n1".into(),
        to: "n2".into(),
        term: 1,
        body: MessageBody::Vote {
            last_index: 0,
            last_term: 0,
        },
    };
    n2.step(vote).unwrap();
    let rd = n2.ready();
    assert_eq!(
        rd.persist.hard_state,
        Some(HardState {
            term: 1,
            vote: None,
            commit: 0
        })
    );
    assert_eq!(
        n2.hard_state().vote.as_deref(),
        Some("n1"),
        "remembered in memory only"
    );
}

#[test]
fn proposals_are_refused_clearly() {
    let mut follower = RawNode::new(three("n1")).unwrap();
    let w = |id: &str| Request::Write {
        id: id.into(),
        token: None,
        election: None,
    };
    assert_eq!(
        follower.propose(1, w("a")),
        Err(ProposeError::NotLeader { leader: None })
    );
    assert!(matches!(
        follower.propose(1, w("")),
        Err(ProposeError::Invalid(_))
    ));

    let mut cfg = Config::new("n1", vec!["n1".into()]);
    cfg.max_pending_requests = 2;
    let mut leader = RawNode::new(cfg).unwrap();
    leader.campaign();
    assert_eq!(leader.status().role, Role::Leader);
    leader.propose(1, w("a")).unwrap();
    assert_eq!(leader.propose(1, w("b")), Err(ProposeError::DuplicateId(1)));
    leader.propose(2, w("b")).unwrap();
    assert_eq!(
        leader.propose(3, w("c")),
        Err(ProposeError::Busy { bound: 2 })
    );
    drain(&mut leader);
    leader.propose(3, w("c")).unwrap();
}

#[test]
fn bad_messages_are_refused_not_panicked_on() {
    let mut n1 = RawNode::new(three("n1")).unwrap();
    let msg = |from: &str, to: &str, body| Message {
        from: from.into(),
        to: to.into(),
        term: 1,
        body,
    };
    let hb = MessageBody::Heartbeat {
        commit: 0,
        seq: 1,
        sent_tick: 0,
        sent_wall: 0,
    };
    assert!(matches!(
        n1.step(msg("n2", "n3", hb.clone())),
        Err(StepError::WrongRecipient { .. })
    ));
    assert!(matches!(
        n1.step(msg("n9", "n1", hb.clone())),
        Err(StepError::UnknownSender(_))
    ));
    assert!(matches!(
        n1.step(msg("n1", "n1", hb)),
        Err(StepError::FromSelf)
    ));
    let gap = vec![Entry {
        term: 1,
        index: 5,
        data: EntryData::Noop,
    }];
    let append = MessageBody::Append {
        prev_index: 0,
        prev_term: 0,
        entries: gap,
        commit: 0,
    };
    assert!(matches!(
        n1.step(msg("n2", "n1", append)),
        Err(StepError::Malformed(_))
    ));
    let future = vec![Entry {
        term: 7,
        index: 1,
        data: EntryData::Noop,
    }];
    let append = MessageBody::Append {
        prev_index: 0,
        prev_term: 0,
        entries: future,
        commit: 0,
    };
    assert!(matches!(
        n1.step(msg("n2", "n1", append)),
        Err(StepError::Malformed(_))
    ));
    assert_eq!(n1.status().term, 0, "nothing of it was taken");
}

/// A crash between the log's fsync and the hard state's write leaves entries of a term
/// the hard state never reached: the node restarts in that term and refuses to vote in
/// it, since the vote it may have given there is lost.
#[test]
fn restore_after_a_lost_hard_state_write_takes_the_term_and_votes_no_more_in_it() {
    let e = |index, term| Entry {
        term,
        index,
        data: EntryData::Noop,
    };
    let ahead = Persisted {
        hard_state: HardState {
            term: 2,
            vote: Some("n2".into()),
            commit: 1,
        },
        entries: vec![e(1, 2), e(2, 3)],
    };
    let mut n1 = RawNode::restore(three("n1"), ahead).unwrap();
    assert_eq!(n1.status().term, 3);
    let vote = |term, from: &str| Message {
        from: from.into(),
        to: "n1".into(),
        term,
        body: MessageBody::Vote {
            last_index: 2,
            last_term: 3,
        },
    };
    for from in ["n2", "n3"] {
        n1.step(vote(3, from)).unwrap();
        let sent = drain(&mut n1);
        assert!(
            sent.iter()
                .any(|m| m.to == from && m.body == MessageBody::VoteResp { reject: true }),
            "a vote in term 3 for {from} after the lost write: {sent:?}"
        );
    }
    // The next term is a fresh one: it votes again.
    n1.step(vote(4, "n3")).unwrap();
    let sent = drain(&mut n1);
    assert!(
        sent.iter()
            .any(|m| m.to == "n3" && m.body == MessageBody::VoteResp { reject: false }),
        "{sent:?}"
    );
    assert_eq!(n1.hard_state().vote.as_deref(), Some("n3"));
}

#[test]
fn restore_checks_the_stored_log_and_replays_it() {
    let e = |index, term| Entry {
        term,
        index,
        data: EntryData::Noop,
    };
    let hs = HardState {
        term: 2,
        vote: Some("n2".into()),
        commit: 9,
    };
    let gap = Persisted {
        hard_state: hs.clone(),
        entries: vec![e(1, 1), e(3, 1)],
    };
    assert!(matches!(
        RawNode::restore(three("n1"), gap),
        Err(RestoreError::Gap { position: 1, .. })
    ));
    let ok = Persisted {
        hard_state: hs,
        entries: vec![e(1, 1), e(2, 2)],
    };
    let node = RawNode::restore(three("n1"), ok).unwrap();
    let s = node.status();
    assert_eq!(
        (s.term, s.commit, s.applied, s.role),
        (2, 2, 2, Role::Follower),
        "commit capped at the log"
    );
    assert_eq!(node.hard_state().vote.as_deref(), Some("n2"));
    let mut bad = three("n1");
    bad.peers.clear();
    assert!(matches!(
        RawNode::restore(bad, Persisted::default()),
        Err(RestoreError::Config(_))
    ));
}

#[test]
fn wire_and_disk_types_round_trip_through_json() {
    let m = Message {
        from: "n1".into(),
        to: "n2".into(),
        term: 3,
        body: MessageBody::Append {
            prev_index: 1,
            prev_term: 1,
            entries: vec![Entry {
                term: 3,
                index: 2,
                data: EntryData::Command(raftd::core::Command::Write {
                    id: "w".into(),
                    token: Some(2),
                    election: None,
                }),
            }],
            commit: 1,
        },
    };
    let json = serde_json::to_string(&m).unwrap();
    assert_eq!(serde_json::from_str::<Message>(&json).unwrap(), m);
    let mut cfg = three("n1");
    cfg.bugs = BugSet::parse("early-ack,no-fencing").unwrap();
    let json = serde_json::to_string(&cfg).unwrap();
    assert!(
        json.contains(r#""bugs":["early-ack","no-fencing"]"#),
        "{json}"
    );
    assert_eq!(serde_json::from_str::<Config>(&json).unwrap(), cfg);
    assert!(serde_json::from_str::<BugSet>(r#"["no-such-bug"]"#).is_err());
}

#[test]
fn steps_between_ready_and_advance_are_kept_for_the_next_ready() {
    let mut n2 = RawNode::new(three("n2")).unwrap();
    let append = |prev_index, index| Message {
        from: "n1".into(),
        to: "n2".into(),
        term: 1,
        body: MessageBody::Append {
            prev_index,
            prev_term: if prev_index == 0 { 0 } else { 1 },
            entries: vec![Entry {
                term: 1,
                index,
                data: EntryData::Noop,
            }],
            commit: 0,
        },
    };
    n2.step(append(0, 1)).unwrap();
    let first = n2.ready();
    n2.step(append(1, 2)).unwrap();
    assert!(!n2.has_ready(), "one Ready at a time");
    n2.advance(first);
    let second = n2.ready();
    assert_eq!(second.persist.entries.len(), 1);
    assert_eq!(second.persist.entries[0].index, 2);
    n2.advance(second);
}
