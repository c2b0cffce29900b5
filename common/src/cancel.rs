//! Cancel sources: what fires the done signal in the programs (book section 8.9).
//!
//! The book's du4 and crawler cancel when a byte arrives on standard input; we also cancel on
//! Ctrl-C. One deliberate difference: the Go original treats end of file on stdin as a cancel
//! (its `os.Stdin.Read` returns at once when stdin is `/dev/null`, so `du4 < /dev/null` stops
//! before it starts). Here only a byte actually read cancels; end of file and read errors do not.
//!
//! Both sources are for `main` only: `ctrlc` allows one handler per process, and stdin belongs to
//! the program, not to a library. Library code takes a [`Done`](crate::done::Done) instead.

use std::io::{ErrorKind, Read};
use std::thread;

use crate::done::{Canceller, Done};

/// Cancels on Ctrl-C (SIGINT) and, on Unix, SIGTERM and SIGHUP. Call once, from `main`.
pub fn on_ctrlc(canceller: Canceller) -> Result<(), ctrlc::Error> {
    ctrlc::set_handler(move || canceller.cancel())
}

/// Cancels when one byte is read from standard input. Call once, from `main`.
///
/// A thread blocked reading a terminal or pipe cannot be woken portably, so this watcher thread
/// is never joined: it may outlive `run` (the crate docs list every such thread). It holds
/// nothing but stdin and a canceller, and it ends at end of file, on a read error, after the
/// first byte, or with the process.
pub fn on_stdin_byte(canceller: Canceller) -> std::io::Result<()> {
    thread::Builder::new()
        .name("stdin-cancel".into())
        .stack_size(64 << 10)
        .spawn(move || {
            let mut byte = [0u8; 1];
            let mut stdin = std::io::stdin().lock();
            loop {
                match stdin.read(&mut byte) {
                    Ok(0) => return,
                    Ok(_) => return canceller.cancel(),
                    Err(err) if err.kind() == ErrorKind::Interrupted => continue,
                    Err(_) => return,
                }
            }
        })
        .map(drop)
}

/// The done signal of a program's `main`: fired by Ctrl-C (and SIGTERM, SIGHUP) and, when
/// `stdin_byte` is set, by one byte read from standard input. A source that cannot be set up is
/// reported as `PROGRAM: what: why` and the program runs without it. Call once, from `main`.
pub fn main_done(program: &str, stdin_byte: bool) -> Done {
    let (canceller, done) = crate::done::new();
    if let Err(err) = on_ctrlc(canceller.clone()) {
        crate::exit::error(program, format!("Ctrl-C handler: {err}"));
    }
    if stdin_byte && let Err(err) = on_stdin_byte(canceller) {
        crate::exit::error(program, format!("stdin watcher: {err}"));
    }
    done
}
