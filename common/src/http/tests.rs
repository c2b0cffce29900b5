//! Tests of the cancellable HTTP client against real local servers.
//!
//! Every server here is a std `TcpListener` on `127.0.0.1:0` started by the test, answering with
//! hand-written bytes, so each case (a stall before the headers, a stall in the body, a chunked
//! body, a redirect) is exactly what the test says. The cancel tests assert both sides: the
//! client's call fails as cancelled within a bound, and the server sees the connection close.

use super::*;

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};

use crossbeam_channel::{Receiver, Sender, bounded};
use socket2::{Domain, Protocol, Socket, Type};
use testkit::net::patient;

use crate::done::{self, Canceller};

/// How long any "it happens" wait may take before the test fails (generous: CI is loaded).
const PATIENCE: Duration = Duration::from_secs(10);
/// The bound on "promptly" in tests (the benchmark measures the real figure, well under 1 ms).
const PROMPT: Duration = Duration::from_secs(2);

/// What a test server's handler reports back to the test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    /// The request head was read.
    Request,
    /// The peer closed or reset the connection (a read returned 0 or an error other than a
    /// timeout).
    Closed,
    /// The read timed out: the peer kept the connection open.
    StillOpen,
}

/// A one-thread HTTP server that runs `handler` on each accepted connection, in turn.
struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    fn start(handler: impl Fn(TcpStream) + Send + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local_addr");
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let thread = thread::spawn(move || {
            // Bounded: a test makes a handful of connections.
            for stream in listener.incoming().take(64) {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(stream) = stream {
                    patient(&stream, PATIENCE);
                    handler(stream);
                }
            }
        });
        Server {
            addr,
            stop,
            thread: Some(thread),
        }
    }

    fn url(&self, path: &str) -> url::Url {
        url::Url::parse(&format!("http://{}{path}", self.addr)).expect("url")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept: one connection it takes and drops.
        let _ = TcpStream::connect_timeout(&self.addr, PATIENCE);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Reads a request head (up to the blank line, byte by byte so nothing after it is consumed);
/// `None` if the peer closed first.
fn request_head(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return None,
        }
        if head.len() > 64 << 10 {
            return None;
        }
    }
    Some(head)
}

/// Reads a request head; false if the peer closed first.
fn read_head(stream: &mut TcpStream) -> bool {
    request_head(stream).is_some()
}

/// Waits for the peer to close: `Closed` if a read returns end of file or a reset, `StillOpen`
/// if nothing happens within `PATIENCE` (the stream's read timeout).
fn wait_close(stream: &mut TcpStream) -> Seen {
    let mut buf = [0u8; 4096];
    // Bounded: the request may be followed by nothing else, and each read waits at most PATIENCE.
    for _ in 0..16 {
        match stream.read(&mut buf) {
            Ok(0) => return Seen::Closed,
            Ok(_) => continue,
            Err(err)
                if matches!(
                    err.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Seen::StillOpen;
            }
            Err(_) => return Seen::Closed,
        }
    }
    Seen::StillOpen
}

/// A server answering every request with `response` (the raw bytes), then closing.
fn answering(response: impl Into<Vec<u8>>) -> Server {
    let response = response.into();
    Server::start(move |mut stream| {
        if read_head(&mut stream) {
            let _ = stream.write_all(&response);
        }
    })
}

fn client(options: Options) -> (Canceller, Client) {
    let (canceller, done) = done::new();
    (canceller, Client::new(done, options))
}

fn recv(rx: &Receiver<Seen>, what: &str) -> Seen {
    rx.recv_timeout(PATIENCE)
        .unwrap_or_else(|_| panic!("the server did not report {what} within {PATIENCE:?}"))
}

/// What [`get_in_thread`] reports: the body or the error, and when the call returned.
type Outcome = (Result<Vec<u8>, Error>, Instant);

/// Runs `get` + `read_body` on a thread and reports the result on a channel, so the test can
/// bound its wait.
fn get_in_thread(client: &Client, url: url::Url) -> (Receiver<Outcome>, JoinHandle<()>) {
    let (tx, rx) = bounded(1);
    let client = client.clone();
    let thread = thread::spawn(move || {
        let result = client.get(&url).and_then(Response::read_body);
        let _ = tx.send((result, Instant::now()));
    });
    (rx, thread)
}

