//! The reverb example (netcat3's partner, `cargo run -p netcat3 --example reverb`) as a reader
//! runs it: its real binary on 127.0.0.1:0, with the real netcat3 binary or raw sockets as
//! clients. Cargo gives tests no path to an example, so [`reverb_bin`] builds it (a no-op when
//! `cargo test` has built the examples already) into this test's own target directory.

use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use testkit::child::{Proc, on_thread};

use crate::util::{TIMEOUT, finish, spawn};

/// The reverb example's executable, built once per test run with the profile of this test.
fn reverb_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        // This test runs as TARGET/PROFILE/deps/tests-HASH; examples go to TARGET/PROFILE/examples.
        let exe = std::env::current_exe().expect("the test's own path");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("the test runs from TARGET/PROFILE/deps");
        let target_dir = profile_dir.parent().expect("TARGET/PROFILE");
        let profile = match profile_dir.file_name().and_then(|name| name.to_str()) {
            Some("debug") => "dev",
            Some(name) => name,
            None => panic!("no profile in {}", profile_dir.display()),
        };
        let status = Command::new(env!("CARGO"))
            .args([
                "build",
                "--quiet",
                "--package",
                "netcat3",
                "--example",
                "reverb",
            ])
            .args(["--profile", profile, "--target-dir"])
            .arg(target_dir)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("run cargo build --example reverb");
        assert!(status.success(), "cargo build --example reverb: {status}");
        profile_dir.join("examples").join("reverb")
    })
}

/// Starts `reverb --addr 127.0.0.1:0 ARGS`; returns it and the address it says it listens on.
fn start_reverb(args: &[&str]) -> (Proc, String) {
    let mut command = Command::new(reverb_bin());
    command.args(["--addr", "127.0.0.1:0"]).args(args);
    let server = Proc::start(&mut command, Stdio::null(), Some("reverb")).unwrap();
    server
        .stderr
        .expect("reverb: listening on ", TIMEOUT)
        .unwrap();
    let addr = server.stderr.expect("\n", TIMEOUT).unwrap();
    (server, addr.trim().to_string())
}

/// What reverb sends back for `line`: its three echoes in the book's format.
fn echoes_of(line: &str) -> [String; 3] {
    [line.to_uppercase(), line.to_string(), line.to_lowercase()].map(|text| format!("\t {text}"))
}

/// `clients` clients connect one after the other, each sends one line and ends its input; then
/// each must get that line's three echoes, and the close.
fn each_client_gets_its_echoes(addr: &str, clients: usize) {
    let streams: Vec<TcpStream> = (0..clients)
        .map(|i| {
            let mut stream = TcpStream::connect(addr).unwrap();
            testkit::net::patient(&stream, TIMEOUT);
            writeln!(stream, "client {i}").unwrap();
            stream.shutdown(Shutdown::Write).unwrap();
            stream
        })
        .collect();
    for (i, stream) in streams.into_iter().enumerate() {
        let lines: Vec<String> = BufReader::new(stream).lines().map(Result::unwrap).collect();
        assert_eq!(lines, echoes_of(&format!("client {i}")));
    }
}

/// Stops reverb with Ctrl-C; it must exit 0 promptly and say so.
fn stop(mut server: Proc) -> String {
    server.interrupt().unwrap();
    server.expect_exit(0, TIMEOUT).unwrap();
    let (log, _) = server.stderr.finish(TIMEOUT).unwrap();
    assert!(log.ends_with("reverb: shut down\n"), "{log:?}");
    log
}

