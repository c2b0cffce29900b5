//! One client of an event loop: its session, its place in the loop's feed, its own lines, and
//! the non-blocking writes that deliver them in one order, as much as the socket takes.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::Arc;
use std::time::Instant;

use mio::net::TcpStream;

use crate::Message;
use crate::backlog::dropped_notice;
use crate::session::{End, Session};

use super::feed::Feed;

/// Bytes gathered for one `write`.
pub const BATCH: usize = 64 << 10;
/// Bytes one flush writes at most before letting the loop serve others.
const FLUSH_BYTES: usize = 256 << 10;
/// Own lines queued for a client at most (notices for a client that floods and never reads);
/// more are dropped.
const MAX_PRIVATE: usize = 64;

pub struct Conn {
    pub id: u64,
    pub stream: TcpStream,
    pub session: Session,
    /// The next feed message for this client; `None` until the room admits it.
    pub cursor: Option<u64>,
    /// A message of which only the first `.1` bytes went out.
    current: Option<(Message, usize)>,
    /// Lines for this client alone, each to go before the feed message of its number.
    private: VecDeque<(u64, Message)>,
    /// Since when the socket has taken nothing of what is pending (the stall limit).
    pub blocked_since: Option<Instant>,
    /// The room has been asked about this client's name: it must hear of the leave.
    pub in_room: bool,
    /// The session is over: deliver what is pending up to this feed number, then close.
    pub ending: Option<(End, u64)>,
    /// Messages dropped for this client, all told.
    pub dropped: u64,
    /// Input was left unread because the client was [`choked`](Conn::choked).
    pub throttled: bool,
}

/// What a flush achieved.
#[derive(Debug, PartialEq, Eq)]
pub enum Flushed {
    /// Nothing is left pending.
    All,
    /// The socket is full; wait for it to be writable.
    Blocked,
    /// The flush stopped at its size limit; more is pending.
    More,
}