#[test]
fn get_returns_status_content_type_and_body() {
    let server = answering(
        "HTTP/1.1 200 OK\r\nContent-Type: Text/HTML; charset=utf-8\r\nContent-Length: 5\r\n\
         Connection: close\r\n\r\nhello",
    );
    let (_canceller, client) = client(Options::default());
    let url = server.url("/page");
    let response = client.get(&url).expect("get");
    assert_eq!(response.status, 200);
    assert_eq!(response.url, url);
    assert_eq!(
        response.content_type.as_deref(),
        Some("Text/HTML; charset=utf-8")
    );
    assert!(response.is_html());
    assert_eq!(response.read_body().expect("body"), b"hello");
}

#[test]
fn non_html_content_type_is_not_html() {
    let server = answering(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\
         Connection: close\r\n\r\nhi",
    );
    let (_canceller, client) = client(Options::default());
    let response = client.get(&server.url("/")).expect("get");
    assert!(!response.is_html());
}

#[test]
fn non_2xx_status_is_ok_with_that_status() {
    for (status, reason) in [(404, "Not Found"), (500, "Internal Server Error")] {
        let server = answering(format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: text/html\r\nContent-Length: 4\r\n\
             Connection: close\r\n\r\ngone"
        ));
        let (_canceller, client) = client(Options::default());
        let response = client
            .get(&server.url("/missing"))
            .expect("a status is not an error");
        assert_eq!(response.status, status);
        assert_eq!(response.read_body().expect("body"), b"gone");
    }
}

#[test]
fn redirects_are_followed_and_the_final_url_reported() {
    let server = Server::start(|mut stream| {
        let Some(head) = request_head(&mut stream) else {
            return;
        };
        let response: &[u8] = if head.starts_with(b"GET /start ") {
            b"HTTP/1.1 301 Moved\r\nLocation: /middle\r\nContent-Length: 0\r\n\
              Connection: close\r\n\r\n"
        } else if head.starts_with(b"GET /middle ") {
            b"HTTP/1.1 302 Found\r\nLocation: final/page?q=1\r\nContent-Length: 0\r\n\
              Connection: close\r\n\r\n"
        } else if head.starts_with(b"GET /final/page?q=1 ") {
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 7\r\n\
              Connection: close\r\n\r\narrived"
        } else {
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        };
        let _ = stream.write_all(response);
    });
    let (_canceller, client) = client(Options::default());
    let response = client.get(&server.url("/start")).expect("get");
    assert_eq!(response.status, 200);
    assert_eq!(response.url, server.url("/final/page?q=1"));
    assert_eq!(response.read_body().expect("body"), b"arrived");
}

#[test]
fn too_many_redirects_is_an_error() {
    let server = answering(
        "HTTP/1.1 302 Found\r\nLocation: /again\r\nContent-Length: 0\r\n\
         Connection: close\r\n\r\n",
    );
    let (_canceller, client) = client(Options {
        max_redirects: 3,
        ..Options::default()
    });
    let err = client
        .get(&server.url("/again"))
        .expect_err("a redirect loop must fail");
    assert!(!err.is_cancelled() && !err.is_timeout(), "{err}");
    assert!(err.to_string().contains("redirect"), "{err}");
}

#[test]
fn chunked_body_is_decoded() {
    let server = answering(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\
         Connection: close\r\n\r\n5\r\nhello\r\n1\r\n,\r\n6\r\n world\r\n0\r\n\r\n",
    );
    let (_canceller, client) = client(Options::default());
    let response = client.get(&server.url("/")).expect("get");
    assert_eq!(response.read_body().expect("body"), b"hello, world");
}

#[test]
fn body_without_length_reads_to_the_close() {
    let server = answering("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end");
    let (_canceller, client) = client(Options::default());
    let response = client.get(&server.url("/")).expect("get");
    assert_eq!(response.content_type, None);
    assert_eq!(response.read_body().expect("body"), b"until the end");
}

#[test]
fn long_bodies_are_cut_at_max_body() {
    let body = vec![b'x'; 100_000];
    let mut response = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    response.extend_from_slice(&body);
    let server = answering(response);
    let (_canceller, client) = client(Options {
        max_body: 1000,
        ..Options::default()
    });
    let response = client.get(&server.url("/big")).expect("get");
    assert_eq!(
        response.read_body().expect("a cut is not an error").len(),
        1000
    );
}

