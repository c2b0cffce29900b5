//! Shutdown by the injected done signal, and no thread left behind by clients that vanish.

use std::io::{ErrorKind, Write};
use std::net::Shutdown;
use std::time::Duration;

use chat::Engine;

use crate::util::{
    Server, config, connection_threads, descriptor_count, eventually, exclusive, shared,
    thread_count,
};

fn done_tells_every_client_closes_them_and_returns_within_a_second(engine: Engine) {
    let _lock = shared();
    let server = Server::start(config(engine));
    let (mut alice, mut bob) = server.join_two("alice", "bob");
    let mut naming = server.connect();
    naming.expect("Enter your name:");
    alice.send("last words");
    alice.expect("alice: last words");
    bob.expect("alice: last words");

    let (_, took) = server.stop();
    assert!(
        took < Duration::from_secs(2),
        "run took {took:?} to return (SPEC: 1 s; 2 s for a loaded CI machine)"
    );
    for client in [&mut alice, &mut bob, &mut naming] {
        assert_eq!(
            client.expect_closed(),
            vec!["Server shutting down".to_string()]
        );
    }
}

fn a_reader_behind_at_shutdown_gets_its_backlog_then_the_farewell(engine: Engine) {
    let _lock = shared();
    let server = Server::start(chat::Config {
        shutdown_grace: Duration::from_secs(3),
        ..config(engine)
    });
    let (mut behind, mut loud) = server.join_two("behind", "loud");
    // Its socket is full and its backlog held when the signal comes; it reads only then.
    stall(&mut loud);
    let stopping = std::thread::spawn(move || server.stop());
    let lines = behind.expect_closed();
    let (_, took) = stopping.join().expect("stop");
    assert_eq!(
        lines.last().map(String::as_str),
        Some("Server shutting down"),
        "{} lines, the last {:?}",
        lines.len(),
        lines.iter().rev().take(3).collect::<Vec<_>>()
    );
    assert!(
        lines.len() > 100,
        "only {} lines before the close",
        lines.len()
    );
    assert!(took < Duration::from_secs(3), "run took {took:?} to return");
}

fn done_returns_promptly_even_with_a_stalled_client(engine: Engine) {
    let _lock = shared();
    let server = with_the_real_stall_limit(engine);
    let (stalled, _) = server.join("stalled");
    let (mut loud, _) = server.join("loud");
    stall(&mut loud);
    let summary = stop_promptly(server);
    assert!(summary.dropped > 0, "{summary:?}");
    drop(stalled);
}

/// A server whose stall limit is the real 10 s (the tests' default is 2 s), so that a shutdown
/// waiting on it would show.
fn with_the_real_stall_limit(engine: Engine) -> Server {
    Server::start(chat::Config {
        write_timeout: Duration::from_secs(10),
        ..config(engine)
    })
}

/// Stops the server and checks that `run` returned within 2 s (SPEC: 1 s; the rest is room for
/// a loaded CI machine).
fn stop_promptly(server: Server) -> chat::Summary {
    let (summary, took) = server.stop();
    assert!(
        took < Duration::from_secs(2),
        "run took {took:?} to return (SPEC: 1 s; the stall limit is 10 s)"
    );
    summary
}

/// Fills a client's socket buffers and queue so that its writer blocks in `write`: `loud` sends
/// long lines (and reads each back) while `stalled` reads nothing.
fn stall(loud: &mut crate::util::Client) {
    let line = format!("{}\n", "y".repeat(4000));
    for _ in 0..2000 {
        loud.stream.write_all(line.as_bytes()).expect("send");
        loud.line();
    }
}

fn done_returns_promptly_when_a_stalled_client_has_half_closed(engine: Engine) {
    let _lock = shared();
    let server = with_the_real_stall_limit(engine);
    let (stalled, _) = server.join("stalled");
    let (mut loud, _) = server.join("loud");
    stall(&mut loud);
    // Its reader sees end of file and leaves; its writer is still blocked on the full socket.
    stalled
        .stream
        .shutdown(Shutdown::Write)
        .expect("half-close");
    loud.expect("stalled has left");
    stop_promptly(server);
}

