//! What every benchmark shares: running a child and measuring it (wall time, CPU time and peak
//! memory from `wait4`, with an optional time limit), contestants run round by round in
//! alternation, the statistics and formatting of the report, the machine's load, and peers
//! found on PATH. (The servers are testkit's: `testkit::site`, `testkit::net::ServeOne`.)

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use super::Section;

/// What one run of a child process cost.
pub struct Measured {
    pub status: ExitStatus,
    /// When it was spawned (or the instant its latency is measured from).
    pub started: Instant,
    pub wall: Duration,
    /// User plus system time of the child and all its threads.
    pub cpu: Duration,
    /// Peak resident memory of the child, in KiB (from `wait4`'s rusage). An upper bound: Linux
    /// keeps the high-water mark of the memory the child was spawned from across its `exec`
    /// (std spawns with `vfork`-style sharing), so the figure is at least this process's own
    /// peak resident size at spawn time (measured: a child `true` of a 300 MiB parent reports
    /// 313 MiB).
    pub max_rss_kib: u64,
    /// It outlived its time limit and was killed.
    pub killed: bool,
}

impl Measured {
    pub fn wall_ms(&self) -> f64 {
        ms(self.wall)
    }

    /// When it was reaped.
    pub fn exited(&self) -> Instant {
        self.started + self.wall
    }
}

/// Runs `command` to completion (its stdio as configured by the caller) and measures it.
pub fn measure(command: &mut Command) -> crate::Result<Measured> {
    let start = Instant::now();
    let child = spawn(command)?;
    wait_measured(child, start)
}

/// Runs `command` with every stdio stream on /dev/null; a run that fails is an error.
pub fn measure_quiet(command: &mut Command) -> crate::Result<Measured> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let measured = measure(command)?;
    if !measured.status.success() {
        return Err(format!("{command:?} failed: {}", measured.status));
    }
    Ok(measured)
}

/// Spawns `command`; an error names the program.
pub fn spawn(command: &mut Command) -> crate::Result<Child> {
    command
        .spawn()
        .map_err(|err| format!("{}: {err}", command.get_program().to_string_lossy()))
}

/// Waits for a child started at `start`, reporting its wall time, CPU time and peak memory.
pub fn wait_measured(child: Child, start: Instant) -> crate::Result<Measured> {
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
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(format!("wait4: {err}"));
        }
    }
    let wall = start.elapsed();
    // The child is reaped; forgetting the handle keeps std from waiting on a recycled pid.
    std::mem::forget(child);
    let time = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    Ok(Measured {
        status: ExitStatus::from_raw(status),
        started: start,
        wall,
        cpu: time(usage.ru_utime) + time(usage.ru_stime),
        max_rss_kib: u64::try_from(usage.ru_maxrss).unwrap_or(0),
        killed: false,
    })
}

/// [`wait_measured`], killing the child (SIGKILL) if it runs past `limit` after `start`.
pub fn wait_limited(child: Child, start: Instant, limit: Duration) -> crate::Result<Measured> {
    let pid = child.id() as libc::pid_t;
    let (exited, timer) = mpsc::channel::<()>();
    let killer = thread::spawn(move || {
        let left = limit.saturating_sub(start.elapsed());
        let late = timer.recv_timeout(left).is_err();
        if late {
            // SAFETY: kill(2) on our own child, still unreaped: the caller is blocked in wait4
            // on it and only stops this timer after it exits.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        late
    });
    let measured = wait_measured(child, start);
    let _ = exited.send(());
    let killed = killer.join().unwrap_or(false);
    measured.map(|measured| Measured { killed, ..measured })
}

/// Runs `contestants` `rounds` times each, alternated: each round runs every contestant once,
/// starting one further along when `rotate` (so none always runs first). Returns each
/// contestant's samples.
pub fn alternate<T>(
    contestants: usize,
    rounds: usize,
    rotate: bool,
    mut run: impl FnMut(usize) -> crate::Result<T>,
) -> crate::Result<Vec<Vec<T>>> {
    let mut samples: Vec<Vec<T>> = (0..contestants).map(|_| Vec::new()).collect();
    for round in 0..rounds {
        for k in 0..contestants {
            let index = if rotate { (k + round) % contestants } else { k };
            samples[index].push(run(index)?);
        }
    }
    Ok(samples)
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

/// The largest sample (0 for none).
pub fn max(samples: &[f64]) -> f64 {
    samples.iter().copied().fold(0.0, f64::max)
}

/// The smallest sample (infinity for none).
pub fn min(samples: &[f64]) -> f64 {
    samples.iter().copied().fold(f64::INFINITY, f64::min)
}

/// Formats a ratio `ours / theirs` to two decimals ("n/a" without a peer).
pub fn ratio(ours: f64, theirs: Option<f64>) -> String {
    match theirs {
        Some(theirs) if theirs > 0.0 => format!("{:.2}", ours / theirs),
        _ => "n/a".into(),
    }
}

/// `n` with a comma every three digits, as the table's prose writes counts.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// A duration in milliseconds.
pub fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

/// The 1-minute load average when a benchmark starts, for the note that compares it with the
/// one at its end: other work on the machine moves every figure.
pub struct Load(String);

impl Load {
    pub fn now() -> Load {
        let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        Load(text.split_whitespace().next().unwrap_or("?").to_string())
    }

    /// Notes the load before and now, and `why` it matters to this benchmark.
    pub fn note(&self, section: &mut Section, why: &str) {
        section.note(self.since(why));
    }

    /// The load before and now, and `why` it matters.
    pub fn since(&self, why: &str) -> String {
        let Load(now) = Load::now();
        format!(
            "load average (1 min) before / after: {} / {now}: {why}",
            self.0
        )
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_written_with_commas() {
        assert_eq!(thousands(7), "7");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(200_000), "200,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
    }

    #[test]
    fn measure_reports_status_and_memory() {
        let measured = measure(Command::new("true").stdout(Stdio::null())).unwrap();
        assert!(measured.status.success() && !measured.killed);
        assert!(measured.max_rss_kib > 0);
    }

    #[test]
    fn a_run_past_its_limit_is_killed() {
        let start = Instant::now();
        let child = spawn(Command::new("sleep").arg("30")).unwrap();
        let measured = wait_limited(child, start, Duration::from_millis(100)).unwrap();
        assert!(measured.killed && !measured.status.success());
        assert!(
            measured.wall < Duration::from_secs(10),
            "{:?}",
            measured.wall
        );
    }

    #[test]
    fn cpu_time_is_counted() {
        let mut command = Command::new("sh");
        command.args(["-c", "i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done"]);
        let start = Instant::now();
        let measured = wait_limited(spawn(&mut command).unwrap(), start, Duration::from_secs(60));
        let measured = measured.unwrap();
        assert!(measured.status.success() && !measured.killed);
        assert!(measured.cpu > Duration::ZERO && measured.cpu <= measured.wall * 4);
    }

    #[test]
    fn alternation_rotates_the_first_contestant() {
        let mut order = Vec::new();
        let samples = alternate(3, 2, true, |index| {
            order.push(index);
            Ok(index)
        })
        .unwrap();
        assert_eq!(order, [0, 1, 2, 1, 2, 0]);
        assert_eq!(samples, [vec![0, 0], vec![1, 1], vec![2, 2]]);
    }
}