#[test]
fn a_body_says_whether_it_was_cut() {
    let answer = |length: usize| {
        let mut response =
            format!("HTTP/1.1 200 OK\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n")
                .into_bytes();
        response.resize(response.len() + length, b'x');
        answering(response)
    };
    let (_canceller, client) = client(Options {
        max_body: 1000,
        ..Options::default()
    });
    for (length, cut) in [(999, false), (1000, false), (1001, true), (100_000, true)] {
        let server = answer(length);
        let mut body = client.get(&server.url("/")).expect("get").into_body();
        let mut got = Vec::new();
        body.read_to_end(&mut got).expect("a cut is not an error");
        assert_eq!(got.len(), length.min(1000), "{length}");
        assert_eq!(body.cut(), cut, "{length}");
    }
}

#[test]
fn the_timeout_covers_the_readers_own_work() {
    let server =
        answering("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello");
    let (_canceller, client) = client(Options {
        timeout: Duration::from_millis(200),
        ..Options::default()
    });
    let response = client
        .get(&server.url("/"))
        .expect("the answer comes at once");
    // The reader's work (here none but time) outlasts the timeout before it reads the body,
    // which has arrived with the headers.
    thread::sleep(Duration::from_millis(300));
    let err = response.read_body().expect_err("past the timeout");
    assert!(err.is_timeout(), "not a timeout: {err}");
}

#[test]
fn binary_body_arrives_byte_for_byte_through_the_reader() {
    let body: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 256) as u8).collect();
    let mut response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    response.extend_from_slice(&body);
    let server = answering(response);
    let (_canceller, client) = client(Options::default());
    let mut reader = client.get(&server.url("/bin")).expect("get").into_reader();
    let mut got = Vec::new();
    reader.read_to_end(&mut got).expect("read");
    assert!(got == body, "the body differs ({} bytes read)", got.len());
}

#[test]
fn timeout_while_waiting_for_headers() {
    let (seen_tx, seen) = bounded(4);
    let server = Server::start(move |mut stream| {
        if read_head(&mut stream) {
            let _ = seen_tx.send(Seen::Request);
            let _ = seen_tx.send(wait_close(&mut stream));
        }
    });
    let (_canceller, client) = client(Options {
        timeout: Duration::from_millis(300),
        ..Options::default()
    });
    let start = Instant::now();
    let err = client.get(&server.url("/slow")).expect_err("must time out");
    let took = start.elapsed();
    assert!(err.is_timeout(), "not a timeout: {err}");
    assert!(!err.is_cancelled());
    assert!(
        took >= Duration::from_millis(250) && took < PROMPT + Duration::from_millis(300),
        "timed out after {took:?}"
    );
    assert_eq!(recv(&seen, "the request"), Seen::Request);
    assert_eq!(recv(&seen, "the close"), Seen::Closed);
}

#[test]
fn connection_refused_is_a_one_line_error() {
    // A port just freed: nothing listens there.
    let addr = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("bind");
    let (_canceller, client) = client(Options::default());
    let url = url::Url::parse(&format!("http://{addr}/")).expect("url");
    let err = client.get(&url).expect_err("nothing listens");
    assert!(!err.is_cancelled());
    let text = err.to_string();
    assert!(text.contains("refused") && !text.contains('\n'), "{text}");
}

#[test]
fn unsupported_scheme_is_an_error() {
    let (_canceller, client) = client(Options::default());
    let url = url::Url::parse("ftp://127.0.0.1/file").expect("url");
    let err = client.get(&url).expect_err("ftp is not fetched");
    assert!(err.to_string().contains("ftp"), "{err}");
}

