//! Cancellation and the ends of a run: a byte on stdin and SIGINT stop a long walk (exit 130,
//! no total line, `du4: cancelled`); stdin at /dev/null does not cancel; `-v` prints running
//! totals on a slow walk, per root under `--per-root`, then the final lines; a closed stdout
//! (`| head -c1`) ends du4 quietly.

use std::io::Write;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::util::{
    BIG_DIRS, BIG_FILES_PER_DIR, big_tree, bytes_line, describe, du4, du4_run, lines,
    long_walk_roots, read_all, run, wait_deadline,
};

/// Copies of the big tree given as roots: a walk of a million entries, seconds long even in a
/// fast build, so a cancel sent once the walk is under way lands in the middle of it.
const COPIES: usize = 50;
/// Generous: "it happens", on a loaded CI machine. The benchmark measures the real latency.
const CANCEL_BOUND: Duration = Duration::from_secs(2);

/// Starts a long single-threaded walk whose first root is missing: the error line it prints on
/// stderr before any walker starts tells the test the walk is about to run.
fn start_long_walk(extra: &[&str]) -> (Child, String, std::sync::mpsc::Receiver<String>) {
    let missing = big_tree().join("missing");
    let mut command = du4();
    command
        .args(extra)
        .args(["-j", "1"])
        .arg(&missing)
        .args(long_walk_roots(COPIES))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let text = describe(&command);
    let mut child = command.spawn().unwrap();
    let stderr = lines(child.stderr.take().unwrap());
    let first = stderr.recv_timeout(Duration::from_secs(30));
    let expected = format!(
        "du4: {}: No such file or directory (os error 2)",
        missing.display()
    );
    assert_eq!(
        first.as_deref(),
        Ok(expected.as_str()),
        "{text}: no start signal"
    );
    (child, text, stderr)
}

/// Waits for a cancelled child and checks the cancelled ending.
fn expect_cancelled(
    mut child: Child,
    text: &str,
    stderr: std::sync::mpsc::Receiver<String>,
    since: Instant,
) {
    let stdout = read_all(child.stdout.take().unwrap());
    let status = wait_deadline(&mut child, Duration::from_secs(30));
    let elapsed = since.elapsed();
    let stdout = stdout
        .recv_timeout(Duration::from_secs(10))
        .unwrap_or_default();
    let stdout = String::from_utf8_lossy(&stdout);
    let rest = rest_of(&stderr);
    let report = format!(
        "command: {text}\nstatus: {status:?}\nstdout: {stdout:?}\nstderr after start: {rest:?}"
    );
    assert_eq!(status.and_then(|s| s.code()), Some(130), "{report}");
    assert!(
        !stdout.contains("total") && !stdout.contains(" files "),
        "printed a total\n{report}"
    );
    assert_eq!(rest, ["du4: cancelled"], "{report}");
    assert!(
        elapsed < CANCEL_BOUND,
        "took {elapsed:?} to cancel\n{report}"
    );
}

/// The remaining lines of a pipe read by `util::lines`, up to its end (bounded in time).
fn rest_of(lines: &std::sync::mpsc::Receiver<String>) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut rest = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match lines.recv_timeout(left) {
            Ok(line) => rest.push(line),
            Err(_) => break,
        }
    }
    rest
}

#[test]
fn a_byte_on_stdin_cancels_a_long_walk() {
    let (mut child, text, stderr) = start_long_walk(&[]);
    let mut stdin = child.stdin.take().unwrap();
    let since = Instant::now();
    stdin.write_all(b"x").unwrap();
    stdin.flush().unwrap();
    expect_cancelled(child, &text, stderr, since);
    drop(stdin);
}

#[test]
fn sigint_cancels_a_long_walk() {
    let (child, text, stderr) = start_long_walk(&[]);
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    let since = Instant::now();
    // SAFETY: kill(2) with a valid signal number and the pid of our own child, not yet reaped.
    let sent = unsafe { libc::kill(pid, libc::SIGINT) };
    assert_eq!(sent, 0, "kill: {}", std::io::Error::last_os_error());
    expect_cancelled(child, &text, stderr, since);
}

#[test]
fn stdin_at_dev_null_does_not_cancel() {
    let tree = big_tree();
    // `du4_run` puts stdin at /dev/null: end of file at once, which must not cancel.
    let out = du4_run(["-b".as_ref(), tree.as_os_str()]);
    out.expect_code(0);
    assert_eq!(
        out.stdout_lines(),
        [bytes_line(BIG_DIRS * BIG_FILES_PER_DIR + 1, 0)],
        "\n{out}"
    );
}

