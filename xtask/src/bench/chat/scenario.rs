//! The four scenarios, each against a fresh server; every wait is capped.

use std::thread;
use std::time::Duration;

use super::server::{Binary, Server};
use super::swarm::{self, Swarm};
use super::*;

/// Scenario 1 for one engine: [healthy rate and latency, what a stalled client leaves].
pub fn throughput(bin: &Binary, engine: &str, clients: usize, fds: u64) -> crate::Result<Cells> {
    let mut runs: [Vec<Run>; 2] = [Vec::new(), Vec::new()];
    for repeat in 0..REPEATS {
        for k in 0..2 {
            let stalled = (k + repeat) % 2 == 1;
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
    let mut latencies: Vec<u32> = runs[0].iter().flat_map(|r| r.latencies.clone()).collect();
    latencies.sort_unstable();
    let notes = |runs: &[Run]| {
        runs.iter()
            .filter_map(|r| r.note.clone())
            .collect::<Vec<_>>()
            .join("; ")
    };
    Ok(vec![
        format!(
            "{:.2} M/s, p50 {:.1} ms, p99 {:.1} ms {}",
            healthy / 1e6,
            percentile(&latencies, 0.50),
            percentile(&latencies, 0.99),
            notes(&runs[0])
        ),
        format!(
            "{:.0}% ({:.2} M/s) {}",
            100.0 * stalled / healthy.max(1.0),
            stalled / 1e6,
            notes(&runs[1])
        ),
    ])
}

/// One run of the closed loop.
struct Run {
    rates: Vec<f64>,
    latencies: Vec<u32>,
    /// Capped rounds; for the stalled client, whether its backlog filled.
    note: Option<String>,
}

fn closed_loop(
    bin: &Binary,
    engine: &str,
    clients: usize,
    stalled: bool,
    fds: u64,
) -> crate::Result<Run> {
    let server = Server::start(bin, engine, clients + 16, fds)?;
    let mut swarm = Swarm::new(server.addr).map_err(|err| format!("poll: {err}"))?;
    swarm.sample_every = clients.div_ceil(LATENCY_SAMPLERS);
    join(&mut swarm, clients, true, None)?;
    if stalled {
        // It joins last (not already behind on arrivals), with a small window, and never reads.
        join(&mut swarm, 1, false, Some(4096))?;
    }
    swarm.start_flow();
    let stalled_name = swarm::name(clients);
    let full = || {
        server.logged(|line| {
            line.contains(&stalled_name) && (line.contains("drop") || line.contains("full"))
        })
    };
    let per_round = (DELIVERIES_PER_ROUND / clients).max(256);
    let (mut rates, mut note) = (Vec::new(), None);
    for round in 0..ROUNDS + MAX_WARMUPS {
        let timed = round >= 1 && (!stalled || round == MAX_WARMUPS || full().is_some());
        let flow = swarm.flow.as_mut().ok_or("no flow")?;
        if timed && rates.is_empty() {
            flow.time_from_now();
        }
        let (target, start) = (flow.completed + per_round, std::time::Instant::now());
        let done = swarm.run_until(ROUND_CAP, |s| {
            s.flow.as_ref().is_some_and(|f| f.completed >= target)
        });
        if !done.map_err(|err| format!("poll: {err}"))? {
            note = Some(format!(
                "(round {round} capped at {} s)",
                ROUND_CAP.as_secs()
            ));
            break;
        }
        if timed {
            rates.push((per_round * clients) as f64 / start.elapsed().as_secs_f64());
            if rates.len() == ROUNDS {
                break;
            }
        }
    }
    if stalled && full().is_none() {
        note.get_or_insert_with(|| "(its backlog never filled)".into());
    }
    let latencies = swarm.flow.take().map(|f| f.latencies).unwrap_or_default();
    Ok(Run {
        rates,
        latencies,
        note,
    })
}

/// Opens `n` clients and waits until each is greeted (or refused) and, for readers, the
/// arrival notices are in.
fn join(swarm: &mut Swarm, n: usize, reads: bool, rcvbuf: Option<usize>) -> crate::Result<()> {
    let expected = swarm.tally.opened + n;
    swarm.open(n, reads, rcvbuf);
    let done = swarm.run_until(JOIN_CAP, |s| {
        settled(s, expected, Duration::from_millis(500))
    });
    let t = &swarm.tally;
    match done {
        Ok(true) if t.greeted == expected => Ok(()),
        Ok(_) => Err(format!(
            "{} of {expected} clients greeted, {} of {} arrivals within {} s; {} refused, {} failed{}",
            t.greeted,
            t.arrivals,
            pairs(t.greeted),
            JOIN_CAP.as_secs(),
            t.refused,
            t.failed,
            t.first_error
                .as_deref()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default()
        )),
        Err(err) => Err(format!("poll: {err}")),
    }
}

/// Every client asked for has an answer, and the readers have every arrival notice due (or
/// were told some were dropped), or none came for `quiet` (a server that loses lines).
fn settled(swarm: &Swarm, clients: usize, quiet: Duration) -> bool {
    let t = &swarm.tally;
    let last = t.last_arrival.max(t.last_greeting).unwrap_or(swarm.started);
    t.greeted + t.refused + t.failed >= clients
        && (t.arrivals + t.dropped >= t.expected_arrivals || last.elapsed() >= quiet)
}

/// Scenario 2: [time to the last notice, lines lost, RSS per client].
pub fn storm(bin: &Binary, engine: &str, n: usize, fds: u64) -> crate::Result<Cells> {
    eprintln!("xtask bench chat: {engine}, join storm of {n}");
    let server = Server::start(bin, engine, n + 16, fds)?;
    thread::sleep(QUIET);
    let idle = server.rss_kib()?;
    let mut swarm = Swarm::new(server.addr).map_err(|err| format!("poll: {err}"))?;
    swarm.open(n, true, None);
    let done = swarm
        .run_until(JOIN_CAP, |s| settled(s, n, LOSS_QUIET))
        .map_err(|err| format!("poll: {err}"))?;
    let t = &swarm.tally;
    let last = t.last_arrival.max(t.last_greeting).unwrap_or(swarm.started);
    let took = last.duration_since(swarm.started).as_secs_f64();
    let lost = t.expected_arrivals.saturating_sub(t.arrivals);
    thread::sleep(QUIET);
    let rss = server.rss_kib()?.saturating_sub(idle);
    Ok(vec![
        if done {
            format!("{took:.2} s")
        } else {
            format!("capped at {} s", JOIN_CAP.as_secs())
        },
        format!(
            "{lost} ({} refused, {} failed, {} said dropped)",
            t.refused, t.failed, t.dropped
        ),
        format!("{:.1} KB", rss as f64 / n as f64),
    ])
}

/// Scenarios 3 and 4: [greeted, refused or crashed, RSS, SIGINT to exit].
pub fn silent(bin: &Binary, engine: &str, n: usize, fds: u64) -> crate::Result<Cells> {
    eprintln!("xtask bench chat: {engine}, {n} clients that stop reading, {fds} descriptors");
    let mut server = Server::start(bin, engine, n + 16, fds)?;
    thread::sleep(QUIET);
    let idle = server.rss_kib()?;
    let mut swarm = Swarm::new(server.addr).map_err(|err| format!("poll: {err}"))?;
    swarm.open(n, false, None);
    let done = swarm.run_until(JOIN_CAP, |s| {
        s.tally.greeted + s.tally.refused + s.tally.failed >= n
    });
    let done = done.map_err(|err| format!("poll: {err}"))?;
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
    let error = t
        .first_error
        .as_deref()
        .map(|e| format!(": {e}"))
        .unwrap_or_default();
    let refused = format!("{} refused, {} failed, {alive}{error}", t.refused, t.failed);
    let exit = match server.interrupt() {
        Ok((status, took)) => format!("{:.2} s ({status})", took.as_secs_f64()),
        Err(err) => err,
    };
    let per_client = rss.saturating_sub(idle) as f64 / n as f64;
    Ok(vec![
        greeted,
        refused,
        format!("{:.0} MB ({per_client:.1} KB)", rss as f64 / 1024.0),
        exit,
    ])
}

/// The `p` quantile of sorted microsecond samples, in milliseconds (NaN for none).
fn percentile(sorted: &[u32], p: f64) -> f64 {
    let Some(last) = sorted.len().checked_sub(1) else {
        return f64::NAN;
    };
    let index = ((sorted.len() as f64 * p).ceil() as usize)
        .saturating_sub(1)
        .min(last);
    f64::from(sorted[index]) / 1000.0
}
