//! Cancellation (exercise 8.10): a byte on stdin or Ctrl-C closes every in-flight connection at
//! once, whatever state it is in (waiting for an answer, or still connecting to a server whose
//! accept queue is full), and the crawler exits 130 promptly; the servers see the closes.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};
use testkit::site::{Site, SiteOptions};

use crate::util::{Run, crawler, full_crawl, lines, spawn};

/// Generous: "it happens", on a loaded CI machine. The benchmark measures the real latency.
const CANCEL_BOUND: Duration = Duration::from_secs(2);

/// Starts the crawler with a piped stdin (nothing written yet).
fn start(args: &[&str]) -> (Child, String) {
    spawn(crawler().args(args), Stdio::piped())
}

/// Writes one byte to the child's stdin; returns when it was written.
fn send_byte(child: &mut Child) -> Instant {
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"x").unwrap();
    let sent = Instant::now();
    // Keep the pipe open: end of file is not a cancel, but it must not race the byte either.
    std::mem::forget(stdin);
    sent
}

/// Waits for the cancelled child: exit 130, `crawler: cancelled`, within [`CANCEL_BOUND`].
fn expect_cancelled(child: Child, text: String, sent: Instant) {
    let run = Run::finish(child, text, Duration::from_secs(30));
    let elapsed = sent.elapsed();
    run.expect_code(130);
    assert!(elapsed < CANCEL_BOUND, "took {elapsed:?} to exit\n{run}");
    assert_eq!(run.stderr, "crawler: cancelled\n", "{run}");
}

#[test]
fn a_byte_cancels_twenty_requests_in_flight_and_the_server_sees_them_close() {
    let site = Site::generated(500)
        .start(
            "127.0.0.1:0",
            SiteOptions {
                latency: Duration::from_secs(60),
                workers: 64,
            },
        )
        .unwrap();
    // Start from twenty pages at once, so twenty requests wait on the slow site together.
    let urls: Vec<String> = (0..20).map(|i| site.url(&format!("/page/{i}"))).collect();
    let mut args: Vec<&str> = urls.iter().map(String::as_str).collect();
    args.insert(0, "--same-host");
    let (mut child, text) = start(&args);
    let (stats, ready) = site.wait_stats(Duration::from_secs(30), |s| s.in_flight == 20);
    assert!(ready, "{stats:?}");
    let sent = send_byte(&mut child);
    let (stats, closed) = site.wait_stats(Duration::from_secs(10), |s| s.aborted == 20);
    expect_cancelled(child, text, sent);
    assert!(
        closed,
        "the server did not see every connection close: {stats:?}"
    );
    assert_eq!(stats.in_flight, 0, "{stats:?}");
}

#[test]
fn a_byte_cancels_a_server_that_accepts_and_never_answers() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (accepted, connections) = mpsc::channel::<TcpStream>();
    // Accepts three connections, reads their request heads, and answers nothing.
    let server = std::thread::spawn(move || {
        for _ in 0..3 {
            let Ok((mut stream, _)) = listener.accept() else {
                return;
            };
            stream
                .set_read_timeout(Some(Duration::from_secs(30)))
                .unwrap();
            let mut head = [0u8; 1024];
            let _ = stream.read(&mut head);
            if accepted.send(stream).is_err() {
                return;
            }
        }
    });
    let urls: Vec<String> = (0..3).map(|i| format!("http://{addr}/{i}")).collect();
    let mut args = vec!["--concurrency", "3"];
    args.extend(urls.iter().map(String::as_str));
    let (mut child, text) = start(&args);
    let streams: Vec<TcpStream> = (0..3)
        .map(|_| {
            connections
                .recv_timeout(Duration::from_secs(30))
                .unwrap_or_else(|err| panic!("no request arrived: {err}: {text}"))
        })
        .collect();
    let sent = send_byte(&mut child);
    expect_cancelled(child, text, sent);
    // Each connection is closed by the crawler: a read ends (0 bytes or a reset), not times out.
    for mut stream in streams {
        let mut rest = Vec::new();
        match stream.read_to_end(&mut rest) {
            Ok(_) => {}
            Err(err) => assert!(
                !matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
                "the connection stayed open: {err}"
            ),
        }
    }
    server.join().unwrap();
}

/// True if a connection to `addr` from this machine is in SYN-SENT (`/proc/net/tcp` state 02).
fn connecting_to(addr: SocketAddr) -> bool {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    let remote = format!("0100007F:{:04X}", addr.port());
    table.lines().skip(1).any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        fields.len() > 3 && fields[2] == remote && fields[3] == "02"
    })
}

