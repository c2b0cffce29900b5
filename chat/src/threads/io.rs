//! The blocking I/O of the `threads` engine: what a connection thread does for its session's
//! outputs, reads bounded by the idle deadline, batched writes bounded by the stall limit.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::done::{Done, Never, OnCancel};
use common::wait_group::WaitGroup;
use crossbeam_channel::{Receiver, bounded, select};

use crate::config::Message;
use crate::flow::Gate;
use crate::room::Event;
use crate::session::{self, End, Output, Session};

use super::{Shared, client_writer, conns};

/// How long a reader waits at a shut gate (whose opening wakes it) before looking at the clock.
const GATE_WAIT: Duration = Duration::from_millis(250);
/// One `write` waits at most the write timeout divided by this.
const WRITE_WAIT: u32 = 8;

/// Cancellation wakes a blocked read by shutting the read side down (writes still work, for
/// the farewell line). The hook is unregistered when the guard is dropped.
pub fn wake_reader_on_cancel(conn: &Arc<TcpStream>, done: &Done) -> OnCancel {
    let conn = Arc::clone(conn);
    done.on_cancel(move || {
        let _ = conn.shutdown(Shutdown::Read);
    })
}

/// Reads what the client sent once the gate (if any) is open, until `deadline` (then `TimedOut`).
pub fn read_until(
    mut conn: &TcpStream,
    buf: &mut [u8],
    deadline: Instant,
    gate: Option<&Gate>,
    done: &Done,
) -> io::Result<usize> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ErrorKind::TimedOut.into());
        }
        if gate.is_some_and(|gate| !gate.wait(left.min(GATE_WAIT))) {
            if done.cancelled() {
                return Ok(0);
            }
            continue;
        }
        conn.set_read_timeout(Some(left))?;
        return match conn.read(buf) {
            Err(err) if err.kind() == ErrorKind::Interrupted => continue,
            Err(err) => match err.kind() {
                ErrorKind::WouldBlock => Err(ErrorKind::TimedOut.into()),
                ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted => Ok(0),
                _ => Err(err),
            },
            read => read,
        };
    }
}

