//! `cargo xtask bench du4`: du4 against GNU `du -s` and `diskus -b` over a 200,000-file tree
//! (generated once under `target/bench/du4-tree`), warm cache, runs alternated; du4's thread
//! counts; du4's peak memory; cancellation latency (byte on stdin written to process exit).

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{
    Load, Measured, Section, alternate, bench_dir, find_tool, max, measure_quiet, median, ratio,
    release_binary, spawn, wait_measured, which,
};

/// Files in the generated tree.
pub const FILES: usize = 200_000;
/// Timed runs per tool (alternated round by round).
const RUNS: usize = 9;
/// Cancellation samples.
const CANCELS: usize = 9;
/// Thread counts compared for du4's default.
const THREADS: [&str; 5] = ["1", "2", "4", "8", "16"];

/// A contestant: its name in the report and its command line (the tree is appended).
type Tool = (String, Vec<PathBuf>);

pub fn run() -> crate::Result<Section> {
    let du4 = release_binary("du4");
    let load = Load::now();
    let tree = generate_tree()?;
    let (tools, du_index, diskus_index) = contestants(&du4);
    check_count(&du4, &tree)?;
    // Warm the cache (twice over, every tool).
    alternate(tools.len(), 2, false, |index| {
        time_once(&tools[index].1, &tree)
    })?;
    let samples = alternate(tools.len(), RUNS, true, |index| {
        time_once(&tools[index].1, &tree)
    })?;
    let medians = |figure: fn(&(f64, f64)) -> f64| -> Vec<f64> {
        let figures = |s: &Vec<(f64, f64)>| s.iter().map(figure).collect::<Vec<f64>>();
        samples.iter().map(|s| median(&figures(s))).collect()
    };
    let walls = medians(|sample| sample.0);
    let rss: Vec<f64> = medians(|sample| sample.1 / 1024.0);
    let du_ms = du_index.map(|index| walls[index]);
    let diskus_ms = diskus_index.map(|index| walls[index]);

    let mut section = table(&tools, &walls, &rss, du_ms, diskus_ms);
    let cancels = cancel_latencies(&du4, &tree, CANCELS)?
        .iter()
        .map(|measured| match measured.status.code() {
            Some(130) => Ok(measured.wall_ms()),
            _ => Err(format!(
                "du4 was not cancelled (status {}): is the tree too small?",
                measured.status
            )),
        })
        .collect::<crate::Result<Vec<f64>>>()?;
    let cancel_ms = median(&cancels);
    let dash = || "-".to_string();
    section.row(vec![
        "du4 cancel: byte written to exit".into(),
        format!("{cancel_ms:.2}"),
        dash(),
        dash(),
        dash(),
    ]);
    section.note(format!(
        "tree: {} ({FILES} files in 2,221 directories); {RUNS} runs per tool, alternated, after 2 warm-up rounds",
        tree.display()
    ));
    load.note(
        &mut section,
        "other work on the machine slows the parallel walkers most",
    );
    section.note(format!(
        "du4 cancel: median {cancel_ms:.2} ms, worst {:.2} ms of {CANCELS}",
        max(&cancels)
    ));
    missing_peers(&mut section, du_ms, diskus_ms);
    section.note("targets: docs/SPEC.md (du4); the Go original: `cargo xtask compare`");
    Ok(section)
}

/// The table: one row per contestant.
fn table(
    tools: &[Tool],
    walls: &[f64],
    rss: &[f64],
    du_ms: Option<f64>,
    diskus_ms: Option<f64>,
) -> Section {
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
            format!("{:.1}", walls[index]),
            ratio(walls[index], du_ms),
            ratio(walls[index], diskus_ms),
            format!("{:.1}", rss[index]),
        ]);
    }
    section
}

/// du4, the peers found, and du4 at each thread count; with the peers' places in the list.
fn contestants(du4: &Path) -> (Vec<Tool>, Option<usize>, Option<usize>) {
    let mut tools: Vec<Tool> = vec![("du4".into(), vec![du4.into()])];
    fn add(tools: &mut Vec<Tool>, name: &str, argv: Vec<PathBuf>) -> usize {
        tools.push((name.into(), argv));
        tools.len() - 1
    }
    let du = which("du").map(|du| add(&mut tools, "du -s", vec![du, "-s".into()]));
    let diskus = find_tool("diskus", "cargo install diskus")
        .map(|diskus| add(&mut tools, "diskus -b", vec![diskus, "-b".into()]));
    for threads in THREADS {
        let argv = vec![du4.into(), "-j".into(), threads.into()];
        add(&mut tools, &format!("du4 -j {threads}"), argv);
    }
    (tools, du, diskus)
}

/// Notes the peers that are missing, whose ratio columns then say n/a.
fn missing_peers(section: &mut Section, du_ms: Option<f64>, diskus_ms: Option<f64>) {
    if diskus_ms.is_none() {
        section.note("diskus not available: that comparison is missing");
    }
    if du_ms.is_none() {
        section.note("GNU du not available: that comparison is missing");
    }
}

/// du4 counts every file of the tree (else the tree is incomplete and the figures meaningless).
fn check_count(du4: &Path, tree: &Path) -> crate::Result {
    let check = Command::new(du4)
        .args(["-b".as_ref(), tree.as_os_str()])
        .stdin(Stdio::null())
        .output()
        .map_err(|err| format!("{}: {err}", du4.display()))?;
    let line = String::from_utf8_lossy(&check.stdout).trim().to_string();
    if !line.starts_with(&format!("{FILES} files  ")) {
        return Err(format!("du4 counted `{line}` in {}", tree.display()));
    }
    Ok(())
}

/// Runs one tool over the tree, output discarded: (wall ms, peak RSS KiB).
fn time_once(argv: &[PathBuf], tree: &Path) -> crate::Result<(f64, f64)> {
    let measured = measure_quiet(Command::new(&argv[0]).args(&argv[1..]).arg(tree))?;
    Ok((measured.wall_ms(), measured.max_rss_kib as f64))
}

/// `count` cancellations, each measured from the byte written to the exit: du4 (this project's or
/// the book's) walks the tree many times over; once its walk is under way (a missing first root
/// makes it print one error line as the walk starts, and a further 20 ms pass), one byte is
/// written to its stdin.
pub fn cancel_latencies(du4: &Path, tree: &Path, count: usize) -> crate::Result<Vec<Measured>> {
    let mut samples = Vec::new();
    for _ in 0..count {
        let mut child = spawn(
            Command::new(du4)
                .arg(tree.join("missing"))
                .args(std::iter::repeat_n(tree, 20))
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::piped()),
        )?;
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
        samples.push(wait_measured(child, start)?);
    }
    Ok(samples)
}

/// The benchmark tree, generated once: 20 x 10 x 10 leaf directories of 100 files, sizes 0 to
/// 199 bytes (about 20 MB). A marker beside it says it is complete.
pub fn generate_tree() -> crate::Result<PathBuf> {
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
    for leaf in 0..FILES / 100 {
        let (a, b, c) = (leaf / 100, leaf / 10 % 10, leaf % 10);
        let dir = tree.join(format!("a{a:02}/b{b}/c{c}"));
        fs::create_dir_all(&dir).map_err(|err| fail(&dir, err))?;
        for f in 0..100 {
            let path = dir.join(format!("file{f:03}.dat"));
            let n = leaf * 100 + f;
            fs::write(&path, &content[..n % 200]).map_err(|err| fail(&path, err))?;
        }
    }
    fs::write(&marker, b"").map_err(|err| fail(&marker, err))?;
    Ok(tree)
}
