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
//!    client, time from SIGINT to exit.
//! 4. The same with 19,000 clients and the server at 20,000 descriptors.
//!
//! The thread engine (two threads per client) runs at most [`THREADS_CAP`] clients. The bench
//! raises its descriptor limit to the hard limit; the server inherits it. `CHAT_BIN` names
//! another server binary; `CHAT_BENCH_QUICK=1` runs a tenth of the clients, for a smoke test.

mod scenario;
mod server;
mod swarm;

use std::time::Duration;

use scenario::{silent, storm, throughput};
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
/// Scenario 4's clients and the server's descriptor limit.
const CROWD: (usize, u64) = (19_000, 20_000);

/// One engine's figures for a scenario, one per row.
type Cells = Vec<String>;

pub fn run() -> crate::Result<Section> {
    let hard = raise_fd_limit();
    let bin = Binary::find()?;
    let mut section = Section::new(
        "chat (book 8.10, ex. 8.12-8.15): both engines, loopback",
        "cargo xtask bench chat",
        &[
            "scenario",
            "events",
            "threads",
            "Go original (quoted from issue 10)",
            "target",
        ],
    );
    for clients in [scale(100).max(20), scale(1_000)] {
        let go = if clients >= 1_000 {
            ["25k/s, p99 18 s, unfinished", "-"]
        } else {
            ["44k/s, p99 540-750 ms", "-"]
        };
        let labels = [
            [
                &*format!("throughput, {clients} clients: deliveries/s, p50, p99"),
                go[0],
                "events >= 1.3 M/s (100), 1.5 M/s (1,000)",
            ],
            [
                &*format!("{clients} clients + 1 never reading: throughput kept"),
                go[1],
                "cost < 10%",
            ],
        ];
        let columns = each_engine(&bin, |engine| throughput(&bin, engine, clients, hard));
        rows(&mut section, &labels, columns);
    }
    for (n, go, target) in [
        (5_000, "9.2 of 12.5 M notices after 90 s", "report"),
        (10_000, "-", "<= 10 s"),
    ] {
        let n = scale(n);
        let labels = [
            [
                &*format!(
                    "join storm, {n} readers: first connect to last of {} notices",
                    pairs(n)
                ),
                go,
                target,
            ],
            [&*format!("join storm, {n}: lines lost"), "-", "0"],
            [
                &*format!("join storm, {n}: server RSS per client once quiet"),
                "-",
                if n > scale(5_000) { "<= 2 KB" } else { "-" },
            ],
        ];
        let columns = each_engine(&bin, |engine| match capped(engine, n) {
            Some(why) => Ok(vec![why; 3]),
            None => storm(&bin, engine, n, hard),
        });
        rows(&mut section, &labels, columns);
    }
    silent_rows(&mut section, &bin, hard);
    section.note(format!(
        "Server: {}; flags `--addr 127.0.0.1:0 --idle-timeout 1h --max-clients N+16`{}. The load \
         client holds every connection on one mio event loop in this process, sharing the cores \
         with the server; lines of about 100 bytes; {DELIVERIES_PER_ROUND} deliveries per round, \
         {ROUNDS} timed rounds per run, {REPEATS} runs each, medians. RSS in KB of 1,024 bytes, \
         as /proc tells. Descriptor limit: {hard} (hard limit; the server inherits it).",
        bin.path.display(),
        if bin.engines {
            " --engine E"
        } else {
            " (no --engine: the thread engine only)"
        }
    ));
    section.note("The Go figures are quoted from issue 10 (measured on this machine class with the same closed loop); no Go toolchain runs here.");
    Ok(section)
}

/// Scenarios 3 and 4: clients that stop reading once greeted.
fn silent_rows(section: &mut Section, bin: &Binary, hard: u64) {
    let (crowd, crowd_fds) = (scale(CROWD.0), CROWD.1);
    for (n, fds, go) in [
        (scale(10_000), hard, ["0.65 s", "7.6 KB", "0.01 s"]),
        (crowd, crowd_fds, ["-"; 3]),
    ] {
        let what = format!("{n} stop reading (server at {fds} descriptors)");
        let rss_target = if n == crowd {
            "<= 256 MiB + 64 MiB"
        } else {
            "<= 4 KB per client"
        };
        let labels = [
            [&*format!("{what}: all greeted"), go[0], "<= 5 s"],
            [&*format!("{what}: refused, failed, crashed"), "-", "none"],
            [
                &*format!("{what}: server RSS (per client)"),
                go[1],
                rss_target,
            ],
            [&*format!("{what}: SIGINT to exit"), go[2], "<= 1 s"],
        ];
        let columns = each_engine(bin, |engine| {
            if hard < fds || (n == crowd && capped(engine, n).is_some()) {
                let why = capped(engine, n).unwrap_or_else(|| {
                    format!("not run: raise the hard descriptor limit to {fds} (ulimit -Hn)")
                });
                return Ok(vec![why; 4]);
            }
            silent(bin, engine, n.min(cap_of(engine)), fds)
        });
        rows(section, &labels, columns);
    }
}

/// Runs `f` for each engine the server offers.
fn each_engine(
    bin: &Binary,
    mut f: impl FnMut(&str) -> crate::Result<Cells>,
) -> Vec<crate::Result<Cells>> {
    let run = |engine: &str| {
        if !bin.engines && engine == "events" {
            return Err("n/a: the server has no --engine".to_string());
        }
        f(engine).map_err(|err| format!("error: {err}"))
    };
    ENGINES.map(run).into()
}

/// One row per label: each engine's cell (or its error), the Go figure, the target.
fn rows(section: &mut Section, labels: &[[&str; 3]], columns: Vec<crate::Result<Cells>>) {
    for (i, [label, go, target]) in labels.iter().enumerate() {
        let mut row = vec![label.to_string()];
        for column in &columns {
            row.push(match column {
                Ok(cells) => cells.get(i).cloned().unwrap_or_default(),
                Err(err) => err.clone(),
            });
        }
        row.extend([go.to_string(), target.to_string()]);
        section.row(row);
    }
}

fn capped(engine: &str, n: usize) -> Option<String> {
    (n > cap_of(engine)).then(|| format!("not run: capped at {THREADS_CAP} clients"))
}

fn cap_of(engine: &str) -> usize {
    if engine == "threads" {
        scale(THREADS_CAP)
    } else {
        usize::MAX
    }
}

fn scale(n: usize) -> usize {
    if std::env::var_os("CHAT_BENCH_QUICK").is_some() {
        n / 10
    } else {
        n
    }
}

/// Arrival notices when `n` clients join one after another.
fn pairs(n: usize) -> u64 {
    (n as u64) * (n as u64).saturating_sub(1) / 2
}

/// Raises this process's descriptor limit to its hard limit (the server inherits it) and
/// returns it.
fn raise_fd_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit with a pointer to a live rlimit struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 1024;
        }
        limit.rlim_cur = limit.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
    }
    limit.rlim_max
}
