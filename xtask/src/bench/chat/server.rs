//! The chat server under test: the release build (or `$CHAT_BIN`) on a free loopback port,
//! its log read on a thread, its memory read from /proc, stopped by SIGINT.

use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use testkit::child::{lines, wait_deadline};

use super::super::release_binary;
use super::scenario::Setup;

/// The longest wait for the start-up line, and for the exit after SIGINT.
const PATIENCE: Duration = Duration::from_secs(10);

/// The binary and whether it takes `--engine events|threads` (an older server has the thread
/// engine only).
pub struct Binary {
    pub path: PathBuf,
    pub engines: bool,
}

impl Binary {
    pub fn find() -> crate::Result<Binary> {
        let path = std::env::var_os("CHAT_BIN").map_or_else(|| release_binary("chat"), Into::into);
        let help = Command::new(&path).arg("--help").output();
        let help = help.map_err(|err| format!("{}: {err}", path.display()))?;
        let engines = String::from_utf8_lossy(&help.stdout).contains("--engine");
        Ok(Binary { path, engines })
    }
}

pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    log: Receiver<String>,
    /// The log lines read so far, but for arrivals and departures.
    kept: Vec<String>,
}

impl Server {
    /// Starts the engine serving up to `max_clients`, with at most `setup.fds` descriptors.
    pub fn start(setup: &Setup, max_clients: usize) -> crate::Result<Server> {
        let spawned = command(setup, max_clients).spawn();
        let mut child = spawned.map_err(|err| format!("{}: {err}", setup.bin.path.display()))?;
        let log = lines(child.stderr.take().ok_or("chat: no stderr")?);
        let first = log.recv_timeout(PATIENCE).unwrap_or_default();
        let addr = first.strip_prefix("chat: listening on ").and_then(|rest| {
            let addr = rest.split_whitespace().next()?;
            addr.trim_end_matches([',', ';', ')']).parse().ok()
        });
        let Some(addr) = addr else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("chat's first log line was {first:?}"));
        };
        let kept = Vec::new();
        Ok(Server {
            child,
            addr,
            log,
            kept,
        })
    }

    /// Resident memory, in KiB (VmRSS of /proc/PID/status).
    pub fn rss_kib(&self) -> crate::Result<u64> {
        let path = format!("/proc/{}/status", self.child.id());
        let text = std::fs::read_to_string(&path).map_err(|err| format!("{path}: {err}"))?;
        let rss = text.lines().find_map(|line| line.strip_prefix("VmRSS:"));
        let rss = rss.and_then(|rest| rest.split_whitespace().next()?.parse().ok());
        rss.ok_or_else(|| format!("{path}: no VmRSS"))
    }

    /// Whether the log so far has a line that `wanted` picks.
    pub fn logged(&mut self, wanted: impl Fn(&str) -> bool) -> bool {
        let news = self.log.try_iter();
        let news =
            news.filter(|line| !line.ends_with(" has arrived") && !line.ends_with(" has left"));
        self.kept.extend(news);
        self.kept.iter().any(|line| wanted(line))
    }

    /// Whether it is still running (it has not crashed).
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGINT, then a bounded wait for the exit: its status and the time it took.
    pub fn interrupt(mut self) -> crate::Result<(String, Duration)> {
        let start = Instant::now();
        // SAFETY: kill(2) on our own child's pid with a valid signal; no memory involved.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGINT) };
        match wait_deadline(&mut self.child, PATIENCE) {
            Some(status) => Ok((status.to_string(), start.elapsed())),
            None => Err(format!(
                "no exit within {} s of SIGINT: killed",
                PATIENCE.as_secs()
            )),
        }
    }
}

/// The command line, and the descriptor limit set in the child before it runs.
fn command(setup: &Setup, max_clients: usize) -> Command {
    let mut command = Command::new(&setup.bin.path);
    command.args([
        "--addr",
        "127.0.0.1:0",
        "--idle-timeout",
        "1h",
        "--max-clients",
    ]);
    command.arg(max_clients.to_string());
    if setup.bin.engines {
        command.args(["--engine", setup.engine]);
    }
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let limit = libc::rlimit {
        rlim_cur: setup.fds,
        rlim_max: setup.fds,
    };
    // SAFETY: the hook runs in the child between fork and exec and only calls setrlimit,
    // which is async-signal-safe, with a struct it owns; it allocates nothing.
    unsafe {
        command.pre_exec(move || {
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
            Ok(())
        });
    }
    command
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.alive() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}
