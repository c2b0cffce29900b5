//! The `events` engine (the default): a fixed pool of mio event loops over non-blocking sockets,
//! no thread per client; the scale path beside the book's listing in `threads.rs`. The
//! broadcaster hands each message once to each loop with clients in the room ([`Loops`]), so its
//! cost per message does not grow with the clients; each loop appends it to its [`Flow`]'s feed
//! and writes it to its clients from their cursors. ARCHITECTURE.md has each turn's order.

mod conn;

use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use common::done::Done;
use crossbeam_channel::{Receiver, Sender, bounded, unbounded};
use mio::{Events, Interest, Poll, Token, Waker};
use slab::Slab;

use crate::accept::accept_loop;
use crate::config::{Config, Message, Summary};
use crate::flow::{Flow, Gate};
use crate::log::Log;
use crate::room::{self, Event, Fanout};
use crate::session::{End, Output, Session};

use self::conn::{Conn, Flushed};

/// The token of each loop's waker; clients' tokens are their slots.
const WAKER: Token = Token(usize::MAX);
/// Bytes read from one client per turn, so one flood cannot starve the others.
const READ_BUDGET: usize = 64 << 10;
/// How often a loop with clients left unread looks at a shut gate again.
const GATE_POLL: Duration = Duration::from_millis(5);

/// What reaches a loop: new connections, the room's answers, the room's messages.
enum ToLoop {
    /// A new connection: its id, socket and peer.
    Conn(u64, std::net::TcpStream, SocketAddr),
    /// The room's answer to client `.0`'s name (`.1` its slot): the welcome, or `None` (taken).
    Answer(u64, usize, Option<Message>),
    /// The room has heard of client `.0`'s leave (`.1` its slot).
    Left(u64, usize),
    Message(Message),
}

/// How others reach one loop: its channel, and its waker when it sleeps.
#[derive(Clone)]
struct Handle {
    inbox: Sender<ToLoop>,
    waker: Arc<Waker>,
    sleeping: Arc<AtomicBool>,
    /// The loop's connections, named or not: counted up by the accept loop, down by the loop.
    clients: Arc<AtomicUsize>,
}

impl Handle {
    fn send(&self, message: ToLoop) -> bool {
        let sent = self.inbox.send(message).is_ok();
        if self.sleeping.swap(false, Ordering::SeqCst) {
            let _ = self.waker.wake();
        }
        sent
    }
}

/// The loop for a new connection: the first that `held` fewer than `pack`, else the emptiest.
fn place(held: &[usize], pack: usize) -> usize {
    let fewest = (0..held.len()).min_by_key(|&index| held[index]);
    (0..held.len())
        .find(|&index| held[index] < pack)
        .or(fewest)
        .unwrap_or(0)
}

/// The broadcaster's [`Fanout`] here: each message once to each loop with members in the room.
struct Loops {
    handles: Vec<Handle>,
    /// Members in the room, per loop.
    members: Vec<usize>,
    /// The loop and slot of each member.
    loop_of: HashMap<u64, (usize, usize)>,
    /// Counts what the inboxes hold ([`Gate::send`]).
    gate: Arc<Gate>,
}

impl Fanout for Loops {
    /// The index of the client's loop, and its slot there.
    type Member = (usize, usize);

    fn answer(&mut self, id: u64, _: &Arc<str>, member: (usize, usize), welcome: Option<Message>) {
        if welcome.is_some() {
            self.members[member.0] += 1;
            self.loop_of.insert(id, member);
        }
        self.handles[member.0].send(ToLoop::Answer(id, member.1, welcome));
    }

    fn broadcast(&mut self, message: &Message) {
        for (handle, &members) in self.handles.iter().zip(&self.members) {
            if members > 0 {
                self.gate.send(message);
                handle.send(ToLoop::Message(Arc::clone(message)));
            }
        }
    }

    fn remove(&mut self, id: u64) {
        if let Some((index, slot)) = self.loop_of.remove(&id) {
            self.members[index] -= 1;
            self.handles[index].send(ToLoop::Left(id, slot));
        }
    }
}

