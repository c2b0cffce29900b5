//! The accept loop both engines share: the book's `main` loop, with its limits.
//!
//! At `--max-clients` a newcomer is told the server is full and closed; when every descriptor
//! is taken, the [`Reserve`] accepts the waiting connection to refuse it, so the queue moves.
//! The engine's `start` may refuse too (a thread that could not start); nothing ends the process.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::done::Done;

use crate::limits::{self, Reserve};
use crate::log::Log;
use crate::session;

/// The kernel's send buffer for each client: a writer on a full socket wakes once a third of it
/// has drained, and autotuned to megabytes that made a 2 MB/s reader look idle for a second.
const SEND_BUFFER: usize = 256 << 10;

/// Accepts connections until `done` fires, handing each to `start` with a fresh id while fewer
/// than `max_clients` are `live` (the engine counts them down as they end).
pub fn accept_loop(
    listener: &TcpListener,
    done: &Done,
    log: &Log,
    max_clients: usize,
    live: &AtomicUsize,
    mut start: impl FnMut(TcpStream, SocketAddr, u64) -> io::Result<()>,
) {
    let mut reserve = Reserve::new();
    let mut id = 0u64;
    while !done.cancelled() {
        let (conn, peer) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(_) if done.cancelled() => break,
            Err(err) => {
                refuse_on_error(listener, &err, &mut reserve, done, log);
                continue;
            }
        };
        id += 1;
        if live.load(Ordering::SeqCst) >= max_clients {
            log.line(format_args!("{peer} refused: server full"));
            limits::refuse(&conn, &session::full(Some(max_clients)));
            continue;
        }
        live.fetch_add(1, Ordering::SeqCst);
        let _ = socket2::SockRef::from(&conn).set_send_buffer_size(SEND_BUFFER);
        if let Err(err) = start(conn, peer, id) {
            live.fetch_sub(1, Ordering::SeqCst);
            log.line(format_args!("{peer} refused: {err}"));
        }
    }
}

/// A failed `accept`: out of descriptors, the waiting connection is refused with the reserve,
/// else the error is logged and it waits a little (no spin).
fn refuse_on_error(
    listener: &TcpListener,
    err: &io::Error,
    reserve: &mut Reserve,
    done: &Done,
    log: &Log,
) {
    // Out of descriptors: the process's (EMFILE) or the system's (ENFILE).
    if matches!(err.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
        && let Some(peer) = reserve.refuse_one(listener, &session::full(None))
    {
        log.line(format_args!("{peer} refused: {err}"));
        return;
    }
    log.line(format_args!("accept: {err}"));
    done.wait_timeout(Duration::from_millis(20));
}
