//! When nobody wins: every failure listed and exit 1; a timeout; Ctrl-C cancels every request
//! (exit 130, each server sees its connection close).

use std::net::TcpListener;
use std::process::Stdio;
use std::time::{Duration, Instant};

use testkit::child::Proc;

use crate::util::{
    NEVER, PATIENCE, Then, binary_body, canned, expect_aborted, failing_mirror, finish, mirror,
    mirrored_fetch, run,
};

#[test]
fn all_failing_exits_1_listing_each_failure() {
    let broken = failing_mirror(500, Duration::ZERO);
    let missing = failing_mirror(404, Duration::from_millis(50));
    // A port just freed: nothing listens there.
    let refused = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("bind");
    let urls = [
        broken.url("/f"),
        missing.url("/f"),
        format!("http://{refused}/f"),
    ];
    let run = run(&urls);
    run.expect_code(1);
    assert!(run.stdout.is_empty(), "{run}");
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 3, "one line per mirror\n{run}");
    assert_eq!(
        lines[0],
        format!("mirrored-fetch: {}: HTTP status 500", urls[0])
    );
    assert_eq!(
        lines[1],
        format!("mirrored-fetch: {}: HTTP status 404", urls[1])
    );
    assert!(
        lines[2].starts_with(&format!("mirrored-fetch: {}: ", urls[2]))
            && lines[2].contains("refused"),
        "{run}"
    );
}

#[test]
fn a_timeout_is_a_failure() {
    let stuck = mirror(b"never sent", NEVER);
    let url = stuck.url("/f");
    let run = run(&["--timeout", "300ms", url.as_str()]);
    run.expect_code(1);
    assert_eq!(
        run.stderr.trim_end(),
        format!("mirrored-fetch: {url}: timed out"),
        "{run}"
    );
    assert!(run.took >= Duration::from_millis(300), "{run}");
    expect_aborted(&stuck, &run);
}

#[test]
fn ctrl_c_cancels_every_request_and_exits_130() {
    let body = binary_body(100);
    let mirrors = [mirror(&body, NEVER), mirror(&body, NEVER)];
    let mut command = mirrored_fetch();
    command.args(mirrors.iter().map(|mirror| mirror.url("/f")));
    let proc = Proc::start(&mut command, Stdio::null(), None).expect("spawn mirrored-fetch");
    let text = proc.label.clone();
    // Both requests are in flight (so the Ctrl-C handler, installed before them, is too).
    for mirror in &mirrors {
        let (stats, ok) = mirror.wait_stats(PATIENCE, |stats| stats.requests == 1);
        assert!(ok, "{text}: the request never arrived: {stats:?}");
    }
    let sent = Instant::now();
    // Our own child, not yet reaped (the Proc holds it); SIGINT is what Ctrl-C sends.
    assert_eq!(proc.interrupt(), Ok(()), "kill");
    let run = finish(proc, sent);
    run.expect_code(130);
    assert_eq!(run.stderr.trim_end(), "mirrored-fetch: cancelled", "{run}");
    assert!(run.stdout.is_empty(), "{run}");
    assert!(run.took < Duration::from_secs(2), "slow to cancel\n{run}");
    for mirror in &mirrors {
        expect_aborted(mirror, &run);
    }
}

#[test]
fn a_body_shorter_than_its_length_never_wins_and_nothing_is_written() {
    // The only mirror promises 1000 bytes, sends 10 and closes.
    let (url, asked) = canned(
        b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789",
        Then::Close,
    );
    let run = run(&[&url]);
    assert_eq!(asked.join(false, PATIENCE), Ok(true), "{run}");
    run.expect_code(1);
    assert!(run.stdout.is_empty(), "{run}");
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{run}");
    assert!(
        lines[0].starts_with(&format!("mirrored-fetch: {url}: reading the body: ")),
        "{run}"
    );
}
