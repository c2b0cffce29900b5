//! The load client: chat connections multiplexed over one mio event loop on the calling
//! thread, so one thread holds 20,000 of them (a thread each would cost the bench what it
//! measures in the server). It speaks this project's protocol (a name, then `Current clients:`)
//! or the book's (no name, `You are ADDR`), so `cargo xtask compare` loads the Go chat with it.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

/// Loopback source addresses the clients are spread over (127.0.0.1 up): with one, the kernel's
/// search for a free port took a third of the 19,000-client scenario's time.
const SOURCES: u8 = 32;
/// Connections being set up at once (opened, not yet answered): waves that keep the server's
/// accept queue from overflowing.
const WAVE: usize = 1_000;
/// The closed loop's senders (named `s0`..`s9`) and the messages they keep in flight together.
const SENDERS: usize = 10;
const IN_FLIGHT: usize = 64;
/// The text after each message's id: lines of about 100 bytes as delivered.
const PADDING: &str = "the quick brown fox jumps over the lazy dog, 0123456789 abcdefghijklm";

/// Burst lines are this long as sent, newline included (issue 16: 50,000 lines of 50 bytes).
pub const BURST_LINE: usize = 50;

/// Filler lines are this long as sent: under chat's default `--max-line` (8 KiB), and under the
/// 64 KiB that the book's `bufio.Scanner` takes.
const FILL_LINE: usize = 8000;

/// How the server greets: this project's chat asks for a name and greets with the list of
/// clients; the book's names a client by its address and greets with `You are ADDR`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Named,
    Book,
}

/// What the clients have seen, summed over all of them.
#[derive(Default)]
pub struct Tally {
    pub opened: usize,
    pub greeted: usize,
    /// Told the server is full (or busy) instead of being greeted.
    pub refused: usize,
    /// Failed or closed before being greeted, and the first reason.
    pub failed: usize,
    first_error: Option<String>,
    pub arrivals: u64,
    /// Arrival notices due to the readers: a greeting owes one to each reader greeted before.
    pub expected_arrivals: u64,
    readers_greeted: u64,
    /// Messages the server said it dropped (`*** N messages dropped ...`).
    pub dropped: u64,
    /// Messages (`NAME: #ID ...`) received by all clients, and when the last came.
    pub messages: u64,
    pub last_message: Option<Instant>,
    /// Filler lines (`NAME: fill ...`) received by all clients.
    pub filler: u64,
    pub last_greeting: Option<Instant>,
    pub last_arrival: Option<Instant>,
}

struct Conn {
    stream: TcpStream,
    /// The start of a line not yet complete, and bytes not yet sent.
    partial: Vec<u8>,
    out: Vec<u8>,
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
#[derive(Default)]
pub struct Flow {
    /// Send time of each message id; ids from `timed_from` on are sampled.
    sent: Vec<Instant>,
    timed_from: usize,
    /// How many receivers have the k-th message of the room's order.
    have: Vec<u32>,
    receivers: u32,
    pub completed: usize,
    /// Deliveries (one message to one receiver) so far.
    pub delivered: u64,
    in_flight: usize,
    /// Send to receipt on the sampling receivers, in milliseconds.
    pub latencies: Vec<f64>,
}

pub struct Swarm {
    poll: Poll,
    addr: SocketAddr,
    protocol: Protocol,
    conns: Vec<Conn>,
    /// Connections still to open: how many, whether they read on, their receive buffer.
    pending: (usize, bool, Option<usize>),
    /// Every `sample_every`-th connection records latencies.
    pub sample_every: usize,
    pub tally: Tally,
    pub flow: Option<Flow>,
    pub started: Instant,
    chunk: Vec<u8>,
}

impl Tally {
    /// Clients greeted, refused or failed.
    pub fn answered(&self) -> usize {
        self.greeted + self.refused + self.failed
    }

    /// What went wrong, if anything: `; N refused, M failed: first error`.
    pub fn trouble(&self) -> String {
        if self.refused + self.failed == 0 {
            return String::new();
        }
        let why = self.first_error.as_deref().unwrap_or("");
        format!("; {} refused, {} failed: {why}", self.refused, self.failed)
    }
}

impl Swarm {
    pub fn new(addr: SocketAddr, protocol: Protocol) -> crate::Result<Swarm> {
        Ok(Swarm {
            poll: Poll::new().map_err(|err| format!("poll: {err}"))?,
            addr,
            protocol,
            conns: Vec::new(),
            pending: (0, true, None),
            sample_every: usize::MAX,
            tally: Tally::default(),
            flow: None,
            started: Instant::now(),
            chunk: vec![0; 256 << 10],
        })
    }

