//! The server's shared types: its [`Config`] (the command line's flags), the [`Engine`]
//! choice, the [`Summary`] a finished server reports, and a [`Message`] on its way to clients.

use std::sync::Arc;
use std::time::Duration;

use crate::session::Limits;

/// One message on its way to clients: formatted once, shared by every client it goes to.
pub type Message = Arc<str>;

/// How connections are served (`--engine`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Engine {
    /// A few event-loop threads over non-blocking sockets, for many clients (the default).
    Events,
    /// The book's design: a reader and a writer thread per client.
    Threads,
}

/// How the server behaves; [`Config::default`] is the command line's defaults.
#[derive(Clone, Debug)]
pub struct Config {
    /// Which engine serves the connections.
    pub engine: Engine,
    /// Event-loop threads for [`Engine::Events`]; 0 means one per core (as `run` resolves it).
    pub loops: usize,
    /// Clients an event loop takes before the next loop is used (512): a small room on one loop
    /// costs one hand-off per message, not one per loop; past it, one loop's round of writes
    /// would pass 5 ms, and the loops share them (docs/benchmarks.md).
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
    /// A client may hold the room back this long (1 s): one that takes nothing, or stays above
    /// the high-water mark, for longer no longer does, and drops messages past its backlog.
    pub stall: Duration,
    /// At shutdown, how long a client may take to be given what is queued before its connection
    /// is cut (so shutdown finishes within a second even with stalled clients). At most 10 s.
    pub shutdown_grace: Duration,
    /// Write the log (arrivals, departures, drops, errors) to stderr, one `chat: ...` line each
    /// (the in-process tests turn it off).
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
            stall: Duration::from_secs(1),
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
            max_message: self.max_backlog,
            idle_timeout: self.idle_timeout,
        }
    }

    /// Out-of-range values brought into range (a deadline far in the future would overflow the
    /// clock's arithmetic), and no `loops` made one per core.
    pub(crate) fn clamped(self) -> Config {
        const YEAR: Duration = Duration::from_secs(365 * 24 * 3600);
        let cores = || std::thread::available_parallelism().map_or(1, usize::from);
        Config {
            loops: if self.loops == 0 { cores() } else { self.loops },
            idle_timeout: self.idle_timeout.min(YEAR),
            max_line: self.max_line.max(1),
            max_backlog: self.max_backlog.max(1),
            max_backlog_total: self.max_backlog_total.max(1),
            write_timeout: self.write_timeout.clamp(Duration::from_millis(10), YEAR),
            stall: self.stall.clamp(Duration::from_millis(10), YEAR),
            shutdown_grace: self.shutdown_grace.min(Duration::from_secs(10)),
            ..self
        }
    }
}

/// What a finished server reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Messages dropped because a client's backlog was full, summed over clients.
    pub dropped: u64,
}
