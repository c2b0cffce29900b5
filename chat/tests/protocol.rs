//! The protocol of SPEC.md's chat section: names, the client list, arrivals, messages in one
//! total order, departures.

use std::collections::HashSet;

use chat::Engine;

use crate::util::{Server, config, shared};

fn two_clients_chat_with_names_arrivals_and_departures(engine: Engine) {
    let _lock = shared();
    let server = Server::start(config(engine));
    let (mut alice, current) = server.join("alice");
    assert_eq!(current, "Current clients: none");
    let (mut bob, current) = server.join("bob");
    assert_eq!(current, "Current clients: alice");
    alice.expect("bob has arrived");

    alice.send("hello bob");
    alice.expect("alice: hello bob");
    bob.expect("alice: hello bob");
    bob.send("hi alice");
    bob.expect("bob: hi alice");
    alice.expect("bob: hi alice");

    let (mut carol, current) = server.join("carol");
    assert_eq!(current, "Current clients: alice, bob");
    alice.expect("carol has arrived");
    bob.expect("carol has arrived");

    drop(bob);
    alice.expect("bob has left");
    carol.expect("bob has left");
    carol.send("bye");
    alice.expect("carol: bye");
    carol.expect("carol: bye");
    server.stop();
}

fn a_taken_name_is_refused_and_asked_again(engine: Engine) {
    let _lock = shared();
    let server = Server::start(config(engine));
    let (mut alice, _) = server.join("alice");
    let mut other = server.connect();
    other.expect("Enter your name:");
    other.send("alice");
    other.expect("Name alice is taken; choose another");
    other.expect("Enter your name:");
    other.send("  alice2\t ");
    other.expect("You are alice2");
    other.expect("Current clients: alice");
    alice.expect("alice2 has arrived");
    server.stop();
}

fn a_name_longer_than_max_line_is_refused_and_asked_again(engine: Engine) {
    let _lock = shared();
    let server = Server::start(chat::Config {
        max_line: 16,
        ..config(engine)
    });
    let mut client = server.connect();
    client.expect("Enter your name:");
    client.send(&"n".repeat(40));
    client.expect("Name too long; try a shorter one");
    client.expect("Enter your name:");
    client.send("short");
    client.expect("You are short");
    client.expect("Current clients: none");
    server.stop();
}

fn names_are_cleaned_truncated_and_default_to_the_address(engine: Engine) {
    let _lock = shared();
    let server = Server::start(config(engine));
    let mut client = server.connect();
    client.expect("Enter your name:");
    client.send_bytes(b"  ev\x07il\x1b \r\n");
    client.expect("You are evil");
    client.line();

    let long = "x".repeat(50);
    let mut client = server.connect();
    client.expect("Enter your name:");
    client.send(&long);
    client.expect(&format!("You are {}", "x".repeat(32)));
    client.line();

    let mut anonymous = server.connect();
    let local = anonymous.stream.local_addr().expect("local addr");
    anonymous.expect("Enter your name:");
    anonymous.send("   ");
    anonymous.expect(&format!("You are {local}"));
    server.stop();
}

fn three_clients_see_every_message_in_one_total_order(engine: Engine) {
    let _lock = shared();
    let server = Server::start(config(engine));
    let names = ["ann", "ben", "cat"];
    let mut clients: Vec<_> = names.iter().map(|name| server.join(name).0).collect();
    // Drain the arrival notices so that only messages follow.
    clients[0].expect("ben has arrived");
    clients[0].expect("cat has arrived");
    clients[1].expect("cat has arrived");

    const EACH: usize = 200;
    let senders: Vec<_> = clients
        .iter()
        .zip(names)
        .map(|(client, name)| {
            let mut stream = client.stream.try_clone().expect("clone");
            std::thread::spawn(move || {
                use std::io::Write;
                for i in 0..EACH {
                    stream
                        .write_all(format!("{name} says {i}\n").as_bytes())
                        .expect("send");
                }
            })
        })
        .collect();
    // Every client reads at once, each in its own thread.
    let readers: Vec<_> = clients
        .into_iter()
        .map(|mut client| {
            std::thread::spawn(move || {
                (0..EACH * 3)
                    .map(|_| client.line())
                    .collect::<Vec<String>>()
            })
        })
        .collect();
    let received: Vec<Vec<String>> = readers
        .into_iter()
        .map(|reader| reader.join().expect("reader thread"))
        .collect();
    for sender in senders {
        sender.join().expect("sender thread");
    }
    for (name, lines) in names.iter().zip(&received) {
        assert_eq!(
            lines, &received[0],
            "{name} saw a different order than {}",
            names[0]
        );
    }
    let distinct: HashSet<&String> = received[0].iter().collect();
    assert_eq!(distinct.len(), EACH * names.len(), "lost or repeated lines");
    // Each sender's own lines keep their order.
    for name in names {
        let own: Vec<&String> = received[0]
            .iter()
            .filter(|line| line.starts_with(&format!("{name}: ")))
            .collect();
        let want: Vec<String> = (0..EACH)
            .map(|i| format!("{name}: {name} says {i}"))
            .collect();
        assert_eq!(own, want.iter().collect::<Vec<_>>());
    }
    server.stop();
}

