//! The blocking I/O of the `threads` engine: what a connection thread does for its session's
//! outputs, reads bounded by the idle deadline, batched writes bounded by the stall limit.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::done::{Done, Never, OnCancel};
use common::wait_group::WaitGroup;
use crossbeam_channel::{Receiver, Sender, bounded, select};

use crate::backlog::{Backlog, Clients, Drain, Joined, Member};
use crate::log::Log;
use crate::room::Event;
use crate::session::{End, Output, Session};
use crate::{Config, Message};

use super::{client_writer, conns, shutdown_or};

/// Cancellation wakes a blocked read by shutting the read side down (writes still work, for
/// the farewell line). The hook is unregistered when the guard is dropped.
pub fn wake_reader_on_cancel(conn: &Arc<TcpStream>, done: &Done) -> OnCancel {
    let conn = Arc::clone(conn);
    done.on_cancel(move || {
        let _ = conn.shutdown(Shutdown::Read);
    })
}

/// Reads what the client sent, waiting at most until `deadline` (then `TimedOut`).
pub fn read_until(mut conn: &TcpStream, buf: &mut [u8], deadline: Instant) -> io::Result<usize> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ErrorKind::TimedOut.into());
        }
        conn.set_read_timeout(Some(left))?;
        match conn.read(buf) {
            Err(err) if err.kind() == ErrorKind::Interrupted => continue,
            Err(err) if err.kind() == ErrorKind::WouldBlock => {
                return Err(ErrorKind::TimedOut.into());
            }
            Err(err)
                if matches!(
                    err.kind(),
                    ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted
                ) =>
            {
                return Ok(0);
            }
            result => return result,
        }
    }
}

/// A connection thread's state beside its session.
pub struct Client<'a> {
    conn: &'a Arc<TcpStream>,
    id: u64,
    events: &'a Sender<Event<Member>>,
    config: &'a Config,
    done: &'a Done,
    log: &'a Log,
    /// Once admitted: the writer thread, and the client's own end of its queue.
    writer: Option<Writer>,
    /// The line that tells the client why the server ended the session.
    farewell: Option<Message>,
}

struct Writer {
    own: Backlog,
    thread: JoinHandle<()>,
    /// Disconnected when the writer thread has returned.
    finished: Receiver<Never>,
}