#[test]
fn a_cancelled_client_fails_at_once() {
    let server = answering("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    let (canceller, client) = client(Options::default());
    canceller.cancel();
    let err = client.get(&server.url("/")).expect_err("cancelled");
    assert!(err.is_cancelled(), "{err}");
    assert_eq!(err.to_string(), "cancelled");
}

#[test]
fn cancel_while_waiting_for_headers_closes_the_connection() {
    let (seen_tx, seen) = bounded(4);
    let server = Server::start(move |mut stream| {
        if read_head(&mut stream) {
            let _ = seen_tx.send(Seen::Request);
            // Never answer; report when the client closes.
            let _ = seen_tx.send(wait_close(&mut stream));
        }
    });
    let (canceller, client) = client(Options::default());
    let (result, thread) = get_in_thread(&client, server.url("/never"));
    assert_eq!(recv(&seen, "the request"), Seen::Request);
    let cancelled_at = Instant::now();
    canceller.cancel();
    let (result, returned_at) = result
        .recv_timeout(PATIENCE)
        .expect("get did not return after the cancel");
    let err = result.expect_err("a cancelled request cannot succeed");
    assert!(err.is_cancelled(), "not reported as cancelled: {err}");
    let took = returned_at.duration_since(cancelled_at);
    assert!(took < PROMPT, "get returned {took:?} after the cancel");
    assert_eq!(recv(&seen, "the close"), Seen::Closed);
    assert!(cancelled_at.elapsed() < PROMPT + PROMPT);
    thread.join().expect("client thread");
}

#[test]
fn cancel_while_reading_the_body_closes_the_connection() {
    let (seen_tx, seen) = bounded(4);
    let server = Server::start(move |mut stream| {
        if read_head(&mut stream) {
            // Promise a long body, send a little of it, then stall.
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1000000\r\n\
                  \r\nfirst bytes",
            );
            let _ = seen_tx.send(Seen::Request);
            let _ = seen_tx.send(wait_close(&mut stream));
        }
    });
    let (canceller, client) = client(Options::default());
    let response = client.get(&server.url("/stall")).expect("get");
    assert_eq!(recv(&seen, "the request"), Seen::Request);
    let (progress_tx, progress): (Sender<usize>, _) = bounded(1);
    let (result_tx, result) = bounded(1);
    let reader = thread::spawn(move || {
        let mut reader = response.into_reader();
        let mut buf = [0u8; 64];
        let mut total = 0;
        // Bounded by the body length and PATIENCE on the server's side.
        let outcome = loop {
            match reader.read(&mut buf) {
                Ok(0) => break Ok(total),
                Ok(n) => {
                    total += n;
                    if total == b"first bytes".len() {
                        let _ = progress_tx.send(total);
                    }
                }
                Err(err) => break Err(err),
            }
        };
        let _ = result_tx.send((outcome, Instant::now()));
    });
    assert_eq!(
        progress.recv_timeout(PATIENCE).expect("the first bytes"),
        11
    );
    let cancelled_at = Instant::now();
    canceller.cancel();
    let (outcome, returned_at) = result
        .recv_timeout(PATIENCE)
        .expect("the body read did not return after the cancel");
    let err = outcome.expect_err("a cancelled body cannot end cleanly");
    assert!(is_cancelled_io(&err), "not reported as cancelled: {err}");
    assert!(Error::from_io(err).is_cancelled());
    let took = returned_at.duration_since(cancelled_at);
    assert!(took < PROMPT, "the read returned {took:?} after the cancel");
    assert_eq!(recv(&seen, "the close"), Seen::Closed);
    reader.join().expect("reader thread");
}

/// The local ports of this machine's TCP sockets in SYN-SENT towards `port` (from the kernel's
/// table: a connect in progress).
fn syn_sent_to(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp");
    table
        .lines()
        .skip(1)
        .filter(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let remote_port = fields
                .get(2)
                .and_then(|remote| remote.rsplit(':').next())
                .and_then(|hex| u16::from_str_radix(hex, 16).ok());
            remote_port == Some(port) && fields.get(3) == Some(&"02")
        })
        .count()
}

/// Polls `check` every millisecond until it holds or `PATIENCE` passes.
fn eventually(check: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        thread::sleep(Duration::from_millis(1));
    }
    false
}

/// A listener with a backlog of 1 that never accepts, its queue filled: a connect to it stays in
/// SYN-SENT. Keep all three values alive for as long as that should hold.
fn full_accept_queue() -> (Socket, SocketAddr, Vec<TcpStream>) {
    // A listener with a backlog of 1 that never accepts: once its queue is full the kernel drops
    // further SYNs, so a connect stays in SYN-SENT (retrying) until it is shut down.
    let listener = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).expect("socket");
    listener
        .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .expect("bind");
    listener.listen(1).expect("listen");
    let addr = listener
        .local_addr()
        .expect("local_addr")
        .as_socket()
        .expect("inet");
    let mut fillers = Vec::new();
    // Bounded: Linux queues backlog + 1 connections; the first connect that times out shows the
    // queue is full.
    for _ in 0..16 {
        match TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            Ok(stream) => fillers.push(stream),
            Err(_) => break,
        }
    }
    assert!(
        !fillers.is_empty() && fillers.len() < 16,
        "could not fill the accept queue ({} connects went through)",
        fillers.len()
    );
    assert!(
        eventually(|| syn_sent_to(addr.port()) == 0),
        "the timed-out filler connect is still in SYN-SENT"
    );
    (listener, addr, fillers)
}

