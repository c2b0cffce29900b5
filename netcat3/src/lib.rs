//! netcat3: a read/write TCP client, the book's `netcat3` (*The Go Programming Language*,
//! section 8.4.1, exercise 8.3), rebuilt in Rust from its ideas.
//!
//! ```sh
//! cargo run -p chat            # a server in one terminal
//! cargo run -p netcat3         # a client in another: connects to localhost:8000
//! netcat3 example.org:7 < file # any HOST:PORT
//! ```
//!
//! Two copies run at once, as in the book: standard input to the socket (on a thread of its own,
//! the book's goroutine) and the socket to standard output (on the calling thread), byte for byte,
//! binary safe, with no line buffering, so a prompt without a newline shows at once.
//!
//! # Where it differs from the Go original, and why
//! - **Half-close** (exercise 8.3, as the book's final version): at end of file on stdin the
//!   socket's write side is shut down (`shutdown(Write)`), so the server sees end of input, and
//!   netcat3 keeps copying the server's answer to stdout until the server closes. Exit 0.
//! - **The server closing first ends the program at once**, even while stdin stays open (the Go
//!   program only notices when its blocked read of stdin returns). The stdin thread is then *not
//!   joined*: it is blocked in `read(0)`, which nothing can interrupt portably (a signal or closing
//!   fd 0 from another thread is racy and leaves fd 0 free for reuse). Leaving it is safe: it holds
//!   only its end of stdin and a clone of a socket that [`session`] has already shut down both
//!   ways, so the next byte it reads makes its write fail (`EPIPE`) and it returns; and in the
//!   binary, returning from `main` ends the process, which ends the thread with it. When it has
//!   finished (the usual half-close case) it is joined.
//! - **Errors are one line** (`netcat3: HOST:PORT: why`, exit 1) for an unresolvable or refused
//!   address and for a connection reset, whether stdin was idle or still being sent (the rest of
//!   it is lost); a malformed address (`host` with no port, a port that is
//!   not a number 0-65535) is a usage error, exit 2, reported by clap. `:PORT` means
//!   `localhost:PORT`, as Go's `net.Dial` reads it. A closed stdout (`| head`) ends quietly, exit 0.
//! - **Ctrl-C keeps its default action** in the binary: the process dies at once, wherever it is,
//!   even inside a DNS lookup that no hook could interrupt, and the shell reports 130. There is no
//!   state to save, so a handler would add a thread and nothing else. The library still takes a
//!   [`Done`] so that a caller (and the tests) can cancel: it shuts the socket down, which wakes a
//!   blocked `connect`, the socket-to-stdout copy, and any write of the stdin thread.
//!
//! # Zero-copy: which path, in which direction, and why
//! Seen with `strace -f` on Linux 6.18 with std 1.95 (`netcat3 HOST:PORT < INPUT`):
//!
//! | direction | descriptor | system call |
//! |---|---|---|
//! | stdin to socket | a pipe | `splice` ([`std::io::copy`] specializes to it) |
//! | stdin to socket | a regular file | `sendfile`, our own call: std's copy does *not* use it when the output is a socket (it read and wrote 8 KiB at a time) |
//! | stdin to socket | a terminal, `/dev/null`, a socket, a file refusing `sendfile` (`/proc/PID/status`) | `read`/`write` through std's 8 KiB buffer |
//! | socket to stdout | anything | `read`/`write` through one 128 KiB buffer, on purpose |
//!
//! (`copy_file_range` needs files at both ends, so it never applies.)
//!
//! **Why receiving never `splice`s**, though [`std::io::copy`] would `splice` a socket into a
//! stdout pipe: a blocking `splice` from a socket into a pipe keeps the pipe locked while it
//! waits for the socket. A server's line arrives, one `splice` moves it into the pipe and
//! returns, the next starts waiting for more *and holds the pipe*, and if the reader had not yet
//! taken the line it now cannot: its `read` waits for the lock until the socket has more to give,
//! that is, for a chat prompt, until the server closes. Whether the reader gets there first is a
//! race (under `strace` it always did); without it, the first line was held back until the
//! server closed in 3 of 5 runs from a shell (`(sleep 4) | netcat3 | while read ...`, the server
//! writing one line at once, then closing after 3 s), and in 4 runs out of 4 of the test
//! `server_line_reaches_stdout_at_once_while_stdin_is_an_idle_pipe` (what `cargo xtask demo` and a
//! reader piping chat do). It is not about netcat3's other thread: the same stall showed with a
//! single-threaded client doing nothing but `splice(socket, stdout)` and a reader that started
//! 0.2 s late. A plain `read` holds no lock while it waits, so the receive side is a
//! `read`/`write` loop whatever stdout is. The standard streams are used through dup'd [`File`]s
//! rather than [`std::io::Stdout`], whose line buffer would also hold back a prompt that does not
//! end in a newline.
//!
//! The sending side keeps `splice`: from a pipe *into* a socket the kernel drops the pipe's lock
//! while it waits for data, so a program writing to netcat3's stdin is never held up by it (the
//! same test writes a line after netcat3 has been waiting on its idle stdin).
//!
//! Measured by `cargo xtask bench netcat3` (1 GiB over loopback, 5 runs each alternated with
//! OpenBSD `nc -N`, which reads and writes 16 KiB at a time; medians; 2 cores shared with other
//! builds, load average 800-1400):
//!
//! | 1 GiB | netcat3 | `nc -N` | ratio |
//! |---|---|---|---|
//! | sent from a stdin pipe | 1326 MiB/s (`splice`) | 923 MiB/s | 1.44 |
//! | sent from a cached file | 2698 MiB/s (`sendfile`) | 1410 MiB/s | 1.91 |
//! | received into a stdout pipe | 1190 MiB/s (`read`/`write`) | 1001 MiB/s | 1.19 |
//!
//! (An earlier run under heavier load: ratios 1.14, 3.15 and 1.08. Before netcat3 made its own
//! `sendfile` call, std's 8 KiB copy sent the file at 0.80 of nc's speed.)

