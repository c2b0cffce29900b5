//! Shared pieces of the chapter 8 programs of *The Go Programming Language*.
//!
//! The Go programs of chapter 8 share one idea more than any other: cancellation by closing a
//! channel that every goroutine watches (section 8.9, "Cancellation"). This crate gives the Rust
//! ports that idea once, so every program cancels the same way:
//!
//! - [`done`]: the done signal. One [`done::Canceller`] fires it; any number of cheap
//!   [`done::Done`] clones observe it, in `crossbeam_channel::select!`, as a poll, or through a hook
//!   that runs the moment it fires (how a blocked socket is woken: by shutting it down).
//! - [`cancel`]: the cancel sources the programs wire to it in `main`: Ctrl-C and one byte read
//!   from standard input.
//! - [`exit`]: the conventions every binary shares: exit codes, the one-line error format, and
//!   a closed standard output treated as a normal end.
//! - [`addr`]: a `HOST:PORT` argument checked while the command line is parsed; [`duration`]:
//!   a timeout argument, [`size`]: a size such as `64KiB`, [`number`]: a whole number in a
//!   range, likewise.
//! - [`wait_group`]: the book's `sync.WaitGroup`, as a channel that can sit in a `select!`.
//! - [`net`]: the cancellable connect, a TCP connect the done signal aborts mid-handshake.
//! - `rlimit`: the process's limits (descriptors, threads, memory maps, memory), for programs
//!   that size what they hold to fit instead of failing.
//!
//! Test and tool support (a generated web site, bounded child processes) is in the `testkit`
//! crate, which no program links.
//!
//! A program's library code never installs a signal handler; it takes a [`done::Done`] as a
//! parameter, so tests inject their own. [`cancel`] alone installs one (Ctrl-C) and reads
//! stdin, and only a binary's `main` calls it.
//!
//! # Threads that may outlive `run`
//!
//! Every thread a program starts is joined before its `run` returns, except these, each because
//! a thread blocked where nothing can wake it would otherwise hold the exit:
//!
//! - the stdin watcher of [`cancel::on_stdin_byte`], started by `main` (du4, crawler): a read
//!   of a terminal or a pipe cannot be interrupted. It holds only stdin and a canceller, and
//!   ends at the first byte, end of file, a read error, or with the process.
//! - netcat3's stdin copier, when the server closes first: the same blocked read. It holds only a
//!   socket already shut down both ways (netcat3's crate docs).
//! - chat's logger, when stderr is a pipe nobody reads: left blocked in its write after the
//!   shutdown grace; it ends with that write or with the process (chat's crate docs).
//!
//! Nothing in this crate starts a thread except [`cancel::on_stdin_byte`] (and the `ctrlc`
//! crate's handler thread behind [`cancel::on_ctrlc`]).

pub mod addr;
pub mod cancel;
pub mod done;
pub mod duration;
pub mod exit;
#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "links")]
pub mod links;
#[cfg(feature = "net")]
pub mod net;
pub mod number;
#[cfg(feature = "rlimit")]
pub mod rlimit;
pub mod size;
pub mod wait_group;

/// The number a /proc file holds (`/proc/sys/...`), if it holds one.
#[cfg(any(feature = "net", feature = "rlimit"))]
fn proc_number<T: std::str::FromStr>(path: &str) -> Option<T> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}