#[test]
fn printf_hello_into_netcat3_prints_all_three_echoes_after_the_half_close() {
    // Exercises 8.3 and 8.4: netcat3 half-closes at once; reverb writes what is due, then closes.
    const DELAY: Duration = Duration::from_millis(200);
    let (server, addr) = start_reverb(&["--delay", "200ms"]);
    let mut client = spawn(&[&addr], None);
    client.send(b"Hello?\n").unwrap();
    client.close_stdin();
    let done = finish(client);
    done.expect_code(0);
    if done.stdout != b"\t HELLO?\n\t Hello?\n\t hello?\n" || !done.stderr.is_empty() {
        done.fail("expected the three echoes, nothing on stderr");
    }
    // The last echo comes two delays after the first; the close right after it.
    if done.took < 2 * DELAY || done.took > 2 * DELAY + TIMEOUT / 3 {
        done.fail("should end about two delays after the line");
    }
    let log = stop(server);
    assert_eq!(
        log.lines().count(),
        1,
        "nothing to say about a client: {log:?}"
    );
}

#[test]
fn the_echoes_of_several_lines_overlap() {
    const DELAY: Duration = Duration::from_millis(500);
    let (server, addr) = start_reverb(&["--delay", "500ms"]);
    let mut client = spawn(&[&addr], None);
    let lines = ["One", "Two", "Three"];
    client.send(b"One\nTwo\nThree\n").unwrap();
    client.close_stdin();
    let done = finish(client);
    done.expect_code(0);
    let stdout = String::from_utf8_lossy(&done.stdout);
    let got: Vec<&str> = stdout.lines().collect();
    // Every line's first echo before any line's second: the three run side by side.
    for (round, echoes) in got.chunks(3).enumerate() {
        let mut echoes = echoes.to_vec();
        let mut want: Vec<String> = lines
            .iter()
            .map(|line| echoes_of(line)[round].clone())
            .collect();
        echoes.sort_unstable();
        want.sort_unstable();
        if echoes != want {
            done.fail(&format!("round {round} of the echoes should be {want:?}"));
        }
    }
    if got.len() != 9 {
        done.fail("expected nine echoes");
    }
    // One after the other they would take six delays.
    if done.took >= 5 * DELAY {
        done.fail("the echoes did not overlap");
    }
    stop(server);
}

#[test]
fn a_silent_client_is_disconnected_after_the_idle_timeout() {
    const IDLE: Duration = Duration::from_millis(500);
    let (server, addr) = start_reverb(&["--delay", "20ms", "--idle-timeout", "500ms"]);
    let mut client = spawn(&[&addr], None);
    client.send(b"anyone?\n").unwrap();
    let sent = Instant::now();
    // Its stdin stays open: only the server can end this session.
    let stdin = client.take_stdin();
    let done = finish(client);
    assert!(stdin.is_some());
    done.expect_code(0);
    if done.stdout != b"\t ANYONE?\n\t anyone?\n\t anyone?\n" {
        done.fail("expected the three echoes, then the close");
    }
    if sent.elapsed() < IDLE {
        done.fail("disconnected before the idle timeout");
    }
    let log = stop(server);
    assert!(log.contains(": idle for 500ms: disconnected\n"), "{log:?}");
}

#[test]
fn ctrl_c_cuts_the_echoes_due_and_closes_every_connection() {
    let (server, addr) = start_reverb(&["--delay", "1h"]);
    let mut client = spawn(&[&addr], None);
    client.send(b"wait for me\n").unwrap();
    client.stdout.expect("\t WAIT FOR ME\n", TIMEOUT).unwrap();
    let interrupted = Instant::now();
    stop(server);
    let done = finish(client);
    done.expect_code(0);
    if interrupted.elapsed() > TIMEOUT / 3 {
        done.fail("the server should stop and close promptly");
    }
}