/// Serves clients with a pool of event loops until `done` fires and every thread has ended.
pub fn serve(
    listener: &TcpListener,
    config: &Arc<Config>,
    done: &Done,
    log: &Log,
    max_clients: usize,
) -> io::Result<Summary> {
    let (events, events_rx) = bounded::<Event<(usize, usize)>>(room::EVENT_QUEUE);
    let live = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(Gate::new(config));
    let (handles, threads) = start_loops(&events, config, done, log, (&live, &gate))?;
    let _wake_loops = {
        let handles = handles.clone();
        done.on_cancel(move || {
            for handle in &handles {
                let _ = handle.waker.wake();
            }
        })
    };
    let broadcaster = start_broadcaster(events_rx, &handles, gate, done, log)?;
    drop(events);
    accept_loop(
        listener,
        done,
        log,
        max_clients,
        &live,
        |stream, peer, id| place_conn(&handles, config.pack, ToLoop::Conn(id, stream, peer)),
    );
    let _ = broadcaster.join();
    let dropped = threads
        .into_iter()
        .map(|loop_| loop_.join().unwrap_or(0))
        .sum();
    Ok(Summary { dropped })
}

/// Starts the event loops (a feed each, one gate, the count of clients `live`); how to reach each.
fn start_loops(
    events: &Sender<Event<(usize, usize)>>,
    config: &Arc<Config>,
    done: &Done,
    log: &Log,
    (live, gate): (&Arc<AtomicUsize>, &Arc<Gate>),
) -> io::Result<(Vec<Handle>, Vec<JoinHandle<u64>>)> {
    let loops = config.loops;
    let cap = (config.max_backlog_total / loops).max(1);
    let mut handles = Vec::new();
    let mut threads = Vec::new();
    for index in 0..loops {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let (inbox_tx, inbox) = unbounded();
        let handle = Handle {
            inbox: inbox_tx,
            waker,
            sleeping: Arc::default(),
            clients: Arc::default(),
        };
        let router = Router {
            index,
            events: events.clone(),
            flow: Flow::new(cap, config, Arc::clone(gate), log.clone()),
            log: log.clone(),
            again: Vec::new(),
            held: Vec::new(),
            dirty: Vec::new(),
            scratch: vec![0; crate::limits::EVENTS_READ],
            batch: Vec::with_capacity(conn::BATCH + 8192),
            unfinished: false,
            delivered: 0,
        };
        let event_loop = EventLoop {
            poll,
            inbox,
            handle: handle.clone(),
            config: Arc::clone(config),
            done: done.clone(),
            live: Arc::clone(live),
            conns: Slab::new(),
            router,
        };
        handles.push(handle);
        let name = format!("event_loop_{index}");
        threads.push(
            thread::Builder::new()
                .name(name)
                .spawn(|| event_loop.run())?,
        );
    }
    Ok((handles, threads))
}

/// Starts the broadcaster, which hands each message once to each loop with clients in the room.
fn start_broadcaster(
    events: Receiver<Event<(usize, usize)>>,
    handles: &[Handle],
    gate: Arc<Gate>,
    done: &Done,
    log: &Log,
) -> io::Result<JoinHandle<()>> {
    let fanout = Loops {
        handles: handles.to_vec(),
        members: vec![0; handles.len()],
        loop_of: HashMap::new(),
        gate: Arc::clone(&gate),
    };
    let (done, log) = (done.clone(), log.clone());
    let broadcaster = thread::Builder::new().name("broadcaster".into());
    broadcaster.spawn(move || room::broadcaster(events, fanout, &gate, done, log))
}

/// Hands a new connection to a loop ([`place`]).
fn place_conn(handles: &[Handle], pack: usize, conn: ToLoop) -> io::Result<()> {
    let held: Vec<usize> = handles
        .iter()
        .map(|handle| handle.clients.load(Ordering::Relaxed))
        .collect();
    let handle = &handles[place(&held, pack)];
    handle.clients.fetch_add(1, Ordering::Relaxed);
    if !handle.send(conn) {
        handle.clients.fetch_sub(1, Ordering::Relaxed);
        return Err(io::Error::other("event loop gone"));
    }
    Ok(())
}

