//! reverb: netcat3's partner, the book's echo server `reverb2` (*The Go Programming Language*,
//! Donovan and Kernighan, sections 8.3 and 8.4.1) with exercises 8.4 and 8.8, in Rust. An
//! example of the netcat3 package, so the workspace keeps one crate per program.
//!
//! ```sh
//! cargo run -p netcat3 --example reverb       # one terminal: listens on localhost:8000
//! cargo run -p netcat3                        # another: type lines, then Ctrl-D
//! printf 'Hello?\n' | cargo run -p netcat3    # all three echoes, then netcat3 exits 0
//! ```
//!
//! Each line a client sends is echoed three times, `--delay` apart (1 s): upper case, as sent,
//! lower case, each as a tab, a space and the text, as the book's `Fprintln(c, "\t", ...)`
//! prints it. The echoes of several lines overlap (a thread per line, the book's `go echo`).
//!
//! The book's `handle_conn` and `echo` come first; each fix is one call into a module beside
//! them:
//! - Ex. 8.4: at the client's end of input the book closes at once, dropping the echoes still
//!   due (so `printf 'Hello?\n' | netcat3` prints only `HELLO?`). Here the connection closes only
//!   once every echo is written: `echoes::Echoes`, a wait group (`common::wait_group`).
//! - Ex. 8.8: a client silent for `--idle-timeout` (10 s) is disconnected: lines arrive on a
//!   channel from a reading thread (`conn::Conn::scan`), watched in `select!` beside a timer.
//! - A client that floods lines does not get a thread per line without end: at most
//!   [`MAX_ECHOES`] echoes run per connection; the next line is read once one has finished, so
//!   the rest waits in the client's socket (nothing is lost, the client is slowed). When no
//!   thread can be started the echo runs on the connection's own thread (the book's first
//!   reverb, one echo at a time).
//! - A line longer than [`MAX_LINE`] ends the reading, as Go's `bufio.Scanner` does (its
//!   64 KiB token limit); the echoes already due are still written. A trailing `\r` is dropped
//!   with the newline, as `ScanLines` does.
//! - A client that takes no echo for `--idle-timeout` (its socket full) is disconnected, and so
//!   is one whose echo fails: lines are written whole, one at a time (`conn::Conn::fprintln`).
//! - Out of descriptors, `accept` is retried every 20 ms and the waiting client is served when
//!   one frees (`serve::serve`); Ctrl-C cuts the echoes due, closes every connection, waits for
//!   every thread and exits 0.
//! - Under an address-space limit (`ulimit -v`) the threads are budgeted (`budget`, counted with
//!   the book's semaphore, `slots::Slots`): a connection is accepted once two threads are free
//!   for it, and an echo beyond the budget runs on its connection's thread. Without the budget
//!   a failed allocation would abort the server once threads had used the address space.
//! - It says `reverb: listening on ADDR` on stderr (so `--addr 127.0.0.1:0` is usable), and
//!   each disconnection it decides (idle, a failed write, a line too long); errors are one line,
//!   `reverb: what: why`; an address that cannot be bound exits 1, a bad command line 2.

mod budget;
mod conn;
mod echoes;
mod serve;
mod slots;

use std::net::TcpStream;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use common::done::Done;
use common::exit::{self, Ending};
use crossbeam_channel::{after, select};

use crate::conn::Conn;
use crate::echoes::Echoes;
use crate::slots::Slots;

/// The most echoes one connection has running at once.
pub const MAX_ECHOES: usize = 64;
/// The longest line read (Go's `bufio.MaxScanTokenSize`).
pub const MAX_LINE: usize = 64 << 10;

