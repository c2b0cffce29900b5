//! netcat3: a read/write TCP client, the book's `netcat3` (*The Go Programming Language*,
//! Donovan and Kernighan, section 8.4.1, with exercise 8.3's half-close), in Rust.
//!
//! ```sh
//! cargo run -p netcat3 --example reverb   # the book's partner, the echo server, in one terminal
//! cargo run -p netcat3                    # a client in another: connects to localhost:8000
//! cargo run -p chat                       # or the chat server (8.10) instead of reverb
//! netcat3 example.org:7 < file            # any HOST:PORT
//! ```
//!
//! The book shows netcat3 against reverb (`examples/reverb/`, its own `//!` doc): each line
//! comes back three times, a second apart, and `printf 'Hello?\n' | netcat3` prints all three
//! echoes only because netcat3 half-closes at the end of stdin (exercise 8.3) and reverb waits
//! for its echoes before it closes (exercise 8.4).
//!
//! The book's flaws, and the function that fixes each:
//! - At the end of stdin `conn.Close()` closes both ways, so the server's last answer is lost
//!   (ex. 8.3): `must_copy` half-closes instead (`shutdown(Write)`).
//! - When the server closes first, the book's client waits for a keystroke (its main goroutine
//!   is blocked reading stdin): [`session`] ends as soon as the socket-to-stdout copy does.
//! - The receiving copy ignores its errors, and a reset while sending can pass unnoticed:
//!   `ending::verdict` reports it, whichever copy the reset reached
//!   (`ending::reset_while_sending`).
//!
//! Where it deliberately differs from Go:
//! - Errors are one line, `netcat3: HOST:PORT: why`, exit 1; a malformed address is a usage
//!   error, exit 2; `:PORT` means `localhost:PORT`, as `net.Dial` reads it; a closed stdout
//!   (`| head`) ends quietly, exit 0.
//! - Ctrl-C keeps its default action in the binary (the process dies at once, even inside a DNS
//!   lookup nothing can interrupt); the library takes a [`Done`] so a caller can cancel.
//! - The stdin thread is left behind when the session ends (the server closed, stdout closed, or
//!   the done signal fired) while it is blocked reading stdin: a thread blocked reading a
//!   terminal or a pipe cannot be woken portably. It holds only stdin and a socket already shut
//!   down both ways (its next write fails and it returns), and the process ends when `main`
//!   returns. Once it has reported (stdin ended or failed), it is joined.
//! - Sending `sendfile`s a regular file and `splice`s a pipe; receiving is plain `read`/`write`
//!   (`copy`). Figures are in docs/benchmarks.md.

use std::fs::File;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::AsFd;
use std::thread;

use common::done::Done;
use crossbeam_channel::Sender;

mod copy;
mod ending;
mod error;

pub use error::Error;

/// The address the book's netcat3 dials.
pub const DEFAULT_ADDR: &str = "localhost:8000";

/// The whole program: dials `addr`, then runs a [`session`] between it and the process's
/// standard input and output.
pub fn run(addr: &str, done: &Done) -> Result<(), Error> {
    let stream = connect(addr, done)?;
    // Dup'd descriptors as plain files, the types std's zero-copy paths know; not `Stdout`,
    // whose line buffer would hold back a prompt that does not end in a newline.
    let (input, output) = (dup(io::stdin())?, dup(io::stdout())?);
    session(stream, input, output, addr, done)
}

/// A duplicate of a standard stream's descriptor, as a plain unbuffered file.
fn dup(stream: impl AsFd) -> Result<File, Error> {
    let fd = stream.as_fd().try_clone_to_owned().map_err(Error::Setup)?;
    Ok(File::from(fd))
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
        // The cancellable connect; its hook is dropped: `session` registers its own.
        match common::net::connect(candidate, None, done) {
            Ok((stream, _hook)) => return Ok(stream),
            Err(err) => last = err,
        }
    }
    Err(if done.cancelled() {
        Error::Cancelled
    } else {
        failed(last)
    })
}

/// The book's `main` after the dial: stdin to the socket on a thread of its own (`must_copy`),
/// the socket to `output` on this one, until the server closes. The book has the two the other
/// way round; this way the session can end without waiting for stdin. `addr` names the peer in
/// errors.
///
/// Returns when the server has closed (or reset) the connection, `output` is closed, or `done`
/// fires, whichever comes first, without waiting for `input` to end (crate docs: the stdin
/// thread left behind).
pub fn session<I, O>(
    stream: TcpStream,
    input: I,
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
    let socket = stream.try_clone().map_err(Error::Setup)?;
    let (sent_tx, sent_rx) = crossbeam_channel::bounded(1);
    let to_server = thread::Builder::new()
        .name("stdin-to-socket".into())
        .stack_size(64 << 10)
        .spawn(move || must_copy(input, &socket, &sent_tx))
        .map_err(Error::Setup)?;
    // The book's `io.Copy(os.Stdout, conn)`.
    let received = copy::copy_unspliced(&mut &stream, &mut output).and_then(|()| output.flush());
    // Looked at before our own shutdown below, which would make a write fail too.
    let sent = sent_rx.try_recv().ok();
    let reset = received.is_ok() && ending::reset_while_sending(&stream, sent.as_ref());
    // The server is gone (or we are): wake the stdin thread if it is blocked writing to it.
    let _ = stream.shutdown(Shutdown::Both);
    if sent.is_some() {
        // It has reported: all that is left for it is one `shutdown`, so the join is prompt.
        let _ = to_server.join();
    }
    ending::verdict(received, sent, reset, addr, done)
}

/// The book's `mustCopy(conn, os.Stdin)` and exercise 8.3's `CloseWrite`: stdin to the socket
/// by the fastest path (`copy::send`), then the half-close. The result is reported *before* the
/// half-close: once the server has seen our end of input (and so may close), it is waiting.
fn must_copy<I: Read + 'static>(mut input: I, socket: &TcpStream, sent: &Sender<io::Result<u64>>) {
    let _ = sent.send(copy::send(&mut input, socket));
    let _ = socket.shutdown(Shutdown::Write);
}
