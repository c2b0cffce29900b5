//! `cargo xtask bench crawler`: the crawler (book section 8.6, exercise 8.10) against local
//! sites ([`testkit::site`]).
//!
//! - Throughput: pages per second of a complete `--same-host` crawl of a generated site of
//!   2,000 pages with a fixed per-page latency, against the limit that the concurrency and the
//!   latency allow (`concurrency / latency`). The limit is not quite reachable: the generated tree has fan-out 10, so the first two levels cannot keep
//!   every worker busy.
//! - Cancellation: with 20 requests waiting on a slow site, the time from the byte written to the
//!   crawler's stdin until its exit is reaped, and until the server has seen all 20
//!   connections close.
//! - Hostile pages ([`testkit::hostile`]): peak memory and CPU time of `--depth 2` over an index
//!   linking to three copies of one hostile page, and CPU time per page.
//! - The crawler's own budget (issue 17): peak RSS over three gzipped pages of 60,000 `?N`
//!   links at 4,000-character URLs, RSS per URL seen over a generated site of 100,000 pages
//!   (the peak over that crawl less the peak over a 1,000-page one, per URL more), and a cancel
//!   while a 700,000-link page's links are read.
//!
//! The targets are docs/SPEC.md's (crawler); the bench reports figures, not verdicts.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use testkit::hostile::{Hostile, LINKS, LONG_LINKS, long_url_site, many_links};
use testkit::site::{Site, SiteHandle, SiteOptions};

use super::{Load, Section, max, median, ms, release_binary, spawn, wait_limited, wait_measured};

/// Tree pages of the generated site.
pub const PAGES: usize = 2000;
/// The fixed per-page latency of the throughput runs.
pub const LATENCY: Duration = Duration::from_millis(20);
/// Runs per setting; the median is reported.
const RUNS: usize = 5;
/// Cancellation runs.
const CANCEL_RUNS: usize = 9;
/// Requests in flight when the cancel byte is written.
const IN_FLIGHT: usize = 20;
/// How long a crawl of hostile pages may run before it is killed (and fails).
const HOSTILE_LIMIT: Duration = Duration::from_secs(10);

pub fn run() -> crate::Result<Vec<Section>> {
    let mut section = Section::new(
        "crawler (8.6, ex. 8.10): a 2,000-page local site",
        "cargo xtask bench crawler",
        &["measure", "median", "limit", "/ limit"],
    );
    let crawler = release_binary("crawler");
    let load = Load::now();
    let round_trip_ms = throughput_rows(&crawler, &mut section)?;
    let exits = cancel_rows(&crawler, &mut section)?;
    section.note(format!(
        "one GET of a page, alone, by a plain socket client: median {round_trip_ms:.1} ms for the site's {} ms latency; the limit that round trip allows is {:.0} / {:.0} / {:.0} pages/s at -c 20 / 50 / 100",
        LATENCY.as_millis(),
        20.0 / round_trip_ms * 1000.0,
        50.0 / round_trip_ms * 1000.0,
        100.0 / round_trip_ms * 1000.0
    ));
    section.note(
        "the tree (fan-out 10) cannot keep every worker busy at first: even with no overhead a crawl takes 103 / 43 / 23 rounds of 20 ms for its 2,009 pages at -c 20 / 50 / 100, so 97% / 93% / 87% is the ceiling (a schedule simulation, not a measurement)",
    );
    section.note(format!(
        "throughput: median of {RUNS} complete crawls per concurrency (stdout lines / wall time, process start included)"
    ));
    section.note(format!(
        "cancel: median of {CANCEL_RUNS} runs; worst exit {:.2} ms",
        max(&exits)
    ));
    load.note(
        &mut section,
        "other work on the 2 cores delays the 20 ms wake-ups of site and crawler alike",
    );
    section.note("targets: docs/SPEC.md (crawler)");
    Ok(vec![section, hostile(&crawler)?, budget(&crawler)?])
}

/// The generated site of the throughput runs (and of `cargo xtask compare`'s crawl): [`PAGES`]
/// pages, [`LATENCY`] each, served by enough workers for -c 100.
pub fn start_site() -> crate::Result<SiteHandle> {
    generated_site(PAGES, LATENCY, 256)
}

/// A generated site of `pages` pages, each answered after `latency`, by `workers` threads.
fn generated_site(pages: usize, latency: Duration, workers: usize) -> crate::Result<SiteHandle> {
    let options = SiteOptions { latency, workers };
    Site::generated(pages)
        .start("127.0.0.1:0", options)
        .map_err(|err| format!("site: {err}"))
}