    /// Elapsed from the first connect to `at` (or to now), in seconds.
    pub fn secs(&self, at: Option<Instant>) -> f64 {
        at.unwrap_or_else(Instant::now)
            .duration_since(self.started)
            .as_secs_f64()
    }

    /// Asks for `count` more clients, opened in waves by [`Swarm::run_until`].
    pub fn open(&mut self, count: usize, reads: bool, rcvbuf: Option<usize>) {
        self.pending = (count, reads, rcvbuf);
    }

    /// Starts the closed loop; the live clients that read are its receivers.
    pub fn start_flow(&mut self) {
        let receivers = self.conns.iter().filter(|c| c.live && c.reads).count();
        let (receivers, timed_from) = (receivers as u32, usize::MAX);
        self.flow = Some(Flow {
            receivers,
            timed_from,
            ..Flow::default()
        });
    }

    /// Runs the event loop until `done` holds (true) or `cap` has passed (false).
    pub fn run_until(
        &mut self,
        cap: Duration,
        done: impl Fn(&Swarm) -> bool,
    ) -> crate::Result<bool> {
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
            let timeout = Some(left.min(Duration::from_millis(50)));
            match self.poll.poll(&mut events, timeout) {
                Err(err) if err.kind() == ErrorKind::Interrupted => continue,
                result => result.map_err(|err| format!("poll: {err}"))?,
            }
            let arrivals = self.tally.arrivals;
            for event in events.iter() {
                self.on_event(event.token().0, event.is_writable());
            }
            if self.tally.arrivals != arrivals {
                self.tally.last_arrival = Some(Instant::now());
            }
        }
    }

    fn open_wave(&mut self) {
        while self.pending.0 > 0 && self.tally.opened - self.tally.answered() < WAVE {
            self.pending.0 -= 1;
            self.tally.opened += 1;
            if let Err(err) = self.connect() {
                self.fail(format!("connect: {err}"));
            }
        }
    }

    /// A non-blocking connect; the name waits in `out` until the socket is writable.
    fn connect(&mut self) -> io::Result<()> {
        use socket2::{Domain, Socket, Type};
        let socket = Socket::new(Domain::for_address(self.addr), Type::STREAM, None)?;
        if let Some(bytes) = self.pending.2 {
            socket.set_recv_buffer_size(bytes)?;
        }
        socket.set_nonblocking(true)?;
        socket.set_tcp_nodelay(true)?;
        if let SocketAddr::V4(server) = self.addr
            && server.ip().is_loopback()
        {
            let source = Ipv4Addr::new(127, 0, 0, 1 + (self.conns.len() % SOURCES as usize) as u8);
            bind_source(&socket, source)?;
        }
        match socket.connect(&self.addr.into()) {
            Err(err) if err.raw_os_error() != Some(libc::EINPROGRESS) => return Err(err),
            _ => {}
        }
        let mut stream = TcpStream::from_std(socket.into());
        let index = self.conns.len();
        let both = Interest::READABLE | Interest::WRITABLE;
        self.poll
            .registry()
            .register(&mut stream, Token(index), both)?;
        self.conns.push(Conn {
            stream,
            partial: Vec::new(),
            out: match self.protocol {
                Protocol::Named => format!("{}\n", name(index)).into_bytes(),
                Protocol::Book => Vec::new(),
            },
            greeted: false,
            reads: self.pending.1,
            live: true,
            sampler: index.is_multiple_of(self.sample_every),
            seen: 0,
        });
        Ok(())
    }

    fn fail(&mut self, why: String) {
        self.tally.failed += 1;
        self.tally.first_error.get_or_insert(why);
    }

    fn on_event(&mut self, index: usize, writable: bool) {
        if writable
            && self.conns[index].live
            && let Err(err) = flush(&mut self.conns[index])
        {
            return self.close(index, format!("write: {err}"));
        }
        let mut drained = false;
        loop {
            let conn = &mut self.conns[index];
            if conn.live && conn.greeted && !conn.reads {
                // Else every line sent to the room would wake the loop for each silent client.
                let _ = self.poll.registry().deregister(&mut conn.stream);
            }
            if drained || !conn.live || (conn.greeted && !conn.reads) {
                return;
            }
            match conn.stream.read(&mut self.chunk) {
                Ok(0) => return self.close(index, "closed by the server".into()),
                Ok(n) => {
                    // A short read emptied the socket, and Linux raises a new edge for what
                    // comes next: one read call per wake-up instead of two.
                    drained = n < self.chunk.len();
                    self.feed(index, n);
                }
                Err(err) if err.kind() == ErrorKind::WouldBlock => return,
                Err(err) if err.kind() == ErrorKind::Interrupted => {}
                Err(err) => return self.close(index, format!("read: {err}")),
            }
        }
    }

