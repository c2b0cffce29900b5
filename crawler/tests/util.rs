//! Test helpers: run the real `crawler` binary with a deadline and collect what it printed, in
//! a form that explains a failure (the command, its status, stdout and stderr).

use std::collections::BTreeSet;
use std::panic::{self, AssertUnwindSafe};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use testkit::site::Site;

/// The most any crawler run may take in a test before it counts as hung.
pub const DEADLINE: Duration = Duration::from_secs(60);

pub fn crawler() -> Command {
    Command::new(env!("CARGO_BIN_EXE_crawler"))
}

pub use testkit::child::{Run, describe, lines, spawn};

/// What a crawl printed, as [`Fetched::fetched`] reads it.
pub trait Fetched {
    /// The printed URLs with `prefix` (a site's `http://ADDR`) cut off, checked to be distinct.
    fn fetched(&self, prefix: &str) -> BTreeSet<String>;
}

impl Fetched for Run {
    fn fetched(&self, prefix: &str) -> BTreeSet<String> {
        let mut set = BTreeSet::new();
        for line in self.stdout.lines() {
            let short = line.strip_prefix(prefix).unwrap_or(line).to_string();
            assert!(set.insert(short), "{line} printed twice\n{self}");
        }
        set
    }
}

/// Runs the crawler with `args`, stdin at /dev/null (end of file is not a cancel), to its end.
pub fn crawl<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Run {
    Run::of(crawler().args(args).stdin(Stdio::null()), DEADLINE)
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
