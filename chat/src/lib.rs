//! chat: the chat server of *The Go Programming Language* (Donovan and Kernighan), section 8.10,
//! with exercises 8.12 (the client list for a newcomer), 8.13 (idle kick), 8.14 (names) and 8.15
//! (slow clients must not delay the others).
//!
//! Run it with `cargo run -p chat` and talk to it with `cargo run -p netcat3` from two other
//! terminals. `--help` lists the flags (`--addr`, `--engine`, `--loops`, `--idle-timeout`,
//! `--max-backlog`, `--max-backlog-total`, `--max-line`, `--max-clients`). The protocol, line by
//! line, is in docs/SPEC.md ("chat").
//!
//! Where to read what:
//!
//! - The book's listing: [`threads`] (`serve` is the book's `main`, then `handle_conn` and
//!   `client_writer`), with [`room::broadcaster`]. `--engine threads` runs it: two threads per
//!   client, as the book has two goroutines.
//! - The scale path: [`events`] (the default), a fixed pool of mio event loops with no thread
//!   per client, for thousands of clients at a small fraction of a thread's memory each. A
//!   room of up to [`Config::pack`] (512) clients stays on one loop.
//! - Both drive the same protocol core: a [`session::Session`] per connection (fed bytes and the
//!   time, no socket in it) and one [`room::Room`], owned by the broadcaster thread.
//!
//! The book's flaws, and the function that fixes each:
//!
//! - A slow client stalls everyone (the broadcaster blocks on it): [`backlog::Backlog::offer`]
//!   and [`events`]' feed drop for that client alone, counted, told once at the gap.
//! - One write per message: `threads::client_writer` and `events` write a batch of many.
//! - `bufio.Scanner` ends the connection at 64 KiB; a long line is dropped here, not stored
//!   ([`session::Session::received`]); invalid UTF-8 becomes U+FFFD.
//! - Message text reaches terminals raw (escape sequences, a bare CR faking a sender):
//!   [`text::clean_message`].
//! - Names: none unique, look-alikes and protocol-breaking ones: [`text::name_key`],
//!   [`text::name_problem`], [`room::Room::join`] (ex. 8.14).
//! - An unbounded client list: [`text::client_list`] ends a crowded one with `... and N more`.
//! - Limits end the process or wedge it: [`limits::fit`] (the default `--max-clients` and `--max-backlog-total`),
//!   [`limits::listen`] (SOMAXCONN), [`accept::accept_loop`] (refusal with one line, a reserve
//!   descriptor for EMFILE); the thread engine closes a finished connection's socket at once
//!   (`threads::conns`).
//! - No way to stop: the done signal tells every client and returns within a second with every
//!   thread joined ([`run`]); the log has a thread of its own ([`log`]), so a stderr nobody reads
//!   stalls no one.
//!
//! Where it differs from Go, and why: a goroutine costs a few KB and the Go runtime multiplexes
//! them over a few threads, so the book can afford two per client; an OS thread cannot (its
//! stack, its kernel objects, a process ceiling near 15,000 threads), so the default engine
//! multiplexes connections itself. A thread that cannot map its signal stack at start-up
//! aborts the process whatever the panic strategy (the panic is inside std's `extern "C"`
//! thread entry), and so does a failed allocation, so the server never gets near either: its
//! client limit counts threads, memory maps and memory (`ulimit -v`, `ulimit -d`, the cgroup's
//! `memory.max`), each client at what it can make the server hold at worst.

pub mod accept;
pub mod backlog;
pub mod events;
pub mod limits;
mod lines;
pub mod log;
pub mod room;
pub mod session;
pub mod text;
pub mod threads;

pub use limits::listen;

use std::io;
use std::net::{Shutdown, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use common::done::Done;

use crate::log::Log;
use crate::session::Limits;

/// One message on its way to clients: formatted once, shared by every client it goes to.
pub type Message = Arc<str>;

/// How connections are served (`--engine`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// A fixed pool of event-loop threads over non-blocking sockets (the default).
    Events,
    /// The book's design: a reader and a writer thread per client.
    Threads,
}