/// The book's `handleConn`: every line starts an echo of its own; at the end of input (ex. 8.4:
/// once the echoes are written) or after `idle` without a line (ex. 8.8) the connection closes.
fn handle_conn(c: TcpStream, opts: &Options, done: &Done) {
    let (delay, idle) = (opts.delay, opts.idle_timeout);
    let Some((c, input)) = Conn::open(c, idle, done) else {
        return;
    };
    let echoes = Echoes::new(MAX_ECHOES, opts.threads.clone());
    loop {
        select! {
            recv(input.lines) -> line => match line {
                Ok(shout) => {
                    let (c, stop) = (Arc::clone(&c), done.clone());
                    let echoing = move || echo(&c, &shout, delay, &stop).unwrap_or_default();
                    if !echoes.go(echoing, done) {
                        break;
                    }
                }
                Err(_) => break, // the end of input, or a line too long
            },
            recv(after(idle)) -> _ => {
                c.log(format_args!("idle for {idle:?}: disconnected"));
                break;
            }
            recv(done.channel()) -> _ => break,
        }
    }
    echoes.wait();
    c.close(input);
}

/// The book's `echo`: the shout in upper case, as sent, in lower case, `delay` apart. It stops
/// at a failed write (`Conn::fprintln` has disconnected the client) or when the done signal
/// cuts a pause short.
fn echo(c: &Conn, shout: &[u8], delay: Duration, done: &Done) -> Option<()> {
    let text = String::from_utf8_lossy(shout);
    c.fprintln(text.to_uppercase().as_bytes())?;
    sleep(delay, done)?;
    c.fprintln(shout)?;
    sleep(delay, done)?;
    c.fprintln(text.to_lowercase().as_bytes())
}

/// The book's `time.Sleep`, which the done signal ends early (`None`).
fn sleep(delay: Duration, done: &Done) -> Option<()> {
    (!done.wait_timeout(delay)).then_some(())
}

/// An echo server for netcat3: each line comes back three times, `--delay` apart, upper case,
/// as sent, lower case (The Go Programming Language, 8.3-8.4.1, exercises 8.4 and 8.8).
///
/// The echoes of several lines overlap. When a client ends its input (netcat3 at the end of
/// stdin), the echoes still due are written before the connection closes. A client that sends
/// nothing for --idle-timeout is disconnected. Ctrl-C stops the server (exit 0).
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Where to listen: HOST:PORT (:PORT for localhost, port 0 for any free one).
    #[arg(long, value_name = "HOST:PORT", default_value = netcat3::DEFAULT_ADDR,
          value_parser = common::addr::parse)]
    addr: String,
    /// The pause between a line's three echoes (e.g. 100ms, 2s).
    #[arg(long, value_name = "DURATION", default_value = "1s",
          value_parser = common::duration::parse_timeout)]
    delay: Duration,
    /// A client that sends no line for this long is disconnected.
    #[arg(long, value_name = "DURATION", default_value = "10s",
          value_parser = common::duration::parse_timeout)]
    idle_timeout: Duration,
}

/// How each connection is served.
struct Options {
    delay: Duration,
    idle_timeout: Duration,
    /// The server's thread budget under an address-space limit (`budget`).
    threads: Option<Arc<Slots>>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    // First, before any thread is started.
    let threads = budget::thread_budget().map(|most| {
        exit::error(
            "reverb",
            format_args!("at most {most} threads (the address-space limit)"),
        );
        Arc::new(Slots::new(most))
    });
    let done = common::cancel::main_done("reverb", false);
    let listener = common::net::listen(&args.addr).and_then(|l| Ok((l.local_addr()?, l)));
    let listener = match listener {
        Ok((addr, listener)) => {
            exit::error("reverb", format_args!("listening on {addr}"));
            listener
        }
        Err(err) => return exit::status("reverb", Err(exit::context(&args.addr, err))),
    };
    let opts = Options {
        delay: args.delay,
        idle_timeout: args.idle_timeout,
        threads: threads.clone(),
    };
    let handler_done = done.clone();
    serve::serve(listener, threads.as_deref(), &done, move |c| {
        handle_conn(c, &opts, &handler_done);
    });
    exit::error("reverb", "shut down");
    exit::status("reverb", Ok(Ending::Success))
}
