//! `cargo xtask bench du4`: du4 against GNU `du -s` and `diskus -b` over a 200,000-file tree
//! (generated once under `target/bench/du4-tree`), warm cache, runs alternated; du4's thread
//! counts; du4's peak memory; cancellation latency (byte on stdin written to process exit).

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{Section, bench_dir, find_tool, measure, median, ratio, release_binary};

/// Files in the generated tree.
const FILES: usize = 200_000;
/// Timed runs per tool (alternated round by round).
const RUNS: usize = 9;
/// Cancellation samples.
const CANCELS: usize = 9;
/// Thread counts compared for du4's default.
const THREADS: [&str; 5] = ["1", "2", "4", "8", "16"];

pub fn run() -> crate::Result<Section> {
    let du4 = release_binary("du4");
    let load_before = load_average();
    let tree = generate_tree()?;
    let gnu_du = super::which("du");
    let diskus = find_tool("diskus", "cargo install diskus");

    // The contestants: (name, command line).
    let mut tools: Vec<(String, Vec<PathBuf>)> = vec![("du4".into(), vec![du4.clone()])];
    if let Some(du) = &gnu_du {
        tools.push(("du -s".into(), vec![du.clone(), "-s".into()]));
    }
    if let Some(diskus) = &diskus {
        tools.push(("diskus -b".into(), vec![diskus.clone(), "-b".into()]));
    }
    for threads in THREADS {
        tools.push((
            format!("du4 -j {threads}"),
            vec![du4.clone(), "-j".into(), threads.into()],
        ));
    }

    // Warm the cache (twice over, every tool) and check du4's count.
    let check = Command::new(&du4)
        .args(["-b".as_ref(), tree.as_os_str()])
        .stdin(Stdio::null())
        .output()
        .map_err(|err| format!("{}: {err}", du4.display()))?;
    let line = String::from_utf8_lossy(&check.stdout).trim().to_string();
    if !line.starts_with(&format!("{FILES} files  ")) {
        return Err(format!("du4 counted `{line}` in {}", tree.display()));
    }
    for _ in 0..2 {
        for (_, argv) in &tools {
            time_once(argv, &tree)?;
        }
    }

    let mut walls = vec![Vec::new(); tools.len()];
    let mut rss = vec![Vec::new(); tools.len()];
    for round in 0..RUNS {
        // Alternate: each round starts with a different tool.
        for k in 0..tools.len() {
            let index = (k + round) % tools.len();
            let (wall, kib) = time_once(&tools[index].1, &tree)?;
            walls[index].push(wall);
            rss[index].push(kib as f64);
        }
    }
    let medians: Vec<f64> = walls.iter().map(|w| median(w)).collect();
    let du_ms = gnu_du.as_ref().map(|_| medians[1]);
    let diskus_ms = diskus
        .as_ref()
        .map(|_| medians[if gnu_du.is_some() { 2 } else { 1 }]);

    let mut section = Section::new(
        "du4 (book 8.8-8.9): 200,000 files, warm cache",
        "cargo xtask bench du4",
        &[
            "tool",
            "median wall ms",
            "/ du -s",
            "/ diskus -b",
            "peak RSS MiB",
        ],
    );
    for (index, (name, _)) in tools.iter().enumerate() {
        section.row(vec![
            name.clone(),
            format!("{:.1}", medians[index]),
            ratio(medians[index], du_ms),
            ratio(medians[index], diskus_ms),
            format!("{:.1}", median(&rss[index]) / 1024.0),
        ]);
    }

    let cancels = cancel_latencies(&du4, &tree)?;
    let cancel_ms = median(&cancels);
    let max_cancel = cancels.iter().copied().fold(0.0, f64::max);
    section.row(vec![
        "du4 cancel: byte written to exit".into(),
        format!("{cancel_ms:.2}"),
        "-".into(),
        "-".into(),
        "-".into(),
    ]);

    let du4_ms = medians[0];
    let du4_rss = median(&rss[0]) / 1024.0;
    section.note(format!(
        "tree: {} ({FILES} files in 2,221 directories); {RUNS} runs per tool, alternated, after 2 warm-up rounds",
        tree.display()
    ));
    section.note(format!(
        "load average (1 min) before / after: {load_before} / {}: other work on the machine slows the parallel walkers most",
        load_average()
    ));
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    match diskus_ms {
        Some(d) => section.note(format!(
            "target du4 <= diskus -b: {} ({du4_ms:.1} vs {d:.1} ms)",
            verdict(du4_ms <= d)
        )),
        None => section.note("diskus not available: that comparison is missing"),
    }
    match du_ms {
        Some(d) => section.note(format!(
            "target du4 <= 0.75 x du -s: {} ({:.2} x)",
            verdict(du4_ms <= 0.75 * d),
            du4_ms / d
        )),
        None => section.note("GNU du not available: that comparison is missing"),
    }
    section.note(format!(
        "target peak RSS < 32 MiB: {} ({du4_rss:.1} MiB)",
        verdict(du4_rss < 32.0)
    ));
    section.note(format!(
        "target cancel < 20 ms: {} (median {cancel_ms:.2} ms, worst {max_cancel:.2} ms of {CANCELS})",
        verdict(cancel_ms < 20.0)
    ));
    Ok(section)
}

