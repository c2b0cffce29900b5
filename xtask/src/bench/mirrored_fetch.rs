//! `cargo xtask bench mirrored-fetch`: three local mirrors of one file (20, 200 and 400 ms
//! before they answer), [`testkit::site`]s that timestamp what each sees.
//!
//! - Overhead: mirrored-fetch's wall time (spawn to exit) minus the fastest mirror's own time
//!   (from reading the request to writing the answer's headers: the 20 ms delay plus the timer's
//!   overshoot), beside the same for mirrored-fetch given the fastest mirror alone and for
//!   `curl` fetching it (the floor: a process start and one HTTP request). Split: spawn to the
//!   fastest mirror reading the request, its headers to exit, its last byte to exit.
//! - Losers closed: the winner sends its headers and half its body, waits 100 ms, then sends the
//!   rest (still before any loser answers); the time from the winner's last byte (the first
//!   complete answer wins, so that is when the losers are cancelled) to the later loser's server
//!   seeing its connection close.
//! - A staller: one mirror sends its headers and 8 body bytes at once, then stalls; the other
//!   answers whole after 100 ms. The first complete answer should win: the winner's URL and the
//!   time from its last byte to exit.
//! - 500 mirrors that stall after 1 MiB (issue 17): mirrored-fetch's peak RSS (`VmHWM`) and
//!   threads once every body has stalled, and its spool files then.
//! - An endless mirror beside an honest one that pauses mid-body (issue 17): the peak of the
//!   spool (the sizes of mirrored-fetch's unnamed files, sampled every 2 ms through
//!   /proc/PID/fd), the bytes the endless mirror managed to write, and who won.
//!
//! The targets are docs/SPEC.md's (mirrored-fetch); the bench reports figures, not verdicts.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use testkit::site::{Resource, Site, SiteHandle, SiteOptions, SiteStats};

use super::{Load, Measured, Section, measure_quiet, median, ms, release_binary, which};

/// Timed runs per measure.
const RUNS: usize = 15;
/// The mirrors' delays before answering, in URL order: the fastest is in the middle.
const DELAYS_MS: [u64; 3] = [200, 20, 400];
/// Which of them is the fastest.
const FASTEST: usize = 1;
/// How long the winner pauses mid-body in the "losers closed" runs.
const TRICKLE: Duration = Duration::from_millis(100);
/// The file the mirrors serve.
const BODY_BYTES: usize = 256 << 10;
/// The longest wait for a server-side event before the bench gives up on it.
const PATIENCE: Duration = Duration::from_secs(10);
/// The staller's first body bytes, then nothing; the runs, and the whole mirror's delay.
const PARTIAL: &[u8] = b"partial-";
const STALL_RUNS: usize = 5;
#[rustfmt::skip]
const STALL_HEADERS: [&str; 5] = ["run", "winner", "exit", "winner's last byte to exit ms", "wall ms"];
const STALL_WHOLE_DELAY: Duration = Duration::from_millis(100);

/// The table's rows, in order; samples in ms are kept in the same order.
const ROWS: [&str; 7] = [
    "mirrored-fetch, 3 mirrors: wall - the fastest mirror's own time",
    "mirrored-fetch, fastest mirror alone: wall - its own time",
    "curl -sf, fastest mirror alone: wall - its own time",
    "losers' connections closed after the winner's last byte",
    "3 mirrors: spawn to the fastest mirror reading the request",
    "3 mirrors: the winner's headers written to exit",
    "3 mirrors: the winner's last byte written to exit",
];
/// Indices into [`ROWS`].
const THREE: usize = 0;
const ALONE: usize = 1;
const CURL: usize = 2;
const CLOSED: usize = 3;
const TO_REQUEST: usize = 4;
const AFTER_HEAD: usize = 5;
const AFTER_LAST: usize = 6;
type Rows = [Vec<f64>; 7];

