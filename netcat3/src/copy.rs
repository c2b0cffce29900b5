//! The two copies' fast paths: `sendfile` or `splice` into the socket, plain `read`/`write` out
//! of it (why each, in one sentence where it is chosen).

use std::any::Any;
use std::fs::File;
use std::io::{self, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;

/// Copies `input` to the socket until end of file, by the fastest path its type allows:
/// `sendfile` for a regular file, else [`io::copy`], which `splice`s a pipe (from a pipe into a
/// socket the kernel does not hold the pipe's lock while it waits, so a writer is never held up)
/// and reads and writes through 8 KiB for anything else (a terminal, `/dev/null`, a socket).
pub(crate) fn send<I: Read + 'static>(input: &mut I, socket: &TcpStream) -> io::Result<u64> {
    // A run-time look at the concrete type: `run` passes stdin as a `File`; tests pass others.
    if let Some(file) = (input as &mut dyn Any).downcast_mut::<File>()
        && file.metadata().is_ok_and(|meta| meta.file_type().is_file())
        && let Some(result) = send_file(file, socket)
    {
        return result;
    }
    io::copy(input, &mut &*socket)
}

/// Sends the rest of a regular file (from its current offset) with `sendfile`: the page cache
/// goes to the socket without a copy through user space, which std's [`io::copy`] does not do for
/// a socket. `None` when the file refuses `sendfile` before the first byte (some special files):
/// the caller then copies it the ordinary way.
fn send_file(file: &File, socket: &TcpStream) -> Option<io::Result<u64>> {
    let mut sent = 0u64;
    loop {
        // SAFETY: both descriptors are borrowed, so they stay open for the call; the null offset
        // pointer makes the kernel use (and advance) the file's own offset, so no memory of ours
        // is passed. A peer that has gone makes it fail with EPIPE, not SIGPIPE: Rust programs
        // start with SIGPIPE ignored.
        let n = unsafe {
            libc::sendfile(
                socket.as_raw_fd(),
                file.as_raw_fd(),
                std::ptr::null_mut(),
                SENDFILE_CHUNK,
            )
        };
        match u64::try_from(n) {
            Ok(0) => return Some(Ok(sent)),
            Ok(n) => sent += n,
            Err(_) => {
                let err = io::Error::last_os_error();
                match err.raw_os_error() {
                    Some(libc::EINTR) => {}
                    Some(libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP) if sent == 0 => {
                        return None;
                    }
                    _ => return Some(Err(err)),
                }
            }
        }
    }
}

/// The most one `sendfile` call moves (the kernel's own limit, 2 GiB less a page).
const SENDFILE_CHUNK: usize = 0x7fff_f000;

/// Copies `reader` to `writer` until end of file with plain `read`/`write` calls through one
/// buffer, never `splice`: a blocking `splice` from a socket into a stdout pipe keeps the pipe
/// locked while it waits for the socket, holding back from its reader a line already received.
pub(crate) fn copy_unspliced(reader: &mut impl Read, writer: &mut impl Write) -> io::Result<()> {
    let mut buf = vec![0u8; RECEIVE_BUFFER];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => writer.write_all(&buf[..n])?,
            Err(err) if err.kind() == ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
}

/// The receive buffer: big enough that a bulk download takes few system calls.
const RECEIVE_BUFFER: usize = 128 << 10;