#[test]
fn cancel_while_connecting_to_a_full_accept_queue() {
    let (_listener, addr, fillers) = full_accept_queue();
    let (canceller, client) = client(Options::default());
    let url = url::Url::parse(&format!("http://{addr}/")).expect("url");
    let (result, thread) = get_in_thread(&client, url);
    assert!(
        eventually(|| syn_sent_to(addr.port()) == 1),
        "the client's connect never showed up in SYN-SENT"
    );
    let cancelled_at = Instant::now();
    canceller.cancel();
    let (result, returned_at) = result
        .recv_timeout(PATIENCE)
        .expect("get did not return after the cancel");
    let err = result.expect_err("a cancelled connect cannot succeed");
    assert!(err.is_cancelled(), "not reported as cancelled: {err}");
    let took = returned_at.duration_since(cancelled_at);
    assert!(took < PROMPT, "get returned {took:?} after the cancel");
    // The kernel no longer tries to connect: the half-open connection is gone.
    assert!(
        eventually(|| syn_sent_to(addr.port()) == 0),
        "the cancelled connect is still in SYN-SENT"
    );
    thread.join().expect("client thread");
    drop(fillers);
}

#[test]
fn one_cancel_aborts_every_request_of_every_clone() {
    let (seen_tx, seen) = bounded(16);
    // Each connection gets its own handler thread so that all requests hang at once.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    const REQUESTS: usize = 4;
    let acceptor = thread::spawn(move || {
        let mut handlers = Vec::new();
        for stream in listener.incoming().take(REQUESTS) {
            let Ok(mut stream) = stream else { continue };
            let seen_tx = seen_tx.clone();
            handlers.push(thread::spawn(move || {
                patient(&stream, PATIENCE);
                if read_head(&mut stream) {
                    let _ = seen_tx.send(Seen::Request);
                    let _ = seen_tx.send(wait_close(&mut stream));
                }
            }));
        }
        for handler in handlers {
            let _ = handler.join();
        }
    });
    let (canceller, client) = client(Options::default());
    let url = url::Url::parse(&format!("http://{addr}/hang")).expect("url");
    let calls: Vec<_> = (0..REQUESTS)
        .map(|_| get_in_thread(&client.clone(), url.clone()))
        .collect();
    let mut requests = 0;
    while requests < REQUESTS {
        match recv(&seen, "every request") {
            Seen::Request => requests += 1,
            other => panic!("a connection ended before the cancel: {other:?}"),
        }
    }
    canceller.cancel();
    for (result, thread) in calls {
        let (result, _) = result.recv_timeout(PATIENCE).expect("a get hung");
        assert!(result.expect_err("cancelled").is_cancelled());
        thread.join().expect("client thread");
    }
    for _ in 0..REQUESTS {
        assert_eq!(recv(&seen, "every close"), Seen::Closed);
    }
    acceptor.join().expect("acceptor");
}

/// A server that reads the first bytes of whatever comes (a TLS ClientHello), reports them, and
/// then waits for the close.
fn silent_after_first_bytes(seen: Sender<Seen>) -> Server {
    Server::start(move |mut stream| {
        let mut buf = [0u8; 4096];
        if matches!(stream.read(&mut buf), Ok(n) if n > 0) {
            let _ = seen.send(Seen::Request);
            let _ = seen.send(wait_close(&mut stream));
        }
    })
}

#[test]
fn cancel_during_a_tls_handshake_closes_the_connection() {
    // https goes through our connector too (rustls is chained after it), so the socket of a
    // stalled handshake is shut down like any other.
    let (seen_tx, seen) = bounded(4);
    let server = silent_after_first_bytes(seen_tx);
    let url = url::Url::parse(&format!("https://{}/", server.addr)).expect("url");
    let (canceller, client) = client(Options::default());
    let (result, thread) = get_in_thread(&client, url);
    assert_eq!(recv(&seen, "the ClientHello"), Seen::Request);
    let cancelled_at = Instant::now();
    canceller.cancel();
    let (result, returned_at) = result
        .recv_timeout(PATIENCE)
        .expect("get did not return after the cancel");
    let err = result.expect_err("a cancelled handshake cannot succeed");
    assert!(err.is_cancelled(), "not reported as cancelled: {err}");
    assert!(returned_at.duration_since(cancelled_at) < PROMPT);
    assert_eq!(recv(&seen, "the close"), Seen::Closed);
    thread.join().expect("client thread");
}