#[test]
fn a_byte_cancels_a_connect_to_a_full_accept_queue() {
    // A listener with a backlog of 1 that never accepts, its queue filled by the test: the
    // crawler's SYN is dropped and its connect hangs in SYN-SENT until cancelled.
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket
        .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    socket.listen(1).unwrap();
    let addr = socket.local_addr().unwrap().as_socket().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..16 {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
            Ok(stream) => fillers.push(stream),
            Err(_) => break,
        }
    }
    assert!(
        !fillers.is_empty() && fillers.len() < 16,
        "{}",
        fillers.len()
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while connecting_to(addr) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        !connecting_to(addr),
        "the test's own probe is still connecting"
    );

    let url = format!("http://{addr}/");
    let (mut child, text) = start(&[&url]);
    let stdout = lines(child.stdout.take().unwrap());
    assert_eq!(
        stdout.recv_timeout(Duration::from_secs(30)).ok(),
        Some(url.clone()),
        "{text}"
    );
    // Readiness: the crawler's connect is in progress (bounded wait).
    let deadline = Instant::now() + Duration::from_secs(30);
    while !connecting_to(addr) {
        assert!(
            Instant::now() < deadline,
            "the crawler never connected: {text}"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    let sent = send_byte(&mut child);
    expect_cancelled(child, text, sent);
    // The half-open connection is gone from this machine's table.
    let deadline = Instant::now() + Duration::from_secs(10);
    while connecting_to(addr) {
        assert!(
            Instant::now() < deadline,
            "the crawler's connect is still pending"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(fillers);
}

#[test]
fn ctrl_c_cancels_like_a_byte() {
    let site = Site::generated(50)
        .start(
            "127.0.0.1:0",
            SiteOptions {
                latency: Duration::from_secs(60),
                workers: 8,
            },
        )
        .unwrap();
    let (child, text) = start(&[&site.url("/")]);
    let (stats, ready) = site.wait_stats(Duration::from_secs(30), |s| s.in_flight == 1);
    assert!(ready, "{stats:?}");
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    // SAFETY: `kill` with a pid of our own live child (not yet reaped) and a valid signal.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let sent = Instant::now();
    let (stats, closed) = site.wait_stats(Duration::from_secs(10), |s| s.aborted == 1);
    expect_cancelled(child, text, sent);
    assert!(closed, "{stats:?}");
}

#[test]
fn end_of_file_on_stdin_is_not_a_cancel() {
    let site = Site::generated(20)
        .start(
            "127.0.0.1:0",
            SiteOptions {
                latency: Duration::from_millis(50),
                workers: 8,
            },
        )
        .unwrap();
    let (mut child, text) = start(&["--same-host", &site.url("/")]);
    drop(child.stdin.take());
    let run = Run::finish(child, text, Duration::from_secs(60));
    run.expect_code(1);
    assert_eq!(run.stdout.lines().count(), full_crawl(20).len(), "{run}");
}

#[test]
fn a_byte_cancels_while_a_deeply_nested_page_is_parsed() {
    // 40,000 nested elements, which a tree builder takes seconds over (quadratic in the depth):
    // a cancel ends the crawl at once whatever the extraction is doing.
    let html = format!("{}<a href=\"/never\">x</a>", "<div>".repeat(40_000));
    let site = Site::new()
        .page("/", &html)
        .start("127.0.0.1:0", SiteOptions::default())
        .unwrap();
    let (mut child, text) = start(&[&site.url("/")]);
    // The page has been answered (the crawler reads it, then parses it).
    let (stats, answered) = site.wait_stats(Duration::from_secs(30), |s| {
        s.requests == 1 && s.in_flight == 0
    });
    assert!(answered, "{stats:?}");
    let sent = send_byte(&mut child);
    expect_cancelled(child, text, sent);
    assert_eq!(site.stats().requests, 1);
}

#[test]
fn a_byte_cancels_while_a_huge_page_s_links_are_read() {
    // 700,000 links (10 MiB): the byte comes once the first of them is requested, while the
    // worker is still resolving the rest and the loop queueing them.
    let links = 700_000;
    // Every link a page without links, so that nothing but the cancel is said on stderr.
    let site = Site::new()
        .with_fallback(testkit::site::Resource::html("leaf"))
        .with("/big/", testkit::hostile::many_links(links))
        .serve(Duration::ZERO)
        .unwrap();
    let (mut child, text) = start(&["--depth", "1", &site.url("/big/")]);
    let (stats, ready) = site.wait_stats(Duration::from_secs(30), |s| {
        s.by_path.contains_key("/big/0")
    });
    assert!(ready, "{stats:?}");
    let sent = send_byte(&mut child);
    expect_cancelled(child, text, sent);
    assert!(
        site.stats().requests < links as u64 / 2,
        "{:?}",
        site.stats().requests
    );
}