/// Complete crawls at -c 20, 50 and 100, a row each; returns the median plain round trip (ms).
fn throughput_rows(crawler: &Path, section: &mut Section) -> crate::Result<f64> {
    let site = start_site()?;
    let mut round_trips = Vec::new();
    for concurrency in [20usize, 50, 100] {
        let mut rates = Vec::new();
        for _ in 0..RUNS {
            for _ in 0..5 {
                round_trips.push(round_trip(&site)?);
            }
            rates.push(throughput(crawler, &site, concurrency)?);
        }
        let rate = median(&rates);
        let limit = concurrency as f64 / LATENCY.as_secs_f64();
        eprintln!("xtask bench crawler: -c {concurrency}: {rates:.0?} pages/s");
        section.row(vec![
            format!(
                "pages/s, -c {concurrency}, latency {} ms",
                LATENCY.as_millis()
            ),
            format!("{rate:.0}"),
            format!("{limit:.0}"),
            format!("{:.0}%", 100.0 * rate / limit),
        ]);
    }
    let round_trip_ms = median(&round_trips) * 1000.0;
    eprintln!("xtask bench crawler: one GET alone: median {round_trip_ms:.1} ms");
    let stats = site.stats();
    site.stop();
    section.note(format!(
        "site: {PAGES} tree pages + 9 special pages, {} ms per answer, {} requests served, at most {} in flight",
        LATENCY.as_millis(),
        stats.requests,
        stats.max_in_flight
    ));
    Ok(round_trip_ms)
}

/// The cancellation runs, two rows; returns the exit latencies (ms).
fn cancel_rows(crawler: &Path, section: &mut Section) -> crate::Result<Vec<f64>> {
    let mut exits = Vec::new();
    let mut closes = Vec::new();
    for _ in 0..CANCEL_RUNS {
        let (exit, close) = cancel_latency(crawler)?;
        exits.push(exit);
        closes.push(close);
    }
    eprintln!("xtask bench crawler: cancel to exit {exits:.2?} ms, to closes {closes:.2?} ms");
    let exit = median(&exits);
    let close = median(&closes);
    section.row(vec![
        format!("cancel: stdin byte to exit, {IN_FLIGHT} in flight (ms)"),
        format!("{exit:.2}"),
        "-".into(),
        "-".into(),
    ]);
    section.row(vec![
        format!("cancel: stdin byte to all {IN_FLIGHT} closes seen by the server (ms)"),
        format!("{close:.2}"),
        "-".into(),
        "-".into(),
    ]);
    Ok(exits)
}

