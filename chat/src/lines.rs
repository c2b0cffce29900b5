//! Reading a client's lines with a bounded buffer (exercise 8.15's "memory stays bounded").
//!
//! The Go original reads with `bufio.Scanner`, which stops at its 64 KiB token limit and ends the
//! connection. Here a line longer than the limit is reported once ([`Line::TooLong`]) and then
//! skipped up to its newline without being stored, so a client sending 10 MB without a newline
//! costs the server at most `limit + 2` bytes of buffer, and the connection stays.

use std::io::{self, ErrorKind, Read};
use std::net::TcpStream;
use std::time::Instant;

/// The smallest buffer a reader starts with; it grows (doubling) up to `limit + 2` (a line of
/// `limit` bytes, a `\r`, and its `\n`).
const INITIAL: usize = 1024;

/// What one call to [`LineReader::next_line`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Line<'a> {
    /// A complete line, without its `\n` (and without a `\r` before it).
    Text(&'a [u8]),
    /// A line grew past the limit; its bytes up to the next newline are discarded.
    TooLong,
}

/// Splits a socket's bytes into lines of at most `limit` bytes.
pub struct LineReader {
    /// Holds at most one partial line plus what arrived after it; never longer than `limit + 2`.
    buf: Vec<u8>,
    /// Start of the unread bytes in `buf`.
    start: usize,
    /// End of the bytes read into `buf`.
    end: usize,
    /// Bytes before this offset have been searched for a newline already.
    searched: usize,
    /// The longest line, in bytes, that is kept.
    limit: usize,
    /// True while discarding the rest of a line that was too long.
    skipping: bool,
}

impl LineReader {
    pub fn new(limit: usize) -> LineReader {
        LineReader {
            buf: vec![0; INITIAL.min(limit.saturating_add(2))],
            start: 0,
            end: 0,
            searched: 0,
            limit,
            skipping: false,
        }
    }

    /// The next line, `Ok(None)` at end of file. Blocks until a line is complete or `deadline`
    /// passes (then an error of kind `TimedOut`); bytes that arrive meanwhile do not extend it.
    /// A final line without a newline is returned at end of file.
    pub fn next_line(
        &mut self,
        mut conn: &TcpStream,
        deadline: Instant,
    ) -> io::Result<Option<Line<'_>>> {
        loop {
            if let Some(offset) = self.buf[self.searched..self.end]
                .iter()
                .position(|&b| b == b'\n')
            {
                let newline = self.searched + offset;
                let line_start = self.start;
                self.start = newline + 1;
                self.searched = self.start;
                if self.skipping {
                    // The tail of a line already reported as too long.
                    self.skipping = false;
                    continue;
                }
                let line = trim_cr(&self.buf[line_start..newline]);
                if line.len() > self.limit {
                    return Ok(Some(Line::TooLong));
                }
                return Ok(Some(Line::Text(line)));
            }
            self.searched = self.end;
            if self.skipping {
                self.discard();
            } else if self.end - self.start > self.limit.saturating_add(1) {
                // Longer than a line of `limit` bytes and a `\r` can be, and still no newline.
                self.skipping = true;
                self.discard();
                return Ok(Some(Line::TooLong));
            }
            self.make_room();
            let now = Instant::now();
            if now >= deadline {
                return Err(ErrorKind::TimedOut.into());
            }
            conn.set_read_timeout(Some(deadline - now))?;
            let n = match conn.read(&mut self.buf[self.end..]) {
                Ok(n) => n,
                Err(err) if err.kind() == ErrorKind::Interrupted => continue,
                Err(err) if err.kind() == ErrorKind::WouldBlock => {
                    return Err(ErrorKind::TimedOut.into());
                }
                Err(err) => return Err(err),
            };
            if n == 0 {
                if self.skipping || self.start == self.end {
                    return Ok(None);
                }
                let line_start = self.start;
                self.start = self.end;
                self.searched = self.end;
                let line = trim_cr(&self.buf[line_start..self.end]);
                if line.len() > self.limit {
                    return Ok(Some(Line::TooLong));
                }
                return Ok(Some(Line::Text(line)));
            }
            self.end += n;
        }
    }

    fn discard(&mut self) {
        self.start = 0;
        self.end = 0;
        self.searched = 0;
    }

    /// Moves the partial line to the front and grows the buffer if it is full (up to the limit).
    fn make_room(&mut self) {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.searched -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            // A full buffer holds at most `limit + 1` bytes here (more is reported as too long),
            // so there is room to grow, up to `limit + 2` (`limit` bytes, `\r`, `\n`).
            let grown = (self.buf.len() * 2).min(self.limit.saturating_add(2));
            self.buf.resize(grown.max(self.buf.len() + 1), 0);
        }
    }
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::TcpListener;
    use std::time::Duration;

    /// A connected loopback pair: (the end the reader reads, the end the test writes).
    fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let client = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let (server, _) = listener.accept().expect("accept");
        (server, client)
    }

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(10)
    }

    fn text(line: io::Result<Option<Line<'_>>>) -> String {
        match line.expect("read") {
            Some(Line::Text(bytes)) => String::from_utf8_lossy(bytes).into_owned(),
            other => panic!("expected a line, got {other:?}"),
        }
    }

    #[test]
    fn lines_up_to_the_limit_pass_with_or_without_cr_and_longer_ones_are_skipped() {
        let (server, mut client) = pair();
        client
            .write_all(b"0123456789\n0123456789\r\n0123456789A\nnext\r\n")
            .expect("write");
        let mut reader = LineReader::new(10);
        assert_eq!(text(reader.next_line(&server, soon())), "0123456789");
        assert_eq!(text(reader.next_line(&server, soon())), "0123456789");
        assert_eq!(
            reader.next_line(&server, soon()).expect("read"),
            Some(Line::TooLong)
        );
        assert_eq!(text(reader.next_line(&server, soon())), "next");
    }

    #[test]
    fn a_long_line_is_reported_once_skipped_to_its_newline_and_never_stored() {
        let (server, mut client) = pair();
        let writer = std::thread::spawn(move || {
            let chunk = vec![b'x'; 64 << 10];
            for _ in 0..16 {
                client.write_all(&chunk).expect("write");
            }
            client.write_all(b"\nafter\nlast").expect("write");
        });
        let mut reader = LineReader::new(100);
        assert_eq!(
            reader.next_line(&server, soon()).expect("read"),
            Some(Line::TooLong)
        );
        assert_eq!(text(reader.next_line(&server, soon())), "after");
        writer.join().expect("writer");
        // The final line, without a newline, comes at end of file; then the end itself.
        assert_eq!(text(reader.next_line(&server, soon())), "last");
        assert_eq!(reader.next_line(&server, soon()).expect("read"), None);
        assert!(
            reader.buf.len() <= 102,
            "buffer grew to {}",
            reader.buf.len()
        );
    }

    #[test]
    fn a_deadline_without_a_complete_line_is_a_timeout() {
        let (server, mut client) = pair();
        client.write_all(b"partial").expect("write");
        let mut reader = LineReader::new(100);
        let start = Instant::now();
        let err = reader
            .next_line(&server, Instant::now() + Duration::from_millis(100))
            .expect_err("no line yet");
        assert_eq!(err.kind(), ErrorKind::TimedOut);
        assert!(start.elapsed() >= Duration::from_millis(100));
        // The partial line is kept: its end still completes it.
        client.write_all(b" line\n").expect("write");
        assert_eq!(text(reader.next_line(&server, soon())), "partial line");
    }
}
