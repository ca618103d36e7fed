//! Parsing the nemesis names of the command line.

use nemesis::names::{parse_nemeses, valid_names, NameError, NemesisKind};
use nemesis::partition::Shape;
use nemesis::targets::Selector;
use nemesis::FaultKind;

#[test]
fn the_seven_groups_together_are_all() {
    let all = parse_nemeses("all").unwrap();
    assert_eq!(all, NemesisKind::all());
    assert_eq!(
        parse_nemeses("partition,pause,kill,clock,packet,power-loss,crash-point").unwrap(),
        all
    );
    assert_eq!(
        parse_nemeses("clock, crash-point, power-loss, packet, kill ,pause,partition").unwrap(),
        all
    );
}

#[test]
fn groups_expand_to_their_kinds() {
    let partition = parse_nemeses("partition").unwrap();
    assert_eq!(partition.len(), Shape::ALL.len());
    assert!(partition
        .iter()
        .all(|k| k.fault_kind() == FaultKind::Partition));
    let clock = parse_nemeses("clock").unwrap();
    assert_eq!(
        clock,
        vec![NemesisKind::ClockJump, NemesisKind::ClockStrobe]
    );
    assert_eq!(parse_nemeses("kill").unwrap().len(), 5);
    assert!(parse_nemeses("none").unwrap().is_empty());
}

#[test]
fn specific_names_pick_one_kind_in_canonical_order() {
    assert_eq!(
        parse_nemeses("pause-leader,partition-halves,partition-halves").unwrap(),
        vec![
            NemesisKind::Partition(Shape::Halves),
            NemesisKind::Pause(Selector::Leader)
        ]
    );
    for kind in NemesisKind::all() {
        assert_eq!(parse_nemeses(&kind.name()).unwrap(), vec![kind]);
        assert_eq!(kind.name().parse::<NemesisKind>().unwrap(), kind);
    }
}

#[test]
fn unknown_names_are_refused_listing_the_valid_ones() {
    let err = parse_nemeses("partition,partishun").unwrap_err();
    assert!(matches!(&err, NameError::Unknown { name, .. } if name == "partishun"));
    let message = err.to_string();
    for name in [
        "all",
        "none",
        "partition",
        "partition-majorities-ring",
        "kill-minority",
        "clock-strobe",
    ] {
        assert!(message.contains(name), "{message} lacks {name}");
    }
    assert!(valid_names().starts_with("all, none, partition, pause, kill, clock"));
}

#[test]
fn empty_lists_and_none_with_others_are_refused() {
    assert!(matches!(parse_nemeses(""), Err(NameError::Empty { .. })));
    assert!(matches!(parse_nemeses(" , "), Err(NameError::Empty { .. })));
    assert!(matches!(
        parse_nemeses("none,kill"),
        Err(NameError::NoneWithOthers(_))
    ));
}

#[test]
fn kinds_serialise_as_their_names() {
    let kind = NemesisKind::Kill(Selector::Majority);
    assert_eq!(serde_json::to_string(&kind).unwrap(), "\"kill-majority\"");
    let back: NemesisKind = serde_json::from_str("\"partition-one-way\"").unwrap();
    assert_eq!(back, NemesisKind::Partition(Shape::OneWay));
    let err = serde_json::from_str::<NemesisKind>("\"kill-everyone\"").unwrap_err();
    assert!(err.to_string().contains("unknown nemesis"), "{err}");
}
