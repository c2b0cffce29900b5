//! chat: the chat server of *The Go Programming Language* (Donovan and Kernighan), section 8.10,
//! with exercises 8.12 (the client list for a newcomer), 8.13 (idle kick), 8.14 (names) and 8.15
//! (slow clients must not delay the others).
//!
//! Run it with `cargo run -p chat` and talk to it with `cargo run -p netcat3` from two other
//! terminals. `--help` lists the flags (`--addr`, `--engine`, `--loops`, `--idle-timeout`,
//! `--max-backlog`, `--max-backlog-total`, `--max-line`, `--max-clients`). The protocol, line by
//! line, is in docs/SPEC.md ("chat").
//!
//! The library's surface is [`run`], [`Config`], [`Engine`] and [`Summary`]. The book's listing
//! is `threads.rs` with `room.rs`'s `broadcaster` (`--engine threads`: two threads per client,
//! as the book has two goroutines); `events.rs`, the default, serves thousands of clients from a
//! few mio event loops. Both drive one sans-IO core (`session`, `room`, `flow`).
//!
//! The book's flaws, and the function that fixes each:
//!
//! - A slow client stalls everyone (the broadcaster blocks on it): `flow.rs`, one policy for
//!   both engines (SPEC.md, chat, item 8): a client that keeps reading never loses a line; one
//!   that takes nothing for 1 s drops past `--max-backlog` for itself alone, and is told once.
//! - One write per message: `client_writer` and the event loops write a batch of many.
//! - `bufio.Scanner` ends the connection at 64 KiB: a long line is dropped here, not stored
//!   (`lines.rs`); invalid UTF-8 becomes U+FFFD.
//! - Raw text drives terminals, and names are neither unique nor safe: `text::clean_message`,
//!   `text::name_problem`, `text::name_key` (look-alikes are one name), `text::client_list`.
//! - Limits end the process or wedge it: `limits::fit` (the default `--max-clients` and
//!   `--max-backlog-total`), `common::net::listen` (SOMAXCONN), `accept::accept_loop` (refusal
//!   with one line, a reserve descriptor for EMFILE).
//! - No way to stop: the done signal tells every client and returns within a second with every
//!   thread joined ([`run`]); the log has a thread of its own (`log.rs`).
//!
//! Where it differs from Go, and why: a goroutine costs a few KB and the Go runtime multiplexes
//! them over a few threads, so the book can afford two per client; an OS thread cannot (its
//! stack, its kernel objects, a process ceiling near 15,000 threads), so the default engine
//! multiplexes connections itself, and the client limit counts threads, memory maps and memory
//! (`limits.rs`): running out of any of them aborts the process.

mod accept;
mod config;
mod events;
mod flow;
mod limits;
mod lines;
mod log;
mod room;
mod session;
mod text;
mod threads;

pub use config::{Config, Engine, Summary};

use std::io;
use std::net::{Shutdown, TcpListener};
use std::sync::Arc;

use common::done::Done;

use crate::log::Log;

/// Serves chat clients on `listener` until `done` fires, then tells every client so and returns
/// once every thread it started has ended; an error if it could not start.
pub fn run(listener: TcpListener, config: Config, done: Done) -> io::Result<Summary> {
    let mut config = config.clamped();
    let (log, logger) = Log::start(config.log)?;
    // A blocked `accept` wakes when the listening socket is shut down (Linux), from the hook.
    let wake = listener.try_clone()?;
    let _wake_accept = done.on_cancel(move || {
        let _ = socket2::SockRef::from(&wake).shutdown(Shutdown::Both);
    });
    let grace = config.shutdown_grace;
    let summary = limits::fit(&mut config, &log).and_then(|max_clients| {
        let config = Arc::new(config);
        match config.engine {
            Engine::Threads => threads::serve(&listener, &config, &done, &log, max_clients),
            Engine::Events => events::serve(&listener, &config, &done, &log, max_clients),
        }
    });
    // A server that never started has only its error to say (main prints it).
    if let Ok(Summary { dropped }) = &summary {
        if *dropped > 0 {
            log.line(format_args!("{dropped} messages dropped for slow clients"));
        }
        log.line("shut down");
    }
    drop(log);
    if let Some(logger) = logger {
        logger.finish(grace);
    }
    summary
}