#[test]
fn a_flood_of_lines_is_echoed_whole_by_a_bounded_number_of_threads() {
    // Far more lines than echoes may run at once (64 per connection, the example's MAX_ECHOES):
    // the rest wait in the socket, nothing is lost, the thread count stays bounded.
    const LINES: usize = 1_000;
    // 64 echoes, and as many again that have given their slot back and are still exiting (the
    // kernel lists a thread until it is gone); far below the thousand a thread per line makes.
    const MAX_THREADS: usize = 2 * 64 + 8;
    let (server, addr) = start_reverb(&["--delay", "10ms"]);
    let stream = TcpStream::connect(&addr).unwrap();
    testkit::net::patient(&stream, TIMEOUT);
    let mut writer = stream.try_clone().unwrap();
    let sent = on_thread(move || {
        for i in 0..LINES {
            writeln!(writer, "line {i}").unwrap();
        }
        writer.shutdown(Shutdown::Write).unwrap();
    });
    let received = on_thread(move || {
        let lines: Vec<String> = BufReader::new(stream).lines().map(Result::unwrap).collect();
        lines
    });
    let threads = || {
        std::fs::read_dir(format!("/proc/{}/task", server.pid()))
            .unwrap()
            .count()
    };
    let (mut most, began) = (0, Instant::now());
    let lines = loop {
        most = most.max(threads());
        match received.recv_timeout(Duration::from_millis(5)) {
            Ok(lines) => break lines,
            Err(_) => assert!(began.elapsed() < TIMEOUT, "the echoes did not end in time"),
        }
    };
    sent.recv_timeout(TIMEOUT).expect("every line sent");
    assert_eq!(lines.len(), 3 * LINES);
    let mut counts = std::collections::HashMap::new();
    for line in &lines {
        *counts.entry(line.as_str()).or_insert(0) += 1;
    }
    for i in 0..LINES {
        let [upper, _, lower] = echoes_of(&format!("line {i}"));
        assert_eq!(
            (counts.get(upper.as_str()), counts.get(lower.as_str())),
            (Some(&1), Some(&2))
        );
    }
    assert!(most <= MAX_THREADS, "reverb ran {most} threads at once");
    assert!(
        most > 16,
        "only {most} threads at once: the echoes did not overlap"
    );
    stop(server);
}

#[test]
fn many_clients_at_once_each_get_their_own_echoes() {
    const CLIENTS: usize = 50;
    let (server, addr) = start_reverb(&["--delay", "100ms"]);
    each_client_gets_its_echoes(&addr, CLIENTS);
    stop(server);
}

#[test]
fn under_an_address_space_limit_the_threads_are_budgeted_and_every_client_served() {
    // Under `ulimit -v` a server with a thread per client would abort once a failed allocation
    // met the limit; reverb budgets its threads and lets the rest wait in the accept queue.
    const CLIENTS: usize = 150;
    const LIMIT: libc::rlim_t = 64 << 20;
    let mut command = Command::new(reverb_bin());
    command.args(["--addr", "127.0.0.1:0", "--delay", "50ms"]);
    // SAFETY: the closure runs in the forked child before exec and calls only setrlimit, which
    // is async-signal-safe and touches no memory of the parent.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: LIMIT,
                rlim_max: LIMIT,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &limit) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    let server = Proc::start(&mut command, Stdio::null(), Some("reverb")).unwrap();
    server.stderr.expect("reverb: at most ", TIMEOUT).unwrap();
    server
        .stderr
        .expect("reverb: listening on ", TIMEOUT)
        .unwrap();
    let addr = server
        .stderr
        .expect("\n", TIMEOUT)
        .unwrap()
        .trim()
        .to_string();
    each_client_gets_its_echoes(&addr, CLIENTS);
    stop(server);
}

#[test]
fn help_usage_errors_and_a_taken_address() {
    let run = |args: &[&str]| {
        let mut command = Command::new(reverb_bin());
        command.args(args);
        finish(Proc::start(&mut command, Stdio::null(), None).unwrap())
    };
    let help = run(&["--help"]);
    help.expect_code(0);
    let text = String::from_utf8_lossy(&help.stdout);
    for option in ["--addr", "--delay", "--idle-timeout"] {
        assert!(text.contains(option), "--help should list {option}: {text}");
    }
    for bad in [
        &["--delay", "soon"][..],
        &["--idle-timeout", "0s"],
        &["--addr", "nowhere"],
        &["extra"],
    ] {
        run(bad).expect_code(2);
    }
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    run(&["--addr", &addr])
        .expect_code(1)
        .expect_one_error_line(&format!("reverb: {addr}: "));
}
