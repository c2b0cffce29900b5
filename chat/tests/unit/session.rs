//! Unit tests of `chat/src/session.rs` (a child module of it, kept out of `src/`).

use super::*;

const LIMITS: Limits = Limits {
    max_line: 16,
    max_message: 1 << 20,
    idle_timeout: Duration::from_secs(60),
};

fn start() -> (Session, Instant, Vec<Output>) {
    let now = Instant::now();
    let mut out = Vec::new();
    let peer = "127.0.0.1:4000".parse().expect("addr");
    let session = Session::new(peer, LIMITS, now, &mut out);
    (session, now, out)
}

fn reply(line: &str) -> Output {
    Output::Reply(line.into())
}

#[test]
fn the_naming_dialogue_asks_again_until_the_room_admits_a_name() {
    let (mut session, now, mut out) = start();
    assert_eq!(std::mem::take(&mut out), [reply(PROMPT)]);
    session.received(b"a, b\nalice\nhello\n", now, &mut out);
    assert_eq!(
        std::mem::take(&mut out),
        [
            reply("Name a, b refused: a name is one word; choose another\n"),
            reply(PROMPT),
            Output::Join("alice".into()),
        ]
    );
    // Waiting for the room: "hello" waits too.
    assert!(!session.wants_input());
    session.joined(false, now, &mut out);
    assert_eq!(
        std::mem::take(&mut out),
        [
            reply("Name alice is taken; choose another\n"),
            reply(PROMPT),
            Output::Join("hello".into()),
        ]
    );
    session.joined(true, now, &mut out);
    session.received(b"hi \x1b[2J\xff\r\n", now, &mut out);
    assert_eq!(out, [Output::Say("hello: hi ^[[2J\u{fffd}\n".into())]);
}

#[test]
fn long_lines_are_refused_and_the_last_line_counts_at_close() {
    let (mut session, now, mut out) = start();
    session.received(&[b'n'; 40], now, &mut out);
    session.received(b"\nbob\n", now, &mut out);
    assert_eq!(
        out[1..],
        [
            reply("Name too long; try a shorter one\n"),
            reply(PROMPT),
            Output::Join("bob".into()),
        ]
    );
    session.joined(true, now, &mut out);
    out.clear();
    session.received(b"0123456789abcdefg\nlast words", now, &mut out);
    session.closed(now, &mut out);
    assert_eq!(
        out,
        [
            Output::Log("bob: line over 16 bytes dropped".into()),
            reply("Line too long (over 16 bytes); dropped\n"),
            Output::Say("bob: last words\n".into()),
            Output::End(End::Closed),
        ]
    );
    // The log's last lines about it (its drops) still name it.
    assert_eq!(session.name().map(|name| &**name), Some("bob"));
}

#[test]
fn a_client_silent_past_the_idle_timeout_is_told_and_ended() {
    let (mut session, now, mut out) = start();
    out.clear();
    session.received(b"typing", now, &mut out);
    let later = now + Duration::from_secs(59);
    session.tick(later, &mut out);
    assert!(out.is_empty(), "{out:?}");
    // A line renews the deadline; bytes without a newline did not.
    session.received(b"\n", later, &mut out);
    out.clear();
    session.tick(later + Duration::from_secs(59), &mut out);
    assert!(out.is_empty(), "{out:?}");
    session.tick(later + LIMITS.idle_timeout, &mut out);
    assert_eq!(
        out,
        [
            Output::Last("Disconnected: no message for 1m\n".into()),
            Output::End(End::Idle)
        ]
    );
    assert!(!session.wants_input());
}