/// One piece of what is pending, in delivery order.
enum Piece<'a> {
    Current(&'a Message, usize),
    Private(&'a Message),
    Feed(&'a Message),
}

impl<'a> Piece<'a> {
    fn bytes(&self) -> &'a [u8] {
        match *self {
            Piece::Current(message, sent) => &message.as_bytes()[sent..],
            Piece::Private(message) | Piece::Feed(message) => message.as_bytes(),
        }
    }
}

impl Conn {
    pub fn new(id: u64, stream: TcpStream, session: Session) -> Conn {
        Conn {
            id,
            stream,
            session,
            cursor: None,
            current: None,
            private: VecDeque::new(),
            blocked_since: None,
            in_room: false,
            ending: None,
            dropped: 0,
            throttled: false,
        }
    }

    /// Queues a line for this client alone, after everything the room sent it so far (dropped if
    /// the client has let `MAX_PRIVATE` of them pile up: it floods and does not read).
    pub fn reply(&mut self, line: Message, feed: &Feed) {
        if self.private.len() < MAX_PRIVATE {
            self.private.push_back((feed.head(), line));
        }
    }

    /// The server's last line to this client, after everything pending (never dropped).
    pub fn farewell(&mut self, line: Message, feed: &Feed) {
        self.private.push_back((feed.head(), line));
    }

    /// True while the client has let its own lines pile up: its input is not read until it
    /// reads them (as a blocked write stops a thread engine's reader).
    pub fn choked(&self) -> bool {
        self.private.len() >= MAX_PRIVATE
    }

    /// The room admitted the client: its cursor starts at the feed's head, its welcome first.
    pub fn admit(&mut self, welcome: Message, feed: &Feed) {
        self.cursor = Some(feed.head());
        self.private.push_back((feed.head(), welcome));
    }

    /// The client fell off the feed's tail: it skips to the tail, and a notice of how many it
    /// missed takes the place of the gap. Returns how many.
    pub fn catch_up(&mut self, feed: &Feed) -> u64 {
        let Some(cursor) = self.cursor.filter(|&cursor| cursor < feed.tail()) else {
            return 0;
        };
        let missed = feed.tail() - cursor;
        self.cursor = Some(feed.tail());
        let at = self.private.partition_point(|&(seq, _)| seq <= feed.tail());
        self.private
            .insert(at, (feed.tail(), dropped_notice(missed)));
        self.dropped += missed;
        missed
    }

    /// The feed number delivery stops at: the head, or where the session ended.
    fn limit(&self, feed: &Feed) -> u64 {
        self.ending
            .map_or(feed.head(), |(_, at)| at.min(feed.head()))
    }

    /// What is pending, in order: the rest of a partly written message, then own lines and
    /// feed messages by their numbers.
    fn pieces<'a>(&'a self, feed: &'a Feed) -> impl Iterator<Item = Piece<'a>> + 'a {
        let current = self
            .current
            .as_ref()
            .map(|(m, sent)| Piece::Current(m, *sent));
        let (mut private, mut cursor, limit) = (0, self.cursor, self.limit(feed));
        let rest = std::iter::from_fn(move || {
            if let Some((seq, line)) = self.private.get(private)
                && cursor.is_none_or(|cursor| *seq <= cursor || cursor >= limit)
            {
                private += 1;
                return Some(Piece::Private(line));
            }
            let at = cursor.filter(|&at| at < limit)?;
            cursor = Some(at + 1);
            feed.get(at).map(Piece::Feed)
        });
        current.into_iter().chain(rest)
    }

    /// Writes as much of what is pending as the socket takes, many messages per `write`: they
    /// are copied into `batch` first, since the kernel copies one long slice much faster than
    /// many short ones.
    pub fn flush(&mut self, feed: &Feed, now: Instant, batch: &mut Vec<u8>) -> io::Result<Flushed> {
        let mut written = 0;
        while written < FLUSH_BYTES {
            batch.clear();
            for piece in self.pieces(feed) {
                batch.extend_from_slice(piece.bytes());
                if batch.len() >= BATCH {
                    break;
                }
            }
            if batch.is_empty() {
                self.blocked_since = None;
                self.release();
                return Ok(Flushed::All);
            }
            let n = match (&self.stream).write(batch) {
                Ok(n) => n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => 0,
                Err(err) => return Err(err),
            };
            if n > 0 {
                self.blocked_since = None;
                self.consume(feed, n);
                written += n;
            }
            if n < batch.len() {
                self.blocked_since.get_or_insert(now);
                return Ok(Flushed::Blocked);
            }
        }
        Ok(Flushed::More)
    }

    /// Advances past `n` written bytes: whole pieces are done, a partial one becomes current.
    fn consume(&mut self, feed: &Feed, mut n: usize) {
        let (mut current_done, mut privates, mut feeds, mut partial) = (false, 0, 0, None);
        for piece in self.pieces(feed) {
            let len = piece.bytes().len();
            if n < len {
                partial = Some(match piece {
                    Piece::Current(message, sent) => (Arc::clone(message), sent + n),
                    Piece::Private(message) | Piece::Feed(message) => (Arc::clone(message), n),
                });
                current_done |= matches!(piece, Piece::Current(..));
                match piece {
                    Piece::Private(_) => privates += 1,
                    Piece::Feed(_) => feeds += 1,
                    Piece::Current(..) => {}
                }
                break;
            }
            n -= len;
            match piece {
                Piece::Current(..) => current_done = true,
                Piece::Private(_) => privates += 1,
                Piece::Feed(_) => feeds += 1,
            }
            if n == 0 {
                break;
            }
        }
        if current_done {
            self.current = None;
        }
        self.private.drain(..privates);
        if let Some(cursor) = &mut self.cursor {
            *cursor += feeds;
        }
        if partial.is_some() {
            self.current = partial;
        }
    }

    /// Idle clients stay cheap: emptied buffers are given back.
    fn release(&mut self) {
        if self.private.is_empty() && self.private.capacity() > 0 {
            self.private = VecDeque::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::net::{TcpListener, TcpStream as StdStream};
    use std::time::Duration;

    use crate::session::Limits;

    /// A conn over a real loopback socket, and the client's end (reads time out).
    fn pair() -> (Conn, BufReader<StdStream>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let client = StdStream::connect(listener.local_addr().expect("addr")).expect("connect");
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let (server, peer) = listener.accept().expect("accept");
        server.set_nonblocking(true).expect("nonblocking");
        let limits = Limits {
            max_line: 100,
            idle_timeout: Duration::from_secs(60),
        };
        let session = Session::new(peer, limits, Instant::now(), &mut Vec::new());
        let conn = Conn::new(1, TcpStream::from_std(server), session);
        (conn, BufReader::new(client))
    }

    fn lines(client: &mut BufReader<StdStream>, count: usize) -> Vec<String> {
        (0..count)
            .map(|_| {
                let mut line = String::new();
                client.read_line(&mut line).expect("a line");
                line
            })
            .collect()
    }

    #[test]
    fn own_lines_and_feed_messages_go_out_in_the_rooms_order() {
        let (mut conn, mut client) = pair();
        let mut feed = Feed::new(1 << 20);
        let mut batch = Vec::new();
        feed.push("before the join\n".into());
        conn.reply("Enter your name:\n".into(), &feed);
        conn.admit("You are x\n".into(), &feed);
        feed.push("a\n".into());
        conn.reply("Line too long\n".into(), &feed);
        feed.push("b\n".into());
        let flushed = conn
            .flush(&feed, Instant::now(), &mut batch)
            .expect("flush");
        assert_eq!(flushed, Flushed::All);
        assert_eq!(
            lines(&mut client, 5),
            [
                "Enter your name:\n",
                "You are x\n",
                "a\n",
                "Line too long\n",
                "b\n"
            ]
        );
    }

    #[test]
    fn a_client_off_the_tail_is_told_at_the_gap_and_partial_writes_lose_nothing() {
        let (mut conn, mut client) = pair();
        let mut feed = Feed::new(1000);
        let mut batch = Vec::new();
        conn.admit("You are x\n".into(), &feed);
        for i in 0..100 {
            feed.push(format!("message {i:011}\n").into());
        }
        // 20 bytes each: the feed keeps the last 50; the first 50 are gone.
        assert_eq!(conn.catch_up(&feed), 50);
        assert_eq!(
            conn.flush(&feed, Instant::now(), &mut batch).ok(),
            Some(Flushed::All)
        );
        let got = lines(&mut client, 52);
        assert_eq!(got[0], "You are x\n");
        assert_eq!(
            got[1],
            "*** 50 messages dropped: you were not reading ***\n"
        );
        assert_eq!(got[2], "message 00000000050\n");
        assert_eq!(got[51], "message 00000000099\n");
        // Then far more than the socket takes at once, read as it is written.
        let mut feed = Feed::new(64 << 20);
        conn.cursor = Some(feed.head());
        let reader = std::thread::spawn(move || lines(&mut client, 100_000));
        for i in 0..100_000 {
            feed.push(format!("m{i}\n").into());
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while conn
            .flush(&feed, Instant::now(), &mut batch)
            .expect("flush")
            != Flushed::All
        {
            assert!(Instant::now() < deadline, "the reader stopped taking lines");
            std::thread::yield_now();
        }
        let got = reader.join().expect("reader");
        for (i, line) in got.iter().enumerate() {
            assert_eq!(line, &format!("m{i}\n"));
        }
    }
}