pub fn run() -> crate::Result<Vec<Section>> {
    let binary = release_binary("mirrored-fetch");
    let body: Vec<u8> = (0..BODY_BYTES).map(|i| (i * 31 + i / 7) as u8).collect();
    let file = Resource::ok("application/octet-stream", body.clone());
    let mirrors = start_mirrors(&file, &DELAYS_MS.map(Duration::from_millis))?;
    let urls: Vec<String> = mirrors.iter().map(|mirror| mirror.url("/file")).collect();
    let (check, _) = fetch(Command::new(&binary).args(&urls))?;
    if !check.status.success() || check.stdout != body {
        let got = check.stdout.len();
        return Err(format!("{}: {got} bytes, not {BODY_BYTES}", check.status));
    }
    let load = Load::now();
    let curl = which("curl");
    let mut rows: Rows = Default::default();
    let mut rss = Vec::new();
    for _ in 0..RUNS {
        let three = Round::of(Command::new(&binary).args(&urls), &mirrors)?;
        rss.push(three.measured.max_rss_kib as f64);
        three.split(&mut rows);
        let fastest = &mirrors[FASTEST..=FASTEST];
        let alone = Round::of(Command::new(&binary).arg(&urls[FASTEST]), fastest)?;
        alone.overhead(&mut rows[ALONE]);
        if let Some(curl) = &curl {
            let args = ["-sf", "-o", "/dev/null", &urls[FASTEST]];
            Round::of(Command::new(curl).args(args), fastest)?.overhead(&mut rows[CURL]);
        }
    }
    let skipped = losers_rounds(&binary, &file.paused(BODY_BYTES / 2, TRICKLE), &mut rows)?;
    let mut section = report(&rows, &rss);
    load.note(
        &mut section,
        "other work on the machine inflates the wall times most",
    );
    if skipped > 0 {
        section.note(format!("{skipped} of the {RUNS} trickled runs had a loser cancelled before its request reached its server: no close to time"));
    }
    if curl.is_none() {
        section.note("curl not found: its row is left out");
    }
    Ok(vec![
        section,
        staller(&binary)?,
        stalled_many(&binary)?,
        endless(&binary)?,
    ])
}

/// The stalled mirrors of the memory row, and the bytes each sends before stalling.
const STALLED: usize = 500;
const STALLED_AFTER: usize = 1 << 20;

