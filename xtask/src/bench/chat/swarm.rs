//! The load client: chat connections multiplexed over one mio event loop on the calling
//! thread, so one thread holds 20,000 of them (a thread each would cost the bench what it
//! measures in the server).

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::event::Event;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

/// Connections being set up at once (opened, not yet greeted): waves that keep the server's
/// accept queue from overflowing.
const WAVE: usize = 1_000;
/// The closed loop's senders (named `s0`..`s9`) and the messages they keep in flight together.
pub const SENDERS: usize = 10;
const IN_FLIGHT: usize = 64;
/// The text after each message's id: lines of about 100 bytes as delivered.
const PADDING: &str = "the quick brown fox jumps over the lazy dog, 0123456789 abcdefghijklm";

/// What the clients have seen, summed over all of them.
#[derive(Default)]
pub struct Tally {
    pub opened: usize,
    pub greeted: usize,
    /// Told the server is full (or busy) before being greeted.
    pub refused: usize,
    /// Connections that failed or closed before being greeted; the first reason.
    pub failed: usize,
    pub first_error: Option<String>,
    pub arrivals: u64,
    /// Arrival notices due to the readers: a greeting owes one to each reader greeted before.
    pub expected_arrivals: u64,
    readers_greeted: u64,
    /// Messages the server said it dropped (`*** N messages dropped ...`).
    pub dropped: u64,
    pub last_greeting: Option<Instant>,
    pub last_arrival: Option<Instant>,
}

struct Conn {
    stream: TcpStream,
    /// The start of a line not yet complete.
    partial: Vec<u8>,
    out: Vec<u8>,
    name: String,
    connected: bool,
    greeted: bool,
    /// Whether it reads on once greeted (a healthy client) or stops (a stalled one).
    reads: bool,
    live: bool,
    sampler: bool,
    /// Messages received: the ordinal of the next one in the room's total order.
    seen: usize,
}

/// The closed loop: at most [`IN_FLIGHT`] messages out; one leaves the flight when every
/// reading client has it.
pub struct Flow {
    origin: Instant,
    /// Send time of each message id, in ns since `origin`.
    sent_ns: Vec<u64>,
    /// How many receivers have the k-th message of the room's order.
    have: Vec<u32>,
    receivers: u32,
    pub completed: usize,
    in_flight: usize,
    /// Ids from here on have their latency sampled.
    timed_from: usize,
    /// Send to receipt on the sampling receivers, in microseconds.
    pub latencies: Vec<u32>,
}

pub struct Swarm {
    poll: Poll,
    addr: SocketAddr,
    conns: Vec<Conn>,
    /// Connections still to open, whether they read on once greeted, their receive buffer.
    pending: usize,
    pending_reads: bool,
    pending_rcvbuf: Option<usize>,
    /// Every `sample_every`-th connection records latencies.
    pub sample_every: usize,
    pub tally: Tally,
    pub flow: Option<Flow>,
    pub started: Instant,
    chunk: Vec<u8>,
}

impl Swarm {
    pub fn new(addr: SocketAddr) -> io::Result<Swarm> {
        Ok(Swarm {
            poll: Poll::new()?,
            addr,
            conns: Vec::new(),
            pending: 0,
            pending_reads: true,
            pending_rcvbuf: None,
            sample_every: usize::MAX,
            tally: Tally::default(),
            flow: None,
            started: Instant::now(),
            chunk: vec![0; 256 << 10],
        })
    }

    /// Asks for `count` more clients, opened in waves by [`Swarm::run_until`].
    pub fn open(&mut self, count: usize, reads: bool, rcvbuf: Option<usize>) {
        (self.pending, self.pending_reads, self.pending_rcvbuf) = (count, reads, rcvbuf);
    }

    /// Greeted clients that read: the closed loop's receivers.
    pub fn start_flow(&mut self) {
        let receivers = self.conns.iter().filter(|c| c.live && c.reads).count() as u32;
        self.flow = Some(Flow {
            origin: Instant::now(),
            sent_ns: Vec::new(),
            have: Vec::new(),
            receivers,
            completed: 0,
            in_flight: 0,
            timed_from: usize::MAX,
            latencies: Vec::new(),
        });
    }

    /// Runs the event loop until `done` holds (true) or `cap` has passed (false).
    pub fn run_until(&mut self, cap: Duration, done: impl Fn(&Swarm) -> bool) -> io::Result<bool> {
        let deadline = Instant::now() + cap;
        let mut events = Events::with_capacity(4096);
        loop {
            self.open_wave();
            self.pump();
            if done(self) {
                return Ok(true);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(false);
            }
            let wait = left.min(Duration::from_millis(50));
            match self.poll.poll(&mut events, Some(wait)) {
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                result => result?,
            }
            let arrivals = self.tally.arrivals;
            for event in events.iter() {
                self.on_event(event);
            }
            if self.tally.arrivals != arrivals {
                self.tally.last_arrival = Some(Instant::now());
            }
        }
    }