/// One event loop: its connections by slot, and everything else it owns ([`Router`]), kept
/// apart so that one client and the rest of the loop can be borrowed at once.
struct EventLoop {
    poll: Poll,
    inbox: Receiver<ToLoop>,
    /// How others reach this loop: its sleeping flag and its count of clients are here.
    handle: Handle,
    config: Arc<Config>,
    done: Done,
    live: Arc<AtomicUsize>,
    /// Connections by slot (their token; a slot is reused once its client has gone).
    conns: Slab<Conn>,
    router: Router,
}

/// What a loop does for one client at a time: moves its bytes between its socket, its session,
/// the room and the feed. Each step returns whether the client stays.
struct Router {
    index: usize,
    events: Sender<Event<(usize, usize)>>,
    flow: Flow,
    log: Log,
    /// Clients with more to read than one turn's budget, or input waiting on the room.
    again: Vec<usize>,
    /// Clients not read while the gate was shut.
    held: Vec<usize>,
    /// Clients given a line of their own this turn.
    dirty: Vec<usize>,
    scratch: Vec<u8>,
    /// Where a flush gathers a client's messages for one write.
    batch: Vec<u8>,
    /// A flush stopped at its size limit this turn: do not sleep.
    unfinished: bool,
    /// The feed's head at the last delivery: a new head means every client has news.
    delivered: u64,
}

/// What a step leaves a client: kept, or to be closed and its slot freed (which `?` passes on).
type Next = ControlFlow<()>;
const KEEP: Next = ControlFlow::Continue(());
const CLOSE: Next = ControlFlow::Break(());

impl EventLoop {
    /// Turns until the done signal: the inbox after each wait (new clients greeted, the room's
    /// answers, its messages into the feed), what the sockets said, the inbox again, delivery, the
    /// clock. Returns the messages dropped for this loop's clients.
    fn run(mut self) -> u64 {
        let mut events = Events::with_capacity(1024);
        let sweep_every =
            (self.config.idle_timeout / 8).clamp(Duration::from_millis(10), self.config.stall / 4);
        let mut next_sweep = Instant::now() + sweep_every;
        while !self.done.cancelled() {
            // `wait` itself does not sleep while the inbox has something; a shut gate is looked
            // at again soon.
            let router = &self.router;
            let timeout =
                if router.unfinished || !router.again.is_empty() || !router.dirty.is_empty() {
                    Duration::ZERO
                } else if !router.held.is_empty() && !router.flow.gate().is_open() {
                    GATE_POLL.min(next_sweep.saturating_duration_since(Instant::now()))
                } else {
                    next_sweep.saturating_duration_since(Instant::now())
                };
            if let Err(err) = self.wait(&mut events, timeout) {
                self.router.log.line(format_args!("poll: {err}"));
                break;
            }
            self.take_inbox();
            for event in events.iter() {
                self.ready(event.token(), event.is_readable(), event.is_writable());
            }
            self.release_held();
            for slot in std::mem::take(&mut self.router.again) {
                self.with(slot, None, Router::read);
            }
            // What the room relayed meanwhile (as the lines just read) goes out in this round.
            self.take_inbox();
            self.deliver();
            if Instant::now() >= next_sweep {
                self.sweep();
                next_sweep = Instant::now() + sweep_every;
            }
        }
        self.shut_down();
        self.router.flow.dropped()
    }

    /// Sleeps in `poll` unless the inbox has something (the sleeping flag tells senders to wake
    /// this loop; checked after it is set, so no message is left waiting).
    fn wait(&mut self, events: &mut Events, timeout: Duration) -> io::Result<()> {
        self.handle.sleeping.store(true, Ordering::SeqCst);
        let timeout = Some(timeout).filter(|_| self.inbox.is_empty());
        let result = self.poll.poll(events, Some(timeout.unwrap_or_default()));
        self.handle.sleeping.store(false, Ordering::SeqCst);
        match result {
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {
                events.clear();
                Ok(())
            }
            other => other,
        }
    }

