//! Conventions every binary shares (SPEC.md, "Common to every binary").
//!
//! - Exit codes: [`SUCCESS`], [`FAILURE`] (a runtime error), [`USAGE`] (clap's own exit code for
//!   a bad command line), [`CANCELLED`] (a stdin byte or Ctrl-C; 128 + SIGINT, as shells do).
//! - An error is one line on stderr: `PROGRAM: what: why` ([`error`]).
//! - Writing to a closed stdout (`| head`) is a normal way to end ([`is_broken_pipe`]): the program
//!   stops quietly with status 0, as ripgrep does.
//! - [`status`]: the mapping of a run's [`Ending`] (or its I/O error) to the exit status, which
//!   every `main` shares.

use std::fmt::Display;
use std::io::{self, Write};
use std::process::ExitCode;

/// Everything worked.
pub const SUCCESS: i32 = 0;
/// A runtime error (for du4: some entries could not be read).
pub const FAILURE: i32 = 1;
/// A bad command line (clap exits with this itself).
pub const USAGE: i32 = 2;
/// Cancelled by a byte on stdin or by Ctrl-C.
pub const CANCELLED: i32 = 130;

/// Prints the one-line error `PROGRAM: MESSAGE` on stderr. Build the message as `what: why`.
///
/// Never panics: unlike `eprintln!`, which panics when stderr is a closed pipe
/// (`prog 2>&1 | head -1`), a failed write to stderr is ignored (there is nowhere left to say it).
pub fn error(program: &str, message: impl Display) {
    let _ = writeln!(io::stderr().lock(), "{program}: {message}");
}

/// `err` with what failed in front of why (`WHAT: WHY`), its kind kept, so that [`status`]
/// prints `PROGRAM: WHAT: WHY` and still knows a broken pipe.
pub fn context(what: impl Display, err: io::Error) -> io::Error {
    io::Error::new(err.kind(), format!("{what}: {err}"))
}

/// True for the error a write to a closed pipe gives (Rust ignores SIGPIPE, so it is an error,
/// not a signal). Such a write ends the program quietly.
pub fn is_broken_pipe(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::BrokenPipe
}

/// How a program's run ended, as far as its exit status is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Everything worked: exit 0.
    Success,
    /// A runtime error, already reported on stderr: exit 1.
    Failure,
    /// A stdin byte or Ctrl-C stopped it: `PROGRAM: cancelled` on stderr, exit 130.
    Cancelled,
}

/// The exit status of a `main`, the one mapping every binary shares: an [`Ending`] as it says;
/// a write to a closed stdout a quiet success; any other I/O error one line on stderr and 1.
pub fn status(program: &str, result: io::Result<Ending>) -> ExitCode {
    let code = match result {
        Ok(Ending::Success) => SUCCESS,
        Ok(Ending::Failure) => FAILURE,
        Ok(Ending::Cancelled) => {
            error(program, "cancelled");
            CANCELLED
        }
        Err(err) if is_broken_pipe(&err) => SUCCESS,
        Err(err) => {
            error(program, err);
            FAILURE
        }
    };
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
