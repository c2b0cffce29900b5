//! The one flow and drop policy (SPEC.md, chat, item 8), the same cases on both engines: a
//! reader that keeps reading never loses a line, however large the burst and however many
//! senders; a flooder or a non-reader holds no one back for long; a line that could never fit a
//! backlog is refused; the greeting always fits.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use chat::Engine;

use crate::util::{Client, PATIENCE, Server, config, eventually, netcat3, shared};

/// A client through the real `netcat3` binary, its output going to a file (`netcat3 ADDR >
/// FILE`), its stdin kept open; killed when dropped.
struct Netcat {
    child: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
    file: std::path::PathBuf,
}

impl Netcat {
    fn start(server: &Server, name: &str, tag: &str) -> Netcat {
        let file = std::env::temp_dir().join(format!("chat-flow-{}-{tag}.out", std::process::id()));
        let out = std::fs::File::create(&file).expect("output file");
        let mut child = Command::new(netcat3())
            .arg(server.addr.to_string())
            .stdin(Stdio::piped())
            .stdout(out)
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn netcat3");
        let mut stdin = child.stdin.take();
        if let Some(stdin) = &mut stdin {
            stdin
                .write_all(format!("{name}\n").as_bytes())
                .expect("name");
        }
        Netcat { child, stdin, file }
    }

    fn output(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.file).unwrap_or_default()).into_owned()
    }
}

impl Drop for Netcat {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.file);
    }
}

/// `count` lines of 50 bytes (the newline included), numbered.
fn burst(tag: &str, count: usize) -> String {
    (0..count)
        .map(|i| format!("{tag}{i:06} {}\n", "z".repeat(42 - tag.len())))
        .collect()
}

/// Sends `text` from a thread of its own (the sender does not read meanwhile).
fn send_from_thread(client: &Client, text: String) -> thread::JoinHandle<std::io::Result<()>> {
    let mut stream = client.stream.try_clone().expect("clone");
    thread::spawn(move || stream.write_all(text.as_bytes()))
}

fn one_sender_bursts_50000_lines_and_a_netcat3_reader_gets_every_one(engine: Engine) {
    let _lock = shared();
    let server = Server::start(config(engine));
    let (mut sender, _) = server.join("sender");
    let reader = Netcat::start(&server, "reader", &format!("{engine:?}-burst"));
    sender.expect("reader has arrived");
    const LINES: usize = 50_000;
    let sending = send_from_thread(&sender, burst("b", LINES));
    let want = format!("sender: b{:06} ", LINES - 1);
    assert!(
        eventually(|| reader.output().contains(&want)),
        "the reader did not get the last line"
    );
    sending.join().expect("sender").expect("send");
    let output = reader.output();
    let got: Vec<&str> = output
        .lines()
        .filter(|l| l.starts_with("sender: "))
        .collect();
    assert_eq!(got.len(), LINES);
    for (i, line) in got.iter().enumerate() {
        assert!(
            line.starts_with(&format!("sender: b{i:06} ")),
            "{i}: {line}"
        );
    }
    assert!(!output.contains("messages dropped"), "a false notice");
}

fn twenty_senders_burst_at_once_and_every_reader_gets_all_40000(engine: Engine) {
    let _lock = shared();
    let server = Server::start(config(engine));
    const SENDERS: usize = 20;
    const EACH: usize = 2000;
    let readers: Vec<Client> = (0..3).map(|i| server.join(&format!("r{i}")).0).collect();
    let senders: Vec<Client> = (0..SENDERS)
        .map(|i| server.join(&format!("s{i}")).0)
        .collect();
    let reading: Vec<_> = readers
        .into_iter()
        .map(|mut reader| {
            thread::spawn(move || {
                let mut next = [0usize; SENDERS];
                let mut total = 0;
                let start = Instant::now();
                while total < SENDERS * EACH && start.elapsed() < PATIENCE * 3 {
                    let line = reader.line();
                    let Some((name, text)) = line.split_once(": ") else {
                        continue;
                    };
                    let sender: usize = name[1..].parse().expect(&line);
                    assert!(
                        text.starts_with(&format!("{sender:02}{:06} ", next[sender])),
                        "{line}"
                    );
                    next[sender] += 1;
                    total += 1;
                }
                total
            })
        })
        .collect();
    let sending: Vec<_> = senders
        .iter()
        .enumerate()
        .map(|(i, sender)| send_from_thread(sender, burst(&format!("{i:02}"), EACH)))
        .collect();
    for reader in reading {
        assert_eq!(reader.join().expect("reader"), SENDERS * EACH);
    }
    for sending in sending {
        sending.join().expect("sender").expect("send");
    }
}

