//! `cargo xtask bench chat`: the chat server's two engines side by side, under a load client
//! that holds every connection on one mio event loop (see [`swarm`]).
//!
//! 1. Throughput, closed loop: 10 senders keep 64 messages in flight, a message leaving the
//!    flight when every reading client has it; 100 and 1,000 clients; deliveries per second
//!    and p50/p99 send-to-receipt latency; then the same with one more client that never reads,
//!    once the room has sent it what the kernel may buffer toward it (so the rounds measure what
//!    it costs once left behind, not the second it may hold the room first).
//! 2. Join storm: clients that read everything join at once; time from the first connect to
//!    the last of the N*(N-1)/2 arrival notices, lines lost, and the server's RSS per client
//!    once quiet (VmRSS less the idle server's, over N).
//! 3. Clients that name themselves and stop reading: time until all are greeted, RSS per
//!    client.
//! 4. The same with 19,000 clients and the server at 20,000 descriptors.
//!
//! 5. Bursts into 100 readers (issue 16): one sender queues 50,000 lines of 50 bytes (2.5 MB)
//!    at once; then 20 senders queue 2,000 lines each. Time from the burst to the last line
//!    received, and lines lost per reader (a reader that keeps reading must lose none).
//!
//! Scenarios 2 to 4 also check that every client was greeted and the server still runs, and
//! time its exit after SIGINT. The targets are docs/SPEC.md's; the Go original's figures come
//! from `cargo xtask compare` (docs/benchmarks.md), not from here.
//!
//! The thread engine (two threads per client) runs at most [`THREADS_CAP`] clients. The bench
//! raises its descriptor limit to the hard limit; the server inherits it.
//! `CHAT_BENCH_ONLY=TEXT` runs the cells whose `ENGINE: SCENARIO` contains TEXT (as
//! `events: closed loop, 100 `).

mod scenario;
mod server;
mod swarm;

use std::time::Duration;

use std::path::Path;

use scenario::{burst, throughput};
use server::Setup;

pub use scenario::{room, window};
pub use server::{BOOK_ADDR, Setup as ChatSetup};

use super::{Section, median, release_binary, thousands};

const ENGINES: [&str; 2] = ["events", "threads"];
/// Runs of each throughput scenario, healthy and stalled alternated (AB BA).
const REPEATS: usize = 2;
/// Timed rounds per run, after at least one warm-up round; and the warm-ups at most, waiting
/// for the stalled client's backlog to fill (so the timed rounds see it dropped for).
const ROUNDS: usize = 3;
const MAX_WARMUPS: usize = 10;
/// Deliveries (messages x receivers) per round, so a round takes about as long at any size.
const DELIVERIES_PER_ROUND: usize = 2_000_000;
const LATENCY_SAMPLERS: usize = 50;
/// A round, or the joining of a room, not done by then is reported as capped.
const ROUND_CAP: Duration = Duration::from_secs(30);
const JOIN_CAP: Duration = Duration::from_secs(60);
/// After the last delivery, the server's memory is read once this has passed.
const QUIET: Duration = Duration::from_secs(1);
/// A join storm in which no notice came for this long is over: what is missing was lost.
const LOSS_QUIET: Duration = Duration::from_secs(5);
/// The thread engine's largest room here: 2 threads per client, and 19,000 clients would need
/// more threads than pid_max (32,768) allows.
const THREADS_CAP: usize = 5_000;

/// One engine's figures for a scenario, one per row.
type Cells = Vec<String>;

/// What a scenario does: its clients read on, stop once greeted, send in a closed loop, or
/// take a burst.
#[derive(Clone, Copy)]
enum Kind {
    Throughput,
    Storm,
    /// Clients that stop reading, under the server's descriptor limit (`None`: the hard limit).
    Silent(Option<u64>),
    /// Readers, the first `senders` of which queue `lines` lines between them at once.
    Burst {
        senders: usize,
        lines: usize,
    },
}

/// The scenarios: kind, clients, and what each row measures.
#[rustfmt::skip]
const SCENARIOS: [(Kind, usize, &[&str]); 8] = [
    (Kind::Throughput, 100, &["deliveries/s, p50, p99", "kept with 1 client never reading"]),
    (Kind::Throughput, 1_000, &["deliveries/s, p50, p99", "kept with 1 client never reading"]),
    (Kind::Storm, 5_000, &[
        "first connect to last arrival notice", "lines lost, clients greeted, server",
        "server RSS per client once quiet (total)", "SIGINT to exit",
    ]),
    (Kind::Storm, 10_000, &[
        "first connect to last arrival notice", "lines lost, clients greeted, server",
        "server RSS per client once quiet (total)", "SIGINT to exit",
    ]),
    (Kind::Silent(None), 10_000, &[
        "first connect to last greeting", "clients greeted, server",
        "server RSS per client (total)", "SIGINT to exit",
    ]),
    (Kind::Silent(Some(20_000)), 19_000, &[
        "first connect to last greeting", "clients greeted, server",
        "server RSS per client (total)", "SIGINT to exit",
    ]),
    (Kind::Burst { senders: 1, lines: 50_000 }, 100, &["burst to last line received", "lines lost per reader"]),
    (Kind::Burst { senders: 20, lines: 40_000 }, 100, &["burst to last line received", "lines lost per reader"]),
];

