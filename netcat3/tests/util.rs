//! Test helpers: run the real `netcat3` binary with bounded waits (`testkit::child`), and what
//! the loopback servers (`testkit::net::ServeOne`) do with their connection. Every wait has a
//! deadline; a failure prints the command, its stdout and its stderr.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

use testkit::child::{Finished, Proc};
use testkit::net::ServeOne;

/// Generous: the whole suite runs in parallel on a loaded 2-core machine.
pub const TIMEOUT: Duration = Duration::from_secs(30);

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_netcat3")
}

/// Starts `netcat3 ARGS` with stdin from `stdin` (piped when `None`), its output read from now.
pub fn spawn(args: &[&str], stdin: Option<Stdio>) -> Proc {
    let mut command = Command::new(bin());
    command.args(args);
    Proc::start(&mut command, stdin.unwrap_or_else(Stdio::piped), None).unwrap()
}

/// Waits (bounded) for the exit and the end of its output; kills it and fails on timeout.
/// `took` counts from the spawn.
pub fn finish(proc: Proc) -> Finished {
    let started = proc.started;
    Finished::of(proc, TIMEOUT, started)
}

/// A server on 127.0.0.1:0 that serves one connection with `serve` on a thread, the socket's
/// reads and writes bounded by [`TIMEOUT`].
pub fn serve_one<T: Send + 'static>(
    serve: impl FnOnce(TcpStream) -> T + Send + 'static,
) -> ServeOne<T> {
    ServeOne::start(Some(TIMEOUT), serve).expect("a server on 127.0.0.1:0")
}

/// What the server's thread returned, waited for with a deadline.
pub fn join_server<T: Send + 'static>(server: ServeOne<T>) -> T {
    server.join(false, TIMEOUT).unwrap()
}

/// Reads everything until the client half-closes, then sends it all back and closes.
pub fn echo_after_eof(mut stream: TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    stream.read_to_end(&mut received).expect("read to EOF");
    stream.write_all(&received).expect("echo");
    received
}

/// Echoes as it reads; at the client's end of input, closes its own side too. Returns the count.
pub fn echo_streaming(mut stream: TcpStream) -> u64 {
    let mut buf = vec![0u8; 64 << 10];
    let mut total = 0;
    loop {
        let n = stream.read(&mut buf).expect("read");
        if n == 0 {
            break;
        }
        stream.write_all(&buf[..n]).expect("echo");
        total += n as u64;
    }
    stream.shutdown(Shutdown::Write).expect("shutdown");
    total
}

/// `len` bytes in which every byte value occurs (many times), in no simple repeating order.
pub fn binary_data(len: usize) -> Vec<u8> {
    let mut state: u32 = 0x9e37_79b9;
    (0..len)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            // Low byte of the index first, so the first 256 bytes are every value once.
            if i < 256 { i as u8 } else { state as u8 }
        })
        .collect()
}