    /// Splits the `n` bytes just read into lines and takes each in.
    fn feed(&mut self, index: usize, n: usize) {
        let (conns, tally, flow) = (&mut self.conns, &mut self.tally, &mut self.flow);
        let chunk = &self.chunk;
        let conn = &mut conns[index];
        let mut rest = &chunk[..n];
        if !conn.partial.is_empty() {
            let Some(at) = newline(rest) else {
                return conn.partial.extend_from_slice(rest);
            };
            let mut line = std::mem::take(&mut conn.partial);
            line.extend_from_slice(&rest[..at]);
            take_line(conn, &line, tally, flow, self.protocol);
            rest = &rest[at + 1..];
        }
        while let Some(at) = newline(rest) {
            take_line(conn, &rest[..at], tally, flow, self.protocol);
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
        if !conn.greeted {
            self.fail(format!("{}: {why}", name(index)));
        }
    }

    /// Keeps the closed loop full: each free slot sends the next message from the next sender.
    fn pump(&mut self) {
        let Some(flow) = &mut self.flow else { return };
        while flow.in_flight < IN_FLIGHT {
            let id = flow.sent.len();
            let conn = &mut self.conns[id % SENDERS];
            conn.out
                .extend_from_slice(format!("#{id} {PADDING}\n").as_bytes());
            flow.sent.push(Instant::now());
            // A sender that cannot send stalls the loop: the round is reported as capped.
            flow.in_flight += if flush(conn).is_ok() { 1 } else { IN_FLIGHT };
        }
    }
}

impl Swarm {
    /// Queues `lines` burst lines on each of the first `senders` clients at once (ids numbered
    /// across senders) and starts writing them; [`Swarm::run_until`] writes the rest.
    pub fn burst(&mut self, senders: usize, lines: usize) {
        let mut id = 0;
        for conn in self.conns.iter_mut().take(senders) {
            for _ in 0..lines {
                let head = format!("#{id} ");
                let fill = BURST_LINE.saturating_sub(head.len() + 1);
                conn.out.extend_from_slice(head.as_bytes());
                conn.out
                    .extend_from_slice(&PADDING.as_bytes()[..fill.min(PADDING.len())]);
                conn.out.push(b'\n');
                id += 1;
            }
            let _ = flush(conn);
        }
    }

    /// Queues filler lines (not messages of the closed loop) for about `bytes` on client
    /// `index`, and starts writing them; returns how many lines.
    pub fn fill(&mut self, index: usize, bytes: usize) -> usize {
        let lines = bytes.div_ceil(FILL_LINE);
        let mut line = b"fill ".to_vec();
        line.resize(FILL_LINE - 1, b'x');
        line.push(b'\n');
        if let Some(conn) = self.conns.get_mut(index) {
            for _ in 0..lines {
                conn.out.extend_from_slice(&line);
            }
            let _ = flush(conn);
        }
        lines
    }

    /// Messages each live reading client has received, in connection order.
    pub fn received(&self) -> Vec<usize> {
        let readers = self.conns.iter().filter(|c| c.live && c.reads);
        readers.map(|c| c.seen).collect()
    }
}

impl Flow {
    /// Samples the latency of the messages sent from now on.
    pub fn time_from_now(&mut self) {
        self.timed_from = self.sent.len();
    }

    fn deliver(&mut self, ordinal: usize, id: Option<usize>) {
        if self.have.len() <= ordinal {
            self.have.resize(ordinal + 1, 0);
        }
        self.have[ordinal] += 1;
        self.delivered += 1;
        if self.have[ordinal] == self.receivers {
            self.completed += 1;
            self.in_flight = self.in_flight.saturating_sub(1);
        }
        let sampled = id.filter(|&id| id >= self.timed_from);
        if let Some(sent) = sampled.and_then(|id| self.sent.get(id)) {
            self.latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
        }
    }
}

/// Client `index`'s name: the senders first, then names of one length.
pub fn name(index: usize) -> String {
    match index {
        0..SENDERS => format!("s{index}"),
        _ => format!("c{index:05}"),
    }
}

/// Binds `socket` to `source`, its port left for `connect` to choose (IP_BIND_ADDRESS_NO_PORT:
/// a port is then shared by sockets to different places, as an unbound socket's is).
fn bind_source(socket: &socket2::Socket, source: Ipv4Addr) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let on: libc::c_int = 1;
    // SAFETY: setsockopt on a live socket, with a pointer to an int and that int's size.
    let result = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&raw const on).cast(),
            std::mem::size_of_val(&on) as libc::socklen_t,
        )
    };
    if result != 0 {
        return Err(io::Error::last_os_error());
    }
    socket.bind(&SocketAddr::from((source, 0)).into())
}

