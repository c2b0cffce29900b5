//! The one flow and drop policy of both engines (exercise 8.15; SPEC.md, chat, item 8), with no
//! socket in it: a byte-bounded [`Feed`] of the room's messages, a [`Backlog`] per client (its
//! cursor into the feed and its own lines), and the [`Flow`] that decides, from "the socket took
//! N bytes" and the clock, what a client gets and whether the room may read more. A client that
//! keeps up *holds the room* and loses nothing: while it is past the high-water mark (a quarter
//! of `--max-backlog`) the [`Gate`] shuts and no sender is read (TCP pushes back on them). One
//! that takes nothing, or stays past the mark, for the stall limit (1 s) is *stalled*: kept
//! within `--max-backlog` of the head, the messages it skips dropped for it alone and counted,
//! and told once how many when it has caught up (it then holds the room again). The feed keeps
//! its share of `--max-backlog-total`; past it the oldest go, so the largest backlogs drop first,
//! but never one that a client holding the room has not read.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::config::{Config, Message};
use crate::log::Log;
use crate::session;

/// Own lines queued for a client at most; more are dropped, and its input waits until it reads.
const MAX_PRIVATE: usize = 64;
/// What holding a message costs beyond its text (its allocation's header and rounding, its slot
/// in the feed), counted so that a flood of empty lines is bounded in memory, not only in text.
const MESSAGE_OVERHEAD: u64 = 64;

/// The least the lines on their way to the feeds may cost before the [`Gate`] shuts.
const MIN_TRANSIT: usize = 64 << 10;

/// What the lines read and not yet in every feed may cost (once per feed) before the [`Gate`]
/// shuts: the high-water mark, so that the room's queue and the loops' inboxes stay within it.
pub fn transit_limit(config: &Config) -> usize {
    (config.max_backlog / 4).max(MIN_TRANSIT)
}

/// The room's messages, numbered, each with the byte offset of its start, held while a cursor
/// may still need them (a ring read by a cursor per client, as the LMAX Disruptor does).
pub struct Feed {
    entries: VecDeque<(Message, u64)>,
    /// The number of `entries[0]`.
    tail: u64,
    /// The byte offset after the newest message.
    end: u64,
    /// What the entries cost: their text and [`MESSAGE_OVERHEAD`] each.
    held: u64,
    /// The most bytes kept, counted as `held` is.
    cap: u64,
}

impl Feed {
    pub fn new(cap: usize) -> Feed {
        Feed {
            entries: VecDeque::new(),
            tail: 0,
            end: 0,
            held: 0,
            cap: cap as u64,
        }
    }

    /// The bytes of every message pushed so far.
    pub fn bytes(&self) -> u64 {
        self.end
    }

    /// The number the next message will have.
    pub fn head(&self) -> u64 {
        self.tail + self.entries.len() as u64
    }

    /// The byte offset where message `seq` starts (clamped to what is held).
    fn offset(&self, seq: u64) -> u64 {
        let index = usize::try_from(seq.saturating_sub(self.tail)).unwrap_or(usize::MAX);
        self.entries.get(index).map_or(self.end, |&(_, at)| at)
    }

    /// Bytes from message `from` up to message `to`.
    fn bytes_between(&self, from: u64, to: u64) -> u64 {
        self.offset(to).saturating_sub(self.offset(from))
    }

    /// The first message from which at most `bytes` lead up to message `to`.
    fn within(&self, bytes: u64, to: u64) -> u64 {
        let from = self.offset(to).saturating_sub(bytes);
        self.tail + self.entries.partition_point(|&(_, at)| at < from) as u64
    }

    /// Appends a message, letting the oldest before `keep` go past the cap (the newest is
    /// always kept).
    fn push(&mut self, message: Message, keep: u64) {
        let len = message.len() as u64;
        self.entries.push_back((message, self.end));
        self.end += len;
        self.held += len + MESSAGE_OVERHEAD;
        while self.held > self.cap && self.entries.len() > 1 && self.tail < keep {
            self.pop();
        }
    }

    /// Lets go of every message before `seq` (every cursor has passed it); an emptied feed
    /// gives its memory back, so a quiet server stays small.
    fn release_before(&mut self, seq: u64) {
        while self.tail < seq && !self.entries.is_empty() {
            self.pop();
        }
        if self.entries.is_empty() && self.entries.capacity() > 0 {
            self.entries = VecDeque::new();
        }
    }

    fn pop(&mut self) {
        if let Some((message, _)) = self.entries.pop_front() {
            self.tail += 1;
            self.held -= message.len() as u64 + MESSAGE_OVERHEAD;
        }
    }
}

