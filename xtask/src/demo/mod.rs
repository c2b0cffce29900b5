//! `cargo xtask demo`: the chapter tour, offline, in a few seconds.
//!
//! Every program of the chapter runs the way the book runs it, against real local things: du4
//! over this repository, netcat3 against its partner the reverb example (the echoes arriving
//! after netcat3's half-close, then a silent client cut), the chat server with two netcat3
//! clients typing to each other (and, on a second server with a 1 s idle timeout, a third one
//! that stays silent and is disconnected), the crawler over a generated local site
//! ([`testkit::site`]), mirrored-fetch over three local mirrors of different speeds, and a
//! cancellation shown live with its measured latency. Each step is
//! headed by its book section and checks what it shows (an independent count, every terminal's
//! whole transcript line by line, the exact URL set, the winning body byte for byte, the exit
//! codes); the tour goes on after a failed step and exits non-zero at the end if any step
//! misbehaved. The test `xtask/tests/demo.rs` runs it in CI.
//!
//! It builds the programs first (`cargo build`, dev profile) and runs them from the directory of
//! its own executable, `target/debug/`. `--no-build` skips the build, for when they are built
//! already (the test does not use it: `cargo test -p xtask` alone builds none of them). The tour
//! times itself, the build not counted, and counts a tour over a minute as a failure (SPEC.md).
//!
//! This file is the driver (the steps, the build, what every step shares); each book section's
//! step is a module beside it: `du4`, `netcat3` (with reverb), `chat`, `crawler` (the crawl and
//! the cancellation), `mirrored_fetch`; `terminal` is a netcat3 client as the reader sees it.

mod chat;
mod crawler;
mod du4;
mod mirrored_fetch;
mod netcat3;
mod terminal;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use testkit::child::Proc;

use crate::workspace_root;

#[derive(clap::Args)]
pub struct DemoArgs {
    /// Use the binaries already built next to this one instead of running `cargo build` first.
    #[arg(long)]
    no_build: bool,
}

/// The programs the tour runs (each a package of the same name).
const PROGRAMS: [&str; 5] = ["du4", "chat", "netcat3", "crawler", "mirrored-fetch"];

/// The examples the tour runs (each of the `netcat3` package, which is among [`PROGRAMS`]).
const EXAMPLES: [&str; 1] = ["reverb"];

/// A bound for anything that should take well under a second, generous for a loaded CI machine.
const PROMPTLY: Duration = Duration::from_secs(10);

/// The longest the tour may take, the build not counted (SPEC.md: "in under a minute").
const TOUR_LIMIT: Duration = Duration::from_secs(60);

/// One step of the tour: the book section, what it shows, and the code that shows it.
struct Step {
    section: &'static str,
    title: &'static str,
    run: fn(&Bins) -> crate::Result,
}

const STEPS: [Step; 6] = [
    Step {
        section: "8.8-8.9, ex. 8.9",
        title: "du4: disk usage in parallel, -v running totals, per-root totals",
        run: du4::du4,
    },
    Step {
        section: "8.3-8.4.1, ex. 8.3, 8.4, 8.8",
        title: "netcat3 and reverb: the echoes still arrive after netcat3's half-close",
        run: netcat3::netcat3,
    },
    Step {
        section: "8.4.1, 8.10, ex. 8.12-8.14",
        title: "chat with two netcat3 clients, and a third one kicked for idling",
        run: chat::chat,
    },
    Step {
        section: "8.6, ex. 8.6",
        title: "crawler: bounded parallel crawl of a local site, depth-limited",
        run: crawler::crawler,
    },
    Step {
        section: "8.4.4, ex. 8.11",
        title: "mirrored-fetch: three mirrors, the fastest wins, the others are cancelled",
        run: mirrored_fetch::mirrored_fetch,
    },
    Step {
        section: "8.9, ex. 8.10",
        title: "cancellation: a byte on stdin stops a crawl with 20 requests in flight",
        run: crawler::cancellation,
    },
];