/// Writes all of `batch`; a socket that takes nothing for `stall` fails (`TimedOut`). Each
/// `write` waits a fraction of it ([`WRITE_WAIT`]), so that a batch the socket took part of is
/// not given the whole limit again.
pub fn write_all(mut conn: &TcpStream, mut batch: &[u8], stall: Duration) -> io::Result<()> {
    let mut took = Instant::now();
    while !batch.is_empty() {
        match conn.write(batch) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => (batch, took) = (&batch[n..], Instant::now()),
            Err(err) if err.kind() == ErrorKind::WouldBlock && took.elapsed() >= stall => {
                return Err(ErrorKind::TimedOut.into());
            }
            Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

/// A connection thread's state beside its session.
pub struct Client<'a> {
    conn: &'a Arc<TcpStream>,
    id: u64,
    shared: &'a Shared,
    /// Once admitted: the writer thread.
    writer: Option<Writer>,
    /// The session's last line, written after everything else.
    last: Option<Message>,
}

struct Writer {
    thread: JoinHandle<()>,
    /// Disconnected when the writer thread has returned.
    finished: Receiver<Never>,
}

impl<'a> Client<'a> {
    pub fn new(conn: &'a Arc<TcpStream>, id: u64, shared: &'a Shared) -> Client<'a> {
        let _ = conn.set_nodelay(true);
        let _ = conn.set_write_timeout(Some(shared.config.write_timeout / WRITE_WAIT));
        Client {
            conn,
            id,
            shared,
            writer: None,
            last: None,
        }
    }

    /// Does what the session said, in order; the end, if it said so (or the writer failed: its
    /// socket took nothing for the write timeout, and what the client still sends is not read).
    pub fn act(&mut self, session: &mut Session, out: &mut Vec<Output>) -> Option<End> {
        let writer_gone = self.writer.as_ref().is_some_and(|w| w.thread.is_finished());
        if writer_gone && !self.shared.done.cancelled() {
            return Some(End::Closed);
        }
        while !out.is_empty() {
            for output in std::mem::take(out) {
                match output {
                    Output::Reply(line) => self.reply(line),
                    Output::Last(line) => self.last = Some(line),
                    Output::Join(name) => match self.join(name) {
                        Ok(admitted) => session.joined(admitted, Instant::now(), out),
                        Err(End::Shutdown) => session.shut_down(out),
                        Err(end) => return Some(end),
                    },
                    Output::Say(message) => {
                        self.shared.outbox.gate.send(&message);
                        if self.shared.events.send(Event::Say(message)).is_err() {
                            session.shut_down(out);
                        }
                    }
                    Output::Log(line) => self.shared.log.line(line),
                    Output::End(end) => return Some(end),
                }
            }
        }
        None
    }

    /// A line for this client alone: written at once while naming, queued behind the room's
    /// messages once admitted (the writer owns the socket's write side then).
    fn reply(&self, line: Message) {
        match &self.writer {
            Some(_) => self.shared.outbox.reply(self.id, line),
            None => {
                let _ = (&**self.conn).write_all(line.as_bytes());
            }
        }
    }

    /// Asks the room for `name`; true if admitted (the writer thread is then running).
    fn join(&mut self, name: Arc<str>) -> Result<bool, End> {
        let (reply, answer) = bounded::<bool>(1);
        let join = Event::Join {
            id: self.id,
            name: Arc::clone(&name),
            member: reply,
        };
        self.shared.events.send(join).map_err(|_| End::Shutdown)?;
        // The broadcaster answers unless it has stopped for the shutdown.
        let admitted = select! {
            recv(answer) -> admitted => admitted.map_err(|_| End::Shutdown)?,
            recv(self.shared.done.channel()) -> _ => return Err(End::Shutdown),
        };
        if !admitted {
            return Ok(false);
        }
        match self.start_writer(name) {
            Ok(()) => Ok(true),
            Err(err) => {
                self.shared.log.line(format_args!("spawn writer: {err}"));
                self.shared.outbox.remove(self.id);
                let _ = self.shared.events.send(Event::Leave { id: self.id });
                self.reply(session::full(None).into());
                Err(End::Closed)
            }
        }
    }

    fn start_writer(&mut self, name: Arc<str>) -> io::Result<()> {
        let group = WaitGroup::new();
        let member = group.add();
        let (conn, outbox, log, id) = (
            Arc::clone(self.conn),
            Arc::clone(&self.shared.outbox),
            self.shared.log.clone(),
            self.id,
        );
        let stall = self.shared.config.write_timeout;
        let thread = conns::spawn("client_writer", move || {
            let _member = member;
            if let Err(err) = client_writer(&conn, &outbox, id, stall) {
                log.line(format_args!("{name}: write failed, disconnecting: {err}"));
                // Wakes this client's reader, which then says Leave.
                let _ = conn.shutdown(Shutdown::Both);
            }
        })?;
        self.writer = Some(Writer {
            thread,
            finished: group.into_channel(),
        });
        Ok(())
    }

    /// A read failed for a reason other than the client closing.
    pub fn failed(&self, session: &Session, err: &io::Error) -> End {
        let name = session.name().map_or("(naming)", |name| &**name);
        let log = &self.shared.log;
        log.line(format_args!("{name}: read failed: {err}"));
        End::Closed
    }

    /// Tears down: the room hears of the leave (unless the server is stopping), the writer
    /// delivers what is pending and the last line (at most the write timeout, or
    /// `shutdown_grace` once the server is stopping, then its socket is cut), the socket closed.
    pub fn finish(self, end: End) {
        if let Some(writer) = self.writer {
            self.shared.outbox.leaving(self.id, self.last);
            let leave = Event::Leave { id: self.id };
            if end == End::Shutdown || self.shared.events.send(leave).is_err() {
                self.shared.outbox.left(self.id);
            }
            let stuck = select! {
                recv(writer.finished) -> _ => false,
                recv(self.shared.done.channel()) -> _ => {
                    // The room hears of no more leaves.
                    self.shared.outbox.left(self.id);
                    writer.finished
                        .recv_timeout(self.shared.config.shutdown_grace)
                        .is_err_and(|err| err.is_timeout())
                }
            };
            if stuck {
                let _ = self.conn.shutdown(Shutdown::Both);
            }
            let _ = writer.thread.join();
            self.shared.outbox.remove(self.id);
        } else if let Some(line) = self.last {
            if self.shared.done.cancelled() {
                let grace = self.shared.config.shutdown_grace;
                let _ = self.conn.set_write_timeout(Some(grace));
            }
            let _ = (&**self.conn).write_all(line.as_bytes());
        }
        let _ = self.conn.shutdown(Shutdown::Both);
    }
}
