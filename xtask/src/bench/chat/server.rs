//! The chat server under test: this project's release build on a free loopback port (its log
//! read on a thread), or the book's chat on its fixed `localhost:8000`; its memory read from
//! /proc; stopped by SIGINT.

use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use testkit::child::{lines, wait_deadline};

use super::swarm::Protocol;

/// The longest wait for the server to listen, and for its exit after SIGINT.
const PATIENCE: Duration = Duration::from_secs(10);
/// Where the book's servers listen (chat, reverb), always, and its clients dial.
pub const BOOK_ADDR: &str = "127.0.0.1:8000";

/// The server to start for a scenario: which binary and engine (`None`: the book's chat, which
/// has no flags), at how many descriptors.
pub struct Setup<'a> {
    pub path: &'a Path,
    pub engine: Option<&'a str>,
    pub fds: u64,
}

impl Setup<'_> {
    /// The protocol the server speaks, for the load client.
    pub fn protocol(&self) -> Protocol {
        match self.engine {
            Some(_) => Protocol::Named,
            None => Protocol::Book,
        }
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
        let mut child = spawned.map_err(|err| format!("{}: {err}", setup.path.display()))?;
        let log = lines(child.stderr.take().ok_or("chat: no stderr")?);
        if setup.engine.is_none() {
            return match listening(&mut child) {
                Ok(addr) => Ok(Server {
                    child,
                    addr,
                    log,
                    kept: Vec::new(),
                }),
                Err(err) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    Err(err)
                }
            };
        }
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

/// The book's chat logs nothing when it listens: its address, once a connection is taken (the
/// probe is greeted and leaves before any client of the bench arrives).
fn listening(child: &mut Child) -> crate::Result<SocketAddr> {
    let addr: SocketAddr = BOOK_ADDR
        .parse()
        .map_err(|err| format!("{BOOK_ADDR}: {err}"))?;
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("the book's chat exited at once ({status})"));
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
            return Ok(addr);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(format!(
        "the book's chat took no connection on {addr} within {PATIENCE:?}"
    ))
}

/// The command line, and the descriptor limit set in the child before it runs.
fn command(setup: &Setup, max_clients: usize) -> Command {
    let mut command = Command::new(setup.path);
    if let Some(engine) = setup.engine {
        command.args(["--addr", "127.0.0.1:0", "--idle-timeout", "1h"]);
        command.args(["--engine", engine, "--max-clients"]);
        command.arg(max_clients.to_string());
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
