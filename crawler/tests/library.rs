//! The library in-process: `crawler::run` with a done signal of the test's own, its outcome and
//! its output, and a cancel from another thread that returns `Outcome::Cancelled` at once.

use std::time::{Duration, Instant};

use crawler::{Config, Outcome, parse_start_url};
use testkit::site::{Site, SiteOptions};

use crate::util::{background, full_crawl};

#[test]
fn run_reports_what_it_fetched_and_failed() {
    let site = Site::generated(15)
        .start("127.0.0.1:0", SiteOptions::default())
        .unwrap();
    let config = Config {
        same_host: true,
        concurrency: 4,
        ..Config::default()
    };
    let (_canceller, done) = common::done::new();
    let (mut out, mut errors) = (Vec::new(), Vec::new());
    let start = [parse_start_url(&site.url("/")).unwrap()];
    let outcome = crawler::run(&start, &config, &done, &mut out, &mut errors).unwrap();
    let expected = full_crawl(15).len();
    assert_eq!(
        outcome,
        Outcome::Finished {
            fetched: expected,
            failed: 1
        }
    );
    assert_eq!(String::from_utf8(out).unwrap().lines().count(), expected);
    assert_eq!(
        String::from_utf8(errors).unwrap(),
        format!("crawler: {}: HTTP status 404\n", site.url("/missing"))
    );
}

#[test]
fn a_cancel_from_another_thread_ends_run_at_once() {
    let site = Site::generated(100)
        .start(
            "127.0.0.1:0",
            SiteOptions {
                latency: Duration::from_secs(60),
                workers: 32,
            },
        )
        .unwrap();
    let (canceller, done) = common::done::new();
    let start = [parse_start_url(&site.url("/")).unwrap()];
    let crawl = background(move || {
        let (mut out, mut errors) = (Vec::new(), Vec::new());
        let outcome = crawler::run(&start, &Config::default(), &done, &mut out, &mut errors);
        (outcome.unwrap(), String::from_utf8(errors).unwrap())
    });
    let (stats, ready) = site.wait_stats(Duration::from_secs(30), |s| s.in_flight == 1);
    assert!(ready, "{stats:?}");
    let cancelled_at = Instant::now();
    canceller.cancel();
    let (outcome, errors) = crawl.wait(Duration::from_secs(10), "the cancelled run");
    assert!(
        cancelled_at.elapsed() < Duration::from_secs(2),
        "{:?}",
        cancelled_at.elapsed()
    );
    assert_eq!(outcome, Outcome::Cancelled);
    // A cancelled fetch is not a failure.
    assert!(errors.is_empty(), "{errors}");
    let (stats, closed) = site.wait_stats(Duration::from_secs(10), |s| s.aborted == 1);
    assert!(closed, "{stats:?}");
}

#[test]
fn start_urls_must_be_absolute_http() {
    assert!(parse_start_url("http://127.0.0.1:1/a#frag").is_ok_and(|url| url.fragment().is_none()));
    assert!(parse_start_url("https://example.test/").is_ok());
    for bad in ["ftp://h/", "/relative", "mailto:a@b.c", "http://[::1"] {
        assert!(parse_start_url(bad).is_err(), "{bad}");
    }
}