#[test]
fn verbose_prints_running_totals_on_a_slow_walk() {
    let (mut child, text, stderr) = start_long_walk(&["-v"]);
    let stdout = lines(child.stdout.take().unwrap());
    // The first tick comes 500 ms into the walk.
    let first = stdout.recv_timeout(Duration::from_secs(30));
    let mut stdin = child.stdin.take().unwrap();
    let _ = stdin.write_all(b"x");
    let status = wait_deadline(&mut child, Duration::from_secs(30));
    let report = format!(
        "command: {text}\nfirst line: {first:?}\nstatus: {status:?}\nstderr: {:?}",
        rest_of(&stderr)
    );
    let first = first.unwrap_or_else(|_| panic!("no running total\n{report}"));
    let (files, size) = first
        .split_once(" files  ")
        .unwrap_or_else(|| panic!("bad line\n{report}"));
    assert!(files.parse::<u64>().is_ok_and(|n| n > 0), "{report}");
    assert!(
        size.ends_with(" GB") && size.trim_end_matches(" GB").parse::<f64>().is_ok(),
        "{report}"
    );
    assert_eq!(status.and_then(|s| s.code()), Some(130), "{report}");
}

#[test]
fn verbose_per_root_prints_running_blocks_then_the_final_one_with_its_total() {
    // A walk of 40 copies of the big tree on one thread lasts seconds, so at least one tick
    // comes before the end; each tick prints one running line per root and no total.
    let copies = 40;
    let roots = long_walk_roots(copies);
    let out = run(du4()
        .args(["-v", "-b", "--per-root", "-j", "1"])
        .args(&roots)
        .stdin(Stdio::null()));
    out.expect_code(0);
    let per_root = BIG_DIRS * BIG_FILES_PER_DIR + 1;
    let root_line = |files: u64| format!("{}  {}", bytes_line(files, 0), roots[0].display());
    let lines = out.stdout_lines();
    let (running, last) = lines.split_at(lines.len().saturating_sub(copies + 1));
    let mut final_block = vec![root_line(per_root); copies];
    final_block.push(format!(
        "{}  total",
        bytes_line(per_root * copies as u64, 0)
    ));
    assert_eq!(last, final_block, "\n{out}");
    assert!(
        !running.is_empty() && running.len() % copies == 0,
        "expected whole running blocks of {copies} lines before the final one\n{out}"
    );
    for line in running {
        let files: u64 = line
            .split_once(" files  ")
            .and_then(|(files, _)| files.parse().ok())
            .unwrap_or_else(|| panic!("bad running line {line:?}\n{out}"));
        assert!(
            files <= per_root && !line.ends_with("total"),
            "{line:?}\n{out}"
        );
    }
}

#[test]
fn a_closed_stdout_ends_quietly() {
    // du4 -v ... | head -c1, with a real pipe: head leaves after one byte of the first tick, the
    // next write fails with a broken pipe, and du4 stops with status 0 and nothing on stderr.
    let mut du4 = du4();
    du4.arg("-v")
        .args(["-j", "1"])
        .args(long_walk_roots(COPIES))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let text = format!("{} | head -c1", describe(&du4));
    let mut child = du4.spawn().unwrap();
    let stderr = read_all(child.stderr.take().unwrap());
    let mut head = std::process::Command::new("head")
        .arg("-c1")
        .stdin(Stdio::from(child.stdout.take().unwrap()))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let head_out = read_all(head.stdout.take().unwrap());
    let status = wait_deadline(&mut child, Duration::from_secs(60));
    let head_status = wait_deadline(&mut head, Duration::from_secs(10));
    let stderr = stderr
        .recv_timeout(Duration::from_secs(10))
        .unwrap_or_default();
    let stderr = String::from_utf8_lossy(&stderr);
    let head_out = head_out
        .recv_timeout(Duration::from_secs(10))
        .unwrap_or_default();
    let report = format!(
        "command: {text}\ndu4: {status:?}\nhead: {head_status:?} {head_out:?}\nstderr: {stderr}"
    );
    assert_eq!(status.and_then(|s| s.code()), Some(0), "{report}");
    assert!(stderr.is_empty(), "{report}");
    assert_eq!(head_out.len(), 1, "{report}");
}
