//! How a session ended: the exit verdict from what each copy reported.

use std::io::{self, ErrorKind, Write};
use std::net::TcpStream;

use common::done::Done;

use crate::Error;

/// The session's result from what the two copies reported: `received` (socket to stdout),
/// `sent` (stdin to socket, if it has finished) and whether the connection was reset while
/// stdin was still being sent. A cancel wins; a closed stdout is a normal end.
pub(crate) fn verdict(
    received: io::Result<()>,
    sent: Option<io::Result<u64>>,
    reset: bool,
    addr: &str,
    done: &Done,
) -> Result<(), Error> {
    let connection = |source| Error::Connection {
        addr: addr.to_owned(),
        source,
    };
    if done.cancelled() {
        return Err(Error::Cancelled);
    }
    match received {
        Ok(()) => {}
        Err(err) if err.kind() == ErrorKind::BrokenPipe => return Ok(()),
        Err(err) if is_connection_error(&err) => return Err(connection(err)),
        Err(err) => return Err(Error::Stdout(err)),
    }
    if reset {
        // Said as the reset it was, whichever thread it reached.
        return Err(connection(io::Error::from_raw_os_error(libc::ECONNRESET)));
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
pub(crate) fn reset_while_sending(stream: &TcpStream, sent: Option<&io::Result<u64>>) -> bool {
    match sent {
        // All of stdin was sent (and the socket half-closed).
        Some(Ok(_)) => false,
        // A socket error is the reset; stdin's own error is not.
        Some(Err(err)) => is_connection_error(err) || err.kind() == ErrorKind::BrokenPipe,
        // Still sending, or waiting on stdin: an empty write fails only on a connection the peer
        // has reset (one it merely half-closed still takes writes).
        None => (&*stream).write(&[]).is_err(),
    }
}

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