use std::any::Any;
use std::fmt;
use std::fs::File;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::{AsFd, AsRawFd};
use std::thread;

use common::done::Done;

/// The address the book's netcat3 dials.
pub const DEFAULT_ADDR: &str = "localhost:8000";

/// Why a session ended badly.
#[derive(Debug)]
pub enum Error {
    /// The address did not resolve, or no address accepted the connection.
    Connect { addr: String, source: io::Error },
    /// The connection broke (reset, timed out), whether netcat3 was receiving or still sending.
    Connection { addr: String, source: io::Error },
    /// Reading standard input failed (e.g. stdin is a directory).
    Stdin(io::Error),
    /// Writing standard output failed (other than a closed pipe, which is a normal end).
    Stdout(io::Error),
    /// The stdin thread could not be started, or a descriptor could not be duplicated.
    Setup(io::Error),
    /// The done signal fired.
    Cancelled,
}

impl fmt::Display for Error {
    /// `what: why`, to follow `netcat3: `.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Connect { addr, source } | Error::Connection { addr, source } => {
                write!(f, "{addr}: {source}")
            }
            Error::Stdin(err) => write!(f, "stdin: {err}"),
            Error::Stdout(err) => write!(f, "stdout: {err}"),
            Error::Setup(err) => write!(f, "setting up the copy: {err}"),
            Error::Cancelled => f.write_str("cancelled"),
        }
    }
}

impl std::error::Error for Error {}

/// The whole program: dials `addr`, then runs a [`session`] between it and the process's
/// standard input and output.
pub fn run(addr: &str, done: &Done) -> Result<(), Error> {
    let stream = connect(addr, done)?;
    // Dup'd descriptors as plain files: unbuffered, and the types std's zero-copy paths know.
    let input = File::from(
        io::stdin()
            .as_fd()
            .try_clone_to_owned()
            .map_err(Error::Setup)?,
    );
    let output = File::from(
        io::stdout()
            .as_fd()
            .try_clone_to_owned()
            .map_err(Error::Setup)?,
    );
    session(stream, input, output, addr, done)
}

/// Resolves `addr` and connects to the first of its addresses that accepts, as `net.Dial` does.
/// The done signal aborts a connect in progress (the lookup itself cannot be interrupted).
pub fn connect(addr: &str, done: &Done) -> Result<TcpStream, Error> {
    let failed = |source| Error::Connect {
        addr: addr.to_owned(),
        source,
    };
    let addrs: Vec<SocketAddr> = addr.to_socket_addrs().map_err(failed)?.collect();
    let mut last = io::Error::new(ErrorKind::NotFound, "no address to connect to");
    for candidate in addrs {
        if done.cancelled() {
            return Err(Error::Cancelled);
        }
        match connect_one(candidate, done) {
            Ok(stream) => return Ok(stream),
            Err(err) => last = err,
        }
    }
    Err(if done.cancelled() {
        Error::Cancelled
    } else {
        failed(last)
    })
}

/// One connect that the done signal can abort, mid-handshake included.
fn connect_one(addr: SocketAddr, done: &Done) -> io::Result<TcpStream> {
    common::net::connect(addr, None, done).map(|(stream, _hook)| stream)
}

