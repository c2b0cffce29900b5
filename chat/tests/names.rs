//! Names that look alike are one name, and text cannot reorder a terminal's line (SPEC.md,
//! chat, items 2 and 5), over real sockets on both engines.

use chat::Engine;

use crate::util::{Server, config, shared};

fn look_alikes_of_a_name_in_use_are_taken(engine: Engine) {
    let _lock = shared();
    let server = Server::start(config(engine));
    let (mut alice, _) = server.join("alice");
    let mut other = server.connect();
    other.expect("Enter your name:");
    let zalgo = format!("x{}", "\u{301}".repeat(31));
    for (asked, answer) in [
        // Refused whoever is in: Cyrillic and Latin letters that look alike in one name.
        (
            "\u{430}lice",
            "Name \u{430}lice refused: a name mixes scripts whose letters look alike; choose another"
                .to_string(),
        ),
        ("al\u{131}ce", "Name al\u{131}ce is taken; choose another".into()),
        ("a\u{338}lice", "Name a\u{338}lice is taken; choose another".into()),
        ("Alice\u{301}", "Name Alice\u{301} is taken; choose another".into()),
        ("a1ice", "Name a1ice is taken; choose another".into()),
        (
            "b\u{43e}b",
            "Name b\u{43e}b refused: a name mixes scripts whose letters look alike; choose another"
                .into(),
        ),
        (
            "\u{2800}",
            "Name \u{2800} refused: a name needs a visible character; choose another".into(),
        ),
        (
            "\u{3164}",
            "Name \u{3164} refused: a name needs a visible character; choose another".into(),
        ),
        (
            "\u{ffa0}",
            "Name \u{ffa0} refused: a name needs a visible character; choose another".into(),
        ),
        (
            &zalgo,
            format!("Name {zalgo} refused: too many accents on one letter; choose another"),
        ),
    ] {
        other.send(asked);
        other.expect(&answer);
        other.expect("Enter your name:");
    }
    // A name of another script that looks like nothing in use is a name.
    other.send("\u{431}\u{43e}\u{440}\u{438}\u{441}");
    other.expect("You are \u{431}\u{43e}\u{440}\u{438}\u{441}");
    other.expect("Current clients: alice");
    alice.expect("\u{431}\u{43e}\u{440}\u{438}\u{441} has arrived");
    server.stop();
}

fn separators_and_bidi_marks_are_removed_from_text(engine: Engine) {
    let _lock = shared();
    let server = Server::start(config(engine));
    let (mut alice, mut bob) = server.join_two("alice", "bob");
    alice.send("a\u{2028}b\u{2029}c\u{200e}d\u{200f}e\u{61c}f\u{202e}g\u{2067}h\u{2069}i");
    bob.expect("alice: abcdefghi");
    alice.expect("alice: abcdefghi");
    server.stop();
}

crate::on_both_engines!(
    look_alikes_of_a_name_in_use_are_taken,
    separators_and_bidi_marks_are_removed_from_text,
);

#[test]
fn help_states_the_name_rules() {
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_chat"))
        .arg("--help")
        .output()
        .expect("run chat --help");
    let help = String::from_utf8_lossy(&help.stdout);
    for rule in [
        "visible",
        "one word",
        "combining marks",
        "TR39 skeleton",
        "scripts",
    ] {
        assert!(
            help.contains(rule),
            "--help does not mention {rule:?}:\n{help}"
        );
    }
}