/// What the server holds for one client: its place in the feed, its own lines, its flow state.
#[derive(Default)]
pub struct Backlog {
    /// The next feed message for this client; `None` until the room admits it.
    cursor: Option<u64>,
    /// A message of which only the first `.1` bytes went out.
    current: Option<(Message, usize)>,
    /// Lines for this client alone, each to go before the feed message of its number.
    private: VecDeque<(u64, Message)>,
    /// The session is over: deliver up to this feed number, then nothing more.
    end: Option<u64>,
    /// The last line, once the room has heard of the leave.
    last: Option<Message>,
    /// Since when something has been pending and the socket took none of it.
    waiting_since: Option<Instant>,
    /// Since when the client has been above the high-water mark.
    over_since: Option<Instant>,
    /// No longer holding the room (see the module's docs).
    stalled: bool,
    /// Holding the room and above the high-water mark: counted in its [`Flow`].
    behind: bool,
    /// Messages dropped and not yet told.
    untold: u64,
    /// Messages dropped, all told.
    dropped: u64,
}

/// Where a piece of what is pending comes from.
#[derive(Clone, Copy)]
enum Source {
    Current,
    Private,
    Feed,
}

/// One piece of what is pending: a message, from a byte offset on.
type Piece<'a> = (Source, &'a Message, usize);

impl Backlog {
    /// Queues a line for this client alone, after everything the room sent it so far; false if
    /// dropped (the client let [`MAX_PRIVATE`] of them pile up: it floods and does not read).
    pub fn reply(&mut self, line: Message, feed: &Feed) -> bool {
        let queued = !self.choked();
        if queued {
            self.private.push_back((feed.head(), line));
        }
        queued
    }

    /// The session is over; `last` is its last line. Everything the room sends until it has
    /// heard of the leave (the client's own last lines among them) is still delivered.
    pub fn leaving(&mut self, last: Option<Message>) {
        self.last = last;
    }

    /// The room has heard of the leave (or never will): the last line goes after everything
    /// pending (never dropped), and nothing the room sends later is delivered. False if it had.
    pub fn left(&mut self, feed: &Feed) -> bool {
        let leaving = self.end.is_none();
        if leaving {
            if let Some(line) = self.last.take() {
                self.private.push_back((feed.head(), line));
            }
            self.end = Some(feed.head());
        }
        leaving
    }

    /// True while the client has let its own lines pile up (the event engine then does not read
    /// its input until it takes them; beyond, its own lines are dropped).
    pub fn choked(&self) -> bool {
        self.private.len() >= MAX_PRIVATE
    }

    /// The feed number delivery stops at: the head, or where the session ended.
    fn limit(&self, feed: &Feed) -> u64 {
        self.end.map_or(feed.head(), |end| end.min(feed.head()))
    }

    /// True if nothing is pending.
    pub fn is_empty(&self, feed: &Feed) -> bool {
        let lag = |cursor| feed.bytes_between(cursor, self.limit(feed));
        self.current.is_none() && self.private.is_empty() && self.cursor.is_none_or(|c| lag(c) == 0)
    }

    /// True while the client no longer holds the room (see the module's docs).
    pub fn stalled(&self) -> bool {
        self.stalled
    }

    /// True once the session is over and everything up to its end has gone out.
    pub fn finished(&self, feed: &Feed) -> bool {
        self.end.is_some() && self.is_empty(feed)
    }

    /// Where this client is in the feed (the feed keeps everything from the oldest cursor).
    pub fn cursor(&self) -> Option<u64> {
        self.cursor
    }

    /// What is pending, in order: the rest of a partly written message, then own lines and
    /// feed messages by their numbers.
    fn pieces<'a>(&'a self, feed: &'a Feed) -> impl Iterator<Item = Piece<'a>> + 'a {
        let current = self
            .current
            .as_ref()
            .map(|(message, sent)| (Source::Current, message, *sent));
        let (mut private, mut cursor, limit) = (0, self.cursor, self.limit(feed));
        let rest = std::iter::from_fn(move || {
            if let Some((seq, line)) = self.private.get(private)
                && cursor.is_none_or(|cursor| *seq <= cursor || cursor >= limit)
            {
                private += 1;
                return Some((Source::Private, line, 0));
            }
            let at = cursor.filter(|&at| at < limit)?;
            cursor = Some(at + 1);
            let index = usize::try_from(at.checked_sub(feed.tail)?).ok()?;
            feed.entries
                .get(index)
                .map(|(message, _)| (Source::Feed, message, 0))
        });
        current.into_iter().chain(rest)
    }

    /// Copies what is pending into `batch`, up to about `max` bytes: the kernel copies one long
    /// slice much faster than many short ones.
    pub fn fill(&self, feed: &Feed, batch: &mut Vec<u8>, max: usize) {
        batch.clear();
        for (_, message, from) in self.pieces(feed) {
            batch.extend_from_slice(&message.as_bytes()[from..]);
            if batch.len() >= max {
                break;
            }
        }
    }

    /// The socket took `n` bytes of what [`fill`](Backlog::fill) gave: whole pieces are done, a
    /// partial one becomes current.
    pub fn consume(&mut self, feed: &Feed, mut n: usize, now: Instant) {
        if n == 0 {
            return;
        }
        self.waiting_since = Some(now);
        let (mut current_done, mut privates, mut feeds, mut partial) = (false, 0, 0, None);
        for (source, message, from) in self.pieces(feed) {
            let len = message.len() - from;
            match source {
                Source::Current => current_done = true,
                Source::Private => privates += 1,
                Source::Feed => feeds += 1,
            }
            if n < len {
                partial = Some((Message::clone(message), from + n));
                break;
            }
            n -= len;
            if n == 0 {
                break;
            }
        }
        if current_done || partial.is_some() {
            self.current = partial;
        }
        self.private.drain(..privates);
        if let Some(cursor) = &mut self.cursor {
            *cursor += feeds;
        }
        if self.private.is_empty() && self.private.capacity() > 0 {
            // Idle clients stay cheap: an emptied queue is given back.
            self.private = VecDeque::new();
        }
    }
}

