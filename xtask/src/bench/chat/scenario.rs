//! The four scenarios, each against a fresh server; every wait is capped.

use std::thread;
use std::time::{Duration, Instant};

use super::server::{Binary, Server};
use super::swarm::{self, Swarm};
use super::*;

/// Scenario 1 for one engine: [healthy rate and latency, what a stalled client leaves].
pub fn throughput(bin: &Binary, engine: &str, clients: usize, fds: u64) -> crate::Result<Cells> {
    let mut runs: [Vec<Run>; 2] = [Vec::new(), Vec::new()];
    for repeat in 0..REPEATS {
        for stalled in [repeat % 2 == 1, repeat % 2 == 0] {
            eprintln!("xtask bench chat: {engine}, {clients} clients, stalled client: {stalled}");
            runs[usize::from(stalled)].push(closed_loop(bin, engine, clients, stalled, fds)?);
        }
    }
    let rate = |runs: &[Run]| {
        median(
            &runs
                .iter()
                .flat_map(|r| r.rates.clone())
                .collect::<Vec<_>>(),
        )
    };
    let (healthy, stalled) = (rate(&runs[0]), rate(&runs[1]));
    let mut latencies: Vec<u64> = runs[0].iter().flat_map(|r| r.latencies.clone()).collect();
    latencies.sort_unstable();
    let note = |runs: &[Run]| runs.iter().map(|r| r.note.as_str()).collect::<String>();
    let (p50, p99) = (percentile(&latencies, 0.50), percentile(&latencies, 0.99));
    let kept = 100.0 * stalled / healthy.max(1.0);
    Ok(vec![
        format!(
            "{:.2} M/s, p50 {p50:.1} ms, p99 {p99:.1} ms{}",
            healthy / 1e6,
            note(&runs[0])
        ),
        format!("{kept:.0}% ({:.2} M/s){}", stalled / 1e6, note(&runs[1])),
    ])
}

/// One run of the closed loop: each timed round's rate, the latencies, what went wrong.
struct Run {
    rates: Vec<f64>,
    latencies: Vec<u64>,
    note: String,
}

fn closed_loop(
    bin: &Binary,
    engine: &str,
    n: usize,
    stalled: bool,
    fds: u64,
) -> crate::Result<Run> {
    let server = Server::start(bin, engine, n + 16, fds)?;
    let mut swarm = Swarm::new(server.addr).map_err(poll)?;
    swarm.sample_every = n.div_ceil(LATENCY_SAMPLERS);
    join(&mut swarm, n, true, None)?;
    if stalled {
        // It joins last (not already behind on arrivals), with a small window, and never reads.
        join(&mut swarm, 1, false, Some(4096))?;
    }
    swarm.start_flow();
    let name = swarm::name(n);
    let full = || {
        let dropping = |line: &str| line.contains("drop") || line.contains("full");
        stalled
            && server
                .logged(|line| line.contains(&name) && dropping(line))
                .is_some()
    };
    let mut run = Run {
        rates: Vec::new(),
        latencies: Vec::new(),
        note: String::new(),
    };
    let per_round = (DELIVERIES_PER_ROUND / n).max(256);
    for round in 0..ROUNDS + MAX_WARMUPS {
        let timed = round >= 1 && (!stalled || round == MAX_WARMUPS || full());
        let flow = swarm.flow.as_mut().ok_or("no flow")?;
        if timed && run.rates.is_empty() {
            flow.time_from_now();
        }
        let (target, start) = (flow.completed + per_round, Instant::now());
        let done = swarm.run_until(ROUND_CAP, |s| {
            s.flow.as_ref().is_some_and(|f| f.completed >= target)
        });
        if !done.map_err(poll)? {
            run.note = format!(" (round {round} capped at {} s)", ROUND_CAP.as_secs());
            break;
        }
        if timed {
            run.rates
                .push((per_round * n) as f64 / start.elapsed().as_secs_f64());
            if run.rates.len() == ROUNDS {
                break;
            }
        }
    }
    if stalled && !full() {
        run.note += " (its backlog never filled)";
    }
    run.latencies = swarm.flow.take().map(|f| f.latencies).unwrap_or_default();
    Ok(run)
}

/// Opens `n` clients and waits until each is greeted and, for readers, the arrivals are in.
fn join(swarm: &mut Swarm, n: usize, reads: bool, rcvbuf: Option<usize>) -> crate::Result<()> {
    let expected = swarm.tally.opened + n;
    swarm.open(n, reads, rcvbuf);
    let quiet = Duration::from_millis(500);
    swarm
        .run_until(JOIN_CAP, |s| settled(s, expected, quiet))
        .map_err(poll)?;
    let t = &swarm.tally;
    match t.greeted == expected {
        true => Ok(()),
        false => Err(format!(
            "{} of {expected} greeted within {} s{}",
            t.greeted,
            JOIN_CAP.as_secs(),
            t.trouble()
        )),
    }
}

