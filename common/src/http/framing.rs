//! The response head as the server sent it, looked at before ureq parses it, last in the
//! connector chain (so after TLS): framing that ureq 3.5.2 would get wrong either works or
//! fails the request with an error that names it, never a body read as something it is not.
//!
//! - Every 1xx head but `101` before the final answer is dropped. (ureq-proto 0.7.1 skips a
//!   bare `100 Continue` and other 1xx itself, but fails a `100` that carries header fields,
//!   which RFC 9110 section 15.2 allows.)
//! - A transfer coding other than `chunked` (`Transfer-Encoding: gzip, chunked`) fails: ureq
//!   would de-chunk and hand over the still-compressed bytes. So does `Transfer-Encoding` in an
//!   HTTP/1.0 answer, whose framing RFC 9112 section 6.1 says is then faulty.
//! - A content coding fails unless it is the one ureq decodes: a single
//!   `Content-Encoding: gzip` (`identity` ignored). `deflate`, `br`, stacked `gzip, gzip`, a
//!   second `Content-Encoding` line (ureq decodes the first only and drops the rest) would
//!   otherwise come out as bytes that are not the page. Checked on 2xx answers only: other
//!   bodies are not read as pages.

use std::fmt;
use std::io;

use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, LazyBuffers, NextTimeout, Transport,
};

/// A response head longer than this is left to ureq (which refuses it by its own limit).
const MAX_HEAD: usize = 64 << 10;

/// Wraps every connection in a [`Framed`] transport.
#[derive(Debug)]
pub(super) struct Framing {
    /// Whether content codings are checked: false for a client that decodes nothing.
    pub(super) content_codings: bool,
}

impl<In: Transport> Connector<In> for Framing {
    type Out = Framed<In>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Framed<In>>, ureq::Error> {
        let config = details.config;
        Ok(chained.map(|inner| Framed {
            inner,
            buffers: LazyBuffers::new(config.input_buffer_size(), config.output_buffer_size()),
            carry: Vec::new(),
            head_done: false,
            content_codings: self.content_codings,
        }))
    }
}

/// A transport that reads the response head through [`check_head`] before ureq sees it.
pub(super) struct Framed<In> {
    inner: In,
    buffers: LazyBuffers,
    /// Bytes read from `inner` and not yet handed to ureq.
    carry: Vec<u8>,
    /// The final head has been looked at: the rest passes through.
    head_done: bool,
    content_codings: bool,
}

impl<In> fmt::Debug for Framed<In> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Framed")
            .field("head_done", &self.head_done)
            .finish_non_exhaustive()
    }
}

impl<In: Transport> Framed<In> {
    /// Moves what `inner` has read into `carry`; false at the end of the stream.
    fn fill(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        if self.inner.buffers().input().is_empty() && !self.inner.await_input(timeout)? {
            return Ok(false);
        }
        let buffers = self.inner.buffers();
        let input = buffers.input();
        let amount = input.len();
        self.carry.extend_from_slice(input);
        buffers.input_consume(amount);
        Ok(true)
    }

    /// After the head: copies what `inner` has read straight into ureq's buffer (no carry, so
    /// a body costs one copy and a connection no more memory than its buffers).
    fn pass_through(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        if self.inner.buffers().input().is_empty() && !self.inner.await_input(timeout)? {
            return Ok(false);
        }
        let space = self.buffers.input_append_buf();
        let input = self.inner.buffers().input();
        let amount = space.len().min(input.len());
        space[..amount].copy_from_slice(&input[..amount]);
        self.buffers.input_appended(amount);
        self.inner.buffers().input_consume(amount);
        Ok(amount > 0)
    }

    /// Hands ureq what `carry` holds, as much as its buffer takes.
    fn deliver(&mut self) -> bool {
        let space = self.buffers.input_append_buf();
        let amount = space.len().min(self.carry.len());
        space[..amount].copy_from_slice(&self.carry[..amount]);
        self.buffers.input_appended(amount);
        self.carry.drain(..amount);
        amount > 0
    }
}

impl<In: Transport> Transport for Framed<In> {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        let mut sent = 0;
        while sent < amount {
            let output = self.inner.buffers().output();
            let n = output.len().min(amount - sent);
            if n == 0 {
                return Err(ureq::Error::Io(io::Error::other("no output buffer")));
            }
            output[..n].copy_from_slice(&self.buffers.output()[sent..sent + n]);
            self.inner.transmit_output(n, timeout)?;
            sent += n;
        }
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        loop {
            if self.head_done && !self.carry.is_empty() {
                let delivered = self.deliver();
                if self.carry.is_empty() {
                    // The head's bytes are all out: the carry's memory goes back.
                    self.carry = Vec::new();
                }
                return Ok(delivered);
            }
            if self.head_done {
                return self.pass_through(timeout);
            }
            if !self.fill(timeout)? {
                // The end: whatever is left goes to ureq, which says what is wrong with it.
                self.head_done = true;
                return Ok(self.deliver());
            }
            if !self.head_done {
                self.head_done =
                    check_head(&mut self.carry, self.content_codings).map_err(ureq::Error::Io)?;
            }
        }
    }

    fn is_open(&mut self) -> bool {
        self.inner.is_open()
    }

    fn is_tls(&self) -> bool {
        self.inner.is_tls()
    }
}

