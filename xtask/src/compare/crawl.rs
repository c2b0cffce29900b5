//! The crawler beside the book's crawl3 on the generated site (testkit's, as `cargo xtask
//! site` serves it), 20 ms per page, the same start URL: pages per second (distinct URLs
//! printed, fragment cut, over the time to the last line), fetches of a page already fetched (a
//! URL printed again once its fragment is cut: crawl3 keeps fragments, so it fetches `/page/1`
//! and `/page/1#intro` both), and whether it ends by itself (ours exits 1 here: the site links
//! to a host that refuses). crawl3 never does: it is stopped once it printed nothing for
//! [`IDLE`].

use std::collections::HashSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use testkit::child::{lines, wait_deadline};

use super::du4::status;
use super::{Programs, Row, thousands};
use crate::bench::crawler::{LATENCY, PAGES, start_site};
use crate::bench::{median, spawn};

/// Runs of each, alternated; the median rate is reported.
const RUNS: usize = 3;
/// Silent this long, a crawl that has not ended is stopped.
const IDLE: Duration = Duration::from_secs(3);
/// No crawl may take longer.
const CAP: Duration = Duration::from_secs(120);

pub fn run(programs: &Programs) -> crate::Result<Vec<Row>> {
    let site = start_site()?;
    let url = site.url("/");
    let go = programs.go("crawl3").map(Path::to_path_buf);
    let ours = programs.ours("crawler");
    let mut crawls: [Vec<Crawl>; 2] = [Vec::new(), Vec::new()];
    for round in 0..RUNS {
        for index in [round % 2, 1 - round % 2] {
            if let Ok(bin) = [&go, &ours][index] {
                crawls[index].push(crawl(bin, &url)?);
            }
        }
    }
    site.stop();
    let cells = [&go, &ours].map(|bin| bin.clone().map(|_| ()));
    let cell = |index: usize| match &cells[index] {
        Ok(()) => summary(&crawls[index]),
        Err(why) => why.clone(),
    };
    Ok(vec![Row::new(
        format!(
            "crawl3 / crawler on a {}-page local site, {} ms a page, 20 at once: distinct \
             pages/s, pages fetched again, the end",
            thousands(PAGES),
            LATENCY.as_millis()
        ),
        cell(0),
        cell(1),
    )])
}

/// One crawl: URLs printed, distinct URLs (fragment cut), seconds to the last, how it ended.
struct Crawl {
    printed: usize,
    distinct: usize,
    secs: f64,
    end: String,
}

fn crawl(bin: &Path, url: &str) -> crate::Result<Crawl> {
    let mut command = Command::new(bin);
    command
        .arg(url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let start = Instant::now();
    let mut child = spawn(&mut command)?;
    let stdin = child.stdin.take();
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let lines = lines(stdout);
    let (mut printed, mut seen, mut last) = (0, HashSet::new(), start);
    let mut ended = false;
    while start.elapsed() < CAP {
        match lines.recv_timeout(IDLE) {
            Ok(line) => {
                printed += 1;
                last = Instant::now();
                seen.insert(line.split('#').next().unwrap_or("").to_string());
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                ended = true;
                break;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => break,
        }
    }
    // A crawl that went silent without ending is stopped (killed and reaped) at once.
    let exit = wait_deadline(&mut child, if ended { IDLE } else { Duration::ZERO });
    let end = match exit {
        Some(exit) => format!("ends by itself ({})", status(exit)),
        None => format!(
            "never ends: stopped after {} s without output",
            IDLE.as_secs()
        ),
    };
    drop(stdin);
    Ok(Crawl {
        printed,
        distinct: seen.len(),
        secs: last.duration_since(start).as_secs_f64(),
        end,
    })
}

fn summary(crawls: &[Crawl]) -> String {
    let rates: Vec<f64> = crawls
        .iter()
        .map(|c| c.distinct as f64 / c.secs.max(1e-3))
        .collect();
    let Some(first) = crawls.first() else {
        return "no crawl".into();
    };
    let twice: Vec<String> = crawls
        .iter()
        .map(|c| (c.printed - c.distinct).to_string())
        .collect();
    format!(
        "{:.0} pages/s; {} pages, {} fetches of a page already fetched; {}",
        median(&rates),
        first.distinct,
        twice.join("/"),
        first.end
    )
}
