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
//! - [`addr`]: a `HOST:PORT` argument checked while the command line is parsed.
//! - [`wait_group`]: the book's `sync.WaitGroup`, as a channel that can sit in a `select!`.
//! - [`net`]: the cancellable connect, a TCP connect the done signal aborts mid-handshake.
//!
//! Test and tool support (a generated web site, bounded child processes) is in the `testkit`
//! crate, which no program links.
//!
//! Library code never installs a signal handler; it takes a [`done::Done`] as a parameter, so
//! tests inject their own.

pub mod addr;
pub mod cancel;
pub mod done;
pub mod exit;
#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "links")]
pub mod links;
#[cfg(feature = "net")]
pub mod net;
pub mod wait_group;