/// 500 mirrors that send 1 MiB of a 2 MiB file, then stall: the peak RSS and threads of
/// mirrored-fetch once the bodies have stopped growing (its memory no longer rises for a
/// second), then Ctrl-C.
fn stalled_many(binary: &Path) -> crate::Result<Section> {
    let mut section = Section::new(
        "mirrored-fetch (issue 17): 500 mirrors that stall after 1 MiB",
        "cargo xtask bench mirrored-fetch",
        &["measure", "value"],
    );
    let body: Vec<u8> = (0..2 * STALLED_AFTER).map(|i| (i * 13 + 5) as u8).collect();
    let stalls =
        Resource::ok("application/octet-stream", body).paused(STALLED_AFTER, PATIENCE * 60);
    let options = SiteOptions {
        latency: Duration::ZERO,
        workers: STALLED + 8,
    };
    let site = Site::new()
        .with_fallback(stalls)
        .start("127.0.0.1:0", options)
        .map_err(|err| format!("mirrors: {err}"))?;
    let urls: Vec<String> = (0..STALLED).map(|i| site.url(&format!("/{i}"))).collect();
    let mut child = Command::new(binary)
        .args(["--timeout", "120s"])
        .args(&urls)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|err| format!("mirrored-fetch: {err}"))?;
    let pid = child.id();
    let started = Instant::now();
    let (mut peak, mut steady_since) = (0, Instant::now());
    while started.elapsed() < PATIENCE * 6 && steady_since.elapsed() < Duration::from_secs(1) {
        let now = testkit::child::peak_rss_kib(pid)?;
        if now > peak || site.stats().requests < STALLED as u64 {
            (peak, steady_since) = (now, Instant::now());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let threads = status_field(pid, "Threads:").unwrap_or_default();
    let spooled = spool_sizes(pid);
    let _ = testkit::child::interrupt(pid);
    let _ = child.wait();
    let rss = peak as f64 / 1024.0;
    section.row(vec!["peak RSS (VmHWM) MiB".into(), format!("{rss:.1}")]);
    section.row(vec!["threads".into(), threads.to_string()]);
    section.row(vec![
        "bodies in spool files (MiB)".into(),
        format!(
            "{} ({:.0})",
            spooled.len(),
            spooled.iter().sum::<u64>() as f64 / 1048576.0
        ),
    ]);
    section.note(format!(
        "requests the mirrors saw: {} of {STALLED}; targets: docs/SPEC.md (mirrored-fetch)",
        site.stats().requests
    ));
    Ok(section)
}

/// The honest body, and where it pauses, in the endless row.
const HONEST_BYTES: usize = 64 << 20;
const HONEST_PAUSE: Duration = Duration::from_secs(1);

/// An endless mirror (no length, then a declared TiB) beside an honest one that pauses 1 s
/// after 8 MiB: the spool's peak, sampled every 2 ms, and what the endless mirror wrote.
fn endless(binary: &Path) -> crate::Result<Section> {
    let mut section = Section::new(
        "mirrored-fetch (issue 17): an endless mirror beside an honest 64 MiB one that pauses 1 s",
        "cargo xtask bench mirrored-fetch",
        &[
            "endless mirror",
            "winner",
            "peak spool MiB",
            "endless wrote MiB",
            "wall ms",
        ],
    );
    let body: Vec<u8> = (0..HONEST_BYTES).map(|i| (i * 7 + 1) as u8).collect();
    let honest = Resource::ok("application/octet-stream", body).paused(8 << 20, HONEST_PAUSE);
    let honest = &start_mirrors(&honest, &[Duration::ZERO])?[0];
    let bound = 2 * HONEST_BYTES as u64 + (16 << 20);
    for declared in [None, Some(1u64 << 40)] {
        let endless = testkit::hostile::endless(declared, PATIENCE * 3)
            .map_err(|err| format!("endless mirror: {err}"))?;
        let urls = [format!("http://{}/file", endless.addr), honest.url("/file")];
        let start = Instant::now();
        let mut child = Command::new(binary)
            .args(&urls)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|err| format!("mirrored-fetch: {err}"))?;
        let mut peak = 0;
        let status = loop {
            peak = peak.max(spool_sizes(child.id()).iter().sum::<u64>());
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if start.elapsed() < PATIENCE * 6 => {
                    std::thread::sleep(Duration::from_millis(2))
                }
                _ => {
                    let _ = child.kill();
                    break child
                        .wait()
                        .map_err(|err| format!("mirrored-fetch: {err}"))?;
                }
            }
        };
        let wall = ms(start.elapsed());
        let mut stderr = String::new();
        if let Some(mut pipe) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
        }
        let sent = endless.join(false, PATIENCE * 4).unwrap_or(u64::MAX);
        let won = status.success() && stderr.contains(&format!("{} won after", urls[1]));
        let mib = |bytes: u64| format!("{:.1}", bytes as f64 / 1048576.0);
        section.row(vec![
            declared.map_or("no length".into(), |length| {
                format!("Content-Length {length}")
            }),
            if won {
                "the honest one".into()
            } else {
                format!("not the honest one ({status})")
            },
            mib(peak),
            mib(sent),
            format!("{wall:.0}"),
        ]);
    }
    section.note(format!("the endless body stops at the honest length, so the spool holds at most two copies of it plus a margin: {:.0} MiB; targets: docs/SPEC.md (mirrored-fetch)", bound as f64 / 1048576.0));
    Ok(section)
}

/// A `Field:` of /proc/PID/status, as a number.
fn status_field(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find_map(|line| line.strip_prefix(field))?;
    line.split_whitespace().next()?.parse().ok()
}

/// The sizes of the unnamed (deleted) regular files process `pid` holds open: its spool files.
fn spool_sizes(pid: u32) -> Vec<u64> {
    let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let target = std::fs::read_link(&path).ok()?;
            if !target.to_string_lossy().ends_with("(deleted)") {
                return None;
            }
            let metadata = std::fs::metadata(&path).ok()?;
            metadata.is_file().then_some(metadata.len())
        })
        .collect()
}

/// The trickled runs: each the time the losers took to close. Returns the runs with nothing
/// to time (a loser cancelled before its request reached its server: a loaded machine).
fn losers_rounds(binary: &Path, trickled: &Resource, rows: &mut Rows) -> crate::Result<usize> {
    let mirrors = start_mirrors(trickled, &DELAYS_MS.map(Duration::from_millis))?;
    let urls: Vec<String> = mirrors.iter().map(|mirror| mirror.url("/file")).collect();
    let mut skipped = 0;
    for _ in 0..RUNS {
        let round = Round::of(Command::new(binary).args(&urls), &mirrors)?;
        match round.losers_closed()? {
            Some(closed) => rows[CLOSED].push(closed),
            None => skipped += 1,
        }
    }
    Ok(skipped)
}