/// The 1-minute load average, as /proc/loadavg tells ("?" if unknown).
fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

/// Runs one tool over the tree, output discarded: (wall ms, peak RSS KiB).
fn time_once(argv: &[PathBuf], tree: &Path) -> crate::Result<(f64, u64)> {
    let mut command = Command::new(&argv[0]);
    command
        .args(&argv[1..])
        .arg(tree)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let measured = measure(&mut command)?;
    if !measured.status.success() {
        return Err(format!("{argv:?} failed: {}", measured.status));
    }
    Ok((measured.wall.as_secs_f64() * 1000.0, measured.max_rss_kib))
}

/// Cancellation latency samples, in ms: du4 walks the tree many times over; once its walk is
/// under way (a missing first root makes it print one error line before the walkers start, and
/// a further 20 ms pass), one byte is written to its stdin and the time to its exit is taken.
fn cancel_latencies(du4: &Path, tree: &Path) -> crate::Result<Vec<f64>> {
    let mut samples = Vec::new();
    for _ in 0..CANCELS {
        let mut child = Command::new(du4)
            .arg(tree.join("missing"))
            .args(std::iter::repeat_n(tree, 20))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|err| format!("{}: {err}", du4.display()))?;
        let mut stderr = BufReader::new(child.stderr.take().ok_or("no stderr")?);
        let mut line = String::new();
        stderr
            .read_line(&mut line)
            .map_err(|err| format!("du4 stderr: {err}"))?;
        // Well inside the walk (20 copies of the tree take about two seconds).
        std::thread::sleep(Duration::from_millis(20));
        let mut stdin = child.stdin.take().ok_or("no stdin")?;
        let start = Instant::now();
        stdin
            .write_all(b"x")
            .map_err(|err| format!("du4 stdin: {err}"))?;
        let measured = super::wait_measured(child, start)?;
        if measured.status.code() != Some(130) {
            return Err(format!(
                "du4 was not cancelled (status {}): is the tree too small?",
                measured.status
            ));
        }
        samples.push(measured.wall.as_secs_f64() * 1000.0);
    }
    Ok(samples)
}

/// The benchmark tree, generated once: 20 x 10 x 10 leaf directories of 100 files, sizes 0 to
/// 199 bytes (about 20 MB). A marker beside it says it is complete.
fn generate_tree() -> crate::Result<PathBuf> {
    let tree = bench_dir().join("du4-tree");
    let marker = bench_dir().join("du4-tree.complete");
    if marker.exists() {
        return Ok(tree);
    }
    eprintln!(
        "xtask bench du4: generating {FILES} files in {}",
        tree.display()
    );
    let fail = |path: &Path, err: std::io::Error| format!("{}: {err}", path.display());
    if tree.exists() {
        fs::remove_dir_all(&tree).map_err(|err| fail(&tree, err))?;
    }
    let content = [b'x'; 200];
    let mut n = 0;
    for a in 0..20 {
        for b in 0..10 {
            for c in 0..10 {
                let dir = tree.join(format!("a{a:02}/b{b}/c{c}"));
                fs::create_dir_all(&dir).map_err(|err| fail(&dir, err))?;
                for f in 0..FILES / 2000 {
                    let path = dir.join(format!("file{f:03}.dat"));
                    fs::write(&path, &content[..n % 200]).map_err(|err| fail(&path, err))?;
                    n += 1;
                }
            }
        }
    }
    fs::write(&marker, b"").map_err(|err| fail(&marker, err))?;
    Ok(tree)
}
