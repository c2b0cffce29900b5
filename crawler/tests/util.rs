//! Test helpers: run the real `crawler` binary with a deadline and collect what it printed, in
//! a form that explains a failure (the command, its status, stdout and stderr).

use std::collections::BTreeSet;
use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::panic::{self, AssertUnwindSafe};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::site::Site;

/// The most any crawler run may take in a test before it counts as hung.
pub const DEADLINE: Duration = Duration::from_secs(60);

pub fn crawler() -> Command {
    Command::new(env!("CARGO_BIN_EXE_crawler"))
}

/// A finished run: everything needed to explain a failure.
pub struct Run {
    pub command: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
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

impl Run {
    /// Asserts the exit code, printing the whole run if it differs.
    pub fn expect_code(&self, code: i32) -> &Run {
        assert_eq!(
            self.status.code(),
            Some(code),
            "unexpected exit status\n{self}"
        );
        self
    }

    /// The printed URLs with `prefix` (a site's `http://ADDR`) cut off, checked to be distinct.
    pub fn fetched(&self, prefix: &str) -> BTreeSet<String> {
        let mut set = BTreeSet::new();
        for line in self.stdout.lines() {
            let short = line.strip_prefix(prefix).unwrap_or(line).to_string();
            assert!(set.insert(short), "{line} printed twice\n{self}");
        }
        set
    }

    pub fn stderr_lines(&self) -> Vec<&str> {
        self.stderr.lines().collect()
    }
}

pub fn describe(command: &Command) -> String {
    let mut text = command.get_program().to_string_lossy().into_owned();
    for arg in command.get_args() {
        text.push(' ');
        text.push_str(&arg.to_string_lossy());
    }
    text
}

/// Runs the crawler with `args`, stdin at /dev/null (end of file is not a cancel), to its end.
pub fn crawl<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Run {
    let mut command = crawler();
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let text = describe(&command);
    let child = command
        .spawn()
        .unwrap_or_else(|err| panic!("{text}: {err}"));
    finish(child, text, DEADLINE)
}

/// Collects a spawned child's piped stdout and stderr (those not taken already) and waits for
/// it, killing it (and failing) after `limit`.
pub fn finish(mut child: Child, command: String, limit: Duration) -> Run {
    let stdout = child.stdout.take().map(read_all);
    let stderr = child.stderr.take().map(read_all);
    let status = wait_deadline(&mut child, limit);
    let collect = |reader: Option<mpsc::Receiver<String>>| {
        reader
            .and_then(|rx| rx.recv_timeout(Duration::from_secs(10)).ok())
            .unwrap_or_default()
    };
    let stdout = collect(stdout);
    let stderr = collect(stderr);
    match status {
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

/// Reads a pipe to its end on a thread; the text arrives on the returned channel.
pub fn read_all(mut pipe: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        let _ = tx.send(String::from_utf8_lossy(&bytes).into_owned());
    });
    rx
}

/// Reads lines from a pipe on a thread, each sent on the returned channel as it arrives (so a
/// test can wait for one with a timeout).
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

/// A sorted set of strings, for comparing URL sets.
pub fn set<I: IntoIterator<Item = S>, S: Into<String>>(items: I) -> BTreeSet<String> {
    items.into_iter().map(Into::into).collect()
}

/// What a complete `--same-host` crawl of [`Site::generated`]`(pages)` from `/` prints and
/// requests: [`Site::generated_crawl`], as a set.
pub fn full_crawl(pages: usize) -> BTreeSet<String> {
    set(Site::generated_crawl(pages))
}

/// A thread whose result a test waits for with a deadline, so that a hang (a server's
/// `accept` that never returns, a crawl that never ends) fails the test instead of stalling it.
pub struct Background<T>(mpsc::Receiver<thread::Result<T>>);

/// Runs `work` on a thread of its own (see [`Background`]).
pub fn background<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Background<T> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(panic::catch_unwind(AssertUnwindSafe(work)));
    });
    Background(rx)
}

impl<T> Background<T> {
    /// The thread's result, or `None` if it has not finished within `limit` (the thread is
    /// then left behind: the test is failing anyway). A panic in the thread is passed on.
    pub fn wait_for(self, limit: Duration) -> Option<T> {
        match self.0.recv_timeout(limit) {
            Ok(Ok(value)) => Some(value),
            Ok(Err(payload)) => panic::resume_unwind(payload),
            Err(_) => None,
        }
    }

    /// The thread's result; fails the test, naming `what`, if it has not come within `limit`.
    pub fn wait(self, limit: Duration, what: &str) -> T {
        self.wait_for(limit)
            .unwrap_or_else(|| panic!("{what} did not finish within {limit:?}"))
    }
}
