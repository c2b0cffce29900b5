//! Running a program from a test or a tool, with every wait bounded: the helpers the integration
//! tests, the tour and the benchmarks share.
//!
//! A test that waits for a child without a limit stalls CI when the child hangs; here every wait
//! has one. Output is read on threads of their own and arrives on channels, so a test can wait
//! for a line with `recv_timeout`, and a child that fills its pipes never blocks. [`Run`] is a
//! finished run with text output that prints the command, status, stdout and stderr when an
//! assertion about it fails. [`Proc`] is a running child whose output can be waited for text by
//! text ([`Stream::expect`]), as the tour's terminals are; it is killed when dropped.
//! [`Finished`] is a `Proc` run to its end, its stdout kept as bytes, which prints the whole run
//! when an assertion about it fails.

mod finished;
mod proc;

use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

pub use finished::Finished;
pub use proc::{Proc, Stream, output};

/// How long the output readers may take to finish once the child has exited (or was killed).
const READERS_GRACE: Duration = Duration::from_secs(10);

/// The command line, for messages: the program and its arguments, lossily, space-separated.
pub fn describe(command: &Command) -> String {
    let mut text = command.get_program().to_string_lossy().into_owned();
    for arg in command.get_args() {
        text.push(' ');
        text.push_str(&arg.to_string_lossy());
    }
    text
}

/// Spawns `command` with `stdin`, stdout and stderr piped; returns the child and its
/// [`describe`]d command line. Panics (failing the test) if it cannot be spawned.
pub fn spawn(command: &mut Command, stdin: Stdio) -> (Child, String) {
    command
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let text = describe(command);
    let child = command
        .spawn()
        .unwrap_or_else(|err| panic!("{text}: {err}"));
    (child, text)
}

/// Runs `work` on a thread of its own; its result arrives on the returned channel, which the
/// caller reads with `recv_timeout`, so that a blocking step (a read nothing is written for, an
/// `accept` nobody connects to) fails the test instead of stalling it. A panic in `work`
/// disconnects the channel.
pub fn on_thread<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> mpsc::Receiver<T> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(work());
    });
    rx
}

/// Reads a pipe to its end on a thread; the bytes arrive on the returned channel.
pub fn read_all(mut pipe: impl Read + Send + 'static) -> mpsc::Receiver<Vec<u8>> {
    on_thread(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    })
}

/// Reads lines from a pipe on a thread, each sent on the returned channel as it arrives (so a
/// test can wait for one with a timeout). Stops at end of file or at a line that is not UTF-8.
pub fn lines(pipe: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// Waits for `child` at most `limit`; on timeout kills and reaps it and returns `None`.
pub fn wait_deadline(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if start.elapsed() < limit => thread::sleep(Duration::from_millis(1)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
}

/// Waits at most `limit` for a thread to finish; `None` if it has not (it is left running),
/// else its result (`Err` with the payload if it panicked).
pub fn join_deadline<T>(handle: JoinHandle<T>, limit: Duration) -> Option<thread::Result<T>> {
    let start = Instant::now();
    while !handle.is_finished() {
        if start.elapsed() >= limit {
            return None;
        }
        thread::sleep(Duration::from_millis(1));
    }
    Some(handle.join())
}

/// Sends SIGINT to process `pid` (a child not yet reaped), as Ctrl-C in its terminal would.
pub fn interrupt(pid: u32) -> Result<(), String> {
    let pid = libc::pid_t::try_from(pid).map_err(|err| format!("pid {pid}: {err}"))?;
    // SAFETY: kill(2) takes plain integers and touches no memory of ours.
    if unsafe { libc::kill(pid, libc::SIGINT) } == 0 {
        Ok(())
    } else {
        Err(format!(
            "kill -INT {pid}: {}",
            std::io::Error::last_os_error()
        ))
    }
}

/// Peak resident memory of a running process so far, in KiB (`VmHWM` in /proc/PID/status).
pub fn peak_rss_kib(pid: u32) -> Result<u64, String> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).map_err(|err| format!("{path}: {err}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| format!("{path}: no VmHWM line"))
}

/// How a child ended, with what it wrote.
pub struct Ended {
    /// `None`: it did not exit within the limit and was killed.
    pub status: Option<ExitStatus>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Collects the child's piped stdout and stderr (those not taken already) and waits at most
/// `limit` for it to exit, killing it on timeout. What it wrote is collected either way.
pub fn finish(mut child: Child, limit: Duration) -> Ended {
    let stdout = child.stdout.take().map(read_all);
    let stderr = child.stderr.take().map(read_all);
    let status = wait_deadline(&mut child, limit);
    let collect = |reader: Option<mpsc::Receiver<Vec<u8>>>| {
        reader
            .and_then(|rx| rx.recv_timeout(READERS_GRACE).ok())
            .unwrap_or_default()
    };
    Ended {
        status,
        stdout: collect(stdout),
        stderr: collect(stderr),
    }
}

/// A finished run of a program that writes text: everything needed to explain a failure.
pub struct Run {
    pub command: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Runs `command` to its end within `limit`, stdout and stderr piped (set its stdin: left
    /// alone it is the test runner's); panics, failing the test with the command and its output,
    /// if it takes longer.
    pub fn of(command: &mut Command, limit: Duration) -> Run {
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        let text = describe(command);
        let child = command
            .spawn()
            .unwrap_or_else(|err| panic!("{text}: {err}"));
        Run::finish(child, text, limit)
    }

    /// [`finish`]es a spawned child (described as `command`) into a run; panics, failing the
    /// test with the command and its output, if it does not exit within `limit`.
    pub fn finish(child: Child, command: String, limit: Duration) -> Run {
        let ended = finish(child, limit);
        let stdout = String::from_utf8_lossy(&ended.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&ended.stderr).into_owned();
        match ended.status {
            Some(status) => Run {
                command,
                status,
                stdout,
                stderr,
            },
            None => panic!(
                "command did not finish within {limit:?}: {command}\n--- stdout ---\n{stdout}--- stderr ---\n{stderr}"
            ),
        }
    }

    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Asserts the exit code, printing the whole run if it differs.
    pub fn expect_code(&self, code: i32) -> &Run {
        assert_eq!(self.code(), Some(code), "unexpected exit status\n{self}");
        self
    }

    pub fn stdout_lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }

    pub fn stderr_lines(&self) -> Vec<&str> {
        self.stderr.lines().collect()
    }
}

impl fmt::Display for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "command: {}\nstatus: {}\n--- stdout ---\n{}--- stderr ---\n{}",
            self.command, self.status, self.stdout, self.stderr
        )
    }
}
