//! Test helpers: run the real `netcat3` binary with bounded waits, and small loopback servers.
//! Every wait has a deadline; a failure prints the command, its stdout and its stderr.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc::Receiver;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use testkit::child::read_all;

/// Generous: the whole suite runs in parallel on a loaded 2-core machine.
pub const TIMEOUT: Duration = Duration::from_secs(30);

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_netcat3")
}

/// A running `netcat3` whose stdout and stderr are collected by threads.
pub struct Running {
    pub command: String,
    pub child: Child,
    pub stdin: Option<ChildStdin>,
    pub started: Instant,
    stdout: Option<Receiver<Vec<u8>>>,
    stderr: Receiver<Vec<u8>>,
}

/// What a finished run left.
pub struct Finished {
    pub command: String,
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: String,
    /// From spawn to exit.
    pub elapsed: Duration,
}

impl Finished {
    /// Panics with everything known about the run.
    pub fn fail(&self, why: &str) -> ! {
        panic!(
            "{why}\ncommand: {}\nstatus: {}\nelapsed: {:?}\nstdout ({} bytes): {:?}\nstderr: {}",
            self.command,
            self.status,
            self.elapsed,
            self.stdout.len(),
            String::from_utf8_lossy(&self.stdout[..self.stdout.len().min(400)]),
            self.stderr
        )
    }

    pub fn assert_code(&self, code: i32) -> &Self {
        if self.status.code() != Some(code) {
            self.fail(&format!("expected exit code {code}"));
        }
        self
    }

    /// The error output is exactly one line starting with `prefix`.
    pub fn assert_one_error_line(&self, prefix: &str) -> &Self {
        let lines: Vec<&str> = self.stderr.lines().collect();
        if lines.len() != 1 || !lines[0].starts_with(prefix) {
            self.fail(&format!(
                "expected one stderr line starting with {prefix:?}"
            ));
        }
        self
    }
}

/// Starts `netcat3 ARGS` with stdin from `stdin` (piped when `None`) and stdout piped.
pub fn spawn(args: &[&str], stdin: Option<Stdio>) -> Running {
    let piped = stdin.is_none();
    let mut command = Command::new(bin());
    command
        .args(args)
        .stdin(stdin.unwrap_or_else(Stdio::piped))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    spawn_command(command, piped)
}

/// Starts a prepared `netcat3` command (stderr must be piped; stdout may be redirected).
pub fn spawn_command(command: Command, stdin_piped: bool) -> Running {
    start(command, stdin_piped, true)
}

/// Starts `netcat3 ARGS` with stdin and stdout piped, and hands stdout to the caller to read.
pub fn spawn_interactive(args: &[&str]) -> (Running, ChildStdout) {
    let mut command = Command::new(bin());
    command
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut running = start(command, true, false);
    let stdout = running.child.stdout.take().expect("stdout is piped");
    (running, stdout)
}

fn start(mut command: Command, stdin_piped: bool, collect_stdout: bool) -> Running {
    let described = format!("{command:?}");
    let started = Instant::now();
    let mut child = command
        .spawn()
        .unwrap_or_else(|err| panic!("{described}: {err}"));
    let stdin = if stdin_piped {
        child.stdin.take()
    } else {
        None
    };
    let stdout = if collect_stdout {
        child.stdout.take().map(read_all)
    } else {
        None
    };
    let stderr = read_all(child.stderr.take().expect("stderr is piped"));
    Running {
        command: described,
        child,
        stdin,
        started,
        stdout,
        stderr,
    }
}

impl Running {
    /// Drops our end of its stdin (end of file for netcat3).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Waits (bounded) for the exit and the end of its output; kills it and fails on timeout.
    pub fn finish(mut self, timeout: Duration) -> Finished {
        let deadline = self.started + timeout;
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(1)),
                _ => break None,
            }
        };
        let elapsed = self.started.elapsed();
        let Some(status) = status else {
            let _ = self.child.kill();
            let status = self.child.wait().expect("wait after kill");
            let finished = self.collected(status, elapsed);
            finished.fail(&format!("did not exit within {timeout:?}"));
        };
        self.collected(status, elapsed)
    }

    fn collected(&mut self, status: ExitStatus, elapsed: Duration) -> Finished {
        let grace = Duration::from_secs(10);
        let stdout = match &self.stdout {
            Some(rx) => rx.recv_timeout(grace).unwrap_or_default(),
            None => Vec::new(),
        };
        let stderr = self.stderr.recv_timeout(grace).unwrap_or_default();
        Finished {
            command: self.command.clone(),
            status,
            stdout,
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
            elapsed,
        }
    }
}

/// A listener on 127.0.0.1:0 that serves one connection with `serve` on a thread.
pub fn serve_one<T: Send + 'static>(
    serve: impl FnOnce(TcpStream) -> T + Send + 'static,
) -> (SocketAddr, JoinHandle<T>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local_addr");
    let handle = thread::spawn(move || {
        let (stream, _) = listener.accept().expect("accept");
        stream
            .set_read_timeout(Some(TIMEOUT))
            .expect("read timeout");
        stream
            .set_write_timeout(Some(TIMEOUT))
            .expect("write timeout");
        serve(stream)
    });
    (addr, handle)
}

/// The server's thread result, waited for with a deadline.
pub fn join_server<T: Send + 'static>(handle: JoinHandle<T>) -> T {
    let deadline = Instant::now() + TIMEOUT;
    while !handle.is_finished() {
        assert!(Instant::now() < deadline, "the test server did not finish");
        thread::sleep(Duration::from_millis(1));
    }
    handle.join().expect("the test server panicked")
}

/// Reads everything until the client half-closes, then sends it all back and closes.
pub fn echo_after_eof(mut stream: TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    stream.read_to_end(&mut received).expect("read to EOF");
    stream.write_all(&received).expect("echo");
    received
}

/// Echoes as it reads; at the client's end of input, closes its own side too. Returns the count.
pub fn echo_streaming(mut stream: TcpStream) -> u64 {
    let mut buf = vec![0u8; 64 << 10];
    let mut total = 0;
    loop {
        let n = stream.read(&mut buf).expect("read");
        if n == 0 {
            break;
        }
        stream.write_all(&buf[..n]).expect("echo");
        total += n as u64;
    }
    stream.shutdown(Shutdown::Write).expect("shutdown");
    total
}

/// `len` bytes in which every byte value occurs (many times), in no simple repeating order.
pub fn binary_data(len: usize) -> Vec<u8> {
    let mut state: u32 = 0x9e37_79b9;
    (0..len)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            // Low byte of the index first, so the first 256 bytes are every value once.
            if i < 256 { i as u8 } else { state as u8 }
        })
        .collect()
}
