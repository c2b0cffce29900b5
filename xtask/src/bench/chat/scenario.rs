//! The scenarios, each against a fresh server; every wait is capped.

use std::thread;
use std::time::{Duration, Instant};

use super::server::{Server, Setup};
use super::swarm::{self, Swarm};
use super::*;

/// Scenario 1 for one engine: [healthy rate and latency, what a stalled client leaves].
pub fn throughput(setup: &Setup, n: usize) -> crate::Result<Cells> {
    let mut runs = [Run::default(), Run::default()];
    for repeat in 0..REPEATS {
        for stalled in [repeat % 2 == 1, repeat % 2 == 0] {
            eprintln!("xtask bench chat: {n} clients, stalled: {stalled}");
            closed_loop(setup, n, stalled, &mut runs[usize::from(stalled)])?;
        }
    }
    let [healthy, stalled] = &mut runs;
    let latencies = &mut healthy.latencies;
    latencies.sort_by(f64::total_cmp);
    let at = |p| {
        latencies
            .get((latencies.len() as f64 * p) as usize)
            .copied()
    };
    let (p50, p99) = (at(0.5).unwrap_or(f64::NAN), at(0.99).unwrap_or(f64::NAN));
    let (rate, kept) = (median(&healthy.rates), median(&stalled.rates));
    Ok(vec![
        format!(
            "{:.2} M/s, p50 {p50:.1} ms, p99 {p99:.1} ms{}",
            rate / 1e6,
            healthy.note
        ),
        format!(
            "{:.0}% ({:.2} M/s){}",
            100.0 * kept / rate.max(1.0),
            kept / 1e6,
            stalled.note
        ),
    ])
}

/// The closed loop's runs of one kind: each timed round's rate, latencies in ms, what went
/// wrong.
#[derive(Default)]
struct Run {
    rates: Vec<f64>,
    latencies: Vec<f64>,
    note: String,
}

fn closed_loop(setup: &Setup, n: usize, stalled: bool, run: &mut Run) -> crate::Result<()> {
    let mut server = Server::start(setup, n + 16)?;
    let mut swarm = Swarm::new(server.addr, setup.protocol())?;
    swarm.sample_every = n.div_ceil(LATENCY_SAMPLERS);
    join(&mut swarm, n, true, None)?;
    if stalled {
        // It joins last (not already behind on arrivals), with a small window, and never reads.
        join(&mut swarm, 1, false, Some(4096))?;
        fill_toward_silent(&mut swarm, n)?;
    }
    swarm.start_flow();
    let name = swarm::name(n);
    let dropping = |line: &str| line.contains(&name) && line.contains("drop");
    let mut full = || stalled && server.logged(dropping);
    let timed_before = run.rates.len();
    let per_round = (DELIVERIES_PER_ROUND / n).max(256);
    for round in 0..ROUNDS + MAX_WARMUPS {
        let timed = round >= 1 && (!stalled || round >= MAX_WARMUPS || full());
        let flow = swarm.flow.as_mut().ok_or("no flow")?;
        if timed && run.rates.len() == timed_before {
            flow.time_from_now();
        }
        let (target, start) = (flow.completed + per_round, Instant::now());
        let done = |s: &Swarm| s.flow.as_ref().is_some_and(|f| f.completed >= target);
        if !swarm.run_until(ROUND_CAP, done)? {
            run.note += &format!(" (round {round} capped at {} s)", ROUND_CAP.as_secs());
            break;
        }
        if timed {
            run.rates
                .push((per_round * n) as f64 / start.elapsed().as_secs_f64());
            if run.rates.len() == timed_before + ROUNDS {
                break;
            }
        }
    }
    if swarm.tally.dropped > 0 {
        // A reader that misses a line stalls the loop: its message never completes.
        run.note += &format!(" ({} lines dropped for readers)", swarm.tally.dropped);
    }
    let never = " (its backlog never filled)";
    if stalled && !full() && !run.note.contains(never) {
        run.note += never;
    }
    run.latencies
        .extend(swarm.flow.take().map(|f| f.latencies).unwrap_or_default());
    Ok(())
}

