//! `cargo xtask bench [NAME]`: speed and memory, measured side by side against the peers on
//! this machine in one run, reported as medians and ratios. The targets are docs/SPEC.md's:
//! the report gives figures, not verdicts.
//!
//! Each benchmark lives in its own module and returns its [`Section`]s; this module builds the
//! release binaries, runs the chosen benchmarks, prints the report and writes it to
//! `target/bench/REPORT.md`. What they share to spawn, time, alternate and report is in
//! [`harness`].

pub mod chat;
pub mod crawler;
pub mod du4;
mod harness;
mod mirrored_fetch;
mod netcat3;

use std::fmt::Write as _;
use std::path::PathBuf;

pub use harness::{
    Load, Measured, alternate, find_tool, max, measure_quiet, median, min, ms, ratio, spawn,
    thousands, wait_limited, wait_measured, which,
};

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
        let ran = match name {
            "du4" => du4::run().map(|section| vec![section]),
            "chat" => chat::run().map(|section| vec![section]),
            "netcat3" => netcat3::run().map(|section| vec![section]),
            "crawler" => crawler::run(),
            "mirrored-fetch" => mirrored_fetch::run(),
            _ => unreachable!("clap admits only NAMES"),
        }
        .map_err(|err| format!("bench {name}: {err}"))?;
        for section in ran {
            println!("{}", section.to_markdown());
            sections.push(section);
        }
    }
    write_report("bench", "REPORT.md", &report(&sections))
}

/// Writes `text` to `file` in [`bench_dir`] and says so (as `xtask WHAT`).
pub(crate) fn write_report(what: &str, file: &str, text: &str) -> crate::Result {
    let dir = bench_dir();
    std::fs::create_dir_all(&dir).map_err(|err| format!("{}: {err}", dir.display()))?;
    let path = dir.join(file);
    std::fs::write(&path, text).map_err(|err| format!("{}: {err}", path.display()))?;
    eprintln!("xtask {what}: wrote {}", path.display());
    Ok(())
}

/// One benchmark's results: a table plus the notes that say how to read it.
pub struct Section {
    pub title: String,
    /// The command that reproduces just this section.
    pub command: String,
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// Setup details and figures beside the table: one line each.
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

    /// A row of `name`, the median, least and greatest of `samples`; none without samples.
    pub fn spread(&mut self, name: &str, samples: &[f64]) {
        if !samples.is_empty() {
            let figures = [median(samples), min(samples), max(samples)];
            let mut cells = vec![name.to_string()];
            cells.extend(figures.iter().map(|figure| format!("{figure:.2}")));
            self.row(cells);
        }
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
    target_dir().join("bench")
}

/// cargo's target directory: `$CARGO_TARGET_DIR`, or `target` in the workspace.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// Builds the release binaries of the named packages (every benchmark is named after its package).
pub(crate) fn build_release(packages: &[&str]) -> crate::Result {
    let mut args = vec!["build", "--release"];
    for package in packages {
        args.extend(["--package", package]);
    }
    crate::cargo(&args)
}

/// The release build of one of the workspace's binaries.
pub fn release_binary(name: &str) -> PathBuf {
    target_dir().join("release").join(name)
}
