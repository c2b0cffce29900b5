//! Unit tests of `chat/src/flow.rs` (a child module of it, kept out of `src/`).

use super::*;

const MS: Duration = Duration::from_millis(1);

fn flow(max_backlog: usize) -> (Flow, Arc<Gate>) {
    let config = Config {
        max_backlog,
        ..Config::default()
    };
    let gate = Arc::new(Gate::new(&config));
    let flow = Flow::new(1 << 20, &config, Arc::clone(&gate), Log::discard());
    (flow, gate)
}

/// Takes everything pending, as a socket that reads at once would; returns it as text.
fn take(flow: &mut Flow, backlog: &mut Backlog, now: Instant) -> String {
    let mut batch = Vec::new();
    let mut all = String::new();
    for _ in 0..1000 {
        flow.review(backlog, "x", now);
        backlog.fill(flow.feed(), &mut batch, 1 << 20);
        if batch.is_empty() {
            return all;
        }
        all.push_str(std::str::from_utf8(&batch).expect("UTF-8"));
        backlog.consume(flow.feed(), batch.len(), now);
    }
    panic!("never emptied");
}

#[test]
fn own_lines_and_feed_messages_go_out_in_the_rooms_order_and_partial_writes_lose_nothing() {
    let (mut flow, _) = flow(1 << 20);
    let mut backlog = Backlog::default();
    let now = Instant::now();
    flow.push("before the join\n".into());
    backlog.reply("Enter your name:\n".into(), flow.feed());
    flow.admit(&mut backlog, "You are x\n".into());
    flow.push("a\n".into());
    backlog.reply("Line too long\n".into(), flow.feed());
    flow.push("b\n".into());
    let mut batch = Vec::new();
    backlog.fill(flow.feed(), &mut batch, 1 << 20);
    // Three bytes at a time.
    let mut got = Vec::new();
    while !backlog.is_empty(flow.feed()) {
        backlog.fill(flow.feed(), &mut batch, 1 << 20);
        let n = batch.len().min(3);
        got.extend_from_slice(&batch[..n]);
        backlog.consume(flow.feed(), n, now);
    }
    assert_eq!(
        String::from_utf8(got).expect("UTF-8"),
        "Enter your name:\nYou are x\na\nLine too long\nb\n"
    );
}

#[test]
fn a_reader_that_keeps_up_holds_the_room_and_loses_nothing_however_far_behind() {
    let (mut flow, gate) = flow(1000);
    let mut backlog = Backlog::default();
    let now = Instant::now();
    flow.admit(&mut backlog, "You are x\n".into());
    for i in 0..1000 {
        flow.push(format!("message {i:011}\n").into());
    }
    flow.review(&mut backlog, "x", now);
    assert!(!gate.is_open(), "20 KB behind a 250 B high-water mark");
    // It takes something within the stall limit, and is not stalled.
    let mut batch = Vec::new();
    backlog.fill(flow.feed(), &mut batch, 100);
    backlog.consume(flow.feed(), batch.len(), now + 900 * MS);
    flow.review(&mut backlog, "x", now + 900 * MS);
    let got = take(&mut flow, &mut backlog, now + 900 * MS);
    assert!(gate.is_open());
    let first = String::from_utf8(batch).expect("UTF-8");
    assert_eq!(first.lines().count() + got.lines().count(), 1001);
    assert!(got.ends_with("message 00000000999\n"), "{got}");
    assert_eq!(flow.dropped(), 0);
}

