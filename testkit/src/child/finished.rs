//! A finished run of a [`Proc`] whose stdout may be binary, kept whole so that a failed
//! assertion about it prints everything known about the run ([`Finished::fail`]).

use std::fmt;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use super::{Proc, READERS_GRACE};

/// How much of stdout a failure message shows (it may be megabytes of binary).
const SHOWN: usize = 400;

/// How a [`Proc`] ended, with what it wrote.
pub struct Finished {
    /// The child's label (its command line unless given).
    pub command: String,
    pub status: ExitStatus,
    /// What it wrote to stdout and had not been read yet.
    pub stdout: Vec<u8>,
    pub stderr: String,
    /// From the given start (its spawn, say) to its exit.
    pub took: Duration,
}

impl Finished {
    /// Waits at most `limit` for `proc` to exit, then collects its output; `took` counts from
    /// `since`. Panics, failing the test with its output, if it does not exit in time (it is
    /// killed).
    pub fn of(mut proc: Proc, limit: Duration, since: Instant) -> Finished {
        let status = proc.wait(limit);
        let took = since.elapsed();
        let stdout = proc
            .stdout
            .finish_bytes(READERS_GRACE)
            .map_or_else(|_| proc.stdout.all().into_bytes(), |(bytes, _)| bytes);
        let stderr = proc
            .stderr
            .finish(READERS_GRACE)
            .map_or_else(|_| proc.stderr.all(), |(text, _)| text);
        match status {
            Ok(status) => Finished {
                command: proc.label.clone(),
                status,
                stdout,
                stderr,
                took,
            },
            Err(why) => panic!("{why}\n{}", Output(&stdout, &stderr)),
        }
    }

    /// Panics with `why` and everything known about the run.
    pub fn fail(&self, why: &str) -> ! {
        panic!("{why}\n{self}")
    }

    /// Asserts the exit code, printing the whole run if it differs.
    pub fn expect_code(&self, code: i32) -> &Finished {
        if self.status.code() != Some(code) {
            self.fail(&format!("expected exit code {code}"));
        }
        self
    }

    /// Asserts that stderr is exactly one line, starting with `prefix`.
    pub fn expect_one_error_line(&self, prefix: &str) -> &Finished {
        let lines: Vec<&str> = self.stderr.lines().collect();
        if lines.len() != 1 || !lines[0].starts_with(prefix) {
            self.fail(&format!(
                "expected one stderr line starting with {prefix:?}"
            ));
        }
        self
    }
}

impl fmt::Display for Finished {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "command: {}", self.command)?;
        writeln!(f, "status: {} after {:?}", self.status, self.took)?;
        write!(f, "{}", Output(&self.stdout, &self.stderr))
    }
}

/// A run's stdout (its first [`SHOWN`] bytes, lossily) and stderr, for a failure message.
struct Output<'a>(&'a [u8], &'a str);

impl fmt::Display for Output<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Output(stdout, stderr) = *self;
        let shown = String::from_utf8_lossy(&stdout[..stdout.len().min(SHOWN)]);
        writeln!(f, "--- stdout ({} bytes) ---\n{shown}", stdout.len())?;
        write!(f, "--- stderr ---\n{stderr}")
    }
}

#[cfg(test)]
mod tests {
    use std::process::{Command, Stdio};

    use super::*;

    const LIMIT: Duration = Duration::from_secs(10);

    #[test]
    fn a_run_is_kept_whole_and_a_failure_shows_it() {
        let mut command = Command::new("sh");
        command.args(["-c", "printf 'out\\0'; echo 'sh: bad' >&2; exit 2"]);
        let proc = Proc::start(&mut command, Stdio::null(), Some("sh bad")).unwrap();
        let started = proc.started;
        let run = Finished::of(proc, LIMIT, started);
        run.expect_code(2).expect_one_error_line("sh: ");
        assert_eq!(run.stdout, b"out\0");
        let shown = run.to_string();
        assert!(shown.starts_with("command: sh bad\n"), "{shown}");
        assert!(shown.contains("--- stdout (4 bytes) ---\nout"), "{shown}");
        assert!(shown.ends_with("--- stderr ---\nsh: bad\n"), "{shown}");
        let failed = std::panic::catch_unwind(|| run.expect_code(0));
        assert!(failed.is_err());
    }

    #[test]
    fn a_run_that_does_not_exit_in_time_fails_with_its_output() {
        let mut command = Command::new("sh");
        command.args(["-c", "echo started; exec sleep 30"]);
        let proc = Proc::start(&mut command, Stdio::null(), Some("sleeper")).unwrap();
        proc.stdout.expect("started", LIMIT).unwrap();
        let failed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let since = Instant::now();
            Finished::of(proc, Duration::from_millis(50), since)
        }));
        let why = failed.err().and_then(|why| why.downcast::<String>().ok());
        assert!(
            why.as_deref()
                .is_some_and(|why| why.starts_with("sleeper did not exit")),
            "{why:?}"
        );
    }
}
