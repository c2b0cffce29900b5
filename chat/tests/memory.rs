//! No memory limit ends the process (SPEC.md, chat, item 10): the real binary under
//! `ulimit -v` (RLIMIT_AS, set between fork and exec), filled with clients until it refuses
//! them, then a 16 MB burst. Newcomers are refused with one line, the room keeps chatting, and
//! the process exits 0 on Ctrl-C (an abort is status 134).

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use testkit::child::Proc;

use crate::util::{Client, PATIENCE, exclusive, limit, small_receive_buffer};

/// The most clients a test connects: a bound on its time, well above what the limits allow.
const MOST_CLIENTS: usize = 6000;

/// The binary under an address-space limit of `bytes`, on a free port; its address and the
/// client limit its start-up log promised.
fn start(engine: &str, bytes: u64) -> (Proc, SocketAddr, usize) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_chat"));
    command.args(["--engine", engine]);
    limit(&mut command, libc::RLIMIT_AS, bytes);
    let (proc, addr) = listening(&mut command);
    proc.stderr
        .expect("serving at most ", PATIENCE)
        .expect("a log line with the client limit");
    let log = proc.stderr.expect("\n", PATIENCE).expect("the rest of it");
    // On a machine with few descriptors (under about 8,000 here) they may bind first.
    let few_descriptors = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| {
            let line = limits
                .lines()
                .find(|line| line.starts_with("Max open files"))?;
            line.split_whitespace().nth(4)?.parse::<u64>().ok()
        })
        .is_some_and(|hard| hard < 8192);
    assert!(
        log.ends_with("clients (the limit of this process's address space (ulimit -v))\n")
            || (few_descriptors && log.ends_with("(the limit of this process's descriptors)\n")),
        "the start-up log does not name the address space: {log:?}"
    );
    let promised = log
        .split(' ')
        .next()
        .and_then(|count| count.parse().ok())
        .unwrap_or_else(|| panic!("no client limit in {log:?}"));
    (proc, addr, promised)
}

