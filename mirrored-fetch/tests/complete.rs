//! The first *complete* answer wins: a mirror whose body stalls, comes up short, is cut or is
//! reset loses, and the race goes on; nothing reaches stdout before the winner's last byte.
//! The hostile mirrors are plain TCP servers writing canned bytes (`util::canned`).

use std::time::Duration;

use crate::util::{PATIENCE, Then, binary_body, canned, mirror, run, won_after};

#[test]
fn a_stalled_body_loses_to_a_complete_one_and_is_closed_at_the_win() {
    let body = binary_body(100_000);
    // A mirror of the same file (its length declared) that stalls after 8 bytes.
    let (stalled, closed) = canned(
        b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\npartial-",
        Then::Stall,
    );
    let healthy = mirror(&body, Duration::from_millis(300));
    let urls = [stalled, healthy.url("/f")];
    let run = run(&["--timeout", "30s", &urls[0], &urls[1]]);
    run.expect_code(0);
    assert!(run.stdout == body, "the body differs\n{run}");
    let ms = won_after(&run.stderr, &urls[1]).unwrap_or_else(|| panic!("no win line\n{run}"));
    assert!(ms >= 300, "won after {ms} ms\n{run}");
    assert_eq!(run.stderr.lines().count(), 1, "{run}");
    assert!(
        run.took < Duration::from_secs(15),
        "waited for the stall\n{run}"
    );
    assert_eq!(
        closed.join(false, PATIENCE),
        Ok(true),
        "the stalled mirror's connection was not closed\n{run}"
    );
    let stats = healthy.stats();
    assert_eq!((stats.requests, stats.aborted), (1, 0), "{stats:?}\n{run}");
}

#[test]
fn bodies_that_end_early_lose_to_a_complete_one() {
    let body = binary_body(20_000);
    for (what, bytes, then) in [
        (
            "shorter than its Content-Length",
            &b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789"[..],
            Then::Close,
        ),
        (
            "a chunked body cut before its last chunk",
            &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"[..],
            Then::Close,
        ),
        (
            "a body reset before its Content-Length",
            &b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nuntil the reset"[..],
            Then::Reset,
        ),
        (
            "a body of unknown length reset before its end",
            &b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the reset"[..],
            Then::Reset,
        ),
    ] {
        let (broken, asked) = canned(bytes, then);
        let healthy = mirror(&body, Duration::from_millis(200));
        let urls = [broken, healthy.url("/f")];
        let run = run(&urls);
        run.expect_code(0);
        assert!(run.stdout == body, "{what}: the body differs\n{run}");
        assert!(won_after(&run.stderr, &urls[1]).is_some(), "{what}\n{run}");
        assert_eq!(asked.join(false, PATIENCE), Ok(true), "{what}\n{run}");
    }
}

#[test]
fn a_body_is_complete_at_its_length_its_last_chunk_or_a_clean_close() {
    for (what, bytes, expected) in [
        (
            "Content-Length",
            &b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"[..],
            &b"hello"[..],
        ),
        (
            "chunked",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
            b"hello",
        ),
        (
            "neither: to a clean end of file",
            b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil eof",
            b"until eof",
        ),
    ] {
        let (url, asked) = canned(bytes, Then::Close);
        let run = run(&[&url]);
        run.expect_code(0);
        assert_eq!(run.stdout, expected, "{what}\n{run}");
        assert!(won_after(&run.stderr, &url).is_some(), "{what}\n{run}");
        assert_eq!(asked.join(false, PATIENCE), Ok(true), "{what}\n{run}");
    }
}

#[test]
fn won_after_counts_to_the_winners_last_byte() {
    let (url, asked) = canned(
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf-",
        Then::Finish(Duration::from_millis(300), b"whole"),
    );
    let run = run(&[&url]);
    run.expect_code(0);
    assert_eq!(run.stdout, b"half-whole", "{run}");
    let ms = won_after(&run.stderr, &url).unwrap_or_else(|| panic!("no win line\n{run}"));
    assert!(ms >= 300, "won after {ms} ms, before the last byte\n{run}");
    assert_eq!(asked.join(false, PATIENCE), Ok(true), "{run}");
}