/// Seconds for one plain GET of a page (connect, request, answer, close): the site's latency
/// plus what the machine adds to it right now.
fn round_trip(site: &SiteHandle) -> crate::Result<f64> {
    let start = Instant::now();
    let mut stream =
        TcpStream::connect(site.addr()).map_err(|err| format!("connect to the site: {err}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|err| err.to_string())?;
    stream
        .write_all(b"GET /page/5 HTTP/1.1\r\nHost: bench\r\n\r\n")
        .map_err(|err| format!("request: {err}"))?;
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .map_err(|err| format!("answer: {err}"))?;
    if !answer.starts_with(b"HTTP/1.1 200") {
        return Err("the site did not answer 200".into());
    }
    Ok(start.elapsed().as_secs_f64())
}

/// One complete crawl at `concurrency`: pages fetched per second.
fn throughput(crawler: &Path, site: &SiteHandle, concurrency: usize) -> crate::Result<f64> {
    let start = Instant::now();
    let mut child = spawn(
        Command::new(crawler)
            .args(["--same-host", "--concurrency", &concurrency.to_string()])
            .arg(site.url("/"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    )?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let pages = BufReader::new(stdout).lines().count();
    let measured = wait_measured(child, start)?;
    // The 404 makes a complete crawl of the generated site exit 1.
    if measured.status.code() != Some(1) || pages < PAGES {
        return Err(format!(
            "crawl ended with {} after {pages} pages",
            measured.status
        ));
    }
    Ok(pages as f64 / measured.wall.as_secs_f64())
}

/// One cancellation: milliseconds from the byte to the crawler's exit, and to the server seeing
/// every connection closed.
fn cancel_latency(crawler: &Path) -> crate::Result<(f64, f64)> {
    let site = Site::generated(IN_FLIGHT)
        .serve(Duration::from_secs(60))
        .map_err(|err| format!("site: {err}"))?;
    let mut child = spawn(
        Command::new(crawler)
            .arg("--same-host")
            .args((0..IN_FLIGHT).map(|i| site.url(&format!("/page/{i}"))))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )?;
    let (stats, ready) = site.wait_stats(Duration::from_secs(30), |s| s.in_flight == IN_FLIGHT);
    if !ready {
        let _ = child.kill();
        let _ = child.wait();
        return Err(format!(
            "{IN_FLIGHT} requests never were in flight: {stats:?}"
        ));
    }
    let (start, reaper, stdin) = cancel_byte(child)?;
    let (stats, closed) =
        site.wait_stats(Duration::from_secs(10), |s| s.aborted == IN_FLIGHT as u64);
    let close = start.elapsed();
    let measured = reaper.join().map_err(|_| "the reaper panicked")??;
    drop(stdin);
    site.stop();
    if measured.status.code() != Some(130) || !closed {
        return Err(format!(
            "cancel ended with {}, server stats {stats:?}",
            measured.status
        ));
    }
    Ok((measured.wall_ms(), ms(close)))
}

/// Writes the cancel byte to `child`'s stdin (kept open, returned: end of file is no cancel)
/// and reaps it on a thread of its own, so its exit is timed when it happens; returns when the
/// byte was written, and the reaper.
fn cancel_byte(
    mut child: std::process::Child,
) -> crate::Result<(
    Instant,
    std::thread::JoinHandle<crate::Result<super::Measured>>,
    std::process::ChildStdin,
)> {
    let mut stdin = child.stdin.take().ok_or("no stdin")?;
    let start = Instant::now();
    let reaper = std::thread::spawn(move || wait_measured(child, start));
    stdin
        .write_all(b"x")
        .map_err(|err| format!("writing the cancel byte: {err}"))?;
    Ok((start, reaper, stdin))
}

/// The hostile pages, one crawl each: peak memory, CPU time, wall time and exit.
fn hostile(crawler: &Path) -> crate::Result<Section> {
    let mut section = Section::new(
        "crawler on hostile pages (issue 12): `--depth 2` over an index linking to 3 copies",
        "cargo xtask bench crawler",
        &[
            "page",
            "peak RSS MiB",
            "CPU s",
            "CPU s per page",
            "wall s",
            "exit",
        ],
    );
    // A child's ru_maxrss is at least this process's own peak (see `Measured::max_rss_kib`).
    let own = testkit::child::peak_rss_kib(std::process::id()).unwrap_or(0);
    for kind in Hostile::ALL {
        section.row(hostile_row(crawler, kind)?);
    }
    section.note(format!(
        "CPU s per page: CPU of the whole crawl, index included, / {LINKS}; killed after {HOSTILE_LIMIT:?}; one run each, default flags but --depth 2; targets: docs/SPEC.md (crawler)"
    ));
    section.note(format!(
        "peak RSS is wait4's ru_maxrss, which counts at least this bench process's own peak ({:.1} MiB before these runs) because a child starts in its parent's memory",
        own as f64 / 1024.0
    ));
    Ok(section)
}

/// One crawl of `kind`'s site: the row of its figures.
fn hostile_row(crawler: &Path, kind: Hostile) -> crate::Result<Vec<String>> {
    let site = kind
        .site()
        .serve(Duration::ZERO)
        .map_err(|err| format!("site: {err}"))?;
    let start = Instant::now();
    let child = spawn(
        Command::new(crawler)
            .args(["--depth", "2", &site.url("/")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )?;
    let measured = wait_limited(child, start, HOSTILE_LIMIT)?;
    site.stop();
    let rss = measured.max_rss_kib as f64 / 1024.0;
    let per_page = measured.cpu.as_secs_f64() / LINKS as f64;
    let exit = match measured.status.code() {
        _ if measured.killed => format!("killed after {HOSTILE_LIMIT:?}"),
        Some(code) => code.to_string(),
        None => measured.status.to_string(),
    };
    Ok(vec![
        kind.describe().into(),
        format!("{rss:.1}"),
        format!("{:.2}", measured.cpu.as_secs_f64()),
        format!("{per_page:.2}"),
        format!("{:.2}", measured.wall.as_secs_f64()),
        exit,
    ])
}

/// How long the crawl of the long-URL pages runs (it would run for minutes: 180,000 pages).
const LONG_RUN: Duration = Duration::from_secs(12);
/// The generated sites whose difference gives the memory per URL seen.
const BIG_SITE: usize = 100_000;
const SMALL_SITE: usize = 1_000;
/// Links of the page whose reading a cancel interrupts.
const MANY_LINKS: usize = 700_000;

/// The crawler's own budget (issue 17): a section of three rows.
fn budget(crawler: &Path) -> crate::Result<Section> {
    let mut section = Section::new(
        "crawler's own budget (issue 17): memory whatever pages say, cancel while reading links",
        "cargo xtask bench crawler",
        &["case", "figure"],
    );
    let (rss, printed) = long_urls(crawler)?;
    section.row(vec![
        format!("peak RSS MiB, 3 pages of {LONG_LINKS} links at 4,000-character URLs, --depth 2, first {LONG_RUN:?} ({printed} URLs printed)"),
        format!("{rss:.1}"),
    ]);
    let (big_kib, big_urls) = site_crawl(crawler, BIG_SITE)?;
    let (small_kib, small_urls) = site_crawl(crawler, SMALL_SITE)?;
    let per_url = (big_kib.saturating_sub(small_kib) * 1024) as f64
        / big_urls.saturating_sub(small_urls).max(1) as f64;
    section.row(vec![
        format!("RSS bytes per URL seen, generated site of {BIG_SITE} pages ({big_urls} URLs, peak {:.1} MiB; {small_urls} URLs, peak {:.1} MiB)", big_kib as f64 / 1024.0, small_kib as f64 / 1024.0),
        format!("{per_url:.1}"),
    ]);
    let exit = cancel_in_links(crawler)?;
    section.row(vec![
        format!("cancel: stdin byte to exit while a {MANY_LINKS}-link page's links are read, --depth 1 (ms)"),
        format!("{exit:.2}"),
    ]);
    section.note("peak RSS here is the child's own VmHWM (/proc/PID/status, sampled every 10 ms until it ends), which starts afresh at exec, unlike wait4's ru_maxrss");
    section.note(format!("per URL: (peak over {BIG_SITE} pages - peak over {SMALL_SITE} pages) / (URLs printed over {BIG_SITE} - over {SMALL_SITE}); complete --same-host crawls at -c 20, no latency"));
    section.note("targets: docs/SPEC.md (crawler)");
    Ok(section)
}

/// Runs `command` to its end or until `limit`, sampling its VmHWM; returns the peak (KiB), its
/// stdout's line count, and whether it was killed at the limit.
fn sampled(command: &mut Command, limit: Duration) -> crate::Result<(u64, usize, bool)> {
    let start = Instant::now();
    let mut child = spawn(
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    )?;
    let pid = child.id();
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let counter = std::thread::spawn(move || BufReader::new(stdout).lines().count());
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    let sampler = std::thread::spawn(move || {
        let mut peak = 0;
        loop {
            if let Ok(kib) = testkit::child::peak_rss_kib(pid) {
                peak = kib;
            }
            if stopped.recv_timeout(Duration::from_millis(10)).is_ok() {
                return peak;
            }
        }
    });
    let measured = wait_limited(child, start, limit);
    let _ = stop.send(());
    let peak = sampler.join().map_err(|_| "the sampler panicked")?;
    let lines = counter.join().map_err(|_| "the counter panicked")?;
    Ok((peak, lines, measured?.killed))
}

/// Peak RSS (MiB) of `--depth 2` over the long-URL site for [`LONG_RUN`], and the URLs printed.
fn long_urls(crawler: &Path) -> crate::Result<(f64, usize)> {
    let site = long_url_site(LONG_LINKS)
        .serve(Duration::ZERO)
        .map_err(|err| format!("site: {err}"))?;
    let (kib, printed, _) = sampled(
        Command::new(crawler).args(["--depth", "2", &site.url("/")]),
        LONG_RUN,
    )?;
    site.stop();
    eprintln!("xtask bench crawler: long URLs: peak {kib} KiB, {printed} printed");
    Ok((kib as f64 / 1024.0, printed))
}

/// Peak RSS (KiB) and URLs printed of a complete crawl of a generated site of `pages` pages.
fn site_crawl(crawler: &Path, pages: usize) -> crate::Result<(u64, usize)> {
    let site = generated_site(pages, Duration::ZERO, 64)?;
    let (kib, printed, killed) = sampled(
        Command::new(crawler).args(["--same-host", &site.url("/")]),
        Duration::from_secs(600),
    )?;
    site.stop();
    if killed || printed < pages {
        return Err(format!("the crawl of {pages} pages printed {printed} URLs"));
    }
    eprintln!("xtask bench crawler: {pages} pages: peak {kib} KiB, {printed} printed");
    Ok((kib, printed))
}

/// Milliseconds from a stdin byte to the crawler's exit, sent once the first link of a
/// [`MANY_LINKS`]-link page is requested (its links still being read and queued).
fn cancel_in_links(crawler: &Path) -> crate::Result<f64> {
    let site = Site::new()
        .with("/big/", many_links(MANY_LINKS))
        .serve(Duration::ZERO)
        .map_err(|err| format!("site: {err}"))?;
    let mut child = spawn(
        Command::new(crawler)
            .args(["--depth", "1", &site.url("/big/")])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )?;
    let (stats, ready) = site.wait_stats(Duration::from_secs(30), |s| {
        s.by_path.contains_key("/big/0")
    });
    if !ready {
        let _ = child.kill();
        let _ = child.wait();
        return Err(format!("no link of the big page was requested: {stats:?}"));
    }
    let (_, reaper, stdin) = cancel_byte(child)?;
    let measured = reaper.join().map_err(|_| "the reaper panicked")??;
    drop(stdin);
    site.stop();
    if measured.status.code() != Some(130) {
        return Err(format!("cancel ended with {}", measured.status));
    }
    Ok(measured.wall_ms())
}