/// Copies `input` to `stream` (on a thread of its own) and `stream` to `output` (on this
/// thread) until the server closes the connection; half-closes the socket at the end of `input`.
///
/// Returns when the server has closed (or reset) the connection, `output` is closed, or `done`
/// fires, whichever comes first; it does not wait for `input` to end (see the crate docs for why
/// the stdin thread may be left running, and why that is safe). `addr` names the peer in errors.
pub fn session<I, O>(
    stream: TcpStream,
    mut input: I,
    mut output: O,
    addr: &str,
    done: &Done,
) -> Result<(), Error>
where
    I: Read + Send + 'static,
    O: Write,
{
    let waker = stream.try_clone().map_err(Error::Setup)?;
    let _wake_on_cancel = done.on_cancel(move || {
        let _ = waker.shutdown(Shutdown::Both);
    });
    let sender = stream.try_clone().map_err(Error::Setup)?;
    // The stdin thread reports its result here *before* it half-closes: once the server has seen
    // our end of input (and so may close), the result is already waiting.
    let (sent_tx, sent_rx) = crossbeam_channel::bounded::<io::Result<u64>>(1);
    let to_server = thread::Builder::new()
        .name("stdin-to-socket".into())
        .stack_size(64 << 10)
        .spawn(move || {
            let result = send(&mut input, &sender);
            let _ = sent_tx.send(result);
            let _ = sender.shutdown(Shutdown::Write);
        })
        .map_err(Error::Setup)?;

    let received = copy_unspliced(&mut &stream, &mut output).and_then(|()| output.flush());
    // Looked at before our own shutdown below, which would make a write fail too.
    let sent = sent_rx.try_recv().ok();
    let reset = received.is_ok() && reset_while_sending(&stream, sent.as_ref());
    // The server is gone (or we are): wake the stdin thread if it is blocked writing to it.
    let _ = stream.shutdown(Shutdown::Both);
    if sent.is_some() {
        // It has reported: all that is left for it is one `shutdown`, so the join is prompt.
        let _ = to_server.join();
    }
    // Otherwise it is still blocked reading stdin: left behind on purpose (crate docs).

    if done.cancelled() {
        return Err(Error::Cancelled);
    }
    match received {
        Ok(()) => {}
        Err(err) if err.kind() == ErrorKind::BrokenPipe => return Ok(()),
        Err(err) if is_connection_error(&err) => {
            return Err(Error::Connection {
                addr: addr.to_owned(),
                source: err,
            });
        }
        Err(err) => return Err(Error::Stdout(err)),
    }
    if reset {
        // Said as the reset it was, whichever thread it reached.
        return Err(Error::Connection {
            addr: addr.to_owned(),
            source: io::Error::from_raw_os_error(libc::ECONNRESET),
        });
    }
    match sent {
        // A write to the socket that failed was the connection's doing, told above.
        Some(Err(err)) if !is_connection_error(&err) && err.kind() != ErrorKind::BrokenPipe => {
            Err(Error::Stdin(err))
        }
        _ => Ok(()),
    }
}

/// True when the connection was reset while stdin was still being sent, whichever thread the
/// reset's error went to: the socket reports a reset once, to the first call that asks, and a
/// read after it sees a clean end of file.
fn reset_while_sending(stream: &TcpStream, sent: Option<&io::Result<u64>>) -> bool {
    match sent {
        // All of stdin was sent (and the socket half-closed), or stdin itself failed.
        Some(Ok(_)) => false,
        Some(Err(err)) => is_connection_error(err) || err.kind() == ErrorKind::BrokenPipe,
        // Still sending, or waiting on stdin: an empty write fails only on a connection the peer
        // has reset (one it merely half-closed still takes writes).
        None => (&*stream).write(&[]).is_err(),
    }
}

/// Copies `input` to the socket until end of file, by the fastest path its type allows (crate
/// docs, "Zero-copy"): `sendfile` for a regular file, else [`io::copy`] (which `splice`s a pipe).
fn send<I: Read + 'static>(input: &mut I, socket: &TcpStream) -> io::Result<u64> {
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
/// buffer: the receiving direction must not use `splice` (crate docs, "Zero-copy").
fn copy_unspliced(reader: &mut impl Read, writer: &mut impl Write) -> io::Result<()> {
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

/// Errors that come from the socket rather than from stdin or stdout. [`io::copy`] returns one
/// error for both of its ends; these kinds only a socket produces (unless a standard stream is
/// itself a socket, a case this reads as the connection's fault).
fn is_connection_error(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        ErrorKind::ConnectionReset
            | ErrorKind::ConnectionAborted
            | ErrorKind::NotConnected
            | ErrorKind::TimedOut
            | ErrorKind::HostUnreachable
            | ErrorKind::NetworkUnreachable
            | ErrorKind::NetworkDown
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_read_as_what_colon_why() {
        let err = Error::Connect {
            addr: "h:1".into(),
            source: io::Error::new(ErrorKind::ConnectionRefused, "refused"),
        };
        assert_eq!(err.to_string(), "h:1: refused");
        let err = Error::Stdin(io::Error::new(ErrorKind::IsADirectory, "is a directory"));
        assert_eq!(err.to_string(), "stdin: is a directory");
    }
}