/// Mirrors of `file`, one per delay.
fn start_mirrors(file: &Resource, delays: &[Duration]) -> crate::Result<Vec<SiteHandle>> {
    let site = Site::new().with_fallback(file.clone());
    site.start_mirrors(delays)
        .map_err(|err| format!("mirrors: {err}"))
}

/// What one run cost and what each mirror saw of it.
struct Round {
    measured: Measured,
    before: Vec<SiteStats>,
    after: Vec<SiteStats>,
}

impl Round {
    /// Runs `command` (quiet, it must succeed) against `mirrors`, then waits (at most
    /// [`PATIENCE`]: a request cancelled before it connected never shows) until each has ended
    /// the connection of this run, so no event of one run leaks into the next.
    fn of(command: &mut Command, mirrors: &[SiteHandle]) -> crate::Result<Round> {
        let before: Vec<SiteStats> = mirrors.iter().map(SiteHandle::stats).collect();
        let measured = measure_quiet(command)?;
        let ended = |(mirror, before): (&SiteHandle, &SiteStats)| {
            mirror.wait_stats(PATIENCE, |s| s.ended > before.ended).0
        };
        let after = mirrors.iter().zip(&before).map(ended).collect();
        Ok(Round {
            measured,
            before,
            after,
        })
    }

    /// When mirror `index` read this run's request and wrote its head, if it answered.
    fn answered(&self, index: usize) -> Option<(Instant, Instant)> {
        let (before, after) = (&self.before[index], &self.after[index]);
        let requested = after
            .last
            .requested
            .filter(|_| after.requests > before.requests)?;
        let answered = after.last.answered.filter(|&at| at >= requested)?;
        Some((requested, answered))
    }

    /// The wall time less the only mirror's own time, if it answered.
    fn overhead(&self, samples: &mut Vec<f64>) {
        if let Some((requested, answered)) = self.answered(0) {
            samples.push(self.measured.wall_ms() - ms(answered - requested));
        }
    }

    /// The three-mirror run's figures: overhead, and the split of the wall time.
    fn split(&self, rows: &mut Rows) {
        let Some((requested, answered)) = self.answered(FASTEST) else {
            return;
        };
        let (spawned, exited) = (self.measured.started, self.measured.exited());
        rows[THREE].push(self.measured.wall_ms() - ms(answered - requested));
        rows[TO_REQUEST].push(ms(requested.saturating_duration_since(spawned)));
        rows[AFTER_HEAD].push(ms(exited.saturating_duration_since(answered)));
        if let Some(last) = self.after[FASTEST]
            .last
            .finished
            .filter(|&at| at >= answered)
        {
            rows[AFTER_LAST].push(ms(exited.saturating_duration_since(last)));
        }
    }

    /// ms from the winner's last byte (the win: the first complete answer) to the later loser's
    /// close; `None` when a loser was cancelled before its request reached its server.
    fn losers_closed(&self) -> crate::Result<Option<f64>> {
        let (_, answered) = self.answered(FASTEST).ok_or("the fastest never answered")?;
        let last = self.after[FASTEST].last.finished;
        let won = last
            .filter(|&at| at >= answered)
            .ok_or("the fastest never wrote its last byte")?;
        let losers = (0..self.after.len()).filter(|&index| index != FASTEST);
        if let Some(other) = losers.clone().find(|&index| self.answered(index).is_some()) {
            return Err(format!("mirror {other} answered, not only the fastest"));
        }
        if self.measured.wall < TRICKLE {
            return Err(format!("a trickled run took only {:?}", self.measured.wall));
        }
        let closed = |index: usize| {
            let (before, after) = (&self.before[index], &self.after[index]);
            after
                .last
                .aborted
                .filter(|_| after.aborted > before.aborted)
        };
        let closes: Option<Vec<Instant>> = losers.map(closed).collect();
        Ok(closes.map(|closes| {
            let last = closes.into_iter().max().unwrap_or(won);
            ms(last.saturating_duration_since(won))
        }))
    }
}