/// Shut while any client that holds the room is above its high-water mark, or the lines on
/// their way to the feeds cost [`transit_limit`]: then no engine reads from a sender (a client
/// in the room; one naming itself is read). One per server.
pub struct Gate {
    /// Clients that hold the room and are behind.
    behind: AtomicUsize,
    /// What the lines read and not yet in every feed cost.
    transit: AtomicUsize,
    transit_limit: usize,
    lock: Mutex<()>,
    opened: Condvar,
}

impl Gate {
    pub fn new(config: &Config) -> Gate {
        Gate {
            behind: AtomicUsize::new(0),
            transit: AtomicUsize::new(0),
            transit_limit: transit_limit(config),
            lock: Mutex::new(()),
            opened: Condvar::new(),
        }
    }

    pub fn is_open(&self) -> bool {
        self.behind.load(Ordering::SeqCst) == 0
            && self.transit.load(Ordering::SeqCst) < self.transit_limit
    }

    /// `message` is on its way to a feed (counted before it is sent, so that it never arrives
    /// first).
    pub fn send(&self, message: &Message) {
        let cost = message.len() + MESSAGE_OVERHEAD as usize;
        self.transit.fetch_add(cost, Ordering::SeqCst);
    }

    /// `message` has reached a feed, or the room's queue has handed it on; wakes the readers
    /// waiting at the gate if that opens it.
    pub fn arrived(&self, message: &Message) {
        let cost = message.len() + MESSAGE_OVERHEAD as usize;
        let before = self.transit.fetch_sub(cost, Ordering::SeqCst);
        if before >= self.transit_limit && before - cost < self.transit_limit {
            self.wake();
        }
    }

    /// Waits at most `limit` for the gate to open; true if it is open.
    pub fn wait(&self, limit: Duration) -> bool {
        if self.is_open() {
            return true;
        }
        let guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        if !self.is_open() {
            let _ = self.opened.wait_timeout(guard, limit);
        }
        self.is_open()
    }

    /// One client that holds the room more, or fewer, is behind.
    fn behind(&self, behind: bool) {
        if behind {
            self.behind.fetch_add(1, Ordering::SeqCst);
        } else if self.behind.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.wake();
        }
    }

    /// Wakes the readers waiting at the gate (under its lock, so that none misses it).
    fn wake(&self) {
        let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        self.opened.notify_all();
    }
}

/// One feed and the policy for every backlog that reads it (drops, their log lines, the notice).
pub struct Flow {
    feed: Feed,
    /// A stalled client's bound; a quarter of it is the high-water mark.
    max_backlog: u64,
    /// How long a client may hold the room back (or take nothing) before it is stalled.
    stall: Duration,
    gate: Arc<Gate>,
    /// Messages dropped, summed over clients.
    dropped: u64,
    /// No message from this number on goes past the feed's cap: a client that holds the room
    /// may need it (the least cursor of those at the last [`passed`](Flow::passed), or lower).
    floor: u64,
    /// The least cursor reviewed since the last pass, of any client and of those that hold the
    /// room.
    lowest: u64,
    lowest_holding: u64,
    log: Log,
}

impl Flow {
    /// A feed of at most `cap` bytes under `config`'s policy, behind `gate`.
    pub fn new(cap: usize, config: &Config, gate: Arc<Gate>, log: Log) -> Flow {
        Flow {
            feed: Feed::new(cap),
            max_backlog: config.max_backlog as u64,
            stall: config.stall,
            gate,
            dropped: 0,
            floor: u64::MAX,
            lowest: u64::MAX,
            lowest_holding: u64::MAX,
            log,
        }
    }