/// The binary started from `command` on a free port, and its address from its first log line.
fn listening(command: &mut Command) -> (Proc, SocketAddr) {
    command.args(["--addr", "127.0.0.1:0"]);
    let proc = Proc::start(command, Stdio::null(), None).unwrap_or_else(|err| panic!("{err}"));
    let line = proc
        .stderr
        .expect("\n", PATIENCE)
        .expect("a first log line");
    let addr = line
        .trim()
        .strip_prefix("chat: listening on ")
        .and_then(|addr| addr.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first log line {line:?}"));
    (proc, addr)
}

/// A client with a 4 KiB receive buffer.
fn small_client(addr: SocketAddr) -> Client {
    let stream = small_receive_buffer(addr);
    testkit::net::patient(&stream, PATIENCE);
    Client {
        reader: BufReader::new(stream.try_clone().expect("clone")),
        stream,
    }
}

/// A client that joins and then never reads; the server's line if it refused it.
fn quiet(addr: SocketAddr, name: &str) -> Result<Client, String> {
    let mut client = small_client(addr);
    let first = client.line();
    if first != "Enter your name:" {
        return Err(first);
    }
    client.send(name);
    Ok(client)
}

/// What comes once the server is full: one sender's 16 MB, or first every quiet client's 16 KiB
/// of empty lines (each a message: the most messages per byte a client can send), or as much as
/// its socket takes of 64 KiB in lines as long as `--max-line` allows (the most bytes per
/// message), then that.
#[derive(Clone, Copy, PartialEq)]
enum Burst {
    OneSender,
    EmptyLinesFromAll,
    LongLinesFromAll,
}

fn fills_up_then_refuses_and_keeps_chatting(engine: &str, bytes: u64, burst: Burst) {
    let _lock = exclusive();
    let started = Instant::now();
    let (mut proc, addr, promised) = start(engine, bytes);
    assert!(
        (1..MOST_CLIENTS).contains(&promised),
        "promised {promised} clients"
    );
    // With a 4 KiB receive buffer, as the quiet ones: the kernel's own buffer (up to
    // `tcp_rmem`'s maximum, 32 MB on some machines) must not stand in for reading.
    let join = |name: &str| {
        let mut client = small_client(addr);
        client.expect("Enter your name:");
        client.send(name);
        client.expect(&format!("You are {name}"));
        client
    };
    let mut alice = join("alice");
    let bob = join("bob");
    let sender = join("sender");
    // Clients that never read, until the server says it is full.
    let mut quiet_ones = Vec::new();
    let refusal = loop {
        assert!(
            quiet_ones.len() <= promised,
            "{} clients admitted, {promised} promised",
            quiet_ones.len()
        );
        match quiet(addr, &format!("q{}", quiet_ones.len())) {
            Ok(client) => quiet_ones.push(client),
            Err(line) => break line,
        }
    };
    assert!(
        refusal.starts_with("Server full"),
        "refused with {refusal:?}"
    );
    eprintln!(
        "{engine}: {} quiet clients, refused after {:?}",
        quiet_ones.len(),
        started.elapsed()
    );
    if burst == Burst::EmptyLinesFromAll {
        let empty_lines = [b'\n'; 16 << 10];
        for client in &mut quiet_ones {
            // Each fits the socket's send buffer, so none of these writes waits.
            client
                .stream
                .write_all(&empty_lines)
                .expect("send empty lines");
        }
    }
    if burst == Burst::LongLinesFromAll {
        let long_lines = format!("{}\n", "y".repeat(7999)).repeat(8);
        for client in &mut quiet_ones {
            // What the socket takes now: the server may already have shut the gate.
            client.stream.set_nonblocking(true).expect("non-blocking");
            let _ = client.stream.write(long_lines.as_bytes());
            client.stream.set_nonblocking(false).expect("blocking");
        }
    }
    // 16 MB through the room from one sender, while nobody else but alice and bob reads.
    // In lines of 8,000 bytes (as long as --max-line allows), each one message to fan out.
    let line = format!("{}\n", "x".repeat(7999));
    let megabyte = line.repeat(125);
    let mut writer = sender.stream.try_clone().expect("clone");
    // The room moves at the pace of the broadcaster's fan-out to thousands of clients.
    writer
        .set_write_timeout(Some(Duration::from_secs(120)))
        .expect("timeout");
    let flood = std::thread::spawn(move || {
        for _ in 0..16 {
            writer.write_all(megabyte.as_bytes()).expect("send 1 MB");
        }
    });
    // The sender, alice and bob read throughout, however slowly the room moves (a client that
    // takes nothing for 10 s is cut); bob passes on what alice says, and the drop notices.
    let drain = |client: &Client, heard: Option<mpsc::Sender<String>>| {
        let stream = client.stream.try_clone().expect("clone");
        stream
            .set_read_timeout(Some(Duration::from_secs(120)))
            .expect("timeout");
        let mut reads = BufReader::new(stream);
        std::thread::spawn(move || {
            let mut line = String::new();
            while reads.read_line(&mut line).is_ok_and(|n| n > 0) {
                let news = line.starts_with("alice: ") || line.starts_with("***");
                if let Some(heard) = heard.as_ref().filter(|_| news) {
                    let _ = heard.send(line.trim_end().to_owned());
                }
                line.clear();
            }
        })
    };
    let (heard_tx, bob_heard) = mpsc::channel();
    let drains = [
        drain(&sender, None),
        drain(&alice, None),
        drain(&bob, Some(heard_tx)),
    ];
    flood.join().expect("the burst was sent");
    eprintln!("{engine}: burst sent after {:?}", started.elapsed());
    // The room goes on: alice says something until bob hears it. Bounded in time, not
    // rounds: on a loaded machine the room can take tens of seconds to move a 16 MB burst
    // through thousands of clients.
    let until = Instant::now() + Duration::from_secs(90);
    let mut notices = Vec::new();
    let heard = (0..).take_while(|_| Instant::now() < until).any(|round| {
        alice.send(&format!("still here {round}"));
        let wait = Instant::now() + Duration::from_secs(1);
        std::iter::from_fn(|| {
            bob_heard
                .recv_timeout(wait.saturating_duration_since(Instant::now()))
                .ok()
        })
        .inspect(|line| {
            if line.starts_with("***") {
                notices.push(line.clone())
            }
        })
        .any(|line| line.starts_with("alice: still here"))
    });
    assert!(heard, "bob never heard alice after the burst");
    notices.extend(bob_heard.try_iter().filter(|line| line.starts_with("***")));
    // He read throughout, so he held the room and lost nothing, however small the feed.
    assert_eq!(notices, Vec::<String>::new(), "bob read throughout");
    eprintln!("{engine}: chatting after {:?}", started.elapsed());
    // A newcomer is refused with one line (so the server is still there), unless quiet clients
    // were cut meanwhile for taking nothing for 10 s (a slow machine): then it is asked its name.
    let mut newcomer = small_client(addr);
    let first = newcomer.line();
    let admitted = first == "Enter your name:";
    if !admitted {
        assert!(first.starts_with("Server full"), "a newcomer got {first:?}");
        let rest = newcomer.expect_closed();
        assert!(
            rest.is_empty(),
            "a refused newcomer got {first:?} then {rest:?}"
        );
    }
    drop((alice, bob, quiet_ones, newcomer));
    proc.interrupt().unwrap_or_else(|err| panic!("{err}"));
    let status = proc.wait(PATIENCE).unwrap_or_else(|err| panic!("{err}"));
    for drain in drains {
        let _ = drain.join();
    }
    // Everything it logged (the stream ends with the process).
    let _ = proc.stderr.finish(PATIENCE);
    let log = proc.stderr.all();
    assert_eq!(status.code(), Some(0), "log: {log}");
    assert!(
        !admitted || log.contains(": write stalled, disconnecting"),
        "a newcomer was admitted to a full server; log: {log}"
    );
}

#[test]
fn threads_under_one_gibibyte_of_address_space() {
    fills_up_then_refuses_and_keeps_chatting("threads", 1 << 30, Burst::OneSender);
}

#[test]
fn events_under_sixty_four_mebibytes_of_address_space() {
    fills_up_then_refuses_and_keeps_chatting("events", 64 << 20, Burst::OneSender);
}

#[test]
fn events_under_sixty_four_mebibytes_when_every_client_floods_empty_lines() {
    fills_up_then_refuses_and_keeps_chatting("events", 64 << 20, Burst::EmptyLinesFromAll);
}

#[test]
fn events_under_sixty_four_mebibytes_when_every_client_floods_long_lines() {
    fills_up_then_refuses_and_keeps_chatting("events", 64 << 20, Burst::LongLinesFromAll);
}

#[test]
fn one_client_is_one_client_in_the_log_and_the_refusal() {
    let _lock = crate::util::shared();
    let mut command = Command::new(env!("CARGO_BIN_EXE_chat"));
    let (mut proc, addr) = listening(command.args(["--max-clients", "1"]));
    proc.stderr
        .expect("chat: serving at most 1 client (--max-clients)\n", PATIENCE)
        .unwrap_or_else(|err| panic!("{err}"));
    let mut alice = Client::connect(addr);
    alice.expect("Enter your name:");
    assert_eq!(
        small_client(addr).expect_closed(),
        ["Server full (1 client); try again later"]
    );
    drop(alice);
    proc.interrupt().unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(proc.wait(PATIENCE).ok().and_then(|s| s.code()), Some(0));
}
