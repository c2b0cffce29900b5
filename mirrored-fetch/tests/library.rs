//! The library's `run` called directly, with the done signal injected (as `main` does with
//! Ctrl-C's): a cancel ends every request and the run reports `Cancelled`.

use std::time::{Duration, Instant};

use mirrored_fetch::{Config, Outcome};
use url::Url;

use crate::util::{NEVER, PATIENCE, binary_body, expect_aborted_by, mirror, on_thread};

#[test]
fn the_done_signal_cancels_every_request() {
    let body = binary_body(10);
    let mirrors = [mirror(&body, NEVER), mirror(&body, NEVER)];
    let config = Config {
        urls: mirrors
            .iter()
            .map(|mirror| Url::parse(&mirror.url("/f")).expect("url"))
            .collect(),
        timeout: Duration::from_secs(60),
    };
    let (canceller, done) = common::done::new();
    let runner = on_thread(move || {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let outcome = mirrored_fetch::run(&config, &done, &mut out, &mut err);
        (outcome.map_err(|e| e.to_string()), out, err, Instant::now())
    });
    for mirror in &mirrors {
        let (stats, ok) = mirror.wait_stats(PATIENCE, |stats| stats.requests == 1);
        assert!(ok, "the request never arrived: {stats:?}");
    }
    let cancelled_at = Instant::now();
    canceller.cancel();
    let (outcome, out, err, returned_at) = runner.recv_timeout(PATIENCE).expect("run hung");
    assert!(
        matches!(outcome, Ok(Outcome::Cancelled)),
        "{outcome:?}; stderr: {}",
        String::from_utf8_lossy(&err)
    );
    assert!(out.is_empty() && err.is_empty());
    assert!(returned_at.duration_since(cancelled_at) < Duration::from_secs(2));
    for mirror in &mirrors {
        expect_aborted_by(mirror, "the cancelled run");
    }
}

#[test]
fn the_winner_is_reported_with_its_body() {
    let body = binary_body(50_000);
    let slow = mirror(&body, NEVER);
    let fast = mirror(&body, Duration::ZERO);
    let urls: Vec<Url> = [&slow, &fast]
        .iter()
        .map(|mirror| Url::parse(&mirror.url("/f")).expect("url"))
        .collect();
    let config = Config {
        urls: urls.clone(),
        timeout: Duration::from_secs(60),
    };
    let (_canceller, done) = common::done::new();
    // On a thread, so that a run that never returns fails the test instead of stalling it.
    let runner = on_thread(move || {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let outcome = mirrored_fetch::run(&config, &done, &mut out, &mut err);
        (outcome.map_err(|e| e.to_string()), out, err)
    });
    let (outcome, out, err) = runner.recv_timeout(PATIENCE).expect("run hung");
    match outcome.expect("run") {
        Outcome::Won { url, bytes, .. } => {
            assert_eq!(url, urls[1]);
            assert_eq!(bytes, body.len() as u64);
        }
        other => panic!("{other:?}; stderr: {}", String::from_utf8_lossy(&err)),
    }
    assert!(out == body);
    expect_aborted_by(&slow, "the won run");
}
