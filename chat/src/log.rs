//! The server's log on stderr (SPEC.md, chat, item 12: arrivals, departures, drops and errors,
//! one line each), written by a thread of its own.
//!
//! Why a thread: a write to a stderr pipe nobody reads blocks, and the Go original's `log.Print`
//! in the broadcaster then stalls the room; here a line is only `try_send` into a bounded queue
//! (overflow counted), and a closed stderr is ignored where `eprintln!` panics.

use std::fmt::Display;
use std::io::{self, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use common::wait_group::WaitGroup;
use crossbeam_channel::{Sender, bounded};

/// Lines waiting for stderr; more are dropped (and counted).
const BACKLOG: usize = 4096;

/// A handle to the log: cheap to clone, never blocks.
#[derive(Clone)]
pub struct Log {
    /// `None` for a log that discards everything.
    lines: Option<Sender<String>>,
    dropped: Arc<AtomicU64>,
}

/// The logger thread, and how to wait for it.
pub struct Logger {
    thread: JoinHandle<()>,
    /// Disconnected when the thread has written everything and returned.
    finished: WaitGroup,
}

impl Log {
    /// A log that writes nothing and starts no thread (`Config::log` off).
    pub fn discard() -> Log {
        Log {
            lines: None,
            dropped: Arc::default(),
        }
    }

    /// Starts the logger thread, if `enabled` ([`Log::discard`] if not). Every line is written
    /// as `chat: LINE`.
    pub fn start(enabled: bool) -> io::Result<(Log, Option<Logger>)> {
        if !enabled {
            return Ok((Log::discard(), None));
        }
        let (lines_tx, lines_rx) = bounded::<String>(BACKLOG);
        let finished = WaitGroup::new();
        let member = finished.add();
        let dropped = Arc::new(AtomicU64::new(0));
        let thread = {
            let dropped = Arc::clone(&dropped);
            thread::Builder::new()
                .name("log".into())
                .stack_size(64 << 10)
                .spawn(move || {
                    let _member = member;
                    let missed = |stderr: &mut dyn Write| {
                        let missed = dropped.swap(0, Ordering::Relaxed);
                        if missed > 0 {
                            let _ = writeln!(
                                stderr,
                                "chat: {missed} log lines dropped (stderr was not keeping up)"
                            );
                        }
                    };
                    for line in lines_rx {
                        let mut stderr = io::stderr().lock();
                        missed(&mut stderr);
                        let _ = writeln!(stderr, "chat: {line}");
                    }
                    missed(&mut io::stderr());
                })?
        };
        let log = Log {
            lines: Some(lines_tx),
            dropped,
        };
        Ok((log, Some(Logger { thread, finished })))
    }

    /// Logs one line (without the `chat: ` prefix), or drops and counts it if the backlog is
    /// full. Never blocks.
    pub fn line(&self, text: impl Display) {
        if let Some(lines) = &self.lines
            && lines.try_send(text.to_string()).is_err()
        {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Logger {
    /// Waits at most `limit` for the logger to write what is queued and end; call it once every
    /// [`Log`] handle is gone. If stderr is blocked (a pipe nobody reads), the thread is left
    /// blocked in its write rather than holding up the shutdown, and ends with the write or the
    /// process.
    pub fn finish(self, limit: Duration) {
        if self.finished.wait_timeout(limit) {
            let _ = self.thread.join();
        }
    }
}
