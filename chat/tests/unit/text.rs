//! Unit tests of `chat/src/text.rs` (a child module of it, kept out of `src/`).

use super::*;

fn peer() -> SocketAddr {
    "127.0.0.1:4000".parse().expect("addr")
}

#[test]
fn messages_show_controls_visibly_and_keep_tabs() {
    assert_eq!(clean_message(b"\x1b[2Jgone"), "^[[2Jgone");
    assert_eq!(clean_message(b"\x1b]0;title\x07"), "^[]0;title^G");
    assert_eq!(clean_message(b"\ralice: hi"), "^Malice: hi");
    assert_eq!(clean_message(b"a\0b\x7fc\td"), "a^@b^?c\td");
    assert_eq!(clean_message("\u{9b}2J".as_bytes()), "\u{fffd}2J");
    assert_eq!(clean_message("\u{202e}olleh".as_bytes()), "olleh");
    assert_eq!(
        clean_message("a\u{2028}b\u{2029}c\u{200e}d\u{200f}e\u{61c}f\u{2067}g".as_bytes()),
        "abcdefg"
    );
    assert_eq!(
        clean_message("caf\u{e9} \u{1f600}".as_bytes()),
        "caf\u{e9} \u{1f600}"
    );
}

#[test]
fn names_lose_controls_and_invisible_characters() {
    assert_eq!(clean_name(b"  ev\x07il\x1b \r", peer()), "evil");
    assert_eq!(clean_name("\u{202e}evil".as_bytes(), peer()), "evil");
    assert_eq!(clean_name("al\u{ad}ice".as_bytes(), peer()), "alice");
    assert_eq!(clean_name(b"   ", peer()), "127.0.0.1:4000");
    assert_eq!(clean_name(&[b'x'; 50], peer()), "x".repeat(32));
}

#[test]
fn look_alikes_share_a_key() {
    for alike in [
        "ALICE",
        "Alice",
        "al\u{ad}ice",
        "al\u{200b}ice",
        "\u{ff41}lice",
        "\u{202e}alice",
        "\u{430}lice",
        "al\u{131}ce",
        "a\u{338}lice",
        "Alice\u{301}",
        "Alic\u{e9}",
        "a1ice",
    ] {
        assert_eq!(name_key(alike), name_key("alice"), "{alike:?}");
    }
    assert_ne!(name_key("alice2"), name_key("alice"));
    assert_ne!(name_key("bob"), name_key("alice"));
}

#[test]
fn a_crowded_rooms_client_list_stays_bounded() {
    assert_eq!(client_list([].into_iter()), "none");
    assert_eq!(client_list(["a", "b"].into_iter()), "a, b");
    let names: Vec<String> = (0..10_000).map(|i| format!("client{i}")).collect();
    let list = client_list(names.iter().map(String::as_str));
    assert!(list.len() < MAX_CLIENT_LIST + 40, "{} bytes", list.len());
    assert!(list.starts_with("client0, client1, "), "{list}");
    let (shown, more) = list.rsplit_once(", ... and ").expect("cut");
    let more: usize = more
        .strip_suffix(" more")
        .and_then(|n| n.parse().ok())
        .expect(&list);
    assert_eq!(shown.split(", ").count() + more, names.len());
}

#[test]
fn names_that_would_make_lines_ambiguous_are_refused() {
    for bad in [
        "bob has left",
        "a, b",
        "a,b",
        "alice: hi",
        "x:y",
        "***",
        "*bold",
        "fullwidth\u{ff1a}colon",
        "\u{2800}",
        "\u{3164}",
        "\u{ffa0}",
        "\u{200b}\u{200b}",
        "\u{2800}\u{2800}x",
        "\u{430}lice",
        "b\u{43e}b",
    ] {
        assert!(name_problem(bad, peer()).is_some(), "{bad:?} accepted");
    }
    let zalgo = format!("x{}", "\u{301}".repeat(31));
    assert_eq!(
        name_problem(&clean_name(zalgo.as_bytes(), peer()), peer()),
        Some("too many accents on one letter")
    );
    for blank in ["\u{2800}", "\u{3164}", "\u{ffa0}", "\u{200b}"] {
        let name = clean_name(blank.as_bytes(), peer());
        assert_eq!(
            name_problem(&name, peer()),
            Some("a name needs a visible character"),
            "{blank:?}"
        );
    }
    for good in [
        "alice",
        "bob-2",
        "\u{e9}lodie",
        "O'Brien",
        "127.0.0.1:4000",
        "\u{431}\u{43e}\u{440}\u{438}\u{441}",
        "Vi\u{1ec7}t",
        "\u{6771}\u{4eac}\u{30bf}\u{30ef}\u{30fc}",
    ] {
        assert_eq!(name_problem(good, peer()), None, "{good:?} refused");
    }
}
