//! du4 beside the book's du4 on the bench's 200,000-file tree: wall time, CPU and peak RSS
//! (runs alternated, medians); the latency of a cancel by one byte; and what each does when
//! stdin is /dev/null (the book's du4 reads EOF there and cancels at once).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use testkit::child::read_all;

use super::{Programs, Row, collect, thousands};
use crate::bench::du4::{FILES, cancel_latencies, generate_tree};
use crate::bench::{Measured, alternate, median, spawn, wait_limited};

/// Timed runs of each, after one warm-up round; and cancels of each.
const RUNS: usize = 5;
const CANCELS: usize = 5;
/// No run may take longer.
const CAP: Duration = Duration::from_secs(120);

pub fn run(programs: &Programs) -> crate::Result<Vec<Row>> {
    let tree = generate_tree()?;
    let go = programs.go("du4").map(Path::to_path_buf);
    let ours = programs.ours("du4");
    let both = [&go, &ours];
    let samples = alternate(2, RUNS + 1, true, |index| match both[index] {
        Ok(bin) => held_open(bin, &tree).map(Some),
        Err(_) => Ok(None),
    })?;
    let cells: Vec<String> = both
        .iter()
        .zip(&samples)
        .map(|(bin, runs)| match bin {
            Ok(_) => summary(&runs[1..]),
            Err(why) => why.clone(),
        })
        .collect();
    let mut rows = vec![Row::new(
        format!(
            "du4 on {} files, warm cache, stdin held open: median wall, CPU, peak RSS",
            thousands(FILES)
        ),
        &cells[0],
        &cells[1],
    )];
    let cancels = both.map(|bin| match bin {
        Ok(bin) => cancel(bin, &tree).unwrap_or_else(|err| format!("error: {err}")),
        Err(why) => why.clone(),
    });
    rows.push(Row::new(
        "du4 cancel: one byte on stdin to exit (median)",
        &cancels[0],
        &cancels[1],
    ));
    let nulls = both.map(|bin| match bin {
        Ok(bin) => dev_null(bin, &tree).unwrap_or_else(|err| format!("error: {err}")),
        Err(why) => why.clone(),
    });
    rows.push(Row::new("du4 with stdin /dev/null", &nulls[0], &nulls[1]));
    Ok(rows)
}

/// One walk of the tree, stdin a pipe kept open until the exit (the book's du4 cancels at EOF).
fn held_open(bin: &Path, tree: &Path) -> crate::Result<Measured> {
    let mut command = Command::new(bin);
    command
        .arg(tree)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let start = Instant::now();
    let mut child = spawn(&mut command)?;
    let stdin = child.stdin.take();
    let measured = wait_limited(child, start, CAP);
    drop(stdin);
    measured
}

/// Median wall, CPU and peak RSS of the timed runs.
fn summary(runs: &[Option<Measured>]) -> String {
    let runs: Vec<&Measured> = runs.iter().flatten().collect();
    let failed = runs.iter().filter(|m| !m.status.success()).count();
    let figure = |f: fn(&Measured) -> f64| median(&runs.iter().map(|m| f(m)).collect::<Vec<_>>());
    let wall = figure(|m| m.wall.as_secs_f64());
    let cpu = figure(|m| m.cpu.as_secs_f64());
    let rss = figure(|m| m.max_rss_kib as f64 / 1024.0);
    let failed = match failed {
        0 => String::new(),
        n => format!(" ({n} of {} runs failed)", runs.len()),
    };
    format!("{wall:.2} s wall, {cpu:.2} s CPU, {rss:.1} MiB{failed}")
}

/// The median time from the byte to the exit, and the exit status seen.
fn cancel(bin: &Path, tree: &Path) -> crate::Result<String> {
    let samples = cancel_latencies(bin, tree, CANCELS)?;
    let ms: Vec<f64> = samples.iter().map(Measured::wall_ms).collect();
    let mut statuses: Vec<String> = samples.iter().map(|m| status(m.status)).collect();
    statuses.dedup();
    Ok(format!("{:.1} ms ({})", median(&ms), statuses.join(", ")))
}

/// What it prints and how it ends with stdin at EOF from the start.
fn dev_null(bin: &Path, tree: &Path) -> crate::Result<String> {
    let mut command = Command::new(bin);
    command
        .arg(tree)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let start = Instant::now();
    let mut child = spawn(&mut command)?;
    let stdout = child.stdout.take().map(read_all);
    let measured = wait_limited(child, start, CAP)?;
    let text = collect(stdout);
    let printed = match text.lines().last() {
        Some(line) => format!("prints `{}`", line.trim()),
        None => "prints nothing".into(),
    };
    Ok(format!(
        "{printed}, {} after {:.2} s",
        status(measured.status),
        measured.wall.as_secs_f64()
    ))
}

/// An exit status in a few words.
pub fn status(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        _ => status.to_string(),
    }
}
