//! `cargo xtask`: the project's automation, written in Rust so it runs wherever cargo does
//! (matklad's xtask pattern; the alias lives in `.cargo/config.toml`).
//!
//! - `cargo xtask demo`: the chapter tour, offline ([`demo`]).
//! - `cargo xtask ci`: exactly what `.ci/run` checks ([`ci`]).
//! - `cargo xtask bench [NAME]`: side-by-side benchmarks against the peers on this machine
//!   ([`bench`]), written to `target/bench/REPORT.md`.
//! - `cargo xtask compare --gopl DIR`: the book's Go programs, built from a gopl.io checkout,
//!   beside this project's on the same work ([`compare`]), written to `target/bench/COMPARE.md`.
//! - `cargo xtask site`: serves a generated site for the crawler and mirrored-fetch ([`site`]).
//!
//! Run bare, it prints these commands.

mod bench;
mod ci;
mod compare;
mod demo;
mod site;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    version,
    about = "Automation for the chapter 8 workspace"
)]
#[command(arg_required_else_help = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The chapter tour, offline: every program run as the book runs it.
    Demo(demo::DemoArgs),
    /// Exactly what CI (.ci/run) checks: fmt, clippy, tests.
    Ci,
    /// Side-by-side benchmarks against the peers found on this machine.
    Bench(bench::BenchArgs),
    /// The book's Go programs (from a gopl.io checkout) beside this project's, same work.
    Compare(compare::CompareArgs),
    /// Serve a generated site for the crawler and mirrored-fetch.
    Site(site::SiteArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(args) => demo::run(args),
        Command::Ci => ci::run(),
        Command::Bench(args) => bench::run(args),
        Command::Compare(args) => compare::run(args),
        Command::Site(args) => site::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            common::exit::error("xtask", err);
            ExitCode::FAILURE
        }
    }
}

/// What an xtask step reports when it fails: one line, shown as `xtask: {message}`.
pub type Result<T = ()> = std::result::Result<T, String>;

/// The workspace root (xtask's manifest lives one level below it).
pub fn workspace_root() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .map(PathBuf::from)
        .unwrap_or(manifest_dir)
}

/// Runs `cargo ARGS` in the workspace root, with the cargo that runs xtask (`$CARGO`); an error
/// names the command line. Every cargo xtask starts (ci's checks, the builds of demo and bench)
/// goes through here.
pub fn cargo(args: &[&str]) -> Result {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let line = args.join(" ");
    let status = std::process::Command::new(cargo)
        .args(args)
        .current_dir(workspace_root())
        .status()
        .map_err(|err| format!("cargo {line}: {err}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`cargo {line}` failed ({status})"))
    }
}