    fn open_wave(&mut self) {
        while self.pending > 0 && self.joining() < WAVE {
            self.pending -= 1;
            self.tally.opened += 1;
            if let Err(err) = self.connect() {
                self.fail(format!("connect: {err}"));
            }
        }
    }

    /// Connections opened and not yet greeted, refused or failed.
    fn joining(&self) -> usize {
        let t = &self.tally;
        t.opened - t.greeted - t.failed - t.refused
    }

    fn connect(&mut self) -> io::Result<()> {
        use socket2::{Domain, Socket, Type};
        let socket = Socket::new(Domain::for_address(self.addr), Type::STREAM, None)?;
        if let Some(bytes) = self.pending_rcvbuf {
            socket.set_recv_buffer_size(bytes)?;
        }
        socket.set_nonblocking(true)?;
        match socket.connect(&self.addr.into()) {
            Err(err) if err.raw_os_error() != Some(libc::EINPROGRESS) => return Err(err),
            _ => {}
        }
        let mut stream = TcpStream::from_std(socket.into());
        let index = self.conns.len();
        let interest = Interest::READABLE | Interest::WRITABLE;
        self.poll
            .registry()
            .register(&mut stream, Token(index), interest)?;
        self.conns.push(Conn {
            stream,
            partial: Vec::new(),
            out: Vec::new(),
            name: name(index),
            connected: false,
            greeted: false,
            reads: self.pending_reads,
            live: true,
            sampler: index % self.sample_every == 0,
            seen: 0,
        });
        Ok(())
    }

    fn fail(&mut self, why: String) {
        self.tally.failed += 1;
        self.tally.first_error.get_or_insert(why);
    }

    fn on_event(&mut self, event: &Event) {
        let index = event.token().0;
        if !self.conns[index].live {
            return;
        }
        if event.is_writable() {
            if let Err(err) = self.on_writable(index) {
                return self.close(index, format!("write: {err}"));
            }
        }
        if event.is_readable() || event.is_read_closed() || event.is_error() {
            self.on_readable(index);
        }
    }

    /// Once connected, sends the name, then whatever is queued.
    fn on_writable(&mut self, index: usize) -> io::Result<()> {
        let conn = &mut self.conns[index];
        if !conn.connected {
            if let Some(err) = conn.stream.take_error()? {
                return Err(err);
            }
            match conn.stream.peer_addr() {
                Err(err) if err.kind() == io::ErrorKind::NotConnected => return Ok(()),
                result => result?,
            };
            conn.connected = true;
            conn.stream.set_nodelay(true)?;
            conn.out = format!("{}\n", conn.name).into_bytes();
        }
        flush(conn)
    }

    fn on_readable(&mut self, index: usize) {
        loop {
            let conn = &mut self.conns[index];
            if !conn.live || (conn.greeted && !conn.reads) {
                return;
            }
            match conn.stream.read(&mut self.chunk) {
                Ok(0) => return self.close(index, "closed by the server".into()),
                Ok(n) => self.feed(index, n),
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return self.close(index, format!("read: {err}")),
            }
        }
    }

    /// Splits the `n` bytes just read into lines and takes each in.
    fn feed(&mut self, index: usize, n: usize) {
        let Swarm {
            conns,
            chunk,
            tally,
            flow,
            ..
        } = self;
        let conn = &mut conns[index];
        let mut rest = &chunk[..n];
        if !conn.partial.is_empty() {
            let Some(at) = newline(rest) else {
                return conn.partial.extend_from_slice(rest);
            };
            let mut line = std::mem::take(&mut conn.partial);
            line.extend_from_slice(&rest[..at]);
            take_line(conn, &line, tally, flow);
            rest = &rest[at + 1..];
        }
        while let Some(at) = newline(rest) {
            take_line(conn, &rest[..at], tally, flow);
            rest = &rest[at + 1..];
            if !conn.live || (conn.greeted && !conn.reads) {
                return;
            }
        }
        conn.partial.extend_from_slice(rest);
    }

    fn close(&mut self, index: usize, why: String) {
        let conn = &mut self.conns[index];
        conn.live = false;
        let _ = self.poll.registry().deregister(&mut conn.stream);
        let _ = conn.stream.shutdown(std::net::Shutdown::Both);
        if !conn.greeted {
            let why = format!("{}: {why}", conn.name);
            self.fail(why);
        }
    }

    /// Keeps the closed loop full: each free slot sends the next message from the next sender.
    fn pump(&mut self) {
        let Some(flow) = &mut self.flow else { return };
        while flow.in_flight < IN_FLIGHT {
            let id = flow.sent_ns.len();
            let conn = &mut self.conns[id % SENDERS];
            conn.out
                .extend_from_slice(format!("#{id} {PADDING}\n").as_bytes());
            flow.sent_ns.push(flow.origin.elapsed().as_nanos() as u64);
            flow.in_flight += 1;
            if flush(conn).is_err() {
                flow.in_flight = usize::MAX;
            }
        }
    }
}

