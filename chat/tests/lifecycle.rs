//! Shutdown by the injected done signal, and no thread left behind by clients that vanish.

use std::io::Write;
use std::time::Duration;

use crate::util::{Server, config, eventually, exclusive, shared, thread_count};

#[test]
fn done_tells_every_client_closes_them_and_returns_within_a_second() {
    let _lock = shared();
    let server = Server::start(config());
    let (mut alice, _) = server.join("alice");
    let (mut bob, _) = server.join("bob");
    alice.expect("bob has arrived");
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

#[test]
fn done_returns_promptly_even_with_a_stalled_client() {
    let _lock = shared();
    let server = Server::start(chat::Config {
        write_timeout: Duration::from_secs(10),
        ..config()
    });
    let (stalled, _) = server.join("stalled");
    let (mut loud, _) = server.join("loud");
    // Fill the stalled client's socket buffers and queue: its writer blocks in `write`.
    let line = format!("{}\n", "y".repeat(4000));
    for _ in 0..2000 {
        loud.stream.write_all(line.as_bytes()).expect("send");
        loud.line();
    }
    let (summary, took) = server.stop();
    assert!(
        took < Duration::from_secs(2),
        "run took {took:?} to return (SPEC: 1 s; 2 s for a loaded CI machine)"
    );
    assert!(summary.dropped > 0, "{summary:?}");
    drop(stalled);
}

#[test]
fn no_thread_is_left_after_many_abrupt_disconnects() {
    let _lock = exclusive();
    let server = Server::start(config());
    // With one client in, the server runs its accept loop, the broadcaster, and the client's
    // reader and writer: the baseline is that count less the client's two threads.
    let (probe, _) = server.join("probe");
    let baseline = thread_count() - 2;
    drop(probe);
    assert!(
        eventually(|| thread_count() == baseline),
        "the probe's threads did not end: {} threads, baseline {baseline}",
        thread_count()
    );

    let reset = |stream: &std::net::TcpStream| {
        // Linger 0: close sends a reset, the rudest way to vanish.
        socket2::SockRef::from(stream)
            .set_linger(Some(Duration::ZERO))
            .expect("SO_LINGER");
    };
    for round in 0..10 {
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
        // Everyone is in: every named client has a reader and a writer thread.
        assert!(
            thread_count() >= baseline + 30,
            "expected the clients' threads to be running: {} threads, baseline {baseline}",
            thread_count()
        );
        for client in &clients {
            reset(&client.stream);
        }
        drop(clients);
    }
    assert!(
        eventually(|| thread_count() == baseline),
        "threads: {} after the clients left, {baseline} before",
        thread_count()
    );
    server.stop();
}