    /// Shut while a client of any feed that holds the room is behind.
    pub fn gate(&self) -> &Gate {
        &self.gate
    }

    pub fn feed(&self) -> &Feed {
        &self.feed
    }

    /// A message for every client of this feed.
    pub fn push(&mut self, message: Message) {
        self.feed.push(message, self.floor);
    }

    /// The room admitted a client: its cursor starts at the feed's head, its welcome first
    /// (never dropped, however small `--max-backlog`), and it holds the room.
    pub fn admit(&mut self, backlog: &mut Backlog, welcome: Message) {
        let head = self.feed.head();
        backlog.cursor = Some(head);
        backlog.private.push_back((head, welcome));
        self.holds(head);
    }

    /// A client that holds the room is at `cursor`: no later message goes past the cap.
    fn holds(&mut self, cursor: u64) {
        self.floor = self.floor.min(cursor);
        self.lowest_holding = self.lowest_holding.min(cursor);
        self.lowest = self.lowest.min(cursor);
    }

    /// Every client has been reviewed since the last pass: the feed lets go of what all have
    /// passed, and past its cap of what none that holds the room still needs.
    pub fn passed(&mut self) {
        let head = self.feed.head();
        self.feed.release_before(self.lowest.min(head));
        self.floor = self.lowest_holding;
        (self.lowest, self.lowest_holding) = (u64::MAX, u64::MAX);
    }

    /// Messages dropped so far, summed over clients.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Applies the policy to one client now: stalls it, keeps a stalled one within
    /// `--max-backlog` (counting what it skips), tells it once it has caught up, and shuts or
    /// opens the gate. `name` is for the log.
    pub fn review(&mut self, backlog: &mut Backlog, name: &str, now: Instant) {
        let Some(mut cursor) = backlog.cursor else {
            return;
        };
        let mut missed = self.feed.tail.saturating_sub(cursor);
        cursor = cursor.max(self.feed.tail);
        let limit = backlog.limit(&self.feed);
        let lag = self.feed.bytes_between(cursor, limit);
        let pending = lag > 0 || backlog.current.is_some() || !backlog.private.is_empty();
        let stalled_for = |since: Option<Instant>| {
            since.is_some_and(|since| now.saturating_duration_since(since) >= self.stall)
        };
        backlog.waiting_since = pending.then(|| backlog.waiting_since.unwrap_or(now));
        backlog.over_since =
            (lag > self.max_backlog / 4).then(|| backlog.over_since.unwrap_or(now));
        backlog.stalled |= stalled_for(backlog.waiting_since) || stalled_for(backlog.over_since);
        if backlog.stalled && lag > self.max_backlog {
            let from = self.feed.within(self.max_backlog, limit);
            missed += from.saturating_sub(cursor);
            cursor = cursor.max(from);
        }
        backlog.cursor = Some(cursor);
        if missed > 0 {
            if backlog.dropped == 0 {
                self.log
                    .line(format_args!("{name}: not reading, dropping messages"));
            }
            backlog.dropped += missed;
            backlog.untold += missed;
            self.dropped += missed;
        }
        // Caught up (but for the last line of a session that has ended): told once, and it
        // holds the room again.
        let farewell = usize::from(backlog.end.is_some() && !backlog.private.is_empty());
        if backlog.stalled
            && backlog.current.is_none()
            && backlog.private.len() == farewell
            && self.feed.bytes_between(cursor, limit) == 0
        {
            backlog.stalled = false;
            backlog.waiting_since = None;
            backlog.over_since = None;
            if backlog.untold > 0 && (backlog.end.is_none() || farewell == 1) {
                let notice = session::dropped_notice(std::mem::take(&mut backlog.untold));
                backlog.private.insert(0, (limit, notice));
            }
        }
        let behind = !backlog.stalled && backlog.over_since.is_some();
        self.set_behind(backlog, behind);
        self.lowest = self.lowest.min(cursor);
        if !backlog.stalled && backlog.end.is_none_or(|end| cursor < end) {
            self.holds(cursor);
        }
    }

    fn set_behind(&mut self, backlog: &mut Backlog, behind: bool) {
        if backlog.behind != behind {
            backlog.behind = behind;
            self.gate.behind(behind);
        }
    }

    /// A client has gone: it no longer holds the room, and its drops are logged.
    pub fn remove(&mut self, backlog: &mut Backlog, name: &str) {
        self.set_behind(backlog, false);
        if backlog.dropped > 0 {
            let line = format!("{name}: {} messages dropped", backlog.dropped);
            self.log.line(line);
        }
    }
}

#[cfg(test)]
#[path = "../tests/unit/flow.rs"]
mod tests;
