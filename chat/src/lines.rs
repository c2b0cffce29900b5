//! Splitting a client's bytes into lines with a bounded buffer (exercise 8.15's "memory stays
//! bounded"), without any I/O: the engines push what they read, and take lines out.
//!
//! The Go original's `bufio.Scanner` ends the connection at its 64 KiB token limit; here a
//! longer line is reported once ([`Line::TooLong`]) and skipped without being stored.

/// What [`LineBuffer::next_line`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Line<'a> {
    /// A complete line, without its `\n` (and without a `\r` before it).
    Text(&'a [u8]),
    /// A line grew past the limit; its bytes up to the next newline are discarded.
    TooLong,
}

/// The bytes of lines not yet taken; never more than one push plus `limit + 2`.
pub struct LineBuffer {
    buf: Vec<u8>,
    /// Start of the bytes not yet taken.
    start: usize,
    /// Bytes before this offset have been searched for a newline already.
    searched: usize,
    /// The longest line, in bytes, that is kept.
    limit: usize,
    /// True while discarding the rest of a line that was too long.
    skipping: bool,
}

impl LineBuffer {
    pub fn new(limit: usize) -> LineBuffer {
        LineBuffer {
            buf: Vec::new(),
            start: 0,
            searched: 0,
            limit,
            skipping: false,
        }
    }

    /// Adds bytes read from the client.
    pub fn push(&mut self, mut bytes: &[u8]) {
        if self.skipping {
            match bytes.iter().position(|&b| b == b'\n') {
                Some(newline) => {
                    self.skipping = false;
                    bytes = &bytes[newline + 1..];
                }
                None => return,
            }
        }
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.searched -= self.start;
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete line, if there is one.
    pub fn next_line(&mut self) -> Option<Line<'_>> {
        let found = self.buf[self.searched..].iter().position(|&b| b == b'\n');
        let Some(offset) = found else {
            self.searched = self.buf.len();
            if self.buf.len() - self.start > self.limit.saturating_add(1) {
                // Longer than a line of `limit` bytes and a `\r` can be, and still no newline.
                self.skipping = true;
                self.start = self.buf.len();
                self.release_if_empty();
                return Some(Line::TooLong);
            }
            self.release_if_empty();
            return None;
        };
        let newline = self.searched + offset;
        let line_start = self.start;
        self.start = newline + 1;
        self.searched = self.start;
        Some(self.line(line_start, newline))
    }

    /// At end of input: the last line if it had no newline.
    pub fn finish(&mut self) -> Option<Line<'_>> {
        if self.skipping || self.start == self.buf.len() {
            return None;
        }
        let (line_start, end) = (self.start, self.buf.len());
        self.start = end;
        self.searched = end;
        Some(self.line(line_start, end))
    }

    fn line(&self, start: usize, end: usize) -> Line<'_> {
        let line = &self.buf[start..end];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.len() > self.limit {
            Line::TooLong
        } else {
            Line::Text(line)
        }
    }

    /// Idle clients stay cheap: an emptied buffer is given back.
    fn release_if_empty(&mut self) {
        if self.start == self.buf.len() {
            self.buf = Vec::new();
            self.start = 0;
            self.searched = 0;
        }
    }
}

#[cfg(test)]
#[path = "../tests/unit/lines.rs"]
mod tests;