    /// Runs `step` on the client in `slot`, if there is one (and, given `id`, it is that
    /// client: a message for a slot whose client has gone is for nobody), and closes it if the
    /// step says so. The loop's one lookup of a slot.
    fn with(
        &mut self,
        slot: usize,
        id: Option<u64>,
        step: impl FnOnce(&mut Router, usize, &mut Conn) -> Next,
    ) {
        let conn = self.conns.get_mut(slot);
        let Some(conn) = conn.filter(|conn| id.is_none_or(|id| conn.id() == id)) else {
            return;
        };
        if step(&mut self.router, slot, conn).is_break() {
            self.close(slot);
        }
    }

    /// Everything waiting in the inbox.
    fn take_inbox(&mut self) {
        while let Ok(message) = self.inbox.try_recv() {
            match message {
                ToLoop::Message(message) => self.router.take(message),
                ToLoop::Conn(id, stream, peer) => self.greet(id, stream, peer),
                ToLoop::Answer(id, slot, welcome) => {
                    self.with(slot, Some(id), |router, slot, conn| {
                        router.answer(slot, conn, welcome)
                    });
                }
                ToLoop::Left(id, slot) => self.with(slot, Some(id), Router::left),
            }
        }
    }

    /// A new client: registered, its session started, its prompt written at once.
    fn greet(&mut self, id: u64, stream: std::net::TcpStream, peer: SocketAddr) {
        let slot = self.conns.vacant_key();
        let registered = stream.set_nonblocking(true).and_then(|()| {
            let _ = stream.set_nodelay(true);
            let mut stream = mio::net::TcpStream::from_std(stream);
            let interest = Interest::READABLE | Interest::WRITABLE;
            self.poll
                .registry()
                .register(&mut stream, Token(slot), interest)?;
            Ok(stream)
        });
        let stream = match registered {
            Ok(stream) => stream,
            Err(err) => {
                let log = &self.router.log;
                log.line(format_args!("{peer} refused: register: {err}"));
                self.live.fetch_sub(1, Ordering::SeqCst);
                self.handle.clients.fetch_sub(1, Ordering::Relaxed);
                return;
            }
        };
        let mut out = Vec::new();
        let session = Session::new(peer, self.config.limits(), Instant::now(), &mut out);
        let slot = self.conns.insert(Conn::new(id, stream, session));
        self.with(slot, None, |router, slot, conn| {
            router.act(slot, conn, out)?;
            router.flush(slot, conn)
        });
    }

    /// A socket's readiness.
    fn ready(&mut self, token: Token, readable: bool, writable: bool) {
        if token != WAKER {
            self.with(token.0, None, |router, slot, conn| {
                router.ready(slot, conn, readable, writable)
            });
        }
    }

    /// Once the gate is open, clients left unread are read again (a choked one waits for its
    /// flush).
    fn release_held(&mut self) {
        if !self.router.held.is_empty() && self.router.flow.gate().is_open() {
            for slot in std::mem::take(&mut self.router.held) {
                self.with(slot, None, Router::release);
            }
        }
    }

    /// Delivers what is new: the feed's new messages to every client whose socket is not known
    /// to be full (the others are only reviewed), or else the lines of their own some clients
    /// were given.
    fn deliver(&mut self) {
        let dirty = std::mem::take(&mut self.router.dirty);
        let head = self.router.flow.feed().head();
        if head == self.router.delivered && !self.router.unfinished {
            for slot in dirty {
                self.with(slot, None, Router::flush);
            }
            return;
        }
        self.router.delivered = head;
        self.router.unfinished = false;
        let now = Instant::now();
        for slot in 0..self.conns.capacity() {
            self.with(slot, None, |router, slot, conn| {
                if conn.blocked_before(now) {
                    conn.review(&mut router.flow, now);
                    KEEP
                } else {
                    router.flush(slot, conn)
                }
            });
        }
        self.router.flow.passed();
    }