pub fn run() -> crate::Result<Section> {
    // The server inherits the raised limit.
    let hard = common::rlimit::raise_descriptor_limit();
    let bin = release_binary("chat");
    let headers = ["scenario", "events", "threads"];
    let title = "chat (book 8.10, ex. 8.12-8.15): both engines, loopback";
    let mut section = Section::new(title, "cargo xtask bench chat", &headers);
    for (kind, n, rows) in SCENARIOS {
        let label = kind.label(n);
        if !ENGINES.iter().any(|engine| chosen(engine, &label)) {
            continue;
        }
        let columns = ENGINES.map(|engine| match chosen(engine, &label) {
            true => column(&bin, kind, engine, n, hard),
            false => Err("not chosen".into()),
        });
        for (i, what) in rows.iter().enumerate() {
            let mut row = vec![format!("{label}: {what}")];
            row.extend(columns.iter().map(|cells| match cells {
                Ok(cells) => cells.get(i).cloned().unwrap_or_default(),
                Err(why) => why.clone(),
            }));
            eprintln!("xtask bench chat: | {} |", row.join(" | "));
            section.row(row);
        }
    }
    section.note(format!(
        "Server: {}; flags `--addr 127.0.0.1:0 --idle-timeout 1h --engine E --max-clients N+16`; \
         the thread engine runs at most {THREADS_CAP} clients (two threads each, and pid_max \
         32,768). The load client holds every connection on one mio event loop in this process, \
         sharing the cores with the server; messages of about 100 bytes; \
         {DELIVERIES_PER_ROUND} deliveries per round, {ROUNDS} timed rounds per run, {REPEATS} \
         runs each, medians. RSS in KB of 1,024 bytes, as /proc tells. Descriptor limit: {hard} \
         (the hard limit; the server inherits it). Targets: docs/SPEC.md (chat); the Go \
         original: `cargo xtask compare`.",
        bin.display()
    ));
    Ok(section)
}

impl Kind {
    fn label(self, n: usize) -> String {
        match self {
            Kind::Throughput => format!("closed loop, {n} clients"),
            Kind::Storm => format!("join storm, {n} readers"),
            Kind::Silent(None) => format!("{n} clients stop reading"),
            Kind::Silent(Some(fds)) => format!("{n} clients stop reading, {fds} descriptors"),
            Kind::Burst { senders: 1, lines } => {
                format!("1 sender, {} lines at once, {n} readers", thousands(lines))
            }
            Kind::Burst { senders, lines } => format!(
                "{senders} senders x {} lines at once, {n} readers",
                thousands(lines / senders)
            ),
        }
    }
}

/// One engine's cells for a scenario, or why there are none.
fn column(bin: &Path, kind: Kind, engine: &str, n: usize, hard: u64) -> crate::Result<Cells> {
    let fds = match kind {
        Kind::Silent(Some(fds)) => fds,
        _ => hard,
    };
    let clients = if engine == "threads" {
        n.min(THREADS_CAP)
    } else {
        n
    };
    if fds.max(clients as u64 + 64) > hard {
        let need = fds.max(clients as u64 + 64);
        Err(format!(
            "not run: raise the hard descriptor limit to {need} (ulimit -Hn)"
        ))
    } else if clients < n && !matches!(kind, Kind::Silent(None)) {
        Err(format!("not run: capped at {clients} clients"))
    } else {
        let setup = Setup {
            path: bin,
            engine: Some(engine),
            fds,
        };
        match kind {
            Kind::Throughput => throughput(&setup, clients),
            Kind::Storm => room(&setup, clients, true),
            Kind::Silent(_) => room(&setup, clients, false),
            Kind::Burst { senders, lines } => burst(&setup, clients, senders, lines),
        }
        .map(|mut cells| {
            if clients < n
                && let Some(first) = cells.first_mut()
            {
                *first += &format!(" (capped at {clients} clients)");
            }
            cells
        })
        .map_err(|err| format!("error: {err}"))
    }
}

/// `CHAT_BENCH_ONLY=TEXT` runs only the cells whose `ENGINE: SCENARIO` contains TEXT.
fn chosen(engine: &str, label: &str) -> bool {
    std::env::var("CHAT_BENCH_ONLY")
        .map_or(true, |only| format!("{engine}: {label}").contains(&only))
}
