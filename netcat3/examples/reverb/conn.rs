//! One client's connection, shared by the threads that serve it: `handle_conn`, its echoes, and
//! the thread that reads its lines (exercise 8.8's reading goroutine, so that `handle_conn` can
//! wait for a line and a timer at once).

use std::fmt;
use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use common::done::{Done, OnCancel};
use crossbeam_channel::{Receiver, Sender};

use crate::MAX_LINE;

/// The stack of the reading thread: it holds a buffer on the heap and little else.
const READER_STACK: usize = 128 << 10;

/// A client's socket, written a whole line at a time, and shut down when the done signal fires.
pub struct Conn {
    stream: Arc<TcpStream>,
    peer: SocketAddr,
    /// How long a write may wait for the client to make room.
    stall: Duration,
    /// One line goes out whole before the next (Go's `net.Conn` serialises each `Write` too).
    writes: Mutex<()>,
    /// Set by the first failed write, which alone is logged.
    failed: AtomicBool,
    done: Done,
    _shutdown_on_cancel: OnCancel,
}

/// The lines a client sends, from the reading thread. The channel disconnects at the end of
/// input, at a read error and at a line over [`MAX_LINE`] bytes.
pub struct Input {
    pub lines: Receiver<Vec<u8>>,
    reader: JoinHandle<io::Result<End>>,
}

/// Why the reading thread stopped (a read error aside).
enum End {
    Input,
    TooLong,
}

impl Conn {
    /// Takes an accepted connection and starts reading its lines. A write that waits longer than
    /// `stall` fails (the client takes nothing); the done signal shuts the socket down, which
    /// wakes every thread blocked on it. `None` (logged) when the client cannot be served.
    pub fn open(stream: TcpStream, stall: Duration, done: &Done) -> Option<(Arc<Conn>, Input)> {
        // A client gone before it is looked at has nothing left to serve.
        let peer = stream.peer_addr().ok()?;
        if let Err(err) = stream.set_write_timeout(Some(stall)) {
            common::exit::error("reverb", format_args!("{peer}: {err}: disconnected"));
            return None;
        }
        let stream = Arc::new(stream);
        let waker = Arc::clone(&stream);
        let conn = Arc::new(Conn {
            _shutdown_on_cancel: done.on_cancel(move || {
                let _ = waker.shutdown(Shutdown::Both);
            }),
            stream,
            peer,
            stall,
            writes: Mutex::new(()),
            failed: AtomicBool::new(false),
            done: done.clone(),
        });
        let (tx, lines) = crossbeam_channel::bounded(1);
        let socket = Arc::clone(&conn.stream);
        let spawned = thread::Builder::new()
            .name("reverb-reader".into())
            .stack_size(READER_STACK)
            .spawn(move || scan(&socket, &tx));
        match spawned {
            Ok(reader) => Some((conn, Input { lines, reader })),
            Err(err) => {
                conn.log(format_args!("a thread to read: {err}: disconnected"));
                None
            }
        }
    }

    /// The book's `fmt.Fprintln(c, "\t", text)`: a tab, a space, the text, a newline, in one
    /// write. `None` if it failed: the client is then disconnected (the first failure is logged).
    pub fn fprintln(&self, text: &[u8]) -> Option<()> {
        let mut line = Vec::with_capacity(text.len() + 3);
        line.extend_from_slice(b"\t ");
        line.extend_from_slice(text);
        line.push(b'\n');
        let written = {
            let _one_line_at_a_time = self.writes.lock().unwrap_or_else(PoisonError::into_inner);
            (&*self.stream).write_all(&line)
        };
        match written {
            Ok(()) => Some(()),
            Err(err) => {
                self.fail(&err);
                None
            }
        }
    }

    /// A write failed: says why once (unless the server is stopping) and disconnects, so the
    /// reading thread and the other echoes stop too.
    fn fail(&self, err: &io::Error) {
        if !self.failed.swap(true, Ordering::SeqCst) && !self.done.cancelled() {
            if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) {
                let stall = self.stall;
                self.log(format_args!("took no echo for {stall:?}: disconnected"));
            } else {
                self.log(format_args!("write: {err}: disconnected"));
            }
        }
        let _ = self.stream.shutdown(Shutdown::Both);
    }

    /// The book's `c.Close()`, once no echo is left to write: shuts the socket down, which ends
    /// the reading thread, and joins that thread (saying why it stopped reading, if worth it).
    pub fn close(&self, input: Input) {
        let _ = self.stream.shutdown(Shutdown::Both);
        // Dropped first: the reader may be blocked handing a line over.
        drop(input.lines);
        match input.reader.join() {
            Ok(Ok(End::TooLong)) => self.log(format_args!(
                "a line over {} KiB: stopped reading",
                MAX_LINE >> 10
            )),
            // After a failed write the read's error is the same event seen again.
            Ok(Err(err)) if !self.done.cancelled() && !self.failed.load(Ordering::SeqCst) => {
                self.log(format_args!("read: {err}"));
            }
            _ => {}
        }
    }

    /// One line on stderr about this client: `reverb: PEER: what`.
    pub fn log(&self, what: fmt::Arguments) {
        common::exit::error("reverb", format_args!("{}: {what}", self.peer));
    }
}

/// The reading thread: the client's lines, newline (and a `\r` before it) removed, handed over
/// one at a time, until the end of input or a line over [`MAX_LINE`] bytes (Go's `bufio.Scanner`
/// stops there too), or until nobody takes them.
fn scan(stream: &TcpStream, lines: &Sender<Vec<u8>>) -> io::Result<End> {
    let mut input = BufReader::new(stream);
    // The longest line, its `\r` and its newline.
    let limit = MAX_LINE as u64 + 2;
    loop {
        let mut line = Vec::new();
        let n = (&mut input).take(limit).read_until(b'\n', &mut line)?;
        if n == 0 {
            return Ok(End::Input);
        }
        if line.last() == Some(&b'\n') {
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
        }
        if line.len() > MAX_LINE {
            return Ok(End::TooLong);
        }
        if lines.send(line).is_err() {
            return Ok(End::Input);
        }
    }
}
