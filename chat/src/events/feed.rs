//! One event loop's log of the room's messages, bounded in bytes, read by a cursor per client
//! (a ring, as the LMAX Disruptor does).
//!
//! The broadcaster hands each message once to each loop, which appends it here: fan-out costs
//! O(1) per message, whatever the number of clients, and a client costs a cursor (the sequence
//! number of the next message it is to get). The log keeps at most `cap` bytes; a client whose
//! cursor falls off its tail has missed exactly the messages in between, and is told so.

use std::collections::VecDeque;

use crate::Message;

pub struct Feed {
    entries: VecDeque<Message>,
    /// The sequence number of `entries[0]`.
    tail: u64,
    /// Bytes of all entries.
    bytes: usize,
    /// The most bytes kept: a client further behind than this drops messages.
    cap: usize,
}

impl Feed {
    pub fn new(cap: usize) -> Feed {
        Feed {
            entries: VecDeque::new(),
            tail: 0,
            bytes: 0,
            cap,
        }
    }

    /// The sequence number the next message will have.
    pub fn head(&self) -> u64 {
        self.tail + self.entries.len() as u64
    }

    /// The oldest message still held.
    pub fn tail(&self) -> u64 {
        self.tail
    }

    /// The message numbered `seq`, if still held.
    pub fn get(&self, seq: u64) -> Option<&Message> {
        let index = seq.checked_sub(self.tail)?;
        self.entries.get(usize::try_from(index).ok()?)
    }

    /// Appends a message, letting the oldest go past the cap (the newest is always kept).
    pub fn push(&mut self, message: Message) {
        self.bytes += message.len();
        self.entries.push_back(message);
        while self.bytes > self.cap && self.entries.len() > 1 {
            self.pop();
        }
    }

    /// Lets go of every message before `seq` (every client has passed it); an emptied log gives
    /// its memory back, so a quiet server stays small.
    pub fn release_before(&mut self, seq: u64) {
        while self.tail < seq && !self.entries.is_empty() {
            self.pop();
        }
        if self.entries.is_empty() && self.entries.capacity() > 0 {
            self.entries = VecDeque::new();
        }
    }

    fn pop(&mut self) {
        if let Some(gone) = self.entries.pop_front() {
            self.bytes -= gone.len();
            self.tail += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_feed_keeps_at_most_its_cap_and_numbers_every_message() {
        let mut feed = Feed::new(10);
        for text in ["aaaa", "bbbb", "cccc"] {
            feed.push(text.into());
        }
        assert_eq!((feed.tail(), feed.head()), (1, 3));
        assert_eq!(feed.get(0), None);
        assert_eq!(feed.get(2).map(|m| &**m), Some("cccc"));
        feed.push("x".repeat(20).into());
        assert_eq!((feed.tail(), feed.head()), (3, 4), "the newest stays");
        feed.release_before(4);
        assert_eq!((feed.tail(), feed.head()), (4, 4));
        assert_eq!(feed.entries.capacity(), 0);
    }
}