    /// Closes a client's connection and frees its slot.
    fn close(&mut self, slot: usize) {
        let Some(conn) = self.conns.try_remove(slot) else {
            return;
        };
        if self.conns.is_empty() {
            // A quiet server gives its memory back.
            self.conns = Slab::new();
        }
        // Closing the socket (dropping it) also takes it out of the poll set.
        conn.close(&mut self.router.flow);
        self.live.fetch_sub(1, Ordering::SeqCst);
        self.handle.clients.fetch_sub(1, Ordering::Relaxed);
    }

    /// The clock: idle sessions, stalled sockets, the flow policy, and the feed let go behind
    /// the slowest.
    fn sweep(&mut self) {
        let now = Instant::now();
        let cut_before = now.checked_sub(self.config.write_timeout);
        for slot in 0..self.conns.capacity() {
            self.with(slot, None, |router, slot, conn| {
                let stalled = |conn: &Conn| cut_before.is_some_and(|t| conn.blocked_before(t));
                if stalled(conn) {
                    // Writable is said once a third of its buffer is free: ask by writing.
                    router.flush(slot, conn)?;
                }
                if stalled(conn) {
                    let line = format!("{}: write stalled, disconnecting", conn.name());
                    router.log.line(line);
                    return router.fail(conn);
                }
                conn.review(&mut router.flow, now);
                let mut out = Vec::new();
                conn.tick(now, &mut out);
                router.act(slot, conn, out)
            });
        }
        self.router.flow.passed();
    }

    /// The done signal: every client is given what is pending, then its session's farewell,
    /// and is closed; a socket that is full has [`Config::shutdown_grace`] (300 ms) to take
    /// them, then it is closed anyway (a client that never reads cannot be told).
    fn shut_down(&mut self) {
        let deadline = Instant::now() + self.config.shutdown_grace;
        // What the room relayed before the signal is pending too.
        self.take_inbox();
        for slot in 0..self.conns.capacity() {
            self.with(slot, None, |router, slot, conn| {
                let mut out = Vec::new();
                conn.shut_down(&mut out);
                router.act(slot, conn, out)?;
                // The room will hear of no more leaves.
                conn.left(&router.flow);
                router.flush(slot, conn)
            });
        }
        let mut events = Events::with_capacity(1024);
        while !self.conns.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            // A flush that stopped at its size limit goes on without waiting for an event.
            let wait = if self.router.unfinished {
                Duration::ZERO
            } else {
                left
            };
            match self.poll.poll(&mut events, Some(wait)) {
                Ok(()) => {}
                Err(err) if err.kind() == io::ErrorKind::Interrupted => events.clear(),
                Err(_) => break,
            }
            for event in events.iter() {
                self.ready(event.token(), false, event.is_writable());
            }
            self.deliver();
        }
        for slot in 0..self.conns.capacity() {
            self.close(slot);
        }
    }
}

impl Router {
    /// A message of the room's, from the inbox into the feed.
    fn take(&mut self, message: Message) {
        self.flow.gate().arrived(&message);
        self.flow.push(message);
    }

    /// A socket's readiness: what the client sent is read, then what is pending written.
    fn ready(&mut self, slot: usize, conn: &mut Conn, readable: bool, writable: bool) -> Next {
        if writable {
            conn.writable();
        }
        if readable {
            self.read(slot, conn)?;
        }
        match writable {
            true => self.flush(slot, conn),
            false => KEEP,
        }
    }