/// Drops the complete 1xx heads at the start of `input`; true once the final head is all
/// there and its codings are ones that work (an error names the ones that do not), or once the
/// input is something ureq should judge itself (not a status line, or too long a head).
fn check_head(input: &mut Vec<u8>, content_codings: bool) -> io::Result<bool> {
    loop {
        if !input.starts_with(b"HTTP/") || input.len() > MAX_HEAD {
            return Ok(input.len() >= 5 || input.len() > MAX_HEAD);
        }
        let Some(end) = head_end(input) else {
            return Ok(false);
        };
        let head = String::from_utf8_lossy(&input[..end]).into_owned();
        let mut lines = head.lines();
        let status_line = lines.next().unwrap_or("");
        let status: u16 = status_line
            .split_ascii_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or(0);
        if (100..200).contains(&status) && status != 101 {
            input.drain(..end);
            continue;
        }
        if (200..300).contains(&status) {
            check_codings(status_line, lines, content_codings)?;
        }
        return Ok(true);
    }
}

/// Where the head at the start of `input` ends (after its empty line), if it is all there.
fn head_end(input: &[u8]) -> Option<usize> {
    let crlf = input
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|at| at + 4);
    let lf = input.windows(2).position(|w| w == b"\n\n").map(|at| at + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// An error naming the transfer or content codings of this head that do not work.
fn check_codings<'a>(
    status_line: &str,
    lines: impl Iterator<Item = &'a str>,
    content_codings: bool,
) -> io::Result<()> {
    let mut transfer = Vec::new();
    let mut content = Vec::new();
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.trim().eq_ignore_ascii_case("transfer-encoding") {
            transfer.push(value.to_string());
        } else if name.trim().eq_ignore_ascii_case("content-encoding") {
            content.push(value.to_string());
        }
    }
    let codings = |values: &[String]| -> Vec<String> {
        values
            .iter()
            .flat_map(|value| value.split(','))
            .map(|coding| coding.trim().to_ascii_lowercase())
            .filter(|coding| !coding.is_empty() && coding != "identity")
            .collect()
    };
    let unsupported = |what: &str, header: &str, values: &[String]| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{what} not supported: {header}: {}", values.join(", ")),
        )
    };
    if !transfer.is_empty() && status_line.starts_with("HTTP/1.0") {
        return Err(unsupported(
            "Transfer-Encoding in an HTTP/1.0 answer",
            "Transfer-Encoding",
            &transfer,
        ));
    }
    let transfer_codings = codings(&transfer);
    if !transfer_codings.is_empty() && transfer_codings != ["chunked"] {
        return Err(unsupported(
            "transfer coding",
            "Transfer-Encoding",
            &transfer,
        ));
    }
    // What `Response::into_body` decodes (`is_gzip`): one header line whose value is `gzip`.
    let decoded = content.len() == 1 && super::is_gzip_coding(&content[0]);
    if content_codings && !decoded && !codings(&content).is_empty() {
        return Err(unsupported("content coding", "Content-Encoding", &content));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checked(head: &str) -> Result<(bool, String), String> {
        let mut input = head.as_bytes().to_vec();
        check_head(&mut input, true)
            .map(|done| (done, String::from_utf8(input).unwrap()))
            .map_err(|err| err.to_string())
    }

    #[test]
    fn informational_heads_are_dropped_and_the_final_one_kept() {
        let ok = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx";
        for before in [
            "HTTP/1.1 100 Continue\r\n\r\n",
            "HTTP/1.1 100 Continue\r\nServer: x\r\n\r\n",
            "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 100 Continue\n\n",
        ] {
            assert_eq!(checked(&format!("{before}{ok}")), Ok((true, ok.into())));
        }
        assert_eq!(
            checked("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 2"),
            Ok((false, "HTTP/1.1 2".into()))
        );
        assert_eq!(
            checked("HTTP/1.1 100 Cont"),
            Ok((false, "HTTP/1.1 100 Cont".into()))
        );
        assert_eq!(checked("junk!"), Ok((true, "junk!".into())));
    }

    #[test]
    fn codings_that_would_not_be_decoded_are_named() {
        let head = |headers: &str| format!("HTTP/1.1 200 OK\r\n{headers}\r\n\r\n");
        for fine in [
            "Transfer-Encoding: chunked",
            "Transfer-Encoding: Chunked",
            "Content-Encoding: gzip",
            "Content-Encoding: identity",
            "Content-Length: 3",
        ] {
            assert!(checked(&head(fine)).is_ok(), "{fine}");
        }
        for (bad, said) in [
            (
                "Transfer-Encoding: gzip, chunked",
                "transfer coding not supported: Transfer-Encoding: gzip, chunked",
            ),
            (
                "Content-Encoding: deflate",
                "content coding not supported: Content-Encoding: deflate",
            ),
            (
                "Content-Encoding: gzip, gzip",
                "content coding not supported: Content-Encoding: gzip, gzip",
            ),
            (
                "Content-Encoding: gzip\r\nContent-Encoding: gzip",
                "content coding not supported: Content-Encoding: gzip, gzip",
            ),
        ] {
            assert_eq!(checked(&head(bad)), Err(said.to_string()), "{bad}");
        }
        let old = "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert!(checked(old).unwrap_err().contains("HTTP/1.0"));
        let redirect = "HTTP/1.1 302 Found\r\nContent-Encoding: br\r\n\r\n";
        assert!(checked(redirect).is_ok());
        let mut input = head("Content-Encoding: br").into_bytes();
        assert!(check_head(&mut input, false).unwrap());
    }
}
