//! The cancellable connect: a TCP `connect` that the done signal aborts at once, wherever the
//! handshake is (what netcat3 and the HTTP client of the crawler and mirrored-fetch share); and
//! [`listen`], which asks for the kernel's largest accept queue (std asks for 128, and each SYN
//! a burst of connections overflows costs its client a one-second retransmit: chat, reverb).
//!
//! std's `TcpStream::connect` shows no descriptor until it has connected, so no other thread can
//! reach a connect in progress. A `socket2` socket exists before its first SYN: a
//! [`Done::on_cancel`] hook shuts a clone of it down, and shutting down a socket that is still
//! connecting makes its `connect` fail at once (Linux).

use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::time::Instant;

use socket2::{Domain, Protocol, Socket, Type};

use crate::done::{Done, OnCancel};

/// Binds `addr` (the first of its resolved addresses that binds) and listens with the kernel's
/// maximum accept queue.
pub fn listen(addr: &str) -> io::Result<TcpListener> {
    let mut last = io::Error::new(io::ErrorKind::InvalidInput, "no address to bind");
    for addr in addr.to_socket_addrs()? {
        match listen_on(addr) {
            Ok(listener) => return Ok(listener),
            Err(err) => last = err,
        }
    }
    Err(last)
}

fn listen_on(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    // The kernel's cap on a listen backlog (a larger request is cut to it), as Go reads it.
    let somaxconn = crate::proc_number("/proc/sys/net/core/somaxconn");
    socket.listen(somaxconn.unwrap_or(libc::SOMAXCONN).max(libc::SOMAXCONN))?;
    Ok(socket.into())
}

/// Connects to `addr`, giving up at `deadline` (none: the kernel's own limit) or the moment
/// `done` fires (an error of kind `Interrupted`).
///
/// Returns the connected stream in blocking mode, and the guard of the
/// hook that shuts it down when `done` fires: keep the guard as long as the stream is in use to
/// have a blocked read or write woken by a cancel, or drop it to stop that.
pub fn connect(
    addr: SocketAddr,
    deadline: Option<Instant>,
    done: &Done,
) -> io::Result<(TcpStream, OnCancel)> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    let handle = socket.try_clone()?;
    // Shutting down any descriptor of a socket wakes a thread blocked on it.
    let guard = done.on_cancel(move || {
        let _ = handle.shutdown(Shutdown::Both);
    });
    socket.set_nonblocking(true)?;
    match socket.connect(&addr.into()) {
        Ok(()) => {}
        Err(err)
            if err.raw_os_error() == Some(libc::EINPROGRESS)
                || err.kind() == io::ErrorKind::WouldBlock =>
        {
            // The SYN is out: from here a shutdown aborts the handshake. A shutdown before the
            // connect call did nothing to the unconnected socket, so look at the signal again.
            if done.cancelled() {
                return Err(cancelled());
            }
            wait_writable(&socket, deadline)?;
            if let Some(err) = socket.take_error()? {
                return Err(err);
            }
            // A shut-down handshake can report "writable" without an error: ask the kernel.
            socket.peer_addr()?;
        }
        Err(err) => return Err(err),
    }
    // A connect may complete at once, before a cancel's shutdown could touch it: look again.
    if done.cancelled() {
        return Err(cancelled());
    }
    socket.set_nonblocking(false)?;
    Ok((socket.into(), guard))
}

/// The error of a connect the done signal aborted.
fn cancelled() -> io::Error {
    io::Error::new(io::ErrorKind::Interrupted, "cancelled")
}

/// Blocks until the connecting `socket` is writable (connected or failed) or `deadline` passes.
fn wait_writable(socket: &Socket, deadline: Option<Instant>) -> io::Result<()> {
    loop {
        let timeout_ms: libc::c_int = match deadline {
            None => -1,
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out"));
                }
                // Rounded up, so a sub-millisecond remainder does not spin.
                libc::c_int::try_from(left.as_micros().div_ceil(1000)).unwrap_or(libc::c_int::MAX)
            }
        };
        let mut fd = libc::pollfd {
            fd: socket.as_raw_fd(),
            events: libc::POLLOUT,
            revents: 0,
        };
        // SAFETY: `fd` is one valid, writable `pollfd` for a descriptor `socket` keeps open for
        // the duration of the call, and the count passed is 1.
        let ready = unsafe { libc::poll(&mut fd, 1, timeout_ms) };
        if ready > 0 {
            return Ok(());
        }
        if ready < 0 {
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
    }
}