#[test]
fn https_to_a_plain_http_server_is_a_one_line_error() {
    // A plain HTTP answer to whatever arrives (a ClientHello has no blank line to wait for).
    let server = Server::start(|mut stream| {
        let mut buf = [0u8; 4096];
        let _ = stream.read(&mut buf);
        let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
    });
    let url = url::Url::parse(&format!("https://{}/", server.addr)).expect("url");
    let (_canceller, client) = client(Options {
        timeout: PATIENCE,
        ..Options::default()
    });
    let err = client.get(&url).expect_err("no TLS there");
    assert!(!err.is_cancelled() && !err.is_timeout(), "{err}");
    assert!(!err.to_string().contains('\n'), "{err}");
}

#[test]
fn timeout_while_connecting() {
    let (_listener, addr, _fillers) = full_accept_queue();
    let (_canceller, client) = client(Options {
        timeout: Duration::from_millis(300),
        ..Options::default()
    });
    let url = url::Url::parse(&format!("http://{addr}/")).expect("url");
    let start = Instant::now();
    let err = client.get(&url).expect_err("the connect cannot complete");
    let took = start.elapsed();
    assert!(err.is_timeout(), "not a timeout: {err}");
    assert!(
        took >= Duration::from_millis(250) && took < PROMPT + Duration::from_millis(300),
        "timed out after {took:?}"
    );
    assert!(
        eventually(|| syn_sent_to(addr.port()) == 0),
        "the timed-out connect is still in SYN-SENT"
    );
}

#[test]
fn timeout_while_reading_the_body() {
    let server = Server::start(|mut stream| {
        if read_head(&mut stream) {
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nstart");
            wait_close(&mut stream);
        }
    });
    let (_canceller, client) = client(Options {
        timeout: Duration::from_millis(300),
        ..Options::default()
    });
    let response = client
        .get(&server.url("/"))
        .expect("the headers come at once");
    let start = Instant::now();
    let err = response.read_body().expect_err("the body never ends");
    assert!(err.is_timeout(), "not a timeout: {err}");
    assert!(start.elapsed() < PROMPT + Duration::from_millis(300));
}

#[test]
fn max_redirects_zero_returns_the_redirect_itself() {
    let server = answering(
        "HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\
         Connection: close\r\n\r\n",
    );
    let (_canceller, client) = client(Options {
        max_redirects: 0,
        ..Options::default()
    });
    let url = server.url("/here");
    let response = client.get(&url).expect("the 302 itself");
    assert_eq!(response.status, 302);
    assert_eq!(response.url, url);
    // As sent: resolving it is the caller's business.
    assert_eq!(response.location.as_deref(), Some("/elsewhere"));
}