    /// Reads what the client sent (up to the turn's budget) into its session, unless the gate
    /// is shut (a client that holds the room is behind, or the inboxes are full) or the client
    /// is choked.
    fn read(&mut self, slot: usize, conn: &mut Conn) -> Next {
        let mut budget = READ_BUDGET;
        loop {
            let gated = conn.cursor().is_some() && !self.flow.gate().is_open();
            if !conn.reads() || gated {
                if conn.hold() {
                    self.held.push(slot);
                }
                return KEEP;
            }
            if budget == 0 {
                self.again.push(slot);
                return KEEP;
            }
            conn.resume(true);
            let mut out = Vec::new();
            let Some(read) = conn.receive(&mut self.scratch, Instant::now(), &mut out) else {
                return KEEP;
            };
            budget = budget.saturating_sub(read);
            self.act(slot, conn, out)?;
        }
    }

    /// A client left unread: read again if it may be now, else held on.
    fn release(&mut self, slot: usize, conn: &mut Conn) -> Next {
        if conn.resume(true) {
            self.again.push(slot);
        } else if conn.held() {
            self.held.push(slot);
        }
        KEEP
    }

    /// Does what a session said, in order.
    fn act(&mut self, slot: usize, conn: &mut Conn, out: Vec<Output>) -> Next {
        let mut last = None;
        for output in out {
            match output {
                Output::Reply(line) => {
                    conn.reply(line, &self.flow);
                    self.dirty.push(slot);
                }
                Output::Join(name) => {
                    let (id, member) = (conn.id(), (self.index, slot));
                    let _ = self.events.send(Event::Join { id, name, member });
                }
                Output::Say(message) => {
                    self.flow.gate().send(&message);
                    let _ = self.events.send(Event::Say(message));
                }
                Output::Log(line) => self.log.line(line),
                Output::Last(line) => last = Some(line),
                Output::End(end) => {
                    self.end(slot, conn, end, last.take())?;
                }
            }
        }
        KEEP
    }

    /// The room's answer to a client's name: admitted (with its welcome) or taken.
    fn answer(&mut self, slot: usize, conn: &mut Conn, welcome: Option<Message>) -> Next {
        if conn.ending() {
            return match welcome {
                None => self.left(slot, conn),
                Some(_) => KEEP,
            };
        }
        let mut out = Vec::new();
        conn.answered(welcome, &mut self.flow, Instant::now(), &mut out);
        self.act(slot, conn, out)?;
        self.dirty.push(slot);
        // Input may have waited in the socket while the room decided.
        self.again.push(slot);
        KEEP
    }

    /// The room has heard of a client's leave (a refused name: it never will).
    fn left(&mut self, slot: usize, conn: &mut Conn) -> Next {
        conn.left(&self.flow);
        self.flush(slot, conn)
    }

    /// The session is over: the room hears of the leave, and what is pending up to now is
    /// still delivered (the last line, or what a half-closed client is still reading).
    fn end(&mut self, slot: usize, conn: &mut Conn, end: End, last: Option<Message>) -> Next {
        if conn.end(end, last, &self.flow) {
            let _ = self.events.send(Event::Leave { id: conn.id() });
        }
        self.flush(slot, conn)
    }

    /// The socket failed (or stalled): the room hears of the leave, and the client is closed
    /// at once.
    fn fail(&mut self, conn: &mut Conn) -> Next {
        if conn.fail(&self.flow) {
            let _ = self.events.send(Event::Leave { id: conn.id() });
        }
        CLOSE
    }

    /// Writes what a client has pending; closes it once an ended session has been delivered,
    /// or its socket failed.
    fn flush(&mut self, slot: usize, conn: &mut Conn) -> Next {
        let flushed = conn.flush(&mut self.flow, Instant::now(), &mut self.batch);
        if conn.resume(self.flow.gate().is_open()) {
            self.again.push(slot);
        }
        match flushed {
            Ok(Flushed::All) if conn.finished(&self.flow) => CLOSE,
            // The next turn goes on, without sleeping.
            Ok(Flushed::More) => {
                self.unfinished = true;
                KEEP
            }
            Ok(_) => KEEP,
            Err(_) => self.fail(conn),
        }
    }
}

#[cfg(test)]
#[path = "../tests/unit/events.rs"]
mod tests;