#[test]
fn past_its_cap_the_feed_keeps_what_a_client_that_holds_the_room_has_not_read() {
    let config = Config {
        max_backlog: 1 << 20,
        ..Config::default()
    };
    // Room for about 12 messages of 20 bytes (each counted with its overhead).
    let mut flow = Flow::new(1000, &config, Arc::new(Gate::new(&config)), Log::discard());
    let (mut reader, mut quiet) = (Backlog::default(), Backlog::default());
    let now = Instant::now();
    flow.admit(&mut reader, "You are reader\n".into());
    flow.admit(&mut quiet, "You are quiet\n".into());
    let say = |flow: &mut Flow, from| {
        for i in from..from + 100 {
            flow.push(format!("message {i:011}\n").into());
        }
    };
    say(&mut flow, 0);
    flow.review(&mut quiet, "quiet", now);
    // Both hold the room: nothing goes, whatever the cap.
    assert_eq!(flow.feed().tail, 0);
    flow.passed();
    let got = take(&mut flow, &mut reader, now + 1000 * MS);
    assert_eq!(got.lines().count(), 101);
    // The quiet one took nothing for the stall limit: only the reader holds the room now, as
    // the next pass (every client reviewed) finds.
    flow.review(&mut quiet, "quiet", now + 1000 * MS);
    flow.passed();
    flow.review(&mut reader, "reader", now + 1000 * MS);
    flow.review(&mut quiet, "quiet", now + 1000 * MS);
    flow.passed();
    say(&mut flow, 100);
    let got = take(&mut flow, &mut reader, now + 1100 * MS);
    assert_eq!(got.lines().count(), 100);
    assert!(got.starts_with("message 00000000100\n"), "{got}");
    assert_eq!(flow.dropped(), 0, "nothing dropped for the reader");
    flow.review(&mut quiet, "quiet", now + 1100 * MS);
    assert_eq!(flow.dropped(), 100, "dropped for the quiet one alone");
}

#[test]
fn a_client_that_takes_nothing_for_the_stall_limit_drops_for_itself_and_is_told_once() {
    let (mut flow, gate) = flow(1000);
    let mut backlog = Backlog::default();
    let now = Instant::now();
    flow.admit(&mut backlog, "You are x\n".into());
    for i in 0..100 {
        flow.push(format!("message {i:011}\n").into());
    }
    flow.review(&mut backlog, "x", now);
    assert!(!gate.is_open());
    flow.review(&mut backlog, "x", now + 999 * MS);
    assert!(!gate.is_open(), "held for up to a second");
    flow.review(&mut backlog, "x", now + 1000 * MS);
    assert!(gate.is_open(), "stalled: the room goes on");
    // Stalled: its backlog stays within 1000 bytes, 50 messages of 20.
    for i in 100..200 {
        flow.push(format!("message {i:011}\n").into());
        flow.review(&mut backlog, "x", now + 1100 * MS);
    }
    assert_eq!(flow.dropped(), 150);
    let got = take(&mut flow, &mut backlog, now + 2 * 1000 * MS);
    let lines: Vec<&str> = got.lines().collect();
    assert_eq!(lines[0], "You are x");
    assert_eq!(lines[1], "message 00000000150");
    assert_eq!(lines[50], "message 00000000199");
    assert_eq!(
        lines[51..],
        ["*** 150 messages dropped: you were not reading ***"]
    );
    // Caught up: it holds the room again, and a new gap gets a new notice.
    flow.push("after\n".into());
    assert_eq!(
        take(&mut flow, &mut backlog, now + 2 * 1000 * MS),
        "after\n"
    );
    assert_eq!(flow.dropped(), 150);
}

#[test]
fn a_stalled_client_keeps_a_message_as_long_as_the_backlog_and_the_feed_its_cap() {
    let (mut flow, _) = flow(10);
    let mut backlog = Backlog::default();
    let now = Instant::now();
    flow.admit(&mut backlog, "You are a long-named client\n".into());
    flow.push("0123456789".into());
    flow.review(&mut backlog, "x", now);
    flow.push("abcdefghi\n".into());
    flow.review(&mut backlog, "x", now + 2000 * MS);
    let got = take(&mut flow, &mut backlog, now + 2000 * MS);
    assert_eq!(
        got,
        "You are a long-named client\nabcdefghi\n\
         *** 1 messages dropped: you were not reading ***\n"
    );
    // Room for two 4-byte messages, each counted with its overhead.
    let mut feed = Feed::new(2 * (4 + MESSAGE_OVERHEAD as usize));
    for text in ["aaaa", "bbbb", "cccc"] {
        feed.push(text.into(), u64::MAX);
    }
    assert_eq!((feed.tail, feed.head()), (1, 3));
    assert_eq!(feed.entries.get(1).map(|(m, _)| &**m), Some("cccc"));
    feed.push("x".repeat(20).into(), u64::MAX);
    assert_eq!((feed.tail, feed.head()), (3, 4), "the newest stays");
    feed.release_before(4);
    assert_eq!(feed.entries.capacity(), 0);
}