/// Opens `n` clients and waits until each is greeted and, for readers, the arrivals are in.
fn join(swarm: &mut Swarm, n: usize, reads: bool, rcvbuf: Option<usize>) -> crate::Result<()> {
    join_quiet(swarm, n, reads, rcvbuf, Duration::from_millis(500))
}

/// [`join`], counting the arrivals complete once none came for `quiet`: the book's chat
/// greets a client before the room has its arrival, so some are never due.
fn join_quiet(
    swarm: &mut Swarm,
    n: usize,
    reads: bool,
    rcvbuf: Option<usize>,
    quiet: Duration,
) -> crate::Result<()> {
    let expected = swarm.tally.opened + n;
    swarm.open(n, reads, rcvbuf);
    swarm.run_until(JOIN_CAP, |s| settled(s, expected, quiet))?;
    let t = &swarm.tally;
    match t.greeted == expected {
        true => Ok(()),
        false => Err(format!(
            "{} of {expected} greeted in {JOIN_CAP:?}{}",
            t.greeted,
            t.trouble()
        )),
    }
}

/// Every client asked for has an answer, and the readers have every arrival notice due (or
/// were told some were dropped), or none came for `quiet` (a server that loses lines).
fn settled(swarm: &Swarm, clients: usize, quiet: Duration) -> bool {
    let t = &swarm.tally;
    let last = t.last_arrival.max(t.last_greeting).unwrap_or(swarm.started);
    let delivered = t.arrivals + t.dropped >= t.expected_arrivals;
    t.answered() >= clients && (delivered || last.elapsed() >= quiet)
}

/// Scenarios 2 to 4: `n` clients join at once and read everything (a join storm) or stop once
/// greeted. [time to the last greeting and notice, lost or refused, RSS, SIGINT to exit].
pub fn room(setup: &Setup, n: usize, reads: bool) -> crate::Result<Cells> {
    eprintln!("xtask bench chat: {n} clients, reading: {reads}");
    let mut server = Server::start(setup, n + 16)?;
    thread::sleep(QUIET);
    let idle = server.rss_kib()?;
    let mut swarm = Swarm::new(server.addr, setup.protocol())?;
    swarm.open(n, reads, None);
    let done = swarm.run_until(JOIN_CAP, |s| settled(s, n, LOSS_QUIET))?;
    let t = &swarm.tally;
    let took = swarm.secs(t.last_arrival.max(t.last_greeting));
    let greeted = format!("{took:.2} s{}", if done { "" } else { " (capped)" });
    let lost = t.expected_arrivals.saturating_sub(t.arrivals);
    let dropped = if reads {
        format!("{lost} lost ({} said dropped), ", t.dropped)
    } else {
        String::new()
    };
    thread::sleep(QUIET);
    let rss = server.rss_kib()?;
    let each = rss.saturating_sub(idle) as f64 / n as f64;
    let alive = if server.alive() { "running" } else { "CRASHED" };
    let trouble = format!("{dropped}{} greeted, {alive}{}", t.greeted, t.trouble());
    let exit = match server.interrupt() {
        Ok((status, took)) => format!("{:.2} s ({status})", took.as_secs_f64()),
        Err(err) => err,
    };
    Ok(vec![
        greeted,
        trouble,
        format!("{each:.1} KB ({:.0} MB)", rss as f64 / 1024.0),
        exit,
    ])
}

