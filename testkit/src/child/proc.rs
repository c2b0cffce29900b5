//! A running child whose output streams are read from the start, each by a thread of its own, so
//! a chatty child never blocks on a full pipe and a caller can wait for a given text with a
//! deadline ([`Stream::expect`]); dropping a [`Proc`] kills the child if it still runs.
//! Errors are one-line strings naming the child, so a tool prints them and a test unwraps them.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::{describe, wait_deadline};

/// What a [`Proc`] step reports when it fails: one line naming the child.
pub type Result<T = ()> = std::result::Result<T, String>;

/// Everything a stream has produced so far, and whether it has ended (and when).
#[derive(Default)]
struct State {
    bytes: Vec<u8>,
    /// How far [`Stream::expect`] and [`Stream::finish`] have read.
    consumed: usize,
    ended: Option<Instant>,
}

/// One output stream of a child, read to its end by a thread of its own.
pub struct Stream {
    state: Arc<(Mutex<State>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

fn lock(mutex: &Mutex<State>) -> MutexGuard<'_, State> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Stream {
    /// Starts reading `reader` to its end on a thread.
    pub fn start(mut reader: impl Read + Send + 'static) -> Stream {
        let state = Arc::new((Mutex::new(State::default()), Condvar::new()));
        let shared = Arc::clone(&state);
        let thread = thread::spawn(move || {
            let mut buf = [0u8; 8192];
            loop {
                let n = reader.read(&mut buf).unwrap_or(0);
                let mut state = lock(&shared.0);
                if n == 0 {
                    state.ended = Some(Instant::now());
                } else {
                    state.bytes.extend_from_slice(&buf[..n]);
                }
                shared.1.notify_all();
                if n == 0 {
                    return;
                }
            }
        });
        Stream {
            state,
            thread: Some(thread),
        }
    }

    /// Waits (at most `timeout`) until `ready` returns a value for the state, or the time is up
    /// (then `ready` is asked once more with `timed_out` true and must answer).
    fn wait_for<T>(
        &self,
        timeout: Duration,
        mut ready: impl FnMut(&mut State, bool) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + timeout;
        let (mutex, changed) = &*self.state;
        let mut state = lock(mutex);
        loop {
            let now = Instant::now();
            if let Some(found) = ready(&mut state, now >= deadline) {
                return found;
            }
            state = changed
                .wait_timeout(state, deadline.saturating_duration_since(now))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Waits until the unread output contains `needle`; returns the unread text up to and
    /// including it, and marks it read.
    pub fn expect(&self, needle: &str, timeout: Duration) -> Result<String> {
        self.wait_for(timeout, |state, timed_out| {
            let unread = &state.bytes[state.consumed..];
            if let Some(at) = find(unread, needle.as_bytes()) {
                let end = state.consumed + at + needle.len();
                let text = String::from_utf8_lossy(&state.bytes[state.consumed..end]).into_owned();
                state.consumed = end;
                return Some(Ok(text));
            }
            let why = match (state.ended, timed_out) {
                (Some(_), _) => "the stream ended",
                (None, true) => "timed out",
                (None, false) => return None,
            };
            Some(Err(format!(
                "expected {needle:?} within {timeout:?}, {why}; got {:?}",
                String::from_utf8_lossy(unread)
            )))
        })
    }

    /// Waits for the end of the stream; returns the unread bytes and when the stream ended.
    pub fn finish_bytes(&self, timeout: Duration) -> Result<(Vec<u8>, Instant)> {
        self.wait_for(timeout, |state, timed_out| match state.ended {
            Some(ended) => {
                let rest = state.bytes[state.consumed..].to_vec();
                state.consumed = state.bytes.len();
                Some(Ok((rest, ended)))
            }
            None if timed_out => Some(Err(format!("the stream did not end within {timeout:?}"))),
            None => None,
        })
    }

    /// [`Stream::finish_bytes`], as text (lossily).
    pub fn finish(&self, timeout: Duration) -> Result<(String, Instant)> {
        let (bytes, ended) = self.finish_bytes(timeout)?;
        Ok((String::from_utf8_lossy(&bytes).into_owned(), ended))
    }

    /// Everything the stream produced so far, read or not.
    pub fn all(&self) -> String {
        String::from_utf8_lossy(&lock(&self.state.0).bytes).into_owned()
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        // The reader ends at end of file, which comes once the child is gone (a Proc kills it
        // first); a grandchild holding the pipe open would keep it.
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// A running child, stdout and stderr read from the start. Dropping it kills the child if it
/// still runs.
pub struct Proc {
    /// Names the child in every error (the command line unless given).
    pub label: String,
    child: Child,
    stdin: Option<ChildStdin>,
    pub stdout: Stream,
    pub stderr: Stream,
    /// When it was spawned.
    pub started: Instant,
    status: Option<ExitStatus>,
}

impl Proc {
    /// Starts `program` with `args` in `dir`, every stdio stream piped.
    pub fn spawn<S: AsRef<OsStr>>(
        program: &Path,
        args: &[S],
        dir: &Path,
        label: &str,
    ) -> Result<Proc> {
        let mut command = Command::new(program);
        command.args(args).current_dir(dir);
        Proc::start(&mut command, Stdio::piped(), Some(label))
    }

    /// Starts `command` with `stdin` (a pipe, kept for [`Proc::send`], or a file, or null),
    /// stdout and stderr piped and read from now on; `label` names it in errors (its command
    /// line when `None`).
    pub fn start(command: &mut Command, stdin: Stdio, label: Option<&str>) -> Result<Proc> {
        Proc::start_to(command, stdin, Stdio::piped(), label)
    }

    /// [`Proc::start`] with stdout sent to `stdout` (a file, say); when that is not a pipe,
    /// [`Proc::stdout`] is empty and ends at once.
    pub fn start_to(
        command: &mut Command,
        stdin: Stdio,
        stdout: Stdio,
        label: Option<&str>,
    ) -> Result<Proc> {
        let label = label.map_or_else(|| describe(command), str::to_string);
        command.stdin(stdin).stdout(stdout).stderr(Stdio::piped());
        // A test run started in the background (`nohup`, `&` without job control) ignores
        // SIGINT and passes that on; the child gets the default a terminal gives it, so that
        // `interrupt` means Ctrl-C.
        // SAFETY: the closure runs in the forked child before exec and calls only `signal`
        // (sigaction), which is async-signal-safe and touches no memory of the parent.
        unsafe {
            command.pre_exec(|| {
                libc::signal(libc::SIGINT, libc::SIG_DFL);
                Ok(())
            });
        }
        let started = Instant::now();
        let mut child = command.spawn().map_err(|err| format!("{label}: {err}"))?;
        let stdin = child.stdin.take();
        let stdout = match child.stdout.take() {
            Some(pipe) => Stream::start(pipe),
            None => Stream::start(std::io::empty()),
        };
        let stderr = Stream::start(child.stderr.take().ok_or("no stderr pipe")?);
        Ok(Proc {
            label,
            child,
            stdin,
            stdout,
            stderr,
            started,
            status: None,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Writes `bytes` to the child's stdin.
    pub fn send(&mut self, bytes: &[u8]) -> Result {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| format!("{}: stdin not piped or closed", self.label))?;
        stdin
            .write_all(bytes)
            .and_then(|()| stdin.flush())
            .map_err(|err| format!("{}: writing to its stdin: {err}", self.label))
    }

    /// The child's stdin, for a writer of its own (a thread feeding it, say).
    pub fn take_stdin(&mut self) -> Option<ChildStdin> {
        self.stdin.take()
    }

    /// Closes the child's stdin: it reads end of file.
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Sends SIGINT, as Ctrl-C in its terminal would.
    pub fn interrupt(&self) -> Result {
        super::interrupt(self.pid()).map_err(|err| format!("{}: {err}", self.label))
    }

    /// Peak resident memory so far, in KiB ([`super::peak_rss_kib`]).
    pub fn peak_rss_kib(&self) -> Result<u64> {
        super::peak_rss_kib(self.pid()).map_err(|err| format!("{}: {err}", self.label))
    }

    /// Waits for the child to exit, at most `timeout` (it is killed after that).
    pub fn wait(&mut self, timeout: Duration) -> Result<ExitStatus> {
        if self.status.is_none() {
            self.status = Some(
                wait_deadline(&mut self.child, timeout)
                    .ok_or_else(|| format!("{} did not exit within {timeout:?}", self.label))?,
            );
        }
        Ok(self.status.expect("set above"))
    }

    /// Waits for the child to exit with `code` (within `timeout`).
    pub fn expect_exit(&mut self, code: i32, timeout: Duration) -> Result {
        let status = self.wait(timeout)?;
        if status.code() == Some(code) {
            return Ok(());
        }
        Err(format!(
            "{} exited with {status}, expected code {code}; its stderr: {:?}",
            self.label,
            self.stderr.all()
        ))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stdin = None;
        if self.status.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs `program` to its end (stdin empty), at most `timeout`: (exit code, stdout, stderr).
pub fn output<S: AsRef<OsStr>>(
    program: &Path,
    args: &[S],
    dir: &Path,
    timeout: Duration,
) -> Result<(i32, String, String)> {
    let label = program.file_name().map_or_else(
        || program.display().to_string(),
        |name| name.to_string_lossy().into_owned(),
    );
    let mut proc = Proc::spawn(program, args, dir, &label)?;
    proc.close_stdin();
    let status = proc.wait(timeout)?;
    let (stdout, _) = proc.stdout.finish(Duration::from_secs(5))?;
    let (stderr, _) = proc.stderr.finish(Duration::from_secs(5))?;
    let code = status
        .code()
        .ok_or_else(|| format!("{label} was killed by a signal ({status})"))?;
    Ok((code, stdout, stderr))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: Duration = Duration::from_secs(10);

    #[test]
    fn a_dialogue_with_a_shell_then_its_exit() {
        let mut command = Command::new("sh");
        command.args([
            "-c",
            "echo ready; read line; echo got $line; echo oops >&2; exit 3",
        ]);
        let mut proc = Proc::start(&mut command, Stdio::piped(), None).unwrap();
        assert_eq!(proc.stdout.expect("ready\n", LIMIT).unwrap(), "ready\n");
        proc.send(b"it\n").unwrap();
        assert!(proc.stdout.expect("got it", LIMIT).is_ok());
        assert!(proc.expect_exit(0, LIMIT).unwrap_err().contains("oops"));
        assert_eq!(proc.wait(LIMIT).unwrap().code(), Some(3));
        assert_eq!(proc.stderr.finish(LIMIT).unwrap().0, "oops\n");
        assert!(
            proc.stdout
                .expect("more", LIMIT)
                .unwrap_err()
                .contains("ended")
        );
    }

    #[test]
    fn sigint_ends_a_sleeper_and_a_hang_is_an_error() {
        let mut command = Command::new("sleep");
        command.arg("30");
        let mut proc = Proc::start(&mut command, Stdio::null(), Some("sleeper")).unwrap();
        let err = proc.wait(Duration::from_millis(50)).unwrap_err();
        assert_eq!(err, "sleeper did not exit within 50ms");
        let mut proc = Proc::start(&mut command, Stdio::null(), None).unwrap();
        assert!(proc.peak_rss_kib().unwrap() > 0);
        proc.interrupt().unwrap();
        assert!(!proc.wait(LIMIT).unwrap().success());
    }
}
