//! `cargo xtask bench [NAME]`: the spec's speed and memory targets, measured side by side
//! against the peers on this machine in one run, reported as medians and ratios.
//!
//! Each benchmark lives in its own module and returns a [`Section`]; this module builds the
//! release binaries, runs the chosen benchmarks, prints the report and writes it to
//! `target/bench/REPORT.md`. Shared tools: [`median`], [`measure`] (wall time and peak memory
//! of one child process), [`find_tool`] (a peer found on PATH or installed).

mod chat;
mod crawler;
mod du4;
mod mirrored_fetch;
mod netcat3;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use crate::workspace_root;

#[derive(clap::Args)]
pub struct BenchArgs {
    /// One benchmark to run; all of them when left out.
    #[arg(value_parser = clap::builder::PossibleValuesParser::new(NAMES))]
    name: Option<String>,
}

/// The benchmarks, in report order. chat runs last: its load generator grows this process, and
/// a child's peak RSS as `wait4` reports it includes this process's size at spawn (see
/// [`Measured::max_rss_kib`]), which would inflate the memory figures of the benchmarks after it.
const NAMES: [&str; 5] = ["du4", "netcat3", "crawler", "mirrored-fetch", "chat"];

pub fn run(args: BenchArgs) -> crate::Result {
    let names: Vec<&str> = match &args.name {
        Some(name) => vec![name.as_str()],
        None => NAMES.to_vec(),
    };
    build_release(&names)?;
    let mut sections = Vec::new();
    for name in names {
        eprintln!("xtask bench: {name}");
        let section = match name {
            "du4" => du4::run(),
            "chat" => chat::run(),
            "netcat3" => netcat3::run(),
            "crawler" => crawler::run(),
            "mirrored-fetch" => mirrored_fetch::run(),
            _ => unreachable!("clap admits only NAMES"),
        }
        .map_err(|err| format!("bench {name}: {err}"))?;
        println!("{}", section.to_markdown());
        sections.push(section);
    }
    let report = report(&sections);
    let dir = bench_dir();
    std::fs::create_dir_all(&dir).map_err(|err| format!("{}: {err}", dir.display()))?;
    let path = dir.join("REPORT.md");
    std::fs::write(&path, report).map_err(|err| format!("{}: {err}", path.display()))?;
    eprintln!("xtask bench: wrote {}", path.display());
    Ok(())
}

/// One benchmark's results: a table plus the notes that say how to read it.
pub struct Section {
    pub title: String,
    /// The command that reproduces just this section.
    pub command: String,
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// Targets met or missed, setup details: one line each.
    pub notes: Vec<String>,
}

