//! One client of an event loop: its socket, its session, its backlog in the loop's [`Flow`],
//! and its transitions (read, answered, ended, failed, left, flushed, closed). The loop routes;
//! the connection owns its state.

use std::io::{self, Read, Write};
use std::time::Instant;

use mio::net::TcpStream;

use crate::config::Message;
use crate::flow::{Backlog, Flow};
use crate::session::{End, Output, Session};

/// Bytes gathered for one `write`.
pub const BATCH: usize = 64 << 10;
/// Bytes one flush writes at most before letting the loop serve others.
const FLUSH_BYTES: usize = 256 << 10;

pub struct Conn {
    id: u64,
    stream: TcpStream,
    session: Session,
    backlog: Backlog,
    /// Since when the socket has taken nothing of what is pending (the 10 s limit).
    blocked_since: Option<Instant>,
    /// The session is over: deliver what is pending, then close.
    ending: Option<End>,
    /// Input was left unread (the client was choked or the gate shut): read it again later.
    throttled: bool,
}

/// What a flush achieved.
pub enum Flushed {
    /// Nothing is left pending.
    All,
    /// The socket is full; wait for it to be writable.
    Blocked,
    /// The flush stopped at its size limit; more is pending.
    More,
}

impl Conn {
    pub fn new(id: u64, stream: TcpStream, session: Session) -> Conn {
        Conn {
            id,
            stream,
            session,
            backlog: Backlog::default(),
            blocked_since: None,
            ending: None,
            throttled: false,
        }
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    /// The client's name, for the log.
    pub fn name(&self) -> &str {
        self.session.name().map_or("?", |name| name)
    }

    /// Reads what the client sent into its session (a closed or failed socket: the session is
    /// told). `None` if nothing was waiting, else the bytes read.
    pub fn receive(
        &mut self,
        buf: &mut [u8],
        now: Instant,
        out: &mut Vec<Output>,
    ) -> Option<usize> {
        loop {
            match (&self.stream).read(buf) {
                Ok(n) if n > 0 => {
                    self.session.received(&buf[..n], now, out);
                    return Some(n);
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return None,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Ok(_) | Err(_) => {
                    self.session.closed(now, out);
                    return Some(0);
                }
            }
        }
    }

    /// The clock: the session's idle limit.
    pub fn tick(&mut self, now: Instant, out: &mut Vec<Output>) {
        self.session.tick(now, out);
    }

    /// The server is stopping: the session's farewell.
    pub fn shut_down(&mut self, out: &mut Vec<Output>) {
        self.session.shut_down(out);
    }

    /// True while the connection still reads its client: not ending, the session wanting
    /// input, and the client not choked on its own lines.
    pub fn reads(&self) -> bool {
        self.ending.is_none() && self.session.wants_input() && !self.backlog.choked()
    }

    /// Its input is left unread for now; true the first time (the loop then holds it).
    pub fn hold(&mut self) -> bool {
        let first = !self.ending() && !self.throttled;
        self.throttled |= first;
        first
    }

    /// True (once) if held input may be read now.
    pub fn resume(&mut self, gate_open: bool) -> bool {
        let resume = self.throttled && gate_open && self.reads();
        self.throttled &= !resume;
        resume
    }

    /// True while its input is held.
    pub fn held(&self) -> bool {
        self.throttled
    }

    pub fn ending(&self) -> bool {
        self.ending.is_some()
    }

    /// True if the socket has taken nothing since before `since`.
    pub fn blocked_before(&self, since: Instant) -> bool {
        self.blocked_since.is_some_and(|blocked| blocked <= since)
    }

    /// The socket said it is writable again.
    pub fn writable(&mut self) {
        self.blocked_since = None;
    }

    /// Where this client is in the feed.
    pub fn cursor(&self) -> Option<u64> {
        self.backlog.cursor()
    }

    /// A line for this client alone.
    pub fn reply(&mut self, line: Message, flow: &Flow) {
        self.backlog.reply(line, flow.feed());
    }

    /// The room's answer: admitted (its cursor starts at the feed's head, its welcome first), or
    /// the name was taken (the room then knows nothing of it); the session says what follows.
    pub fn answered(
        &mut self,
        welcome: Option<Message>,
        flow: &mut Flow,
        now: Instant,
        out: &mut Vec<Output>,
    ) {
        self.session.joined(welcome.is_some(), now, out);
        if let Some(welcome) = welcome {
            flow.admit(&mut self.backlog, welcome);
        }
    }

    /// The session is over (`last` its last line); true if the room must now hear of the leave
    /// (until [`left`](Conn::left), what the room sends is still delivered).
    pub fn end(&mut self, end: End, last: Option<Message>, flow: &Flow) -> bool {
        if self.ending.is_some() {
            return false;
        }
        self.ending = Some(end);
        self.backlog.leaving(last);
        // The room has been asked about its name (and not refused it): it must hear of the leave.
        let tell_room = self.session.name().is_some() && end != End::Shutdown;
        if !tell_room {
            self.left(flow);
        }
        tell_room
    }

    /// The socket failed: the session is over, nothing more delivered; true if the room must hear.
    pub fn fail(&mut self, flow: &Flow) -> bool {
        self.end(End::Closed, None, flow)
    }

    /// The room has heard of the leave (or never will): deliver what is pending, then close.
    pub fn left(&mut self, flow: &Flow) {
        self.backlog.left(flow.feed());
    }

    /// True once the session is over and everything has gone out: close.
    pub fn finished(&self, flow: &Flow) -> bool {
        self.ending.is_some() && self.backlog.finished(flow.feed())
    }

    /// Applies the flow policy now (drops, the notice once caught up, the gate).
    pub fn review(&mut self, flow: &mut Flow, now: Instant) {
        let name = self.session.name().map_or("?", |name| name);
        flow.review(&mut self.backlog, name, now);
    }

    /// The connection is closed: its backlog leaves the flow.
    pub fn close(mut self, flow: &mut Flow) {
        flow.remove(&mut self.backlog, self.session.name().map_or("?", |n| n));
    }

    /// Writes as much of what is pending as the socket takes, many messages per `write`.
    pub fn flush(
        &mut self,
        flow: &mut Flow,
        now: Instant,
        batch: &mut Vec<u8>,
    ) -> io::Result<Flushed> {
        if self.backlog.stalled() {
            // What it skips is not written.
            self.review(flow, now);
        }
        let mut written = 0;
        let flushed = loop {
            if written >= FLUSH_BYTES {
                break Flushed::More;
            }
            self.backlog.fill(flow.feed(), batch, BATCH);
            if batch.is_empty() {
                self.blocked_since = None;
                if self.backlog.stalled() {
                    // Caught up: the notice, if any, goes out at once.
                    self.review(flow, now);
                    if !self.backlog.is_empty(flow.feed()) {
                        continue;
                    }
                }
                break Flushed::All;
            }
            let n = match (&self.stream).write(batch) {
                Ok(n) => n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => 0,
                Err(err) => return Err(err),
            };
            if n > 0 {
                self.blocked_since = None;
                self.backlog.consume(flow.feed(), n, now);
                written += n;
            }
            if n < batch.len() {
                self.blocked_since.get_or_insert(now);
                break Flushed::Blocked;
            }
        };
        self.review(flow, now);
        Ok(flushed)
    }
}
