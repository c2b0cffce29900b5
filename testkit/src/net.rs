//! Loopback servers for tests and benchmarks, every wait bounded: [`ServeOne`] accepts one
//! connection and serves it on a thread; [`patient`] gives a socket read and write timeouts, so a
//! peer that goes silent fails the test instead of stalling it; [`read_head`] reads an HTTP
//! request's head, for hand-made HTTP servers.

use std::io::{ErrorKind, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::child::join_deadline;

/// Sets `stream`'s read and write timeouts to `limit`. Panics (failing the test) if it cannot.
pub fn patient(stream: &TcpStream, limit: Duration) {
    stream.set_read_timeout(Some(limit)).expect("read timeout");
    stream
        .set_write_timeout(Some(limit))
        .expect("write timeout");
}

/// Reads an HTTP request head, up to and including its blank line (and whatever came in the same
/// reads after it); `None` if the connection ends, fails or times out first, or the head grows
/// past `limit` bytes.
pub fn read_head(mut stream: impl Read, limit: usize) -> Option<Vec<u8>> {
    let mut head = Vec::with_capacity(1024);
    let mut buffer = [0u8; 2048];
    while !head.windows(4).any(|window| window == b"\r\n\r\n") {
        if head.len() > limit {
            return None;
        }
        match stream.read(&mut buffer) {
            Ok(0) => return None,
            Ok(n) => head.extend_from_slice(&buffer[..n]),
            Err(err) if err.kind() == ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    Some(head)
}

/// A server on 127.0.0.1 for one connection: `serve` runs on a thread with the accepted stream.
pub struct ServeOne<T> {
    pub addr: SocketAddr,
    thread: JoinHandle<std::io::Result<T>>,
}

impl<T: Send + 'static> ServeOne<T> {
    /// Listens on a free loopback port; the accepted stream gets [`patient`] timeouts of
    /// `limit`, if given, before `serve` sees it.
    pub fn start(
        limit: Option<Duration>,
        serve: impl FnOnce(TcpStream) -> T + Send + 'static,
    ) -> std::io::Result<ServeOne<T>> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let thread = thread::spawn(move || {
            let (stream, _) = listener.accept()?;
            if let Some(limit) = limit {
                patient(&stream, limit);
            }
            Ok(serve(stream))
        });
        Ok(ServeOne { addr, thread })
    }

    /// What `serve` returned, waited for at most `limit`. When the client may never have
    /// connected, `unblock` connects first so that the accept returns.
    pub fn join(self, unblock: bool, limit: Duration) -> Result<T, String> {
        if unblock {
            let _ = TcpStream::connect(self.addr);
        }
        match join_deadline(self.thread, limit) {
            None => Err(format!("the server did not finish within {limit:?}")),
            Some(Err(_)) => Err("the server panicked".into()),
            Some(Ok(Err(err))) => Err(format!("server: accept: {err}")),
            Some(Ok(Ok(served))) => Ok(served),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;

    const LIMIT: Duration = Duration::from_secs(10);

    #[test]
    fn serves_one_connection_and_returns_what_it_read() {
        let server = ServeOne::start(Some(LIMIT), |mut stream| {
            let mut text = String::new();
            stream.read_to_string(&mut text).map(|_| text)
        })
        .unwrap();
        let mut client = TcpStream::connect(server.addr).unwrap();
        client.write_all(b"hello").unwrap();
        drop(client);
        assert_eq!(server.join(false, LIMIT).unwrap().unwrap(), "hello");
    }

    #[test]
    fn a_head_is_read_to_its_blank_line_and_a_short_one_is_none() {
        let head = read_head(&b"GET / HTTP/1.1\r\nHost: x\r\n\r\nbody"[..], 1024).unwrap();
        assert!(head.starts_with(b"GET / HTTP/1.1\r\n"));
        assert_eq!(read_head(&b"GET / HTTP/1.1\r\n"[..], 1024), None);
        assert_eq!(read_head(&[b'x'; 4096][..], 100), None);
    }

    #[test]
    fn a_server_nobody_connects_to_is_unblocked_or_reported() {
        let server = ServeOne::start(None, |_| ()).unwrap();
        assert!(server.join(true, LIMIT).is_ok());
        let server = ServeOne::start(None, |_| ()).unwrap();
        let err = server.join(false, Duration::from_millis(20)).unwrap_err();
        assert!(err.contains("did not finish"), "{err}");
    }
}
