//! `cargo xtask demo`: the chapter tour, offline, in a few seconds.
//!
//! Every program of the chapter runs the way the book runs it, against real local things: du4
//! over this repository, the chat server with two netcat3 clients typing to each other (and, on a
//! second server with a 1 s idle timeout, a third one that stays silent and is disconnected), the
//! crawler over a generated local site ([`testkit::site`]), mirrored-fetch over three local mirrors
//! of different speeds, and a cancellation shown live with its measured latency. Each step is
//! headed by its book section and checks what it shows (an independent count, every terminal's
//! whole transcript line by line, the exact URL set, the winning body byte for byte, the exit
//! codes); the tour goes on after a failed step and exits non-zero at the end if any step
//! misbehaved. The test `xtask/tests/demo.rs` runs it in CI.
//!
//! It builds the programs first (`cargo build`, dev profile) and runs them from the directory of
//! its own executable, `target/debug/`. `--no-build` skips the build, for when they are built
//! already (the test does not use it: `cargo test -p xtask` alone builds none of them). The tour
//! times itself, the build not counted, and counts a tour over a minute as a failure (SPEC.md).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use testkit::child::{Proc, output};
use testkit::site::{EXTERNAL_LINK, Site, SiteHandle};

use crate::workspace_root;

#[derive(clap::Args)]
pub struct DemoArgs {
    /// Use the binaries already built next to this one instead of running `cargo build` first.
    #[arg(long)]
    no_build: bool,
}

/// The programs the tour runs (each a package of the same name).
const PROGRAMS: [&str; 5] = ["du4", "chat", "netcat3", "crawler", "mirrored-fetch"];

/// A bound for anything that should take well under a second, generous for a loaded CI machine.
const PROMPTLY: Duration = Duration::from_secs(10);

/// How often `du4 -v` prints its running totals (`du4::TICK`, the book's 500 ms ticker).
const DU4_TICK: Duration = Duration::from_millis(500);

/// The longest the tour may take, the build not counted (SPEC.md: "in under a minute").
const TOUR_LIMIT: Duration = Duration::from_secs(60);

/// One step of the tour: the book section, what it shows, and the code that shows it.
struct Step {
    section: &'static str,
    title: &'static str,
    run: fn(&Bins) -> crate::Result,
}

