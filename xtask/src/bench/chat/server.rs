//! The chat server under test: the release build (or `$CHAT_BIN`) on a free loopback port,
//! its log drained by a thread, its memory read from /proc, stopped by SIGINT.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::super::release_binary;

/// Log lines kept (arrivals and departures are not).
const LOG_LINES: usize = 10_000;

/// The binary and what its command line offers.
pub struct Binary {
    pub path: PathBuf,
    /// It takes `--engine events|threads` (a server without it has the thread engine only).
    pub engines: bool,
}

impl Binary {
    pub fn find() -> crate::Result<Binary> {
        let path = std::env::var_os("CHAT_BIN").map_or_else(|| release_binary("chat"), Into::into);
        let help = Command::new(&path)
            .arg("--help")
            .output()
            .map_err(|err| format!("{}: {err}", path.display()))?;
        let engines = String::from_utf8_lossy(&help.stdout).contains("--engine");
        Ok(Binary { path, engines })
    }
}

pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
    drain: Option<JoinHandle<()>>,
}

impl Server {
    /// Starts `engine` serving up to `max_clients`, with at most `fd_limit` descriptors.
    pub fn start(
        bin: &Binary,
        engine: &str,
        max_clients: usize,
        fd_limit: u64,
    ) -> crate::Result<Server> {
        let mut command = Command::new(&bin.path);
        command.args(["--addr", "127.0.0.1:0", "--idle-timeout", "1h"]);
        command.args(["--max-clients", &max_clients.to_string()]);
        if bin.engines {
            command.args(["--engine", engine]);
        }
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        // SAFETY: the hook runs in the child between fork and exec and only calls setrlimit,
        // which is async-signal-safe, on a struct on its own stack; it allocates nothing.
        unsafe {
            command.pre_exec(move || {
                let limit = libc::rlimit {
                    rlim_cur: fd_limit,
                    rlim_max: fd_limit,
                };
                libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
                Ok(())
            });
        }
        let mut child = command
            .spawn()
            .map_err(|err| format!("{}: {err}", bin.path.display()))?;
        let mut stderr = BufReader::new(child.stderr.take().ok_or("chat: no stderr")?);
        let mut first = String::new();
        let _ = stderr.read_line(&mut first);
        let addr = first.strip_prefix("chat: listening on ").and_then(|rest| {
            rest.split_whitespace()
                .next()?
                .trim_end_matches([',', ';'])
                .parse()
                .ok()
        });
        let Some(addr) = addr else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("chat's first log line was {first:?}"));
        };
        let log = Arc::new(Mutex::new(vec![first.trim_end().to_string()]));
        let kept = Arc::clone(&log);
        let drain = thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                let mut kept = kept.lock().unwrap_or_else(PoisonError::into_inner);
                if kept.len() < LOG_LINES
                    && !line.ends_with(" has arrived")
                    && !line.ends_with(" has left")
                {
                    kept.push(line);
                }
            }
        });
        Ok(Server {
            child,
            addr,
            log,
            drain: Some(drain),
        })
    }

    /// Resident memory, in KiB (VmRSS of /proc/PID/status).
    pub fn rss_kib(&self) -> crate::Result<u64> {
        let path = format!("/proc/{}/status", self.child.id());
        let text = std::fs::read_to_string(&path).map_err(|err| format!("{path}: {err}"))?;
        text.lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
            .ok_or_else(|| format!("{path}: no VmRSS"))
    }

    /// The first log line that `wanted` picks.
    pub fn logged(&self, wanted: impl Fn(&str) -> bool) -> Option<String> {
        let log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
        log.iter().find(|line| wanted(line)).cloned()
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
        while start.elapsed() < Duration::from_secs(10) {
            if let Some(status) = self
                .child
                .try_wait()
                .map_err(|err| format!("wait: {err}"))?
            {
                return Ok((status.to_string(), start.elapsed()));
            }
            thread::sleep(Duration::from_millis(1));
        }
        Err("chat did not exit within 10 s of SIGINT".into())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.alive() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        // Its stderr is closed now: the drain ends.
        if let Some(drain) = self.drain.take() {
            let _ = drain.join();
        }
    }
}