#[test]
fn location_is_none_without_the_header_and_lossy_when_not_utf8() {
    let (_canceller, client) = client(Options {
        max_redirects: 0,
        ..Options::default()
    });
    let server = answering("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    let response = client.get(&server.url("/")).expect("get");
    assert_eq!(response.location, None);
    // A Latin-1 byte where UTF-8 was due (seen in the wild).
    let server = answering(
        &b"HTTP/1.1 302 Found\r\nLocation: /caf\xe9\r\nContent-Length: 0\r\n\
           Connection: close\r\n\r\n"[..],
    );
    let response = client.get(&server.url("/")).expect("get");
    assert_eq!(response.location.as_deref(), Some("/caf\u{fffd}"));
}

/// A keep-alive server (no `Connection: close`) that answers one request per connection and
/// closes a connection the moment a second request arrives on it, unanswered: the worst case of
/// a server's idle timeout racing a client that reuses the connection. It reports, per
/// connection, how many requests arrived on it. `/r` redirects to `/t`.
fn closing_keep_alive_server(requests: Sender<usize>) -> Server {
    Server::start(move |mut stream| {
        let mut count = 0;
        while let Some(head) = request_head(&mut stream) {
            count += 1;
            if count > 1 {
                break;
            }
            let response: &[u8] = if head.starts_with(b"GET /r ") {
                b"HTTP/1.1 302 Found\r\nLocation: /t\r\nContent-Length: 0\r\n\r\n"
            } else {
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"
            };
            if stream.write_all(response).is_err() {
                break;
            }
        }
        let _ = requests.send(count);
    })
}

#[test]
fn every_request_has_its_own_connection_so_a_keep_alive_close_fails_nothing() {
    let (requests_tx, requests) = bounded(16);
    let server = closing_keep_alive_server(requests_tx);
    let (_canceller, client) = client(Options::default());
    // A redirect to the same server, then two plain requests: each on a fresh connection.
    let response = client
        .get(&server.url("/r"))
        .expect("the redirect and its target");
    assert_eq!(response.url, server.url("/t"));
    assert_eq!(response.read_body().expect("body"), b"ok");
    for _ in 0..2 {
        let response = client.get(&server.url("/t")).expect("a second request");
        assert_eq!(response.read_body().expect("body"), b"ok");
    }
    // Four connections (the redirect, its target, two more), one request each, and each closed
    // by the client (the server handles them in turn, so a kept one would stall the next).
    let per_connection: Vec<usize> = (0..4)
        .map(|_| {
            requests
                .recv_timeout(PATIENCE)
                .expect("the server did not report a connection")
        })
        .collect();
    assert_eq!(per_connection, [1, 1, 1, 1]);
}

/// A server answering `gzip` (the 5-byte `hello`, gzipped) with `Content-Encoding: gzip`, which
/// reports each request head it read.
fn gzip_server(heads: Sender<Vec<u8>>) -> (Server, Vec<u8>) {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(b"hello").expect("writing to a Vec");
    let gzip = encoder.finish().expect("writing to a Vec");
    let mut response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/gzip\r\nContent-Encoding: gzip\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        gzip.len()
    )
    .into_bytes();
    response.extend_from_slice(&gzip);
    let server = Server::start(move |mut stream| {
        if let Some(head) = request_head(&mut stream) {
            let _ = heads.send(head);
            let _ = stream.write_all(&response);
        }
    });
    (server, gzip)
}

#[test]
fn gzip_is_asked_for_and_decoded_by_default() {
    let (heads_tx, heads) = bounded(4);
    let (server, _) = gzip_server(heads_tx);
    let (_canceller, client) = client(Options::default());
    let response = client.get(&server.url("/")).expect("get");
    // The length declared is the coded one: not what the reader gives.
    assert_eq!(response.content_length, None);
    assert_eq!(response.read_body().expect("body"), b"hello");
    let head = heads.recv_timeout(PATIENCE).expect("a request head");
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    assert!(head.contains("\r\naccept-encoding: gzip\r\n"), "{head}");
}

#[test]
fn raw_asks_for_no_coding_and_decodes_nothing() {
    let (heads_tx, heads) = bounded(4);
    let (server, gzip) = gzip_server(heads_tx);
    let (_canceller, client) = client(Options {
        raw: true,
        ..Options::default()
    });
    let response = client.get(&server.url("/")).expect("get");
    assert_eq!(response.content_length, Some(gzip.len() as u64));
    assert_eq!(response.read_body().expect("body"), gzip);
    let head = heads.recv_timeout(PATIENCE).expect("a request head");
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    assert!(!head.contains("accept-encoding"), "{head}");
}

#[test]
fn get_until_holds_the_request_to_its_deadline_body_included() {
    let (_canceller, client) = client(Options::default());
    let server = answering("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
    let err = client
        .get_until(&server.url("/"), Some(Instant::now()))
        .expect_err("no time left");
    assert!(err.is_timeout(), "{err}");
    // Headers in time, then a body that stalls: its read ends when the request is due.
    let stalling = Server::start(|mut stream| {
        if read_head(&mut stream) {
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial");
            let _ = wait_close(&mut stream);
        }
    });
    let started = Instant::now();
    let response = client
        .get_until(
            &stalling.url("/"),
            Some(started + Duration::from_millis(300)),
        )
        .expect("headers in time");
    let err = response.read_body().expect_err("the body stalls");
    assert!(err.is_timeout(), "{err}");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(300) && took < PROMPT + Duration::from_millis(300),
        "{took:?}"
    );
}