impl<'a> Client<'a> {
    pub fn new(
        conn: &'a Arc<TcpStream>,
        id: u64,
        events: &'a Sender<Event<Member>>,
        config: &'a Config,
        done: &'a Done,
        log: &'a Log,
    ) -> Client<'a> {
        let _ = conn.set_nodelay(true);
        let _ = conn.set_write_timeout(Some(config.write_timeout));
        Client {
            conn,
            id,
            events,
            config,
            done,
            log,
            writer: None,
            farewell: None,
        }
    }

    /// Does what the session said, in order; the end, if it said so.
    pub fn act(&mut self, session: &mut Session, out: &mut Vec<Output>) -> Option<End> {
        while !out.is_empty() {
            let mut outputs = std::mem::take(out).into_iter().peekable();
            while let Some(output) = outputs.next() {
                match output {
                    // A line just before the end is the farewell: written last, in `finish`.
                    Output::Reply(line) if matches!(outputs.peek(), Some(Output::End(_))) => {
                        self.farewell = Some(line);
                    }
                    Output::Reply(line) => self.reply(&line),
                    Output::Join(name) => match self.join(name) {
                        Ok(admitted) => session.joined(admitted, Instant::now(), out),
                        Err(end) => return Some(end),
                    },
                    Output::Say(message) => {
                        if self.events.send(Event::Say(message)).is_err() {
                            return Some(End::Shutdown);
                        }
                    }
                    Output::Log(line) => self.log.line(line),
                    Output::End(end) => return Some(shutdown_or(end, self.done)),
                }
            }
        }
        None
    }

    /// A line for this client alone: written at once while naming, queued behind the room's
    /// messages once admitted (the writer owns the socket's write side then).
    fn reply(&self, line: &Message) {
        match &self.writer {
            Some(writer) => {
                let bounds =
                    Clients::own_bounds(self.config.max_backlog, self.config.max_backlog_total);
                writer.own.offer(line, bounds);
            }
            None => {
                let _ = (&**self.conn).write_all(line.as_bytes());
            }
        }
    }

    /// Asks the room for `name`; true if admitted (the writer thread is then running).
    fn join(&mut self, name: Arc<str>) -> Result<bool, End> {
        let (reply, answer) = bounded::<Option<Joined>>(1);
        let join = Event::Join {
            id: self.id,
            name: Arc::clone(&name),
            member: reply,
        };
        self.events.send(join).map_err(|_| End::Shutdown)?;
        // The broadcaster answers unless it has stopped for the shutdown.
        let joined = select! {
            recv(answer) -> joined => joined.map_err(|_| End::Shutdown)?,
            recv(self.done.channel()) -> _ => return Err(End::Shutdown),
        };
        let Some(joined) = joined else {
            return Ok(false);
        };
        match self.start_writer(name, joined) {
            Ok(()) => Ok(true),
            Err(err) => {
                self.log.line(format_args!("spawn writer: {err}"));
                let _ = self.events.send(Event::Leave { id: self.id });
                self.reply(&crate::accept::FULL.into());
                Err(End::Closed)
            }
        }
    }

    fn start_writer(&mut self, name: Arc<str>, joined: Joined) -> io::Result<()> {
        let Joined { queue, drain, own } = joined;
        let group = WaitGroup::new();
        let member = group.add();
        let (conn, log, stall) = (
            Arc::clone(self.conn),
            self.log.clone(),
            self.config.write_timeout,
        );
        let thread = conns::spawn("client_writer", move || {
            let _member = member;
            if let Err(err) = client_writer(&conn, queue, &drain, stall) {
                log.line(format_args!("{name}: write failed, disconnecting: {err}"));
                // Wakes this client's reader, which then says Leave.
                let _ = conn.shutdown(Shutdown::Both);
            }
        })?;
        self.writer = Some(Writer {
            own,
            thread,
            finished: group.into_channel(),
        });
        Ok(())
    }

    /// A read failed for a reason other than the client closing.
    pub fn failed(&self, session: &Session, err: &io::Error) -> End {
        if !self.done.cancelled() {
            let name = session.name().map_or("(naming)", |name| &**name);
            self.log.line(format_args!("{name}: read failed: {err}"));
        }
        shutdown_or(End::Closed, self.done)
    }

    /// Tears down: the room hears of the leave (unless the server is stopping), the writer
    /// delivers what is queued (at most the stall limit, or `shutdown_grace` once the server
    /// is stopping, then its socket is cut), the farewell line, the socket closed.
    pub fn finish(self, end: End) {
        if self.writer.is_some() && end != End::Shutdown {
            let _ = self.events.send(Event::Leave { id: self.id });
        }
        if let Some(writer) = self.writer {
            drop(writer.own);
            let stuck = select! {
                recv(writer.finished) -> _ => false,
                recv(self.done.channel()) -> _ => writer.finished
                    .recv_timeout(self.config.shutdown_grace)
                    .is_err_and(|err| err.is_timeout()),
            };
            if stuck {
                let _ = self.conn.shutdown(Shutdown::Both);
            }
            let _ = writer.thread.join();
        }
        let farewell = match end {
            End::Shutdown => Some("Server shutting down\n".into()),
            End::Idle | End::Closed => self.farewell,
        };
        if let Some(line) = farewell {
            if self.done.cancelled() {
                let _ = self
                    .conn
                    .set_write_timeout(Some(self.config.shutdown_grace));
            }
            let _ = (&**self.conn).write_all(line.as_bytes());
        }
        let _ = self.conn.shutdown(Shutdown::Both);
    }
}

/// Writes all of `batch`, failing with `TimedOut` if that takes longer than `stall`. The socket's
/// write timeout alone would not do: it bounds each `write` call, and a client that takes a few
/// bytes now and then would never time out. The socket's timeout is `stall` on entry and is left
/// so on return.
pub fn write_batch(mut conn: &TcpStream, batch: &[u8], stall: Duration) -> io::Result<()> {
    let deadline = Instant::now() + stall;
    let mut rest = batch;
    let mut shortened = false;
    let result = loop {
        match conn.write(rest) {
            Ok(0) => break Err(ErrorKind::WriteZero.into()),
            Ok(n) if n == rest.len() => break Ok(()),
            Ok(n) => rest = &rest[n..],
            Err(err) if err.kind() == ErrorKind::Interrupted => continue,
            Err(err) if err.kind() == ErrorKind::WouldBlock => {
                break Err(ErrorKind::TimedOut.into());
            }
            Err(err) => break Err(err),
        }
        // Part of the batch went out: what is left has only the rest of the deadline.
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break Err(ErrorKind::TimedOut.into());
        }
        shortened = true;
        if let Err(err) = conn.set_write_timeout(Some(left)) {
            break Err(err);
        }
    };
    if shortened && result.is_ok() {
        conn.set_write_timeout(Some(stall))?;
    }
    result
}

/// Drops happen while a write waits on a full socket: once the queue is empty, the client is
/// told how many it missed.
pub fn tell_drops(
    conn: &TcpStream,
    queue: &Receiver<Message>,
    drain: &Drain,
    stall: Duration,
) -> io::Result<()> {
    if queue.is_empty()
        && let Some(notice) = drain.caught_up()
    {
        write_batch(conn, notice.as_bytes(), stall)?;
    }
    Ok(())
}
