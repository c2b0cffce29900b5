//! Splitting a client's bytes into lines with a bounded buffer (exercise 8.15's "memory stays
//! bounded"), without any I/O: the engines push what they read, and take lines out.
//!
//! The Go original reads with `bufio.Scanner`, which stops at its 64 KiB token limit and ends the
//! connection. Here a line longer than the limit is reported once ([`Line::TooLong`]) and then
//! skipped up to its newline without being stored, so a client sending 10 MB without a newline
//! costs the server at most `limit + 2` bytes of partial line (plus the one read it was pushed
//! in), and the connection stays.

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
                self.clear();
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

    fn clear(&mut self) {
        self.buf.clear();
        self.start = 0;
        self.searched = 0;
        self.release_if_empty();
    }

    /// Idle clients stay cheap: an emptied buffer is given back.
    fn release_if_empty(&mut self) {
        if self.start == self.buf.len() {
            self.buf = Vec::new();
            self.start = 0;
            self.searched = 0;
        }
    }

    /// Bytes held (for tests of the bound).
    #[cfg(test)]
    pub fn held(&self) -> usize {
        self.buf.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(line: Option<Line<'_>>) -> String {
        match line {
            Some(Line::Text(bytes)) => String::from_utf8_lossy(bytes).into_owned(),
            other => panic!("expected a line, got {other:?}"),
        }
    }

    #[test]
    fn lines_up_to_the_limit_pass_with_or_without_cr_and_longer_ones_are_skipped() {
        let mut lines = LineBuffer::new(10);
        lines.push(b"0123456789\n0123456789\r\n0123456789A\nnext\r\n");
        assert_eq!(text(lines.next_line()), "0123456789");
        assert_eq!(text(lines.next_line()), "0123456789");
        assert_eq!(lines.next_line(), Some(Line::TooLong));
        assert_eq!(text(lines.next_line()), "next");
        assert_eq!(lines.next_line(), None);
    }

    #[test]
    fn a_long_line_is_reported_once_skipped_to_its_newline_and_never_stored() {
        let mut lines = LineBuffer::new(100);
        let chunk = vec![b'x'; 64 << 10];
        let mut reports = 0;
        for _ in 0..16 {
            lines.push(&chunk);
            while let Some(line) = lines.next_line() {
                assert_eq!(line, Line::TooLong);
                reports += 1;
            }
            assert!(lines.held() <= chunk.len() + 102, "{}", lines.held());
        }
        assert_eq!(reports, 1);
        lines.push(b"\nafter\nlast");
        assert_eq!(text(lines.next_line()), "after");
        assert_eq!(lines.next_line(), None);
        // The final line, without a newline, comes at end of input; then nothing.
        assert_eq!(text(lines.finish()), "last");
        assert_eq!(lines.finish(), None);
    }

    #[test]
    fn a_line_split_across_pushes_is_joined_and_a_partial_line_waits() {
        let mut lines = LineBuffer::new(100);
        lines.push(b"par");
        assert_eq!(lines.next_line(), None);
        lines.push(b"tial line\nnext");
        assert_eq!(text(lines.next_line()), "partial line");
        assert_eq!(lines.next_line(), None);
        lines.push(b"\n");
        assert_eq!(text(lines.next_line()), "next");
        assert_eq!(lines.next_line(), None);
        assert_eq!(lines.held(), 0, "an emptied buffer is given back");
    }
}
