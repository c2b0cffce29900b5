//! The real binary: flags, a session over its socket, bounded memory under a 10 MB line, and
//! Ctrl-C (SIGINT) shutdown with status 0.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{Client, PATIENCE, shared};

const BIN: &str = env!("CARGO_BIN_EXE_chat");

/// The binary, serving on a free loopback port (read from its `listening on` log line).
struct Chat {
    child: Child,
    addr: SocketAddr,
    stderr: BufReader<std::process::ChildStderr>,
}

impl Chat {
    fn start(args: &[&str]) -> Chat {
        let mut child = Command::new(BIN)
            .args(["--addr", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn chat");
        let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
        let mut line = String::new();
        stderr
            .read_line(&mut line)
            .expect("read the first log line");
        let addr = line
            .trim()
            .strip_prefix("chat: listening on ")
            .and_then(|addr| addr.parse().ok())
            .unwrap_or_else(|| panic!("{BIN} {args:?}: unexpected first log line {line:?}"));
        Chat {
            child,
            addr,
            stderr,
        }
    }

    /// Peak resident memory of the server so far, in KiB (`VmHWM`).
    fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("/proc/PID/status");
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("a VmHWM line")
    }

    /// Sends SIGINT and waits (bounded) for the exit; returns status, time taken, and the log.
    fn interrupt(mut self) -> (std::process::ExitStatus, Duration, String) {
        let start = Instant::now();
        // SAFETY: kill(2) with our own child's pid and a valid signal number; no memory involved.
        let sent = unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGINT) };
        assert_eq!(sent, 0, "kill -INT failed");
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                let took = start.elapsed();
                let mut log = String::new();
                let _ = self.stderr.read_to_string(&mut log);
                return (status, took, log);
            }
            assert!(start.elapsed() < PATIENCE, "chat did not exit after SIGINT");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Chat {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn join(addr: SocketAddr, name: &str) -> Client {
    let mut client = Client::connect(addr);
    client.expect("Enter your name:");
    client.send(name);
    client.expect(&format!("You are {name}"));
    client.line();
    client
}

#[test]
fn help_version_and_usage_errors() {
    let _lock = shared();
    let help = Command::new(BIN).arg("--help").output().expect("run chat");
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(help.status.success(), "chat --help: {help:?}");
    for flag in [
        "--addr",
        "--idle-timeout",
        "--queue",
        "--max-line",
        "--max-clients",
    ] {
        assert!(text.contains(flag), "chat --help lacks {flag}:\n{text}");
    }
    let version = Command::new(BIN)
        .arg("--version")
        .output()
        .expect("run chat");
    assert!(version.status.success());
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("chat "));
    for bad in [
        &["--queue", "0"][..],
        &["--idle-timeout", "soon"],
        &["--bogus"],
    ] {
        let out = Command::new(BIN).args(bad).output().expect("run chat");
        assert_eq!(
            out.status.code(),
            Some(2),
            "chat {bad:?}: stdout {:?} stderr {:?}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn an_address_in_use_is_one_error_line_and_status_1() {
    let _lock = shared();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let out = Command::new(BIN)
        .args(["--addr", &addr])
        .output()
        .expect("run chat");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "chat --addr {addr}: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with(&format!("chat: {addr}: ")), "{stderr}");
}

#[test]
fn the_binary_chats_bounds_memory_and_stops_on_sigint_with_status_0() {
    let _lock = shared();
    let chat = Chat::start(&[]);
    let mut alice = join(chat.addr, "alice");
    let mut bob = join(chat.addr, "bob");
    alice.expect("bob has arrived");
    let before = chat.peak_rss_kib();

    // 10 MB without a newline: refused once, not stored.
    let mut writer = alice.stream.try_clone().expect("clone");
    let flood = std::thread::spawn(move || {
        let chunk = vec![b'z'; 1 << 20];
        for _ in 0..10 {
            writer.write_all(&chunk).expect("send 1 MiB");
        }
    });
    alice.expect("Line too long (over 8192 bytes); dropped");
    flood.join().expect("flood thread");
    // The newline ends the long line (discarded); the next line is broadcast.
    alice.send("\nafter");
    alice.expect("alice: after");
    bob.expect("alice: after");
    let after = chat.peak_rss_kib();
    assert!(
        after < before + 4096,
        "peak RSS grew from {before} KiB to {after} KiB for a 10 MB line"
    );

    bob.send("bye");
    alice.expect("bob: bye");
    bob.expect("bob: bye");
    let (status, took, log) = chat.interrupt();
    assert_eq!(status.code(), Some(0), "chat's log:\n{log}");
    assert!(
        took < Duration::from_secs(2),
        "exit took {took:?} (SPEC: within a second; 2 s leaves room for a loaded CI machine)"
    );
    for client in [&mut alice, &mut bob] {
        assert_eq!(
            client.expect_closed(),
            vec!["Server shutting down".to_string()]
        );
    }
    for expected in [
        "chat: alice has arrived",
        "chat: bob has arrived",
        "chat: alice: line over 8192 bytes dropped",
    ] {
        assert!(log.contains(expected), "log lacks {expected:?}:\n{log}");
    }
}