/// The overhead and losers-closed table.
fn report(rows: &Rows, rss: &[f64]) -> Section {
    let mut section = Section::new(
        "mirrored-fetch (book 8.4.4, ex. 8.11): three local mirrors, 20/200/400 ms",
        "cargo xtask bench mirrored-fetch",
        &["measure", "median ms", "min ms", "max ms"],
    );
    for (name, samples) in ROWS.iter().zip(rows) {
        section.spread(name, samples);
    }
    section.note(format!(
        "{RUNS} runs each; a {} KiB binary body; wall = spawn to exit of the release binary, stdout to /dev/null",
        BODY_BYTES >> 10
    ));
    let held = TRICKLE.as_millis();
    section.note("overhead: process start and exit included");
    section.note(format!("losers closed: from the winner's server writing its last byte to the later loser's server reading end of file; the winner's body is held back {held} ms mid-way, and completes while both losers still wait for their answers"));
    section.note("targets: docs/SPEC.md (mirrored-fetch)");
    let rss = median(rss);
    section.note(format!(
        "peak RSS of mirrored-fetch with 3 mirrors: {rss:.0} KiB (median)"
    ));
    section
}

/// The staller against a whole mirror: who wins, and the time from the winner's last byte to
/// exit. A run the staller wins ends the runs (each would wait out the same `--timeout`).
fn staller(binary: &Path) -> crate::Result<Section> {
    let mut section = Section::new(
        "mirrored-fetch (issue 12): a mirror that stalls after 8 body bytes, beside a whole one",
        "cargo xtask bench mirrored-fetch",
        &STALL_HEADERS,
    );
    let body: Vec<u8> = (0..BODY_BYTES).map(|i| (i * 7 + 3) as u8).collect();
    let stall = Resource::ok("application/octet-stream", [PARTIAL, &body].concat());
    let stall = stall.paused(PARTIAL.len(), PATIENCE * 6);
    let staller = &start_mirrors(&stall, &[Duration::ZERO])?[0];
    let whole = Resource::ok("application/octet-stream", body.clone());
    let whole = &start_mirrors(&whole, &[STALL_WHOLE_DELAY])?[0];
    let urls = [staller.url("/file"), whole.url("/file")];
    let mut latencies = Vec::new();
    for run in 1..=STALL_RUNS {
        let (row, latency) = stall_run(binary, &urls, whole, &body)?;
        section.row([vec![run.to_string()], row].concat());
        latencies.extend(latency);
        if latency.is_none() {
            break;
        }
    }
    let (median, delay) = (median(&latencies), STALL_WHOLE_DELAY.as_millis());
    let figures = match latencies.len() {
        STALL_RUNS => format!("median {median:.2} ms from its last byte to exit"),
        won => format!("it won {won} run(s), then lost one"),
    };
    section.note(format!(
        "the whole answer: {figures}; the staller answers at once, the whole one after {delay} ms, --timeout 2s; targets: docs/SPEC.md (mirrored-fetch)"
    ));
    Ok(section)
}

/// One run against the staller (`urls[0]`) and the `whole` mirror (`urls[1]`): the row's
/// winner, exit, latency and wall cells, and the latency if the whole answer won.
fn stall_run(
    binary: &Path,
    urls: &[String],
    whole: &SiteHandle,
    body: &[u8],
) -> crate::Result<(Vec<String>, Option<f64>)> {
    let before = whole.stats().ended;
    let start = Instant::now();
    let (output, exited) = fetch(Command::new(binary).args(["--timeout", "2s"]).args(urls))?;
    let last = whole.wait_stats(PATIENCE, |s| s.ended > before).0.last;
    let won = last.finished.filter(|_| output.stdout == body);
    let latency = won.map(|last| ms(exited.saturating_duration_since(last)));
    let winner = match latency {
        Some(_) => urls[1].clone(),
        None if output.stdout.starts_with(PARTIAL) => format!("{} (partial)", urls[0]),
        None => format!("none ({} bytes)", output.stdout.len()),
    };
    let code = output.status.code();
    Ok((
        vec![
            winner,
            code.map_or("signal".into(), |code| code.to_string()),
            latency.map_or("-".into(), |latency| format!("{latency:.2}")),
            format!("{:.1}", ms(exited - start)),
        ],
        latency,
    ))
}

/// Runs `command` to its end (stdin and stderr on /dev/null): its output and when it exited.
fn fetch(command: &mut Command) -> crate::Result<(Output, Instant)> {
    let output = command.stdin(Stdio::null()).stderr(Stdio::null()).output();
    let exited = Instant::now();
    let output = output.map_err(|err| format!("mirrored-fetch: {err}"))?;
    Ok((output, exited))
}
