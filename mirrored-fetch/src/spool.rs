//! A mirror's body, kept aside until it has arrived whole: nothing reaches stdout before the
//! winner is complete, and memory stays bounded whatever the file's size.
//!
//! What "whole" means is what ureq (through `common::http`) checks, as the tests show: a body
//! with a `Content-Length` is whole at that many bytes (fewer, and the connection closing, is an
//! error); a chunked body at its last, empty chunk (a connection closing before it is an error);
//! a body with neither at a clean end of the connection, as curl and wget take it (a reset is an
//! error: `common::http` keeps ureq from reading it as that end). A stall is cut by `--timeout`.

use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};

use common::http::{self, Response};
use tempfile::SpooledTempFile;

/// Bytes of a body kept in memory before it moves to an unnamed temporary file (in `TMPDIR`):
/// most files are small, and a big one costs disk, not memory.
const IN_MEMORY: usize = 1 << 20;

/// A body that arrived whole.
pub(crate) struct Body {
    spooled: SpooledTempFile,
}

/// Reads `response`'s whole body aside. An error is one line: why the body is not whole.
pub(crate) fn whole_body(response: Response) -> Result<Body, String> {
    let mut reader = response.into_reader();
    let mut spooled = SpooledTempFile::new(IN_MEMORY);
    let mut buffer = vec![0u8; 64 << 10];
    loop {
        let n = match reader.read(&mut buffer) {
            Ok(0) => return Ok(Body { spooled }),
            Ok(n) => n,
            Err(why) if why.kind() == io::ErrorKind::Interrupted => continue,
            Err(why) => return Err(format!("reading the body: {}", http::Error::from_io(why))),
        };
        spooled
            .write_all(&buffer[..n])
            .map_err(|why| format!("keeping the body aside: {why}"))?;
    }
}

impl Body {
    /// Writes the whole body to `out`; returns its length.
    pub(crate) fn write_to(mut self, out: &mut dyn Write) -> io::Result<u64> {
        self.spooled.seek(SeekFrom::Start(0))?;
        let bytes = io::copy(&mut BufReader::with_capacity(64 << 10, self.spooled), out)?;
        out.flush()?;
        Ok(bytes)
    }
}