/// The burst scenario: `readers` reading clients, of which the first `senders` queue `lines`
/// lines between them at once. [time from the burst to the last line received, lines lost per
/// reader].
pub fn burst(setup: &Setup, readers: usize, senders: usize, lines: usize) -> crate::Result<Cells> {
    eprintln!("xtask bench chat: burst of {lines} lines from {senders} senders");
    let server = Server::start(setup, readers + 16)?;
    let mut swarm = Swarm::new(server.addr, setup.protocol())?;
    join(&mut swarm, readers, true, None)?;
    let before = swarm.tally.messages;
    let start = Instant::now();
    swarm.burst(senders, lines / senders);
    let total = (lines / senders * senders) as u64;
    let all = total * readers as u64;
    let done = swarm.run_until(JOIN_CAP, |s| {
        let last = s.tally.last_message.unwrap_or(start);
        s.tally.messages - before >= all || last.elapsed() >= LOSS_QUIET
    })?;
    let last = swarm.tally.last_message.unwrap_or(start);
    let took = last.saturating_duration_since(start).as_secs_f64();
    let received = swarm.received();
    let lost: Vec<u64> = received
        .iter()
        .map(|&seen| total.saturating_sub(seen as u64))
        .collect();
    let short = lost.iter().filter(|&&lost| lost > 0).count();
    let worst = lost.iter().copied().max().unwrap_or(0);
    let sum: u64 = lost.iter().sum();
    let capped = if done { "" } else { " (capped)" };
    let gone = readers - received.len();
    let gone = if gone > 0 {
        format!("; {gone} readers disconnected")
    } else {
        String::new()
    };
    Ok(vec![
        format!("{took:.2} s{capped}"),
        format!(
            "{short} of {} readers short, at most {worst} of {total} lost ({sum} in all, {} said dropped){gone}",
            received.len(),
            swarm.tally.dropped
        ),
    ])
}

/// The longest wait for the readers to get the filler.
const FILL_CAP: Duration = Duration::from_secs(20);

/// The most a connection's send buffer may grow to (`tcp_wmem`'s maximum), plus a MiB for the
/// receive buffer and what is in flight.
fn kernel_buffers() -> usize {
    let wmem = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_wmem").unwrap_or_default();
    let most = wmem
        .split_whitespace()
        .nth(2)
        .and_then(|max| max.parse().ok());
    most.unwrap_or(4 << 20) + (1 << 20)
}

/// Sends what the kernel may hold toward the silent client first, and waits until the `n`
/// readers have it, so that what is measured next sees the room once nothing more fits: the
/// book's room then stalls, and ours has had its one hold of at most a second (the stall limit)
/// before the silent client is left behind.
fn fill_toward_silent(swarm: &mut Swarm, n: usize) -> crate::Result<()> {
    let lines = swarm.fill(0, kernel_buffers());
    let due = (lines * n) as u64;
    swarm.run_until(FILL_CAP, |s| s.tally.filler >= due)?;
    Ok(())
}

/// Deliveries per second in each of `windows` consecutive windows of `window` of the closed
/// loop with `n` reading clients (and one more that never reads, when `stalled`, with as much
/// sent first as the kernel may buffer toward it), after a second of warm-up, and the p99 latency in ms of the messages sent and received in them. For
/// `cargo xtask compare`: a fixed time, so a slow server is measured, not capped.
pub fn window(
    setup: &Setup,
    n: usize,
    stalled: bool,
    window: Duration,
    windows: usize,
) -> crate::Result<(Vec<f64>, f64)> {
    eprintln!("xtask compare chat: {n} clients, stalled: {stalled}, {windows} x {window:?}");
    let server = Server::start(setup, n + 16)?;
    let mut swarm = Swarm::new(server.addr, setup.protocol())?;
    swarm.sample_every = n.div_ceil(LATENCY_SAMPLERS);
    // The book's room delivers arrivals slowly: the window opens once they are all in.
    join_quiet(&mut swarm, n, true, None, LOSS_QUIET)?;
    if stalled {
        join(&mut swarm, 1, false, Some(4096))?;
        fill_toward_silent(&mut swarm, n)?;
    }
    swarm.start_flow();
    swarm.run_until(Duration::from_secs(1), |_| false)?;
    let flow = swarm.flow.as_mut().ok_or("no flow")?;
    flow.time_from_now();
    flow.latencies.clear();
    let mut rates = Vec::new();
    for _ in 0..windows {
        let flow = swarm.flow.as_ref().ok_or("no flow")?;
        let (before, start) = (flow.delivered, Instant::now());
        swarm.run_until(window, |_| false)?;
        let flow = swarm.flow.as_ref().ok_or("no flow")?;
        rates.push((flow.delivered - before) as f64 / start.elapsed().as_secs_f64());
    }
    let flow = swarm.flow.as_mut().ok_or("no flow")?;
    flow.latencies.sort_by(f64::total_cmp);
    let p99 = flow.latencies.get(flow.latencies.len() * 99 / 100);
    Ok((rates, p99.copied().unwrap_or(f64::NAN)))
}