pub fn run(args: DemoArgs) -> crate::Result {
    let bins = Bins::locate()?;
    if !args.no_build {
        let began = Instant::now();
        build()?;
        println!(
            "Built the chapter's programs in {:.1} s (not part of the tour).",
            began.elapsed().as_secs_f64()
        );
    }
    let examples = EXAMPLES.map(|example| bins.example(example));
    for path in PROGRAMS
        .map(|program| bins.path(program))
        .iter()
        .chain(&examples)
    {
        if !path.is_file() {
            return Err(format!(
                "{} is missing: build it (`cargo build --workspace --bins --examples`) or drop --no-build",
                path.display()
            ));
        }
    }
    let started = Instant::now();
    let mut failed = Vec::new();
    for step in &STEPS {
        println!("\n== {}  {} ==", step.section, step.title);
        let began = Instant::now();
        match (step.run)(&bins) {
            Ok(()) => println!("-- ok ({} ms)", began.elapsed().as_millis()),
            Err(err) => {
                println!("-- FAILED: {err}");
                failed.push(step.section);
            }
        }
    }
    let took = started.elapsed();
    println!(
        "\nThe tour took {:.1} s (the build not counted; it must take under {} s).",
        took.as_secs_f64(),
        TOUR_LIMIT.as_secs()
    );
    if took >= TOUR_LIMIT {
        failed.push("the whole tour (over a minute)");
    }
    if failed.is_empty() {
        println!("Every step behaved as the book describes.");
        Ok(())
    } else {
        Err(format!("steps that misbehaved: {}", failed.join("; ")))
    }
}

/// Builds the chapter's programs and examples (dev profile, like `cargo run -p NAME`).
fn build() -> crate::Result {
    // `--bins` too: naming an example alone would build nothing else.
    let mut args = vec!["build", "--quiet", "--bins"];
    for program in PROGRAMS {
        args.extend(["--package", program]);
    }
    for example in EXAMPLES {
        args.extend(["--example", example]);
    }
    crate::cargo(&args)
}

/// Where the programs are: the directory of this executable (`target/debug`).
struct Bins {
    dir: PathBuf,
}

impl Bins {
    fn locate() -> crate::Result<Bins> {
        let exe = std::env::current_exe().map_err(|err| format!("current_exe: {err}"))?;
        let dir = exe
            .parent()
            .ok_or("the xtask executable has no directory")?
            .to_path_buf();
        Ok(Bins { dir })
    }

    fn path(&self, program: &str) -> PathBuf {
        self.dir.join(program)
    }

    fn example(&self, example: &str) -> PathBuf {
        self.dir.join("examples").join(example)
    }
}

/// Starts a server that says `NAME: listening on ADDR` first on stderr (chat, reverb, each
/// given `--addr 127.0.0.1:0`); returns it and that address.
fn start_server(program: &Path, args: &[&str], name: &str) -> crate::Result<(Proc, String)> {
    let server = Proc::spawn(program, args, &workspace_root(), name)?;
    server
        .stderr
        .expect(&format!("{name}: listening on "), PROMPTLY)?;
    let addr = server.stderr.expect("\n", PROMPTLY)?.trim().to_string();
    Ok((server, addr))
}

/// Shows a command line as a reader would type it.
fn show_command(line: &str) {
    println!("$ {line}");
}

/// Shows a program's output, indented under its command, every line of it.
fn show_all(text: &str) {
    for line in text.lines() {
        println!("    {line}");
    }
}

/// Shows a program's output, indented under its command; a long output (a crawl, du4's running
/// totals) shows its first and last lines.
fn show_output(text: &str) {
    const HEAD: usize = 6;
    const TAIL: usize = 2;
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() <= HEAD + TAIL + 1 {
        for line in lines {
            println!("    {line}");
        }
        return;
    }
    for line in &lines[..HEAD] {
        println!("    {line}");
    }
    println!("    ... ({} more lines)", lines.len() - HEAD - TAIL);
    for line in &lines[lines.len() - TAIL..] {
        println!("    {line}");
    }
}

/// Shows a remark of the tour (not program output).
fn remark(text: &str) {
    println!("  # {text}");
}

fn check(ok: bool, what: impl FnOnce() -> String) -> crate::Result {
    if ok { Ok(()) } else { Err(what()) }
}