impl Flow {
    /// Samples the latency of the messages sent from now on.
    pub fn time_from_now(&mut self) {
        self.timed_from = self.sent_ns.len();
    }

    fn deliver(&mut self, ordinal: usize, id: Option<usize>) {
        if self.have.len() <= ordinal {
            self.have.resize(ordinal + 1, 0);
        }
        self.have[ordinal] += 1;
        if self.have[ordinal] == self.receivers {
            self.completed += 1;
            self.in_flight = self.in_flight.saturating_sub(1);
        }
        let sent = id.filter(|&id| id >= self.timed_from);
        if let Some(&sent) = sent.and_then(|id| self.sent_ns.get(id)) {
            let now = self.origin.elapsed().as_nanos() as u64;
            let micros = now.saturating_sub(sent) / 1000;
            self.latencies.push(micros.min(u64::from(u32::MAX)) as u32);
        }
    }
}

/// Client `index`'s name: the senders first, then names of one length.
pub fn name(index: usize) -> String {
    if index < SENDERS {
        format!("s{index}")
    } else {
        format!("c{index:05}")
    }
}

fn flush(conn: &mut Conn) -> io::Result<()> {
    while conn.connected && !conn.out.is_empty() {
        match conn.stream.write(&conn.out) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => drop(conn.out.drain(..n)),
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

/// The kinds of line the server sends, as far as the bench counts them.
#[derive(Debug, PartialEq)]
enum Line {
    Message,
    Arrival,
    Greeting,
    Dropped(u64),
    Refused,
    Other,
}

fn classify(line: &[u8], greeted: bool) -> Line {
    let has = |needle: &[u8]| line.windows(needle.len()).any(|w| w == needle);
    if line.len() > 5 && line[0] == b's' && &line[2..5] == b": #" {
        Line::Message
    } else if line.ends_with(b" has arrived") {
        Line::Arrival
    } else if let Some(rest) = line.strip_prefix(b"*** ") {
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        let count = std::str::from_utf8(&rest[..digits]).ok();
        Line::Dropped(count.and_then(|n| n.parse().ok()).unwrap_or(0))
    } else if greeted {
        Line::Other
    } else if line.starts_with(b"Current clients:") {
        Line::Greeting
    } else if has(b"full") || has(b"try again") || has(b"busy") {
        Line::Refused
    } else {
        Line::Other
    }
}

fn take_line(conn: &mut Conn, line: &[u8], tally: &mut Tally, flow: &mut Option<Flow>) {
    match classify(line, conn.greeted) {
        Line::Message => {
            if let Some(flow) = flow {
                flow.deliver(conn.seen, conn.sampler.then(|| message_id(line)).flatten());
                conn.seen += 1;
            }
        }
        Line::Arrival => tally.arrivals += 1,
        Line::Dropped(count) => tally.dropped += count,
        Line::Greeting => {
            conn.greeted = true;
            tally.greeted += 1;
            tally.expected_arrivals += tally.readers_greeted;
            tally.readers_greeted += u64::from(conn.reads);
            tally.last_greeting = Some(Instant::now());
        }
        Line::Refused => {
            tally.refused += 1;
            conn.live = false;
        }
        Line::Other => {}
    }
}

/// The id in a message line `sN: #ID ...`.
fn message_id(line: &[u8]) -> Option<usize> {
    let digits = line.get(5..)?;
    let len = digits.iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&digits[..len]).ok()?.parse().ok()
}

/// The first `\n` in `bytes`, found by the C library's vectorised memchr (the bench builds
/// unoptimised, and it scans a gigabyte in the largest join storm).
fn newline(bytes: &[u8]) -> Option<usize> {
    // SAFETY: memchr reads at most `bytes.len()` bytes from the start of a live slice; the
    // pointer it returns, if any, points into that slice, so the offset is in range.
    let found = unsafe { libc::memchr(bytes.as_ptr().cast(), b'\n'.into(), bytes.len()) };
    (!found.is_null()).then(|| found as usize - bytes.as_ptr() as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_told_apart() {
        assert_eq!(classify(b"s3: #42 the quick", true), Line::Message);
        assert_eq!(classify(b"c00017 has arrived", true), Line::Arrival);
        let dropped = b"*** 12 messages dropped: you were not reading ***";
        assert_eq!(classify(dropped, true), Line::Dropped(12));
        assert_eq!(classify(b"Current clients: none", false), Line::Greeting);
        let full = b"Server full (10 clients); try again later";
        assert_eq!(classify(full, false), Line::Refused);
        assert_eq!(classify(b"You are c00001", false), Line::Other);
        assert_eq!(message_id(b"s3: #42 the quick"), Some(42));
        assert_eq!(newline(b"ab\ncd\n"), Some(2));
        assert_eq!(newline(b"abc"), None);
    }
}
