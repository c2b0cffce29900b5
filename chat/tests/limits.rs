//! The limits of exercises 8.13 and 8.15 and SPEC.md: idle kick, slow clients, long lines,
//! the client limit.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use chat::Engine;

use crate::util::{Client, PATIENCE, Server, config, shared};

fn an_idle_client_is_told_disconnected_and_announced_as_left(engine: Engine) {
    let _lock = shared();
    let server = Server::start(chat::Config {
        idle_timeout: Duration::from_millis(700),
        ..config(engine)
    });
    let (mut alice, mut bob) = server.join_two("alice", "bob");
    // Bob stays active (a line every 100 ms) until he sees alice leave.
    let mut seen = false;
    for _ in 0..100 {
        bob.send("tick");
        loop {
            let line = bob.line();
            if line == "alice has left" {
                seen = true;
            }
            if line == "bob: tick" {
                break;
            }
        }
        if seen {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(seen, "bob never saw alice leave");
    let rest = alice.expect_closed();
    assert_eq!(
        rest.last().map(String::as_str),
        Some("Disconnected: no message for 700ms"),
        "alice's last lines: {rest:?}"
    );
    server.stop();
}

fn a_client_that_never_names_itself_is_disconnected_too(engine: Engine) {
    let _lock = shared();
    let server = Server::start(chat::Config {
        idle_timeout: Duration::from_millis(300),
        ..config(engine)
    });
    let mut client = server.connect();
    let start = Instant::now();
    client.expect("Enter your name:");
    // Bytes without a newline are not a line: they do not keep the client alive.
    client.send_bytes(b"slowly typing");
    let rest = client.expect_closed();
    assert_eq!(rest, vec!["Disconnected: no message for 300ms".to_string()]);
    assert!(start.elapsed() < PATIENCE);
    server.stop();
}

fn a_client_that_never_reads_does_not_delay_the_others(engine: Engine) {
    let _lock = shared();
    let server = Server::start(chat::Config {
        write_timeout: Duration::from_secs(2),
        ..config(engine)
    });
    // The stalled client: a tiny receive buffer, and it never reads after joining.
    let stalled = small_receive_buffer(&server, "stalled");
    let mut readers: Vec<Client> = ["r1", "r2", "r3"]
        .iter()
        .map(|name| server.join(name).0)
        .collect();
    for (i, reader) in readers.iter_mut().enumerate() {
        for name in &["r1", "r2", "r3"][i + 1..] {
            reader.expect(&format!("{name} has arrived"));
        }
    }
    // 8 MB through the room, in windows of 32 lines, so the healthy clients never fall behind,
    // while the stalled client's socket and backlog (1 MiB) fill up.
    let padding = "x".repeat(1000);
    let mut sender = readers[0].stream.try_clone().expect("clone");
    let mut slowest = Duration::ZERO;
    let mut left = false;
    for window in 0..250 {
        let start = Instant::now();
        let mut batch = String::new();
        for i in 0..32 {
            batch.push_str(&format!("{window}.{i} {padding}\n"));
        }
        sender.write_all(batch.as_bytes()).expect("send");
        for reader in readers.iter_mut() {
            let mut got = 0;
            while got < 32 {
                let line = reader.line();
                if line == "stalled has left" {
                    left = true;
                    continue;
                }
                assert!(
                    line.starts_with(&format!("r1: {window}.{got} ")),
                    "window {window}: expected line {got}, got {:.40}",
                    line
                );
                got += 1;
            }
        }
        slowest = slowest.max(start.elapsed());
    }
    assert!(
        slowest < Duration::from_secs(2),
        "a window of 32 lines took {slowest:?}: the stalled client delays the others"
    );
    // The stalled client is disconnected once its socket has accepted nothing for 2 s.
    while !left {
        left = readers[1].line() == "stalled has left";
    }
    drop(stalled);
    let (summary, _) = server.stop();
    assert!(summary.dropped > 0, "nothing was dropped: {summary:?}");
}

fn a_ten_megabyte_line_is_dropped_without_hurting_anyone(engine: Engine) {
    let _lock = shared();
    let server = Server::start(config(engine));
    let (mut alice, mut bob) = server.join_two("alice", "bob");
    let mut writer = alice.stream.try_clone().expect("clone");
    let flood = std::thread::spawn(move || {
        let chunk = vec![b'a'; 1 << 20];
        for _ in 0..10 {
            writer.write_all(&chunk).expect("send 1 MiB");
        }
        writer
    });
    alice.expect("Line too long (over 8192 bytes); dropped");
    bob.send("hi while alice floods");
    bob.expect("bob: hi while alice floods");
    let mut writer = flood.join().expect("flood thread");
    writer
        .write_all(b"tail of the long line\nafter\n")
        .expect("send");
    let mut lines = vec![alice.line(), alice.line()];
    lines.sort();
    assert_eq!(lines, ["alice: after", "bob: hi while alice floods"]);
    bob.expect("alice: after");
    server.stop();
}

fn max_line_is_the_longest_line_broadcast(engine: Engine) {
    let _lock = shared();
    let server = Server::start(chat::Config {
        max_line: 10,
        ..config(engine)
    });
    let (mut alice, _) = server.join("alice");
    alice.send("0123456789");
    alice.expect("alice: 0123456789");
    // A `\r` before the newline is not part of the line (telnet and Windows clients).
    alice.send("0123456789\r");
    alice.expect("alice: 0123456789");
    alice.send("0123456789A");
    alice.expect("Line too long (over 10 bytes); dropped");
    alice.send("short");
    alice.expect("alice: short");
    server.stop();
}

fn at_max_clients_a_newcomer_is_told_and_closed(engine: Engine) {
    let _lock = shared();
    let server = Server::start(chat::Config {
        max_clients: 2,
        ..config(engine)
    });
    let (alice, _) = server.join("alice");
    let mut naming = server.connect();
    naming.expect("Enter your name:");
    let mut third = server.connect();
    assert_eq!(
        third.expect_closed(),
        vec!["Server full (2 clients); try again later".to_string()]
    );
    // A place frees when a client leaves.
    drop(alice);
    let mut admitted = false;
    for _ in 0..100 {
        let mut again = server.connect();
        if again.line() == "Enter your name:" {
            admitted = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(admitted, "no place freed after a client left");
    naming.send("named");
    naming.expect("You are named");
    server.stop();
}

fn readers_lose_no_line_whatever_the_burst(engine: Engine) {
    let _lock = shared();
    let server = Server::start(config(engine));
    let (mut alice, _) = server.join("alice");
    let (mut bob, _) = server.join("bob");
    let (mut carol, _) = server.join("carol");
    alice.expect("bob has arrived");
    alice.expect("carol has arrived");
    bob.expect("carol has arrived");
    const ROUNDS: usize = 100;
    const EACH: usize = 500;
    let start = Instant::now();
    for round in 0..ROUNDS {
        // Alice and Bob each send 500 lines at once, from two threads.
        let bursts: Vec<_> = [(&alice, "a"), (&bob, "b")]
            .into_iter()
            .map(|(client, tag)| {
                let mut stream = client.stream.try_clone().expect("clone");
                let burst: String = (0..EACH).map(|i| format!("{tag}{round}.{i}\n")).collect();
                std::thread::spawn(move || stream.write_all(burst.as_bytes()))
            })
            .collect();
        let mut seen: Vec<Vec<String>> = Vec::new();
        for client in [&mut alice, &mut bob, &mut carol] {
            seen.push((0..2 * EACH).map(|_| client.line()).collect());
        }
        for burst in bursts {
            burst.join().expect("burst thread").expect("send a burst");
        }
        assert!(
            seen[1] == seen[0] && seen[2] == seen[0],
            "round {round}: orders differ"
        );
        for (tag, name) in [("a", "alice"), ("b", "bob")] {
            let own: Vec<&String> = seen[0]
                .iter()
                .filter(|line| line.starts_with(name))
                .collect();
            let want: Vec<String> = (0..EACH)
                .map(|i| format!("{name}: {tag}{round}.{i}"))
                .collect();
            assert_eq!(own, want.iter().collect::<Vec<_>>(), "round {round}");
        }
    }
    assert!(
        start.elapsed() < PATIENCE * 6,
        "100 rounds took {:?}",
        start.elapsed()
    );
    let (summary, _) = server.stop();
    assert_eq!(summary.dropped, 0, "{summary:?}");
}

fn a_client_that_stopped_reading_is_told_once_how_many_it_missed(engine: Engine) {
    let _lock = shared();
    let server = Server::start(chat::Config {
        max_backlog: 16 << 10,
        write_timeout: Duration::from_secs(10),
        ..config(engine)
    });
    let mut stalled = small_receive_buffer(&server, "stalled");
    let (mut loud, _) = server.join("loud");
    stalled.expect("Current clients: none");
    // 6,000 lines of 1,000 bytes: more than the stalled client's socket buffers (the server's
    // send buffer grows to a few MB) and backlog hold. Loud reads each back, so the broadcaster
    // has handled every one before stalled reads.
    const LINES: usize = 6000;
    let padding = "p".repeat(990);
    for i in 0..LINES {
        loud.send(&format!("{i:04} {padding}"));
        loud.expect(&format!("loud: {i:04} {padding}"));
    }
    stalled.expect("loud has arrived");
    // Lines in order with gaps, then once it has caught up, one notice counting every gap.
    let (mut next, mut gaps) = (0, 0);
    let missed = loop {
        let line = stalled.line();
        if let Some(rest) = line.strip_prefix("*** ") {
            let count = rest.strip_suffix(" messages dropped: you were not reading ***");
            break count.and_then(|n| n.parse::<usize>().ok()).expect(&line);
        }
        let number = line.strip_prefix("loud: ").and_then(|rest| rest.get(..4));
        let number: usize = number.and_then(|n| n.parse().ok()).expect(&line);
        assert!(
            number >= next && number < LINES,
            "out of order: {number} after {next}"
        );
        assert_eq!(line, format!("loud: {number:04} {padding}"));
        gaps += number - next;
        next = number + 1;
    };
    assert_eq!(next, LINES, "told before it caught up");
    assert!(missed > 0, "nothing was dropped");
    assert_eq!(missed, gaps, "the notice counts what was missed");
    // Once told, the client is back in the room like anyone else.
    loud.send("after");
    loud.expect("loud: after");
    stalled.expect("loud: after");
    let (summary, _) = server.stop();
    assert_eq!(summary.dropped, missed as u64, "{summary:?}");
}

/// A socket that takes nothing is cut after the write timeout (2 s here), counted from when it
/// last took something, not from each write: a batch it took part of was given two or more.
fn a_socket_that_takes_nothing_is_cut_after_the_write_timeout(engine: Engine) {
    let _lock = shared();
    let (server, mut alice, _zombie) = alice_and_a_zombie(engine);
    // 1 MB through the room: the zombie's socket is full well before it has all gone out.
    let line = "z".repeat(7990);
    for _ in 0..125 {
        alice.send(&line);
        alice.expect(&format!("alice: {line}"));
    }
    let full = Instant::now();
    // A line every 20 ms keeps the room busy (bounded by time, not rounds).
    let left = (0..).take_while(|_| full.elapsed() < PATIENCE).any(|_| {
        std::thread::sleep(Duration::from_millis(20));
        alice.send("tick");
        std::iter::from_fn(|| Some(alice.line()))
            .find(|line| line == "alice: tick" || line == "zombie has left")
            .is_some_and(|line| line == "zombie has left")
    });
    let took = full.elapsed();
    assert!(left, "the zombie was never cut");
    // Within two write timeouts (one blocked write after another gave it five seconds).
    assert!(
        took < Duration::from_secs(4),
        "cut {took:?} after its socket was full"
    );
    server.stop();
}

/// A socket that takes a little at a time (less than the kernel waits for before it says the
/// socket is writable again) is not cut, however long it stays behind.
fn a_socket_that_takes_a_little_at_a_time_is_not_cut(engine: Engine) {
    let _lock = shared();
    let server = Server::start(config(engine));
    let (mut alice, slow) = server.join_two("alice", "slow");
    // 16 KiB every 200 ms: 160 KiB in the 2 s write timeout, less than a third of its 256 KiB
    // send buffer (as the kernel counts it, doubled).
    let mut stream = slow.stream.try_clone().expect("clone");
    let reader = std::thread::spawn(move || {
        let mut buf = [0; 16 << 10];
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(6) {
            if stream.read(&mut buf).is_ok_and(|n| n == 0) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        true
    });
    // The room stays busy for three write timeouts.
    let line = "s".repeat(3990);
    let start = Instant::now();
    let mut left = false;
    while start.elapsed() < Duration::from_secs(6) && !left {
        alice.send(&line);
        left = std::iter::from_fn(|| Some(alice.line()))
            .find(|got| got.starts_with("alice: ") || got == "slow has left")
            .is_some_and(|got| got == "slow has left");
    }
    assert!(!left, "the slow reader was cut");
    assert!(
        reader.join().expect("reader"),
        "the slow reader's socket closed"
    );
    server.stop();
}

/// A client cut for not reading is gone for the room too: its leave is told, and what it still
/// sends is not read.
fn a_client_cut_for_not_reading_leaves_the_room(engine: Engine) {
    let _lock = shared();
    let (server, mut alice, zombie) = alice_and_a_zombie(engine);
    // It talks without pause and never reads.
    let mut stream = zombie.stream.try_clone().expect("clone");
    stream
        .set_write_timeout(Some(Duration::from_secs(1)))
        .expect("timeout");
    let talker = std::thread::spawn(move || {
        let line = format!("{}\n", "z".repeat(999)).repeat(16);
        let start = Instant::now();
        while start.elapsed() < PATIENCE && stream.write_all(line.as_bytes()).is_ok() {}
    });
    let heard = std::iter::from_fn(|| alice.try_line().ok())
        .take(1_000_000)
        .position(|line| line == "zombie has left");
    assert!(heard.is_some(), "the zombie's leave was never told");
    drop(zombie);
    let _ = talker.join();
    server.stop();
}

/// A server on `engine` with alice in it, and a client named zombie with a 4 KiB receive buffer
/// whose arrival she has seen.
fn alice_and_a_zombie(engine: Engine) -> (Server, Client, Client) {
    let server = Server::start(config(engine));
    let (mut alice, _) = server.join("alice");
    let zombie = small_receive_buffer(&server, "zombie");
    alice.expect("zombie has arrived");
    (server, alice, zombie)
}

/// A client with a 4 KiB receive buffer, joined as `name`, its `You are` line read.
fn small_receive_buffer(server: &Server, name: &str) -> Client {
    let stream = crate::util::small_receive_buffer(server.addr);
    stream.set_read_timeout(Some(PATIENCE)).expect("timeout");
    let mut client = Client {
        reader: std::io::BufReader::new(stream.try_clone().expect("clone")),
        stream,
    };
    client.expect("Enter your name:");
    client.send(name);
    client.expect(&format!("You are {name}"));
    client
}

crate::on_both_engines!(
    an_idle_client_is_told_disconnected_and_announced_as_left,
    a_client_that_never_names_itself_is_disconnected_too,
    a_client_that_never_reads_does_not_delay_the_others,
    a_ten_megabyte_line_is_dropped_without_hurting_anyone,
    max_line_is_the_longest_line_broadcast,
    at_max_clients_a_newcomer_is_told_and_closed,
    readers_lose_no_line_whatever_the_burst,
    a_client_that_stopped_reading_is_told_once_how_many_it_missed,
    a_socket_that_takes_nothing_is_cut_after_the_write_timeout,
    a_socket_that_takes_a_little_at_a_time_is_not_cut,
    a_client_cut_for_not_reading_leaves_the_room,
);
