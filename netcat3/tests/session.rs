//! The library's session and connect with an injected done signal: cancellation wakes every
//! blocked part (the socket read, the stdin thread's writes, a connect still in progress).

use std::io::Write;
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use testkit::child::on_thread;

use crate::util::{TIMEOUT, echo_after_eof, join_server, serve_one};

#[test]
fn session_copies_both_ways_and_half_closes() {
    let server = serve_one(echo_after_eof);
    let (addr, (_canceller, done)) = (server.addr, common::done::new());
    let result = on_thread(move || {
        let stream = netcat3::connect(&addr.to_string(), &done).map_err(|e| e.to_string())?;
        let mut output = Vec::new();
        netcat3::session(stream, &b"abc\x00\xff"[..], &mut output, "test", &done)
            .map_err(|e| e.to_string())?;
        Ok::<_, String>(output)
    });
    let result = result.recv_timeout(TIMEOUT).expect("a result in time");
    assert_eq!(result.unwrap(), b"abc\x00\xff");
    assert_eq!(join_server(server), b"abc\x00\xff");
}

#[test]
fn cancel_ends_a_session_blocked_on_the_socket_and_on_stdin() {
    // The server holds the connection open and says nothing; stdin is a pipe nobody writes to.
    let (release_tx, release_rx) = crossbeam_channel::bounded::<()>(0);
    let server = serve_one(move |_stream: TcpStream| {
        let _ = release_rx.recv_timeout(TIMEOUT);
    });
    let (addr, (canceller, done)) = (server.addr, common::done::new());
    let (input, mut input_writer) = std::io::pipe().unwrap();
    let (started_tx, started_rx) = crossbeam_channel::bounded(1);
    let session_done = done.clone();
    let (result_tx, result_rx) = crossbeam_channel::bounded(1);
    thread::spawn(move || {
        let stream = netcat3::connect(&addr.to_string(), &session_done).unwrap();
        started_tx.send(()).unwrap();
        let result = netcat3::session(stream, input, std::io::sink(), "test", &session_done);
        let _ = result_tx.send(result);
    });
    started_rx.recv_timeout(TIMEOUT).expect("connected");
    let cancelled_at = Instant::now();
    canceller.cancel();
    let result = result_rx.recv_timeout(TIMEOUT).expect("session ended");
    assert!(
        matches!(result, Err(netcat3::Error::Cancelled)),
        "expected Cancelled, got {result:?}"
    );
    assert!(cancelled_at.elapsed() < Duration::from_secs(2));
    // The stdin thread, left blocked on its pipe, ends at its next byte: its write now fails.
    let _ = input_writer.write_all(b"late");
    drop(input_writer);
    drop(release_tx);
    join_server(server);
}

#[test]
fn cancel_aborts_a_connect_in_progress() {
    // A listener with a backlog of 0 and nobody accepting: once its queue is full, new
    // handshakes get no answer and `connect` hangs (SYNs are dropped and retried).
    use socket2::{Domain, Socket, Type};
    let listener = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    listener
        .bind(
            &"127.0.0.1:0"
                .parse::<std::net::SocketAddr>()
                .unwrap()
                .into(),
        )
        .unwrap();
    listener.listen(0).unwrap();
    let addr = listener.local_addr().unwrap().as_socket().unwrap();
    // Fill the queue (bounded attempts, each bounded by a timeout).
    let mut held = Vec::new();
    let mut hanging = false;
    for _ in 0..8 {
        match TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
            Ok(stream) => held.push(stream),
            Err(_) => {
                hanging = true;
                break;
            }
        }
    }
    assert!(
        hanging,
        "the backlog never filled; cannot test a hanging connect"
    );
    let (canceller, done) = common::done::new();
    let (result_tx, result_rx) = crossbeam_channel::bounded(1);
    let connect_done = done.clone();
    thread::spawn(move || {
        let started = Instant::now();
        let result = netcat3::connect(&addr.to_string(), &connect_done).map(drop);
        let _ = result_tx.send((result, started.elapsed()));
    });
    // Give the connect time to be under way; the assertion below holds either way.
    assert!(!done.wait_timeout(Duration::from_millis(200)));
    canceller.cancel();
    let (result, elapsed) = result_rx.recv_timeout(TIMEOUT).expect("connect returned");
    assert!(
        matches!(result, Err(netcat3::Error::Cancelled)),
        "expected Cancelled, got {result:?}"
    );
    assert!(elapsed < Duration::from_secs(5), "connect took {elapsed:?}");
}