/// Every client asked for has an answer, and the readers have every arrival notice due (or
/// were told some were dropped), or none came for `quiet` (a server that loses lines).
fn settled(swarm: &Swarm, clients: usize, quiet: Duration) -> bool {
    let t = &swarm.tally;
    let last = t.last_arrival.max(t.last_greeting).unwrap_or(swarm.started);
    t.answered() >= clients
        && (t.arrivals + t.dropped >= t.expected_arrivals || last.elapsed() >= quiet)
}

/// A fresh server and a swarm of `n` clients joining it, once the idle server's RSS is read.
fn room(
    bin: &Binary,
    engine: &str,
    n: usize,
    fds: u64,
    reads: bool,
) -> crate::Result<(Server, Swarm, u64)> {
    let server = Server::start(bin, engine, n + 16, fds)?;
    thread::sleep(QUIET);
    let idle = server.rss_kib()?;
    let mut swarm = Swarm::new(server.addr).map_err(poll)?;
    swarm.open(n, reads, None);
    Ok((server, swarm, idle))
}

/// Scenario 2: [time to the last notice, lines lost, RSS per client].
pub fn storm(bin: &Binary, engine: &str, n: usize, fds: u64) -> crate::Result<Cells> {
    eprintln!("xtask bench chat: {engine}, join storm of {n}");
    let (server, mut swarm, idle) = room(bin, engine, n, fds, true)?;
    let done = swarm
        .run_until(JOIN_CAP, |s| settled(s, n, LOSS_QUIET))
        .map_err(poll)?;
    let t = &swarm.tally;
    let last = t.last_arrival.max(t.last_greeting).unwrap_or(swarm.started);
    let took = last.duration_since(swarm.started).as_secs_f64();
    let lost = t.expected_arrivals.saturating_sub(t.arrivals);
    thread::sleep(QUIET);
    let rss = server.rss_kib()?.saturating_sub(idle);
    Ok(vec![
        match done {
            true => format!("{took:.2} s"),
            false => format!("capped at {} s", JOIN_CAP.as_secs()),
        },
        format!("{lost} ({} notices of drops{})", t.dropped, t.trouble()),
        format!("{:.1} KB", rss as f64 / n as f64),
    ])
}

/// Scenarios 3 and 4: [greeted, refused or crashed, RSS, SIGINT to exit].
pub fn silent(bin: &Binary, engine: &str, n: usize, fds: u64) -> crate::Result<Cells> {
    eprintln!("xtask bench chat: {engine}, {n} clients that stop reading, {fds} descriptors");
    let (mut server, mut swarm, idle) = room(bin, engine, n, fds, false)?;
    let done = swarm
        .run_until(JOIN_CAP, |s| s.tally.answered() >= n)
        .map_err(poll)?;
    let t = &swarm.tally;
    let last = t
        .last_greeting
        .unwrap_or(swarm.started)
        .duration_since(swarm.started);
    let greeted = match done && t.greeted == n {
        true => format!("all {n} in {:.2} s", last.as_secs_f64()),
        false => format!("{} of {n} ({:.2} s)", t.greeted, last.as_secs_f64()),
    };
    thread::sleep(QUIET);
    let rss = server.rss_kib()?;
    let alive = if server.alive() { "running" } else { "CRASHED" };
    let refused = format!(
        "{} refused, {} failed, {alive}{}",
        t.refused,
        t.failed,
        t.trouble()
    );
    let exit = match server.interrupt() {
        Ok((status, took)) => format!("{:.2} s ({status})", took.as_secs_f64()),
        Err(err) => err,
    };
    let each = rss.saturating_sub(idle) as f64 / n as f64;
    Ok(vec![
        greeted,
        refused,
        format!("{:.0} MB ({each:.1} KB)", rss as f64 / 1024.0),
        exit,
    ])
}

fn poll(err: std::io::Error) -> String {
    format!("poll: {err}")
}

/// The `p` quantile of sorted microsecond samples, in milliseconds (NaN for none).
fn percentile(sorted: &[u64], p: f64) -> f64 {
    let Some(last) = sorted.len().checked_sub(1) else {
        return f64::NAN;
    };
    let index = ((sorted.len() as f64 * p).ceil() as usize).saturating_sub(1);
    sorted[index.min(last)] as f64 / 1000.0
}