const STEPS: [Step; 5] = [
    Step {
        section: "8.8-8.9, ex. 8.9",
        title: "du4: disk usage in parallel, -v running totals, per-root totals",
        run: du4,
    },
    Step {
        section: "8.4.1, 8.10, ex. 8.12-8.14",
        title: "chat with two netcat3 clients, and a third one kicked for idling",
        run: chat,
    },
    Step {
        section: "8.6, ex. 8.6",
        title: "crawler: bounded parallel crawl of a local site, depth-limited",
        run: crawler,
    },
    Step {
        section: "8.4.4, ex. 8.11",
        title: "mirrored-fetch: three mirrors, the fastest wins, the others are cancelled",
        run: mirrored_fetch,
    },
    Step {
        section: "8.9, ex. 8.10",
        title: "cancellation: a byte on stdin stops a crawl with 20 requests in flight",
        run: cancellation,
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
    for program in PROGRAMS {
        let path = bins.path(program);
        if !path.is_file() {
            return Err(format!(
                "{} is missing: build it (`cargo build --workspace`) or drop --no-build",
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

/// Builds the chapter's programs (dev profile, like `cargo run -p NAME`).
fn build() -> crate::Result {
    let mut args = vec!["build", "--quiet"];
    for program in PROGRAMS {
        args.extend(["--package", program]);
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

// --- 8.8-8.9: du4 --------------------------------------------------------------------------

fn du4(bins: &Bins) -> crate::Result {
    let du4 = bins.path("du4");
    du4_running_totals(&du4)?;
    du4_per_root(&du4)
}

/// `du4 -v .`: the running totals, one per 500 ms tick, then the final one.
fn du4_running_totals(du4: &Path) -> crate::Result {
    let root = workspace_root();
    show_command("du4 -v .");
    let began = Instant::now();
    let (code, stdout, stderr) = output(du4, &["-v", "."], &root, Duration::from_secs(120))?;
    let ran_ms = began.elapsed().as_millis();
    show_output(&stdout);
    show_output(&stderr);
    // Exit 1 means some entry could not be read (a build running beside us can remove files
    // under target/): reported, as GNU du does, and not a misbehaviour.
    check(code == 0 || code == 1, || {
        format!("du4 exited with {code}: {stderr}")
    })?;
    // Every line is a total in the book's `N files  X.Y GB`: the running ones (one per tick of
    // the 500 ms ticker) and then the final one; the file counts only grow.
    let mut file_counts = Vec::new();
    for line in stdout.lines() {
        let (files, _) = parse_total(line, "GB")
            .ok_or_else(|| format!("the line {line:?} is not the book's `N files  X.Y GB`"))?;
        file_counts.push(files);
    }
    check(!file_counts.is_empty(), || "du4 printed nothing".into())?;
    check(file_counts.is_sorted(), || {
        format!("the running file counts went down: {file_counts:?}")
    })?;
    // The ticker lives inside the process, so it cannot tick more often than every 500 ms of
    // the process's whole run (measured here, from its start to its exit).
    let running = file_counts.len() - 1;
    let ticks = ran_ms / DU4_TICK.as_millis();
    check(running as u128 <= ticks, || {
        format!("{running} running totals in {ran_ms} ms: more than one per 500 ms tick")
    })?;
    if running == 0 {
        remark(&format!(
            "du4 ran {ran_ms} ms from start to exit: the walk ended before the first 500 ms tick, \
             so -v printed no running total, only the final one"
        ));
    } else {
        remark(&format!(
            "du4 ran {ran_ms} ms from start to exit: -v printed {running} running total(s), one \
             per 500 ms tick, then the final one"
        ));
    }
    Ok(())
}

/// `du4 --per-root -b` over the crates, each line checked against an independent count.
fn du4_per_root(du4: &Path) -> crate::Result {
    let root = workspace_root();
    let roots = [
        "common",
        "testkit",
        "du4",
        "chat",
        "netcat3",
        "crawler",
        "mirrored-fetch",
        "xtask",
    ];
    let mut args = vec!["--per-root", "-b"];
    args.extend(roots);
    show_command(&format!("du4 {}", args.join(" ")));
    let (code, stdout, stderr) = output(du4, &args, &root, Duration::from_secs(60))?;
    show_output(&stdout);
    check(code == 0, || format!("du4 exited with {code}: {stderr}"))?;
    let lines: Vec<&str> = stdout.lines().collect();
    check(lines.len() == roots.len() + 1, || {
        format!("expected one line per root and a total, got {lines:?}")
    })?;
    let (mut all_files, mut all_bytes) = (0, 0);
    for (line, root_name) in lines.iter().zip(roots) {
        let expected = count_tree(&root.join(root_name));
        let got = parse_total(line, "bytes");
        check(
            got == Some(expected) && line.ends_with(&format!("  {root_name}")),
            || format!("{line:?}: an independent count of {root_name} gives {expected:?}"),
        )?;
        all_files += expected.0;
        all_bytes += expected.1;
    }
    let total = lines.last().copied().unwrap_or_default();
    check(
        parse_total(total, "bytes") == Some((all_files, all_bytes)) && total.ends_with("  total"),
        || format!("the total line {total:?} is not the sum {all_files} files, {all_bytes} bytes"),
    )?;
    remark("each per-root line equals an independent count of that folder; the total is their sum");
    Ok(())
}

/// Parses `{files} files  {amount} {unit}` (anything after is ignored) into (files, amount as an
/// integer: bytes, or tenths of a GB).
fn parse_total(line: &str, unit: &str) -> Option<(u64, u64)> {
    let mut words = line.split("  ");
    let files = words.next()?.strip_suffix(" files")?.parse().ok()?;
    let amount = words.next()?.strip_suffix(&format!(" {unit}"))?;
    let amount = if unit == "GB" {
        let (whole, tenth) = amount.split_once('.')?;
        whole.parse::<u64>().ok()? * 10 + tenth.parse::<u64>().ok()?
    } else {
        amount.parse().ok()?
    };
    Some((files, amount))
}

/// Files and apparent bytes below `dir`, counted as du4 counts them (every non-directory entry,
/// its own size, symlinks not followed).
fn count_tree(dir: &Path) -> (u64, u64) {
    let (mut files, mut bytes) = (0, 0);
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.path().symlink_metadata() else {
                continue;
            };
            if meta.is_dir() {
                pending.push(entry.path());
            } else {
                files += 1;
                bytes += meta.len();
            }
        }
    }
    (files, bytes)
}

// --- 8.4.1 and 8.10: chat and netcat3 ------------------------------------------------------

/// One netcat3 client, and its terminal as the reader would see it (what it typed included).
struct Terminal {
    name: &'static str,
    netcat3: Proc,
    screen: String,
}

impl Terminal {
    fn open(bins: &Bins, addr: &str, name: &'static str) -> crate::Result<Terminal> {
        let netcat3 = Proc::spawn(
            &bins.path("netcat3"),
            &[addr],
            &workspace_root(),
            &format!("{name}'s netcat3"),
        )?;
        Ok(Terminal {
            name,
            netcat3,
            screen: String::new(),
        })
    }

    /// Waits until the server's output to this client contains `text`.
    fn expect(&mut self, text: &str) -> crate::Result {
        let seen = self
            .netcat3
            .stdout
            .expect(text, PROMPTLY)
            .map_err(|err| format!("{}: {err}", self.name))?;
        self.screen.push_str(&seen);
        Ok(())
    }

    /// Types a line (the terminal echoes it, so it shows on the screen).
    fn type_line(&mut self, line: &str) -> crate::Result {
        self.screen.push_str(line);
        self.screen.push('\n');
        self.netcat3.send(format!("{line}\n").as_bytes())
    }

    /// Waits for netcat3 to exit 0 (the server closed the connection); the rest of its output
    /// goes to the screen. Returns when its output ended.
    fn closed(&mut self) -> crate::Result<Instant> {
        self.netcat3.expect_exit(0, PROMPTLY)?;
        let (rest, ended) = self.netcat3.stdout.finish(PROMPTLY)?;
        self.screen.push_str(&rest);
        Ok(ended)
    }

    /// Prints the whole terminal under the command that opened it.
    fn show(&self, addr: &str, note: &str) {
        show_command(&format!(
            "netcat3 {addr}    ({}'s terminal{note})",
            self.name
        ));
        show_all(&self.screen);
    }

    /// Checks the terminal line by line: exactly these lines, nothing more.
    fn check(&self, want: &[Shows]) -> crate::Result {
        let got: Vec<&str> = self.screen.lines().collect();
        let fits = got.len() == want.len() && got.iter().zip(want).all(|(line, w)| w.fits(line));
        check(fits, || {
            format!("{}'s terminal shows {got:?}, expected {want:?}", self.name)
        })
    }
}

/// A line a terminal should show: this exact text, or, for wordings SPEC.md leaves to the server
/// (the name prompt, a refusal, a farewell), a line containing this.
#[derive(Debug)]
enum Shows {
    Line(&'static str),
    LineWith(&'static str),
}

impl Shows {
    fn fits(&self, line: &str) -> bool {
        match self {
            Shows::Line(text) => line == *text,
            Shows::LineWith(part) => line.contains(part),
        }
    }
}

/// Checks that a chat server's log (after its `listening on` line) has lines containing these,
/// in this order; other lines may come between.
fn check_log(log: &str, want: &[&str]) -> crate::Result {
    let mut lines = log.lines();
    for part in want {
        check(
            lines.any(|line| line.starts_with("chat: ") && line.contains(part)),
            || format!("the server's log has no line with {part:?} where expected: {log:?}"),
        )?;
    }
    Ok(())
}

/// Starts a chat server on a free loopback port; returns it and the address it listens on.
fn start_chat(bins: &Bins, idle_timeout: &str) -> crate::Result<(Proc, String)> {
    let server = Proc::spawn(
        &bins.path("chat"),
        &["--addr", "127.0.0.1:0", "--idle-timeout", idle_timeout],
        &workspace_root(),
        "chat",
    )?;
    server.stderr.expect("chat: listening on ", PROMPTLY)?;
    let addr = server.stderr.expect("\n", PROMPTLY)?.trim().to_string();
    Ok((server, addr))
}

fn chat(bins: &Bins) -> crate::Result {
    two_clients(bins)?;
    idle_kick(bins)
}

/// The book's session: alice and bob join, talk, bob leaves, the server is stopped.
fn two_clients(bins: &Bins) -> crate::Result {
    use Shows::{Line, LineWith};
    let (mut server, addr) = start_chat(bins, "1m")?;

    let mut alice = Terminal::open(bins, &addr, "alice")?;
    alice.expect("name")?;
    alice.expect("\n")?;
    alice.type_line("alice")?;
    alice.expect("You are alice\n")?;
    alice.expect("Current clients: none\n")?;

    let mut bob = Terminal::open(bins, &addr, "bob")?;
    bob.expect("name")?;
    bob.expect("\n")?;
    // A name in use is refused and asked again (ex. 8.14).
    bob.type_line("alice")?;
    bob.expect("name")?;
    bob.expect("\n")?;
    bob.type_line("bob")?;
    bob.expect("You are bob\n")?;
    bob.expect("Current clients: alice\n")?;
    alice.expect("bob has arrived\n")?;

    alice.type_line("Hi bob!")?;
    alice.expect("alice: Hi bob!\n")?;
    bob.expect("alice: Hi bob!\n")?;
    bob.type_line("Hello alice.")?;
    bob.expect("bob: Hello alice.\n")?;
    alice.expect("bob: Hello alice.\n")?;

    // Bob presses Ctrl-D: netcat3 half-closes, the server says goodbye by closing, netcat3 ends.
    bob.netcat3.close_stdin();
    bob.closed()?;
    alice.expect("bob has left\n")?;

    // Ctrl-C to the server: it tells everyone and closes; alice's netcat3 ends by itself
    // although its stdin is still open (the Go original would wait for her to type).
    let interrupted = Instant::now();
    server.interrupt()?;
    alice.closed()?;
    server.expect_exit(0, PROMPTLY)?;
    let shutdown_ms = interrupted.elapsed().as_millis();
    let (log, _) = server.stderr.finish(PROMPTLY)?;

    show_command("chat --addr 127.0.0.1:0 --idle-timeout 1m    (the server's log, stderr)");
    show_all(&format!("chat: listening on {addr}\n{log}"));
    alice.show(&addr, "");
    bob.show(&addr, "");
    check_log(
        &log,
        &["alice has arrived", "bob has arrived", "bob has left"],
    )?;
    alice.check(&[
        LineWith("name"),
        Line("alice"),
        Line("You are alice"),
        Line("Current clients: none"),
        Line("bob has arrived"),
        Line("Hi bob!"),
        Line("alice: Hi bob!"),
        Line("bob: Hello alice."),
        Line("bob has left"),
        LineWith("shutting down"),
    ])?;
    bob.check(&[
        LineWith("name"),
        Line("alice"),
        LineWith("taken"),
        LineWith("name"),
        Line("bob"),
        Line("You are bob"),
        Line("Current clients: alice"),
        Line("alice: Hi bob!"),
        Line("Hello alice."),
        Line("bob: Hello alice."),
    ])?;
    remark(&format!(
        "bob typed Ctrl-D (netcat3 half-closed and left); the server got Ctrl-C and everyone was \
         told and disconnected within {shutdown_ms} ms"
    ));
    Ok(())
}

/// Ex. 8.13 on a server of its own, so that alice and bob's script never races a short timeout:
/// carol names herself and then types nothing.
fn idle_kick(bins: &Bins) -> crate::Result {
    use Shows::{Line, LineWith};
    const IDLE: Duration = Duration::from_secs(1);
    let (mut server, addr) = start_chat(bins, "1s")?;

    let mut carol = Terminal::open(bins, &addr, "carol")?;
    carol.expect("name")?;
    carol.expect("\n")?;
    carol.type_line("carol")?;
    // The server's idle clock restarts when it reads her name, which is after this.
    let named = Instant::now();
    carol.expect("You are carol\n")?;
    carol.expect("Current clients: none\n")?;
    let kicked = carol.closed()?;
    let silent = kicked.saturating_duration_since(named);

    server.interrupt()?;
    server.expect_exit(0, PROMPTLY)?;
    let (log, _) = server.stderr.finish(PROMPTLY)?;

    show_command("chat --addr 127.0.0.1:0 --idle-timeout 1s    (a second server's log, stderr)");
    show_all(&format!("chat: listening on {addr}\n{log}"));
    carol.show(&addr, ", silent once named");
    check_log(&log, &["carol has arrived", "carol idle", "carol has left"])?;
    carol.check(&[
        LineWith("name"),
        Line("carol"),
        Line("You are carol"),
        Line("Current clients: none"),
        LineWith("no message for 1s"),
    ])?;
    check(silent >= IDLE, || {
        format!("carol was disconnected {silent:?} after naming herself, before the 1s timeout")
    })?;
    remark(&format!(
        "carol was told why and disconnected {} ms after she named herself (the idle timeout is \
         1 s), and her netcat3 exited 0 by itself",
        silent.as_millis()
    ));
    Ok(())
}

// --- 8.6: the crawler ----------------------------------------------------------------------

fn crawler(bins: &Bins) -> crate::Result {
    const PAGES: usize = 40;
    let site = Site::generated(PAGES)
        .serve(Duration::from_millis(20))
        .map_err(|err| format!("starting the site: {err}"))?;
    let start = site.url("/");
    let crawler = bins.path("crawler");
    remark(&format!(
        "a generated site of {PAGES} pages and some awkward cases, each answer after 20 ms, \
         is served at {start}"
    ));

    crawl_depth_one(&crawler, &site, PAGES)?;
    crawl_whole_site(&crawler, &site, PAGES)?;
    site.stop();
    Ok(())
}

/// `crawler --depth 1`: the start page and what it links to, each once.
fn crawl_depth_one(crawler: &Path, site: &SiteHandle, pages: usize) -> crate::Result {
    let start = site.url("/");
    show_command(&format!("crawler --depth 1 {start}"));
    let (code, stdout, stderr) = output(
        crawler,
        &["--depth", "1", start.as_str()],
        &workspace_root(),
        Duration::from_secs(60),
    )?;
    show_output(&stdout);
    show_output(&stderr);
    // The index links to a 404 and to a port nothing serves: two fetch errors, so exit 1.
    check(code == 1, || {
        format!("crawler exited with {code}, expected 1")
    })?;
    let expected: BTreeSet<String> = Site::generated_depth_one(pages)
        .iter()
        .map(|path| site.url(path))
        .chain([EXTERNAL_LINK.to_string()])
        .collect();
    let printed = printed_once(&stdout)?;
    check(printed == expected, || {
        format!("depth 1 fetched {printed:?}, expected {expected:?}")
    })?;
    remark(
        "the start page (depth 0) and the pages it links to (depth 1), each once; /landing/ is \
         where /redirect leads: the same page, at the same depth, requested by the crawler itself",
    );
    Ok(())
}

/// `crawler --same-host`: every page of the site, each once, at most 20 requests at a time.
fn crawl_whole_site(crawler: &Path, site: &SiteHandle, pages: usize) -> crate::Result {
    let start = site.url("/");
    show_command(&format!("crawler --same-host {start}"));
    let (code, stdout, _stderr) = output(
        crawler,
        &["--same-host", start.as_str()],
        &workspace_root(),
        Duration::from_secs(60),
    )?;
    check(code == 1, || {
        format!("crawler exited with {code}, expected 1 (one 404)")
    })?;
    let printed = printed_once(&stdout)?;
    let expected: BTreeSet<String> = Site::generated_crawl(pages)
        .iter()
        .map(|path| site.url(path))
        .collect();
    check(printed == expected, || {
        format!(
            "the full crawl fetched {} URLs, expected {}: missing {:?}, extra {:?}",
            printed.len(),
            expected.len(),
            expected.difference(&printed).collect::<Vec<_>>(),
            printed.difference(&expected).collect::<Vec<_>>()
        )
    })?;
    let stats = site.stats();
    remark(&format!(
        "the whole site: {} URLs, each fetched once, and the crawl ended by itself; at most {} \
         requests were in flight at once (the limit is 20)",
        printed.len(),
        stats.max_in_flight
    ));
    check(stats.max_in_flight <= 20, || {
        format!("{} requests in flight at once", stats.max_in_flight)
    })
}

/// The URLs a crawl printed, checking that none was printed twice.
fn printed_once(stdout: &str) -> crate::Result<BTreeSet<String>> {
    let mut printed = BTreeSet::new();
    for line in stdout.lines() {
        check(printed.insert(line.to_string()), || {
            format!("{line} was printed twice")
        })?;
    }
    Ok(printed)
}

// --- 8.4.4: mirrored-fetch -----------------------------------------------------------------

fn mirrored_fetch(bins: &Bins) -> crate::Result {
    const BODY: &str = "The same file, served by three mirrors.\n";
    let start_mirror = |latency_ms: u64| -> crate::Result<SiteHandle> {
        Site::fixed("text/plain; charset=utf-8", BODY)
            .serve(Duration::from_millis(latency_ms))
            .map_err(|err| format!("starting a mirror: {err}"))
    };
    let slow = start_mirror(900)?;
    let fast = start_mirror(150)?;
    let medium = start_mirror(450)?;
    let urls = [
        slow.url("/file.txt"),
        fast.url("/file.txt"),
        medium.url("/file.txt"),
    ];
    remark("three mirrors answer after 900 ms, 150 ms and 450 ms");

    show_command(&format!("mirrored-fetch {}", urls.join(" ")));
    let mut fetch = Proc::spawn(
        &bins.path("mirrored-fetch"),
        &urls,
        &workspace_root(),
        "mirrored-fetch",
    )?;
    fetch.close_stdin();
    fetch.expect_exit(0, PROMPTLY)?;
    let (stdout, _) = fetch.stdout.finish(PROMPTLY)?;
    let (stderr, _) = fetch.stderr.finish(PROMPTLY)?;
    show_output(&stdout);
    show_output(&stderr);
    check(stdout == BODY, || {
        format!("stdout {stdout:?} is not the mirrors' body")
    })?;
    check(stderr.contains(&format!("{} won after", urls[1])), || {
        format!("the fastest mirror, {}, did not win", urls[1])
    })?;
    for loser in [&slow, &medium] {
        let (stats, closed) = loser.wait_stats(PROMPTLY, |stats| {
            stats.requests == 1 && stats.in_flight == 0 && stats.aborted == 1
        });
        check(closed, || {
            format!(
                "the mirror at {} did not see its request abandoned: {stats:?}",
                loser.addr()
            )
        })?;
    }
    remark("both slower mirrors saw their connection closed before they could answer");
    for mirror in [slow, fast, medium] {
        mirror.stop();
    }
    Ok(())
}

// --- 8.9 and ex. 8.10: cancellation --------------------------------------------------------

fn cancellation(bins: &Bins) -> crate::Result {
    const IN_FLIGHT: usize = 20;
    let site = Site::generated(IN_FLIGHT)
        .serve(Duration::from_secs(30))
        .map_err(|err| format!("starting the site: {err}"))?;
    let urls: Vec<String> = (0..IN_FLIGHT)
        .map(|i| site.url(&format!("/page/{i}")))
        .collect();
    remark("a site that answers after 30 s; the crawl starts from 20 of its pages at once");
    show_command(&format!(
        "crawler {} ... {}    (then a key is pressed)",
        urls[0],
        urls[IN_FLIGHT - 1]
    ));
    let mut crawl = Proc::spawn(&bins.path("crawler"), &urls, &workspace_root(), "crawler")?;
    let (stats, all_waiting) = site.wait_stats(PROMPTLY, |stats| stats.in_flight == IN_FLIGHT);
    check(all_waiting, || {
        format!("expected {IN_FLIGHT} requests in flight, the site saw {stats:?}")
    })?;
    let pressed = Instant::now();
    crawl.send(b"\n")?;
    let (stdout, exited) = crawl.stdout.finish(PROMPTLY)?;
    let latency = exited.saturating_duration_since(pressed);
    crawl.expect_exit(130, PROMPTLY)?;
    let (stderr, _) = crawl.stderr.finish(PROMPTLY)?;
    show_output(&stdout);
    show_output(&stderr);
    let (stats, closed) = site.wait_stats(PROMPTLY, |stats| {
        stats.in_flight == 0 && stats.aborted == IN_FLIGHT as u64
    });
    check(closed, || {
        format!("the site did not see every connection closed: {stats:?}")
    })?;
    remark(&format!(
        "{IN_FLIGHT} requests were in flight; the crawler exited 130 {:.1} ms after the byte, and \
         the site saw all {IN_FLIGHT} connections closed",
        latency.as_secs_f64() * 1000.0
    ));
    site.stop();
    Ok(())
}
