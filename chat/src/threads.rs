//! The `threads` engine: the book's design, for reading beside chat.go (section 8.10).
//!
//! [`serve`] accepts connections and starts one [`handle_conn`] thread per client (the book's
//! `main`); [`crate::room::broadcaster`] (one thread) owns the room;
//! [`client_writer`] (one thread per admitted client) writes what the broadcaster queued for
//! it. Each fix to the book is one named call into a sibling module: `conns` (threads joined,
//! sockets closed as connections end, shutdown within a second), `io` (reads with the idle
//! deadline, batched writes with the stall limit), [`crate::backlog`] (the byte-bounded queue).

mod conns;
mod io;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::{Duration, Instant};

use common::done::Done;
use crossbeam_channel::{Receiver, Sender, bounded};

use crate::accept::accept_loop;
use crate::backlog::{Clients, Drain, Member};
use crate::log::Log;
use crate::room::{self, Event};
use crate::session::{End, Session};
use crate::{Config, Message, Summary};

use self::conns::Conns;
use self::io::Client;

/// Capacity of the broadcaster's event channel: readers wait when it is full (backpressure on
/// senders), the broadcaster never does.
const EVENT_QUEUE: usize = 1024;
/// A writer's batch stops growing here, so one wake writes at most about this much.
const MAX_BATCH: usize = 256 << 10;
/// A writer keeps a batch buffer of up to this capacity between wakes.
const BATCH_KEPT: usize = 4 << 10;

/// Serves clients with a thread each until `done` fires; returns once every thread has ended.
pub fn serve(
    listener: &TcpListener,
    config: &Arc<Config>,
    done: &Done,
    log: &Log,
    max_clients: usize,
) -> std::io::Result<Summary> {
    let (events, events_rx) = bounded::<Event<Member>>(EVENT_QUEUE);
    let clients = Clients::new(config.max_backlog, config.max_backlog_total, log.clone());
    let broadcaster = {
        let (done, log) = (done.clone(), log.clone());
        conns::spawn("broadcaster", move || {
            room::broadcaster(events_rx, clients, done, log)
        })?
    };
    let live = Arc::new(AtomicUsize::new(0));
    let mut conns = Conns::new(Arc::clone(&live));
    let connections = accept_loop(listener, done, log, max_clients, &live, |conn, peer, id| {
        let (events, config, done, log) =
            (events.clone(), config.clone(), done.clone(), log.clone());
        conns.start(id, conn, move |conn| {
            handle_conn(conn, peer, id, &events, &config, &done, &log);
        })
    });
    drop(events);
    conns.shut_down(config.shutdown_grace);
    let dropped = broadcaster.join().unwrap_or(0);
    Ok(Summary {
        connections,
        dropped,
    })
}

/// Serves one client: feeds its bytes and the clock to its session and does what the session
/// says, then tears down (leave event, writer joined, farewell line). The book's `handleConn`.
pub fn handle_conn(
    conn: &Arc<TcpStream>,
    peer: SocketAddr,
    id: u64,
    events: &Sender<Event<Member>>,
    config: &Config,
    done: &Done,
    log: &Log,
) {
    let _wake = io::wake_reader_on_cancel(conn, done);
    let mut client = Client::new(conn, id, events, config, done, log);
    let mut out = Vec::new();
    let mut session = Session::new(peer, config.limits(), Instant::now(), &mut out);
    let mut buf = [0u8; crate::limits::THREAD_READ];
    let end = loop {
        if let Some(end) = client.act(&mut session, &mut out) {
            break end;
        }
        let now = Instant::now();
        match io::read_until(conn, &mut buf, session.deadline()) {
            Ok(0) => session.closed(now, &mut out),
            Ok(n) => session.received(&buf[..n], now, &mut out),
            Err(err) if err.kind() == std::io::ErrorKind::TimedOut => session.tick(now, &mut out),
            Err(err) => break client.failed(&session, &err),
        }
    };
    client.finish(end);
}

/// Writes everything queued for one client: the book's `clientWriter`, batched. Each wake drains
/// the whole queue into one buffer and writes it with one `write`, so a burst of N messages costs
/// one system call instead of N; once the queue is empty, a client that missed messages is told
/// how many. Returns when the queue is disconnected (the client left) or a write fails; a batch
/// the client does not take within `stall` fails with `TimedOut` (exercise 8.15).
pub fn client_writer(
    conn: &TcpStream,
    queue: Receiver<Message>,
    drain: &Drain,
    stall: Duration,
) -> std::io::Result<()> {
    let mut batch: Vec<u8> = Vec::with_capacity(BATCH_KEPT);
    while let Ok(first) = queue.recv() {
        batch.clear();
        batch.extend_from_slice(first.as_bytes());
        while batch.len() < MAX_BATCH
            && let Ok(next) = queue.try_recv()
        {
            batch.extend_from_slice(next.as_bytes());
        }
        let written = io::write_batch(conn, &batch, stall);
        drain.written(batch.len());
        written?;
        io::tell_drops(conn, &queue, drain, stall)?;
        if batch.capacity() > BATCH_KEPT {
            // Give back a burst's (or a long welcome's) buffer: idle clients stay cheap.
            batch = Vec::with_capacity(BATCH_KEPT);
        }
    }
    Ok(())
}

/// Ends a session that the server ends (shutdown) rather than the session itself.
fn shutdown_or(end: End, done: &Done) -> End {
    if done.cancelled() { End::Shutdown } else { end }
}