fn done_returns_promptly_with_a_client_stalled_while_naming(engine: Engine) {
    let _lock = shared();
    let server = with_the_real_stall_limit(engine);
    let (_alice, _) = server.join("alice");
    // A client that offers a taken name over and over and reads none of the answers: the
    // answers fill its socket buffers, the server blocks writing one and stops reading. This
    // client sees that as its sends making no progress at all for a second (while the server
    // still reads, it takes thousands of names a second). That is the state to shut down from.
    let mut naming = crate::util::small_receive_buffer(server.addr);
    naming
        .set_write_timeout(Some(Duration::from_millis(200)))
        .expect("write timeout");
    let names = "alice\n".repeat(1000);
    let mut sent = 0;
    let mut still = 0;
    for _ in 0..10_000 {
        match naming.write(&names.as_bytes()[sent..]) {
            Ok(n) => {
                sent = (sent + n) % names.len();
                still = 0;
            }
            Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                still += 1;
                if still == 5 {
                    break;
                }
            }
            Err(err) => panic!("send names: {err}"),
        }
    }
    assert_eq!(
        still, 5,
        "the server kept reading names it could not answer"
    );
    stop_promptly(server);
}

fn no_thread_is_left_after_many_abrupt_disconnects(engine: Engine) {
    // 100 rounds of 20 clients: 2,000 connections reset mid-name or mid-chat.
    const ROUNDS: usize = 100;
    // A named client has a reader and a writer thread, with `threads`; none with `events`.
    let per_client = match engine {
        Engine::Threads => 2,
        Engine::Events => 0,
    };
    // Alone, so that no other test's server has connection threads while this one counts.
    let _lock = exclusive();
    let server = Server::start(config(engine));
    let (probe, _) = server.join("probe");
    assert_eq!(connection_threads(), per_client, "threads of one client");
    let before = thread_count();
    let descriptors = descriptor_count();
    drop(probe);
    assert!(
        eventually(|| connection_threads() == 0),
        "the probe's threads did not end: {} left",
        connection_threads()
    );

    let reset = |stream: &std::net::TcpStream| {
        // Linger 0: close sends a reset, the rudest way to vanish.
        socket2::SockRef::from(stream)
            .set_linger(Some(Duration::ZERO))
            .expect("SO_LINGER");
    };
    for round in 0..ROUNDS {
        let mut clients = Vec::new();
        for i in 0..20 {
            if i % 2 == 0 {
                let (mut client, _) = server.join(&format!("c{round}-{i}"));
                client.send("hello");
                clients.push(client);
            } else {
                let mut client = server.connect();
                client.expect("Enter your name:");
                clients.push(client);
            }
        }
        // Everyone is in: 10 named clients (reader and writer) and 10 naming (reader only),
        // plus whatever of the previous round has not finished ending yet.
        let running = connection_threads();
        assert!(
            running >= 15 * per_client,
            "expected the clients' threads to be running: {running}"
        );
        for client in &clients {
            reset(&client.stream);
        }
        drop(clients);
    }
    assert!(
        eventually(|| connection_threads() == 0),
        "connection threads left after {} resets: {}",
        ROUNDS * 20,
        connection_threads()
    );
    // And the process as a whole has no more threads than with one client in, and no more
    // descriptors (each connection's socket closed, on both sides).
    let after = thread_count();
    assert!(
        after + per_client <= before,
        "process threads: {before} with one client, {after} after all left"
    );
    assert!(
        eventually(|| descriptor_count() < descriptors),
        "descriptors: {descriptors} with one client, {} after all left",
        descriptor_count()
    );
    server.stop();
}

crate::on_both_engines!(
    done_tells_every_client_closes_them_and_returns_within_a_second,
    a_reader_behind_at_shutdown_gets_its_backlog_then_the_farewell,
    done_returns_promptly_even_with_a_stalled_client,
    done_returns_promptly_when_a_stalled_client_has_half_closed,
    done_returns_promptly_with_a_client_stalled_while_naming,
    no_thread_is_left_after_many_abrupt_disconnects,
);