/// Writes what `conn` has queued, as far as its socket takes it (not yet connected: later).
fn flush(conn: &mut Conn) -> io::Result<()> {
    while !conn.out.is_empty() {
        match conn.stream.write(&conn.out) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => drop(conn.out.drain(..n)),
            Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::NotConnected) => {
                break;
            }
            Err(err) if err.kind() == ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

/// Counts one line the server sent: a message, an arrival, a greeting, a notice of drops, or
/// (before the greeting) a refusal.
fn take_line(
    conn: &mut Conn,
    line: &[u8],
    tally: &mut Tally,
    flow: &mut Option<Flow>,
    protocol: Protocol,
) {
    let has = |needle: &[u8]| line.windows(needle.len()).any(|w| w == needle);
    // Where a name ends (a greeting lists thousands: never scanned whole).
    let head = &line[..line.len().min(40)];
    let greeting: &[u8] = match protocol {
        Protocol::Named => b"Current clients:",
        Protocol::Book => b"You are ",
    };
    // Arrivals first: a join storm brings tens of millions, and the bench builds unoptimised.
    if line.ends_with(b" has arrived") {
        tally.arrivals += 1;
    } else if let Some(id) = message_id(line) {
        if let Some(flow) = flow {
            flow.deliver(conn.seen, conn.sampler.then_some(id).flatten());
        }
        conn.seen += 1;
        tally.messages += 1;
        tally.last_message = Some(Instant::now());
    } else if line.len() >= FILL_LINE / 2 && head.windows(7).any(|w| w == b": fill ") {
        tally.filler += 1;
    } else if let Some(rest) = line.strip_prefix(b"*** ") {
        tally.dropped += number(rest).unwrap_or(0) as u64;
    } else if !conn.greeted && line.starts_with(greeting) {
        conn.greeted = true;
        tally.greeted += 1;
        tally.last_greeting = Some(Instant::now());
        tally.expected_arrivals += tally.readers_greeted;
        tally.readers_greeted += u64::from(conn.reads);
    } else if !conn.greeted
        && protocol == Protocol::Named
        && (has(b"full") || has(b"try again") || has(b"busy"))
    {
        tally.refused += 1;
        conn.live = false;
    }
}

/// A message line is `NAME: #ID ...` (the name has no `: `; the book's `127.0.0.1:PORT`
/// neither): `Some` of the id, parsed if it is a number, for a message, `None` for any other line.
fn message_id(line: &[u8]) -> Option<Option<usize>> {
    let head = &line[..line.len().min(40)];
    let at = find(head, b'#').filter(|&at| at >= 2)?;
    let name = &head[..at - 2];
    if &head[at - 2..at] != b": " || name.windows(2).any(|w| w == b": ") {
        return None;
    }
    Some(number(&line[at + 1..]))
}

/// The number that `bytes` starts with.
fn number(bytes: &[u8]) -> Option<usize> {
    let digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&bytes[..digits]).ok()?.parse().ok()
}

/// The first `\n` in `bytes`.
fn newline(bytes: &[u8]) -> Option<usize> {
    find(bytes, b'\n')
}

/// The first `byte` in `bytes`, found by the C library's vectorised memchr (the bench builds
/// unoptimised, and it scans a gigabyte in the largest join storm).
fn find(bytes: &[u8], byte: u8) -> Option<usize> {
    // SAFETY: memchr reads at most `bytes.len()` bytes from the start of a live slice; the
    // pointer it returns, if any, points into that slice, so the offset is in range.
    let found = unsafe { libc::memchr(bytes.as_ptr().cast(), byte.into(), bytes.len()) };
    (!found.is_null()).then(|| found as usize - bytes.as_ptr() as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_numbers_are_found() {
        assert_eq!(newline(b"c00017 has arrived\nc0"), Some(18));
        assert_eq!(newline(b"no end yet"), None);
        assert_eq!(number(b"42 messages dropped"), Some(42));
        assert_eq!(number(b"none"), None);
        assert_eq!(message_id(b"s3: #17 the quick"), Some(Some(17)));
        assert_eq!(message_id(b"127.0.0.1:5123: #4 x"), Some(Some(4)));
        assert_eq!(message_id(b"Current clients: s0, s1"), None);
        assert_eq!(message_id(b"c00012 has arrived"), None);
        assert_eq!(message_id(b"#1 x"), None);
        assert_eq!(message_id(b"a: b: #1 x"), None);
        assert_eq!(message_id(b"s1: hi #2"), None);
    }
}