fn a_flooder_that_never_reads_delays_no_ping(engine: Engine) {
    let _lock = shared();
    let server = Server::start(config(engine));
    let (mut pinger, flooder) = server.join_two("pinger", "flooder");
    // 10 MB, never reading a byte back: the flooder's write may fail once it is cut off.
    let flooding = send_from_thread(&flooder, burst("f", 200_000));
    for ping in 0..10 {
        pinger.send(&format!("ping {ping}"));
        let want = format!("pinger: ping {ping}");
        let start = Instant::now();
        loop {
            let line = pinger.line();
            if line == want {
                break;
            }
            assert!(start.elapsed() < PATIENCE, "ping {ping} never came back");
            assert!(line.starts_with("flooder"), "{line}");
        }
        thread::sleep(Duration::from_millis(100));
    }
    drop(flooder);
    let _ = flooding.join();
}

fn a_client_that_sends_and_half_closes_at_once_gets_its_own_line(engine: Engine) {
    let _lock = shared();
    let server = Server::start(config(engine));
    for run in 0..5 {
        let mut child = Command::new(netcat3())
            .arg(server.addr.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn netcat3");
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(b"bob\nhello\n").expect("printf");
        drop(stdin);
        let ended = testkit::child::finish(child, PATIENCE);
        let stdout = String::from_utf8_lossy(&ended.stdout);
        assert!(
            ended.status.is_some(),
            "run {run}: netcat3 did not end: {stdout}"
        );
        assert!(stdout.contains("\nbob: hello\n"), "run {run}: {stdout:?}");
    }
}

fn a_line_that_could_never_fit_a_backlog_is_refused_and_the_sender_told(engine: Engine) {
    let _lock = shared();
    let server = Server::start(chat::Config {
        max_backlog: 100,
        ..config(engine)
    });
    let (mut alice, mut bob) = server.join_two("alice", "bob");
    bob.send(&"x".repeat(100));
    bob.expect("Line too long (over 100 bytes); dropped");
    bob.send("short");
    alice.expect("bob: short");
    bob.expect("bob: short");
}

fn a_backlog_of_one_byte_still_greets(engine: Engine) {
    let _lock = shared();
    let server = Server::start(chat::Config {
        max_backlog: 1,
        ..config(engine)
    });
    let (mut alice, current) = server.join("alice");
    assert_eq!(current, "Current clients: none");
    alice.send("hi");
    alice.expect("Line too long (over 1 bytes); dropped");
}

/// A reader with a small receive buffer stops for 2 s during a flood: it is told once how many it
/// missed, then gets every line again.
fn a_reader_that_pauses_is_told_once_then_gets_every_line(engine: Engine) {
    let _lock = shared();
    let server = Server::start(chat::Config {
        max_backlog: 16 << 10,
        write_timeout: Duration::from_secs(30),
        ..config(engine)
    });
    let (mut loud, _) = server.join("loud");
    let stream = crate::util::small_receive_buffer(server.addr);
    stream.set_read_timeout(Some(PATIENCE)).expect("timeout");
    let mut paused = BufReader::new(stream.try_clone().expect("clone"));
    (&stream).write_all(b"paused\n").expect("name");
    loud.expect("paused has arrived");
    let padding = "p".repeat(990);
    for i in 0..6000 {
        loud.send(&format!("{i:04} {padding}"));
        loud.expect(&format!("loud: {i:04} {padding}"));
    }
    // Now it reads: lines with a gap, one notice counting the gap, then every line.
    let (mut next, mut gaps, mut notices) = (0, 0, 0);
    let mut line = String::new();
    while next < 6000 {
        line.clear();
        paused.read_line(&mut line).expect("a line");
        let line = line.trim_end();
        if let Some(rest) = line.strip_prefix("*** ") {
            let count: usize = rest
                .split(' ')
                .next()
                .and_then(|n| n.parse().ok())
                .expect(line);
            assert_eq!(count, gaps, "{line}");
            notices += 1;
        } else if let Some(rest) = line.strip_prefix("loud: ") {
            let number: usize = rest[..4].parse().expect(line);
            gaps += number - next;
            next = number + 1;
        }
    }
    loud.send("after");
    loud.expect("loud: after");
    line.clear();
    paused.read_line(&mut line).expect("a line");
    if line.starts_with("*** ") {
        notices += 1;
        line.clear();
        paused.read_line(&mut line).expect("a line");
    }
    assert_eq!(line, "loud: after\n");
    assert_eq!(notices, 1, "one gap, one notice");
    assert!(gaps > 0, "nothing was dropped");
}

fn a_client_refused_a_name_that_then_leaves_is_closed(engine: Engine) {
    let _lock = shared();
    let server = Server::start(config(engine));
    let (_alice, _) = server.join("alice");
    let mut other = server.connect();
    other.expect("Enter your name:");
    other.send("alice");
    other.expect("Name alice is taken; choose another");
    other.expect("Enter your name:");
    other
        .stream
        .shutdown(std::net::Shutdown::Write)
        .expect("half-close");
    assert_eq!(other.expect_closed(), Vec::<String>::new());
}

/// A reader that takes a little at a time (64 KiB every 50 ms, 1.3 MB/s) beside a sender that
/// bursts 8 MB in lines of 8,000 bytes and never reads holds the room, and loses nothing.
/// The thread engine lost thousands of such lines: once the gate shut, the room's queue still
/// held 1,024 lines (8 MB, 32 times the high-water mark), and its writers, blocked on full
/// sockets, reviewed no one, so a tick's 50 ms of a flood ran megabytes past the mark too.
fn a_reader_that_takes_a_little_at_a_time_loses_nothing_beside_a_silent_sender(engine: Engine) {
    let pace = Some(Duration::from_millis(50));
    reader_beside_a_silent_sender(config(engine), 1_000, 8000, pace);
}

/// A total backlog below `--max-backlog` (as a memory limit makes it: 379 KiB under `ulimit -v
/// 64MiB`) still loses nothing for a reader that keeps up: the feed had let go of lines the
/// reader had not had, and it was told millions were dropped.
fn a_small_total_backlog_loses_nothing_for_a_reader(engine: Engine) {
    let config = chat::Config {
        max_backlog_total: 379 << 10,
        ..config(engine)
    };
    reader_beside_a_silent_sender(config, 5_000, 1000, Some(Duration::from_millis(20)));
}

/// `lines` lines of `len` bytes from a sender that never reads, to a reader that takes 64 KiB
/// then waits `pace`: it gets every one, in order, and no notice of drops.
fn reader_beside_a_silent_sender(
    config: chat::Config,
    lines: usize,
    len: usize,
    pace: Option<Duration>,
) {
    let _lock = shared();
    // The sender is not cut for taking nothing while the burst goes through.
    let server = Server::start(chat::Config {
        write_timeout: Duration::from_secs(60),
        ..config
    });
    let (mut reader, sender) = server.join_two("reader", "sender");
    let padding = "p".repeat(len - 8);
    let text: String = (0..lines).map(|i| format!("{i:06} {padding}\n")).collect();
    let sending = send_from_thread(&sender, text);
    let (mut next, mut taken) = (0, 0);
    let until = Instant::now() + Duration::from_secs(60);
    while next < lines && Instant::now() < until {
        let line = reader.line();
        assert!(!line.starts_with("***"), "after {next} lines: {line}");
        assert_eq!(line, format!("sender: {next:06} {padding}"));
        next += 1;
        taken += line.len() + 1;
        if let Some(pace) = pace.filter(|_| taken >= 64 << 10) {
            // The reader's pace, not a wait for anything.
            thread::sleep(pace);
            taken = 0;
        }
    }
    assert_eq!(next, lines, "not every line came within 60 s");
    drop(sender);
    let _ = sending.join();
}

crate::on_both_engines!(
    a_client_refused_a_name_that_then_leaves_is_closed,
    one_sender_bursts_50000_lines_and_a_netcat3_reader_gets_every_one,
    twenty_senders_burst_at_once_and_every_reader_gets_all_40000,
    a_flooder_that_never_reads_delays_no_ping,
    a_client_that_sends_and_half_closes_at_once_gets_its_own_line,
    a_line_that_could_never_fit_a_backlog_is_refused_and_the_sender_told,
    a_backlog_of_one_byte_still_greets,
    a_reader_that_pauses_is_told_once_then_gets_every_line,
    a_reader_that_takes_a_little_at_a_time_loses_nothing_beside_a_silent_sender,
    a_small_total_backlog_loses_nothing_for_a_reader,
);