/// How the server behaves; [`Config::default`] is the command line's defaults.
#[derive(Clone, Debug)]
pub struct Config {
    /// Which engine serves the connections.
    pub engine: Engine,
    /// Event-loop threads for [`Engine::Events`]; 0 means one per core.
    pub loops: usize,
    /// Clients an event loop takes before the next loop is used (512). A small room stays on one
    /// loop, where a message costs one hand-off instead of one per loop and no two threads write
    /// to the same readers at once; past it, one loop's round of writes (10-15 us each here) would
    /// pass 5 ms, and the loops share them. docs/benchmarks.md has the measurement.
    pub pack: usize,
    /// A client that completes no line for this long is told so and disconnected (ex. 8.13). At
    /// most a year.
    pub idle_timeout: Duration,
    /// Bytes held for one client beyond what its socket took; more are dropped for that client
    /// (ex. 8.15), and it is told how many once it catches up.
    pub max_backlog: usize,
    /// Bytes held for all clients together; past it, the largest backlogs drop first.
    pub max_backlog_total: usize,
    /// The longest line, in bytes, that is broadcast; longer ones are dropped.
    pub max_line: usize,
    /// Connections (named or still naming) served at once; more are refused. Never more than
    /// the process's limits allow (the default, `usize::MAX`, means just that).
    pub max_clients: usize,
    /// A client whose socket accepts nothing for this long is disconnected (10 s).
    pub write_timeout: Duration,
    /// At shutdown, how long a client may take to be given what is queued before its connection
    /// is cut (so shutdown finishes within a second even with stalled clients). At most 10 s.
    pub shutdown_grace: Duration,
    /// Write the log (arrivals, departures, drops, errors) to stderr, one `chat: ...` line each.
    /// The binary does; the in-process tests turn it off to keep the test run's output tidy.
    pub log: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            engine: Engine::Events,
            loops: 0,
            pack: 512,
            idle_timeout: Duration::from_secs(300),
            max_backlog: 1 << 20,
            max_backlog_total: 256 << 20,
            max_line: 8192,
            max_clients: usize::MAX,
            write_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_millis(300),
            log: true,
        }
    }
}

impl Config {
    /// What each session enforces.
    pub fn limits(&self) -> Limits {
        Limits {
            max_line: self.max_line,
            idle_timeout: self.idle_timeout,
        }
    }

    /// Out-of-range values brought into range rather than trusted: a deadline far in the
    /// future would overflow the clock's arithmetic.
    fn clamped(self) -> Config {
        const YEAR: Duration = Duration::from_secs(365 * 24 * 3600);
        Config {
            idle_timeout: self.idle_timeout.min(YEAR),
            max_line: self.max_line.max(1),
            max_backlog: self.max_backlog.max(1),
            max_backlog_total: self.max_backlog_total.max(1),
            write_timeout: self.write_timeout.min(YEAR),
            shutdown_grace: self.shutdown_grace.min(Duration::from_secs(10)),
            ..self
        }
    }
}

/// What a finished server reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Connections accepted (refused ones included).
    pub connections: u64,
    /// Messages dropped because a client's backlog was full, summed over clients.
    pub dropped: u64,
}

/// Serves chat clients on `listener` until `done` fires, then tells every client the server is
/// shutting down, closes every connection, and returns once every thread it started has ended.
/// An error means the server could not start (its first threads could not be spawned).
pub fn run(listener: TcpListener, config: Config, done: Done) -> io::Result<Summary> {
    let mut config = config.clamped();
    let (log, logger) = if config.log {
        let (log, logger) = Log::start()?;
        (log, Some(logger))
    } else {
        (Log::discard(), None)
    };
    // A blocked `accept` wakes when the listening socket is shut down (Linux), from the hook.
    let wake = listener.try_clone()?;
    let _wake_accept = done.on_cancel(move || {
        let _ = socket2::SockRef::from(&wake).shutdown(Shutdown::Both);
    });
    let max_clients = limits::fit(&mut config, &log);
    let config = Arc::new(config);
    let summary = match config.engine {
        Engine::Threads => threads::serve(&listener, &config, &done, &log, max_clients),
        Engine::Events => events::serve(&listener, &config, &done, &log, max_clients),
    };
    if let Ok(Summary { dropped, .. }) = &summary
        && *dropped > 0
    {
        log.line(format_args!("{dropped} messages dropped for slow clients"));
    }
    log.line("shut down");
    drop(log);
    if let Some(logger) = logger {
        logger.finish(config.shutdown_grace);
    }
    summary
}
