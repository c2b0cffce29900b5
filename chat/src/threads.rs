//! The `threads` engine: the book's design, for reading beside chat.go (section 8.10).
//!
//! [`serve`] is the book's `main`, then [`handle_conn`] and [`client_writer`] (a thread each per
//! client); [`crate::room::broadcaster`] owns the room. Each fix to the book is one named call
//! into a sibling module: `conns` (the threads), `io` (deadline reads, bounded writes), `outbox`
//! (the one feed and every backlog behind a lock, under [`crate::flow`]'s policy).

mod conns;
mod io;
mod outbox;

use std::io::Result;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::{Duration, Instant};

use common::done::Done;
use crossbeam_channel::{Sender, bounded};

use crate::accept::accept_loop;
use crate::config::{Config, Summary};
use crate::log::Log;
use crate::room::{self, Event};
use crate::session::Session;

use self::conns::Conns;
use self::io::Client;
use self::outbox::Outbox;

/// A writer keeps a batch buffer of up to this capacity between wakes.
const BATCH_KEPT: usize = 4 << 10;

/// Serves clients with a thread each until `done` fires; returns once every thread has ended.
pub fn serve(
    listener: &TcpListener,
    config: &Arc<Config>,
    done: &Done,
    log: &Log,
    max_clients: usize,
) -> Result<Summary> {
    let (events, events_rx) = bounded::<Event<Sender<bool>>>(room::EVENT_QUEUE);
    let outbox = Arc::new(Outbox::new(config, log));
    // At the done signal every session ends at once: one wake for all writers, not one each.
    let _end_all = {
        let outbox = Arc::clone(&outbox);
        done.on_cancel(move || outbox.shut_down(&crate::session::FAREWELL.into()))
    };
    let broadcaster = {
        let (outbox, done, log) = (outbox.clone(), done.clone(), log.clone());
        conns::spawn("broadcaster", move || {
            let gate = Arc::clone(&outbox.gate);
            room::broadcaster(events_rx, outbox, &gate, done, log)
        })?
    };
    let live = Arc::new(AtomicUsize::new(0));
    let mut conns = Conns::new(Arc::clone(&live));
    let shared = Arc::new(Shared {
        events,
        outbox: Arc::clone(&outbox),
        config: Arc::clone(config),
        done: done.clone(),
        log: log.clone(),
    });
    accept_loop(listener, done, log, max_clients, &live, |conn, peer, id| {
        let shared = Arc::clone(&shared);
        conns.start(conn, move |conn| handle_conn(conn, peer, id, &shared))
    });
    drop(shared);
    conns.shut_down(config.shutdown_grace);
    let _ = broadcaster.join();
    let dropped = outbox.dropped();
    Ok(Summary { dropped })
}

/// What every connection thread shares.
pub struct Shared {
    events: Sender<Event<Sender<bool>>>,
    outbox: Arc<Outbox>,
    config: Arc<Config>,
    done: Done,
    log: Log,
}

/// Serves one client: feeds its bytes and the clock to its session and does what the session
/// says, then tears down (leave event, writer joined, last line). The book's `handleConn`.
pub fn handle_conn(conn: &Arc<TcpStream>, peer: SocketAddr, id: u64, shared: &Shared) {
    let (outbox, done) = (&shared.outbox, &shared.done);
    let _wake = io::wake_reader_on_cancel(conn, done);
    let mut client = Client::new(conn, id, shared);
    let mut out = Vec::new();
    let mut session = Session::new(peer, shared.config.limits(), Instant::now(), &mut out);
    let mut buf = [0u8; crate::limits::THREAD_READ];
    let end = loop {
        if let Some(end) = client.act(&mut session, &mut out) {
            break end;
        }
        let gate = session.name().map(|_| &*outbox.gate);
        let read = io::read_until(conn, &mut buf, session.deadline(), gate, done);
        let now = Instant::now();
        match read {
            _ if done.cancelled() => session.shut_down(&mut out),
            Ok(0) => session.closed(now, &mut out),
            Ok(n) => session.received(&buf[..n], now, &mut out),
            Err(err) if err.kind() == std::io::ErrorKind::TimedOut => session.tick(now, &mut out),
            Err(err) => break client.failed(&session, &err),
        }
    };
    client.finish(end);
}

/// Writes what the room and the session have for one client: the book's `clientWriter`, reading
/// the one feed ([`Outbox`]), a batch of up to 16 KiB per `write`; returns once the session is
/// over and everything went out, or a write fails (`TimedOut` once the socket took nothing for
/// `stall`).
pub fn client_writer(conn: &TcpStream, outbox: &Outbox, id: u64, stall: Duration) -> Result<()> {
    let mut batch: Vec<u8> = Vec::with_capacity(BATCH_KEPT);
    while outbox.next_batch(id, &mut batch, crate::limits::THREAD_BATCH) {
        io::write_all(conn, &batch, stall)?;
        if batch.capacity() > BATCH_KEPT {
            // Give back a burst's (or a long welcome's) buffer: idle clients stay cheap.
            batch = Vec::with_capacity(BATCH_KEPT);
        }
    }
    Ok(())
}