fn invalid_utf8_becomes_replacement_characters_and_the_connection_stays(engine: Engine) {
    let _lock = shared();
    let server = Server::start(config(engine));
    let (mut alice, _) = server.join("alice");
    alice.send_bytes(b"caf\xc3\xa9 \xff\xfe ok\n");
    alice.expect("alice: caf\u{e9} \u{fffd}\u{fffd} ok");
    alice.send("still here");
    alice.expect("alice: still here");
    server.stop();
}

fn hostile_text_stays_text(engine: Engine) {
    let _lock = shared();
    let server = Server::start(config(engine));
    let (mut alice, mut bob) = server.join_two("alice", "bob");
    for (sent, shown) in [
        (&b"\x1b[2Jcleared?"[..], "bob: ^[[2Jcleared?"),
        (b"\x1b]0;pwned\x07title", "bob: ^[]0;pwned^Gtitle"),
        (b"\ralice: hi", "bob: ^Malice: hi"),
        (b"nul\0here\tand a tab", "bob: nul^@here\tand a tab"),
        ("\u{202e}desrever".as_bytes(), "bob: desrever"),
    ] {
        bob.send_bytes(&[sent, b"\n"].concat());
        alice.expect(shown);
        bob.expect(shown);
    }
    server.stop();
}

fn look_alike_and_ambiguous_names_are_refused(engine: Engine) {
    let _lock = shared();
    let server = Server::start(config(engine));
    let (mut alice, _) = server.join("alice");
    let mut other = server.connect();
    other.expect("Enter your name:");
    for (asked, answer) in [
        ("ALICE", "Name ALICE is taken; choose another"),
        ("al\u{ad}ice", "Name alice is taken; choose another"),
        ("\u{202e}alice", "Name alice is taken; choose another"),
        ("\u{ff41}lice", "Name \u{ff41}lice is taken; choose another"),
        (
            "bob has left",
            "Name bob has left refused: a name is one word; choose another",
        ),
        (
            "a, b",
            "Name a, b refused: a name is one word; choose another",
        ),
        (
            "a,b",
            "Name a,b refused: a name has no ',' or ':'; choose another",
        ),
        (
            "alice:hi",
            "Name alice:hi refused: a name has no ',' or ':'; choose another",
        ),
        (
            "***",
            "Name *** refused: a name does not start with '*'; choose another",
        ),
    ] {
        other.send(asked);
        other.expect(answer);
        other.expect("Enter your name:");
    }
    other.send("alicia");
    other.expect("You are alicia");
    other.expect("Current clients: alice");
    alice.expect("alicia has arrived");
    server.stop();
}

crate::on_both_engines!(
    two_clients_chat_with_names_arrivals_and_departures,
    a_taken_name_is_refused_and_asked_again,
    a_name_longer_than_max_line_is_refused_and_asked_again,
    names_are_cleaned_truncated_and_default_to_the_address,
    three_clients_see_every_message_in_one_total_order,
    invalid_utf8_becomes_replacement_characters_and_the_connection_stays,
    hostile_text_stays_text,
    look_alike_and_ambiguous_names_are_refused,
);
