//! The library's `run` called directly, with the done signal injected (as `main` does with
//! Ctrl-C's): a cancel ends every request and the run reports `Cancelled`; no thread it started
//! outlives it.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use mirrored_fetch::{Config, Outcome};
use url::Url;

use crate::util::{NEVER, PATIENCE, binary_body, expect_aborted_by, mirror, on_thread};

/// Held by every test here that calls `run`, so that the threads of one run are not taken for
/// the leftovers of another (the other test modules run the binary, in processes of its own).
static ONE_RUN_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The names of this process's threads that `run` starts (`mirror-0`, `mirror-1`, ...).
fn mirror_threads() -> Vec<String> {
    let tasks = std::fs::read_dir("/proc/self/task").expect("/proc/self/task");
    tasks
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|name| name.trim_end().to_owned())
        .filter(|name| name.starts_with("mirror-"))
        .collect()
}

#[test]
fn the_done_signal_cancels_every_request() {
    let _alone = ONE_RUN_AT_A_TIME
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
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
    assert_eq!(mirror_threads(), Vec::<String>::new());
    for mirror in &mirrors {
        expect_aborted_by(mirror, "the cancelled run");
    }
}

#[test]
fn the_winner_is_reported_with_its_body_and_no_thread_outlives_the_run() {
    let _alone = ONE_RUN_AT_A_TIME
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
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
    // `run` has returned: the loser's thread, blocked waiting for headers at the win, is gone.
    assert_eq!(mirror_threads(), Vec::<String>::new());
    expect_aborted_by(&slow, "the won run");
}
