//! `crawler::run` returns only once every worker thread has returned, a cancel included. A test
//! binary of its own: it counts this process's `crawler-worker-*` threads, to which another
//! test's crawl running beside it would add.

use std::io::Write;
use std::net::TcpListener;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use crawler::{Config, Outcome, parse_start_url};
use testkit::site::{Site, SiteOptions};

#[test]
fn a_cancel_joins_every_worker_before_run_returns() {
    // A page a tree builder takes seconds over (40,000 nested elements), and a server that
    // sends half a body and stalls: at the cancel, one worker may be busy with each.
    let deep = format!("{}<a href=\"/never\">x</a>", "<div>".repeat(40_000));
    let site = Site::new()
        .page("/", &deep)
        .start("127.0.0.1:0", SiteOptions::default())
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let stalled = format!("http://{}/", listener.local_addr().unwrap());
    let (answered, half_sent) = mpsc::channel();
    let server = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 1000\r\n\r\n";
        stream.write_all(head).unwrap();
        stream.write_all(b"<a href=\"/x\">").unwrap();
        answered.send(()).unwrap();
        // Until the crawler closes the connection (bounded by the read timeout).
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let _ = std::io::Read::read(&mut stream, &mut [0u8; 64]);
    });

    let start = [
        parse_start_url(&site.url("/")).unwrap(),
        parse_start_url(&stalled).unwrap(),
    ];
    let (canceller, done) = common::done::new();
    let (ended, outcome) = mpsc::channel();
    let crawl = thread::spawn(move || {
        let config = Config {
            concurrency: 4,
            ..Config::default()
        };
        let outcome = crawler::run(&start, &config, &done, &mut Vec::new(), &mut Vec::new());
        // One left running (a tree builder's seconds over the deep page) stays listed.
        let left = testkit::threads::left_after("crawler-worker", Duration::from_secs(2));
        let _ = ended.send((outcome.unwrap(), left.len()));
    });
    half_sent
        .recv_timeout(Duration::from_secs(30))
        .expect("the crawler never asked the stalled server");
    let (stats, answered) = site.wait_stats(Duration::from_secs(30), |s| {
        s.requests == 1 && s.in_flight == 0
    });
    assert!(answered, "{stats:?}");
    canceller.cancel();
    let (outcome, alive) = outcome
        .recv_timeout(Duration::from_secs(30))
        .expect("run did not return within 30 s of the cancel");
    assert_eq!(outcome, Outcome::Cancelled);
    assert_eq!(alive, 0, "worker threads still running after run returned");
    crawl.join().unwrap();
    server.join().unwrap();
}
