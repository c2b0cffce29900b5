//! Child processes for the tour: output captured by a thread per stream (so a chatty child never
//! blocks on a full pipe), waits bounded in time, and a kill on drop so a failed step leaves no
//! process behind.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Everything a stream has produced so far, and whether it has ended (and when).
#[derive(Default)]
struct CaptureState {
    bytes: Vec<u8>,
    /// How far [`Captured::expect`] has read.
    consumed: usize,
    ended: Option<Instant>,
}

/// One output stream of a child, read to its end by a thread of its own.
pub struct Captured {
    state: Arc<(Mutex<CaptureState>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

fn lock(mutex: &Mutex<CaptureState>) -> MutexGuard<'_, CaptureState> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Captured {
    fn start(mut reader: impl Read + Send + 'static) -> Captured {
        let state = Arc::new((Mutex::new(CaptureState::default()), Condvar::new()));
        let shared = Arc::clone(&state);
        let thread = thread::spawn(move || {
            let mut buf = [0u8; 8192];
            loop {
                let n = match reader.read(&mut buf) {
                    Ok(0) | Err(_) => 0,
                    Ok(n) => n,
                };
                let mut state = lock(&shared.0);
                if n == 0 {
                    state.ended = Some(Instant::now());
                    shared.1.notify_all();
                    return;
                }
                state.bytes.extend_from_slice(&buf[..n]);
                shared.1.notify_all();
            }
        });
        Captured {
            state,
            thread: Some(thread),
        }
    }

    /// Waits until the unread output contains `needle`; returns the unread text up to and
    /// including it, and marks it read.
    pub fn expect(&self, needle: &str, timeout: Duration) -> crate::Result<String> {
        let deadline = Instant::now() + timeout;
        let (mutex, changed) = &*self.state;
        let mut state = lock(mutex);
        loop {
            let unread = &state.bytes[state.consumed..];
            if let Some(at) = find(unread, needle.as_bytes()) {
                let end = state.consumed + at + needle.len();
                let text = String::from_utf8_lossy(&state.bytes[state.consumed..end]).into_owned();
                state.consumed = end;
                return Ok(text);
            }
            let now = Instant::now();
            if state.ended.is_some() || now >= deadline {
                let why = if state.ended.is_some() {
                    "the stream ended"
                } else {
                    "timed out"
                };
                return Err(format!(
                    "expected {needle:?} within {timeout:?}, {why}; got {:?}",
                    String::from_utf8_lossy(unread)
                ));
            }
            state = changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Waits for the end of the stream; returns the unread text and when the stream ended.
    pub fn finish(&self, timeout: Duration) -> crate::Result<(String, Instant)> {
        let deadline = Instant::now() + timeout;
        let (mutex, changed) = &*self.state;
        let mut state = lock(mutex);
        loop {
            if let Some(ended) = state.ended {
                let text = String::from_utf8_lossy(&state.bytes[state.consumed..]).into_owned();
                state.consumed = state.bytes.len();
                return Ok((text, ended));
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(format!("the stream did not end within {timeout:?}"));
            }
            state = changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Everything the stream produced so far.
    pub fn all(&self) -> String {
        String::from_utf8_lossy(&lock(&self.state.0).bytes).into_owned()
    }
}

impl Drop for Captured {
    fn drop(&mut self) {
        // The reader ends at end of file, which comes once the child is gone (Proc kills it
        // first). A grandchild holding the pipe open is not a case the tour creates.
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

/// A running child with piped stdio. Dropping it kills the child if it still runs.
pub struct Proc {
    pub label: String,
    child: Child,
    stdin: Option<ChildStdin>,
    pub stdout: Captured,
    pub stderr: Captured,
    status: Option<ExitStatus>,
}

impl Proc {
    /// Starts `program` with `args` in `dir`, every stdio stream piped.
    pub fn spawn<S: AsRef<OsStr>>(
        program: &Path,
        args: &[S],
        dir: &Path,
        label: &str,
    ) -> crate::Result<Proc> {
        let mut child = Command::new(program)
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|err| format!("{}: {err}", program.display()))?;
        let stdin = child.stdin.take();
        let stdout = Captured::start(child.stdout.take().ok_or("no stdout pipe")?);
        let stderr = Captured::start(child.stderr.take().ok_or("no stderr pipe")?);
        Ok(Proc {
            label: label.into(),
            child,
            stdin,
            stdout,
            stderr,
            status: None,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Writes `bytes` to the child's stdin.
    pub fn send(&mut self, bytes: &[u8]) -> crate::Result {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| format!("{}: stdin already closed", self.label))?;
        stdin
            .write_all(bytes)
            .and_then(|()| stdin.flush())
            .map_err(|err| format!("{}: writing to its stdin: {err}", self.label))
    }

    /// Closes the child's stdin: it reads end of file.
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Waits for the child to exit, at most `timeout` (it is killed after that).
    pub fn wait(&mut self, timeout: Duration) -> crate::Result<ExitStatus> {
        if let Some(status) = self.status {
            return Ok(status);
        }
        let deadline = Instant::now() + timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    self.status = Some(status);
                    return Ok(status);
                }
                Ok(None) if Instant::now() < deadline => {
                    thread::sleep(Duration::from_millis(2));
                }
                Ok(None) => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return Err(format!("{} did not exit within {timeout:?}", self.label));
                }
                Err(err) => return Err(format!("{}: wait: {err}", self.label)),
            }
        }
    }

    /// Waits for the child to exit with `code` (within `timeout`).
    pub fn expect_exit(&mut self, code: i32, timeout: Duration) -> crate::Result {
        let status = self.wait(timeout)?;
        if status.code() == Some(code) {
            Ok(())
        } else {
            Err(format!(
                "{} exited with {status}, expected code {code}; its stderr: {:?}",
                self.label,
                self.stderr.all()
            ))
        }
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

/// Runs `program` to completion (stdin empty), at most `timeout`: (exit code, stdout, stderr).
pub fn run<S: AsRef<OsStr>>(
    program: &Path,
    args: &[S],
    dir: &Path,
    timeout: Duration,
) -> crate::Result<(i32, String, String)> {
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
