//! `cargo xtask bench chat`: the chat server's two engines side by side, under a load client
//! that holds every connection on one mio event loop (see [`swarm`]).
//!
//! 1. Throughput, closed loop: 10 senders keep 64 messages in flight, a message leaving the
//!    flight when every reading client has it; 100 and 1,000 clients; deliveries per second
//!    and p50/p99 send-to-receipt latency; then the same with one more client that never reads.
//! 2. Join storm: clients that read everything join at once; time from the first connect to
//!    the last of the N*(N-1)/2 arrival notices, lines lost, and the server's RSS per client
//!    once quiet (VmRSS less the idle server's, over N).
//! 3. Clients that name themselves and stop reading: time until all are greeted, RSS per
//!    client.
//! 4. The same with 19,000 clients and the server at 20,000 descriptors.
//!
//! Scenarios 2 to 4 also check that every client was greeted and the server still runs, and
//! time its exit after SIGINT.
//!
//! The thread engine (two threads per client) runs at most [`THREADS_CAP`] clients. The bench
//! raises its descriptor limit to the hard limit; the server inherits it. `CHAT_BIN` names
//! another server binary; `CHAT_BENCH_QUICK=1` runs a tenth of the clients, for a smoke test;
//! `CHAT_BENCH_ONLY=TEXT` runs the cells whose `ENGINE: SCENARIO` contains TEXT (as
//! `events: closed loop, 100 `).

mod scenario;
mod server;
mod swarm;

use std::time::Duration;

use scenario::{Setup, room, throughput};
use server::Binary;

use super::{Section, median};

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

/// What a scenario does: its clients read on, stop once greeted, or (the closed loop) send.
#[derive(Clone, Copy)]
enum Kind {
    Throughput,
    Storm,
    /// Clients that stop reading, under the server's descriptor limit (`None`: the hard limit).
    Silent(Option<u64>),
}

/// The scenarios: kind, clients, and per row what is measured, the Go figure, the target.
#[rustfmt::skip]
const SCENARIOS: [(Kind, usize, &[[&str; 3]]); 6] = [
    (Kind::Throughput, 100, &[
        ["deliveries/s, p50, p99", "44k/s, p99 540-750 ms", "events >= 1.3 M/s"],
        ["kept with 1 client never reading", "-", "> 90%"],
    ]),
    (Kind::Throughput, 1_000, &[
        ["deliveries/s, p50, p99", "25k/s, p99 18 s, unfinished", "events >= 1.5 M/s"],
        ["kept with 1 client never reading", "-", "> 90%"],
    ]),
    (Kind::Storm, 5_000, &[
        ["first connect to last arrival notice", "9.2 of 12.5 M notices after 90 s", "-"],
        ["lines lost, clients greeted, server", "-", "0 lost, all, running"],
        ["server RSS per client once quiet (total)", "-", "-"],
        ["SIGINT to exit", "-", "<= 1 s"],
    ]),
    (Kind::Storm, 10_000, &[
        ["first connect to last arrival notice", "-", "<= 10 s"],
        ["lines lost, clients greeted, server", "-", "0 lost, all, running"],
        ["server RSS per client once quiet (total)", "-", "<= 2 KB"],
        ["SIGINT to exit", "-", "<= 1 s"],
    ]),
    (Kind::Silent(None), 10_000, &[
        ["first connect to last greeting", "0.65 s", "<= 5 s"],
        ["clients greeted, server", "-", "all, running"],
        ["server RSS per client (total)", "7.6 KB", "<= 4 KB"],
        ["SIGINT to exit", "0.01 s", "<= 1 s"],
    ]),
    (Kind::Silent(Some(20_000)), 19_000, &[
        ["first connect to last greeting", "-", "-"],
        ["clients greeted, server", "-", "all, running"],
        ["server RSS per client (total)", "-", "total <= 320 MiB"],
        ["SIGINT to exit", "-", "<= 1 s"],
    ]),
];

pub fn run() -> crate::Result<Section> {
    // The server inherits the raised limit.
    let hard = common::rlimit::raise_descriptor_limit();
    let bin = Binary::find()?;
    let headers = [
        "scenario",
        "events",
        "threads",
        "Go original (quoted from issue 10)",
        "target",
    ];
    let title = "chat (book 8.10, ex. 8.12-8.15): both engines, loopback";
    let mut section = Section::new(title, "cargo xtask bench chat", &headers);
    for (kind, n, rows) in SCENARIOS {
        let (n, label) = (scale(n), kind.label(scale(n)));
        if !ENGINES.iter().any(|engine| chosen(engine, &label)) {
            continue;
        }
        let columns = ENGINES.map(|engine| match chosen(engine, &label) {
            true => column(&bin, kind, engine, n, hard),
            false => Err("not chosen".into()),
        });
        for (i, [what, go, target]) in rows.iter().enumerate() {
            let mut row = vec![format!("{label}: {what}")];
            row.extend(columns.iter().map(|cells| match cells {
                Ok(cells) => cells.get(i).cloned().unwrap_or_default(),
                Err(why) => why.clone(),
            }));
            row.extend([go.to_string(), target.to_string()]);
            eprintln!("xtask bench chat: | {} |", row.join(" | "));
            section.row(row);
        }
    }
    let engine = if bin.engines {
        " --engine E"
    } else {
        " (no --engine: threads only)"
    };
    section.note(format!(
        "Server: {}; flags `--addr 127.0.0.1:0 --idle-timeout 1h --max-clients N+16{engine}`; \
         the thread engine runs at most {THREADS_CAP} clients (two threads each, and pid_max \
         32,768). The load client holds every connection on one mio event loop in this process, \
         sharing the cores with the server; messages of about 100 bytes; \
         {DELIVERIES_PER_ROUND} deliveries per round, {ROUNDS} timed rounds per run, {REPEATS} \
         runs each, medians. RSS in KB of 1,024 bytes, as /proc tells. Descriptor limit: {hard} \
         (the hard limit; the server inherits it). The Go figures are quoted from issue 10 \
         (this machine class, the same loads); no Go toolchain runs here.",
        bin.path.display()
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
        }
    }
}

/// One engine's cells for a scenario, or why there are none.
fn column(bin: &Binary, kind: Kind, engine: &str, n: usize, hard: u64) -> crate::Result<Cells> {
    let fds = match kind {
        Kind::Silent(Some(fds)) => fds,
        _ => hard,
    };
    let clients = if engine == "threads" {
        n.min(scale(THREADS_CAP))
    } else {
        n
    };
    if !bin.engines && engine == "events" {
        Err("n/a: the server has no --engine".into())
    } else if fds.max(clients as u64 + 64) > hard {
        let need = fds.max(clients as u64 + 64);
        Err(format!(
            "not run: raise the hard descriptor limit to {need} (ulimit -Hn)"
        ))
    } else if clients < n && !matches!(kind, Kind::Silent(None)) {
        Err(format!("not run: capped at {clients} clients"))
    } else {
        let setup = Setup { bin, engine, fds };
        match kind {
            Kind::Throughput => throughput(&setup, clients),
            Kind::Storm => room(&setup, clients, true),
            Kind::Silent(_) => room(&setup, clients, false),
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

fn scale(n: usize) -> usize {
    match std::env::var_os("CHAT_BENCH_QUICK") {
        Some(_) => n / 10,
        None => n,
    }
}
