//! The library's `run` called directly, with the done signal injected (as `main` does with
//! Ctrl-C's): a cancel ends every request and the run reports `Cancelled`; no thread it started
//! outlives it.

use std::sync::mpsc::Receiver;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use common::done::Done;
use mirrored_fetch::{Config, Outcome};
use testkit::site::SiteHandle;
use url::Url;

use crate::util::{NEVER, PATIENCE, binary_body, expect_aborted_by, mirror, on_thread};

/// Held by every test here that calls `run`, so that the threads of one run are not taken for
/// the leftovers of another (the other test modules run the binary, in processes of its own).
static ONE_RUN_AT_A_TIME: Mutex<()> = Mutex::new(());

fn alone() -> MutexGuard<'static, ()> {
    ONE_RUN_AT_A_TIME
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

/// What a `run` returned (its error as text), what it wrote to stdout and stderr, and when.
type Ran = (Result<Outcome, String>, Vec<u8>, Vec<u8>, Instant);

/// Calls `run` with `done` against `mirrors` on a thread, so that a run that never returns fails
/// the test instead of stalling it.
fn run_on_thread(mirrors: &[&SiteHandle], done: Done) -> Receiver<Ran> {
    let urls = mirrors.iter().map(|mirror| mirror.url("/f"));
    let config = Config {
        timeout: Duration::from_secs(60),
        ..Config::new(urls.map(|url| Url::parse(&url).expect("url")).collect())
    };
    on_thread(move || {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let outcome = mirrored_fetch::run(&config, &done, &mut out, &mut err);
        (outcome.map_err(|e| e.to_string()), out, err, Instant::now())
    })
}

/// The threads `run` starts (`mirror-0`, `mirror-1`, ...) still listed after a moment to leave.
fn mirror_threads() -> Vec<String> {
    testkit::threads::left_after("mirror-", Duration::from_secs(2))
}

#[test]
fn the_done_signal_cancels_every_request() {
    let _alone = alone();
    let body = binary_body(10);
    let mirrors = [mirror(&body, NEVER), mirror(&body, NEVER)];
    let (canceller, done) = common::done::new();
    let runner = run_on_thread(&[&mirrors[0], &mirrors[1]], done);
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
    assert_eq!(mirror_threads(), Vec::<String>::new());
    for mirror in &mirrors {
        expect_aborted_by(mirror, "the cancelled run");
    }
}

#[test]
fn the_winner_is_reported_with_its_body_and_no_thread_outlives_the_run() {
    let _alone = alone();
    let body = binary_body(50_000);
    let slow = mirror(&body, NEVER);
    let fast = mirror(&body, Duration::ZERO);
    let (_canceller, done) = common::done::new();
    let runner = run_on_thread(&[&slow, &fast], done);
    let (outcome, out, err, _) = runner.recv_timeout(PATIENCE).expect("run hung");
    match outcome.expect("run") {
        Outcome::Won { url, bytes, .. } => {
            assert_eq!(url, Url::parse(&fast.url("/f")).unwrap());
            assert_eq!(bytes, body.len() as u64);
        }
        other => panic!("{other:?}; stderr: {}", String::from_utf8_lossy(&err)),
    }
    assert!(out == body);
    // `run` has returned: the loser's thread, blocked waiting for headers at the win, is gone.
    assert_eq!(mirror_threads(), Vec::<String>::new());
    expect_aborted_by(&slow, "the won run");
}