impl Section {
    pub fn new(title: &str, command: &str, headers: &[&str]) -> Section {
        Section {
            title: title.into(),
            command: command.into(),
            headers: headers.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
            notes: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    pub fn to_markdown(&self) -> String {
        let mut out = format!("## {}\n\n`{}`\n\n", self.title, self.command);
        let _ = writeln!(out, "| {} |", self.headers.join(" | "));
        let _ = writeln!(out, "|{}", "---|".repeat(self.headers.len()));
        for row in &self.rows {
            let _ = writeln!(out, "| {} |", row.join(" | "));
        }
        out.push('\n');
        for note in &self.notes {
            let _ = writeln!(out, "- {note}");
        }
        out
    }
}

fn report(sections: &[Section]) -> String {
    let mut out = String::from("# Benchmark report\n\n");
    let _ = writeln!(out, "Machine: {}\n", machine_description());
    for section in sections {
        out.push_str(&section.to_markdown());
        out.push('\n');
    }
    out
}

/// CPU model, core count and kernel, as far as /proc tells.
pub fn machine_description() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .and_then(|rest| rest.split(':').nth(1))
        .map(str::trim)
        .unwrap_or("unknown CPU");
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{model}, {cores} cores, Linux {}", kernel.trim())
}

/// Where benchmarks keep their generated inputs and the report.
pub fn bench_dir() -> PathBuf {
    workspace_root().join("target").join("bench")
}

/// Builds the release binaries of the named packages (every benchmark is named after its package).
fn build_release(packages: &[&str]) -> crate::Result {
    let mut args = vec!["build", "--release"];
    for package in packages {
        args.extend(["--package", package]);
    }
    crate::cargo(&args)
}

/// The release build of one of the workspace's binaries.
pub fn release_binary(name: &str) -> PathBuf {
    workspace_root().join("target").join("release").join(name)
}

/// The median of the samples (the mean of the middle two for an even count); 0 for none.
pub fn median(samples: &[f64]) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// What one run of a child process cost.
pub struct Measured {
    pub status: ExitStatus,
    pub wall: Duration,
    /// Peak resident memory of the child, in KiB (from `wait4`'s rusage). An upper bound: Linux
    /// keeps the high-water mark of the memory the child was spawned from across its `exec`
    /// (std spawns with `vfork`-style sharing), so the figure is at least this process's own
    /// resident size at spawn time (measured: a child `true` of a 300 MiB parent reports 313 MiB).
    pub max_rss_kib: u64,
}

/// Runs `command` to completion (its stdio as configured by the caller) and measures it.
pub fn measure(command: &mut Command) -> crate::Result<Measured> {
    let start = Instant::now();
    let child = command
        .spawn()
        .map_err(|err| format!("{:?}: {err}", command.get_program()))?;
    wait_measured(child, start)
}

/// Waits for a child started at `start`, reporting its wall time and peak memory.
pub fn wait_measured(child: std::process::Child, start: Instant) -> crate::Result<Measured> {
    use std::os::unix::process::ExitStatusExt;
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero `rusage` is a valid value of that plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `pid` is our own un-reaped child (std's `Child` never waited on it), and both
        // out-pointers point to live, writable locals of the types wait4 expects.
        let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if reaped == pid {
            break;
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(format!("wait4: {err}"));
        }
    }
    let wall = start.elapsed();
    // The child is reaped; forgetting the handle keeps std from waiting on a recycled pid.
    std::mem::forget(child);
    Ok(Measured {
        status: ExitStatus::from_raw(status),
        wall,
        max_rss_kib: u64::try_from(usage.ru_maxrss).unwrap_or(0),
    })
}

/// A peer tool: found on PATH, or installed by `install` (a shell command) and then found.
/// `None` when it cannot be had; the benchmark then reports the peer as missing.
pub fn find_tool(name: &str, install: &str) -> Option<PathBuf> {
    if let Some(path) = which(name) {
        return Some(path);
    }
    eprintln!("xtask bench: {name} not found; trying `{install}`");
    let installed = Command::new("sh").args(["-c", install]).status();
    if !matches!(installed, Ok(status) if status.success()) {
        eprintln!("xtask bench: could not install {name}");
    }
    which(name)
}

/// The first executable called `name` on PATH (and in cargo's bin directory).
pub fn which(name: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect())
        .unwrap_or_default();
    if let Some(home) = std::env::var_os("CARGO_HOME") {
        dirs.push(Path::new(&home).join("bin"));
    } else if let Some(home) = std::env::var_os("HOME") {
        dirs.push(Path::new(&home).join(".cargo").join("bin"));
    }
    dirs.into_iter()
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Formats a ratio `ours / theirs` to two decimals ("n/a" without a peer).
pub fn ratio(ours: f64, theirs: Option<f64>) -> String {
    match theirs {
        Some(theirs) if theirs > 0.0 => format!("{:.2}", ours / theirs),
        _ => "n/a".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
    }

    #[test]
    fn measure_reports_status_and_memory() {
        let measured = measure(Command::new("true").stdout(std::process::Stdio::null())).unwrap();
        assert!(measured.status.success());
        assert!(measured.max_rss_kib > 0);
    }
}
