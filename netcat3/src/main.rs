//! The `netcat3` binary: parses the address, runs [`netcat3::run`] and maps its result to the
//! exit status with `common::exit::status` (0; 1 a runtime error; 2 a bad command line, from
//! clap). Ctrl-C keeps its default action, killing the process at once: there is no state to
//! save, and it also cuts a DNS lookup short, which no cancel could.

use std::io;
use std::process::ExitCode;

use clap::Parser;
use common::exit::{self, Ending};

/// Connects to a TCP server and copies stdin to it and its answers to stdout, byte for byte
/// (The Go Programming Language, 8.4.1 and exercise 8.3).
///
/// At the end of stdin netcat3 half-closes the connection (the server sees end of input) and
/// goes on printing the server's answer until the server closes. When the server closes or
/// half-closes first, netcat3 exits at once, even with stdin still open: whatever of stdin was
/// not yet sent is dropped. A connection reset (while sending or not) is an error, exit 1.
/// Ctrl-C kills it at once.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// The server: HOST:PORT, or :PORT for localhost.
    #[arg(
        value_name = "HOST:PORT",
        default_value = netcat3::DEFAULT_ADDR,
        value_parser = common::addr::parse,
    )]
    addr: String,
}

fn main() -> ExitCode {
    let args = Args::parse();
    // Nothing fires this signal (so no `main_done`): Ctrl-C keeps its default action, and stdin
    // is netcat3's data, not a cancel source.
    let (_canceller, done) = common::done::new();
    let result = match netcat3::run(&args.addr, &done) {
        Ok(()) => Ok(Ending::Success),
        Err(netcat3::Error::Cancelled) => Ok(Ending::Cancelled),
        Err(err) => Err(io::Error::other(err)),
    };
    // Returning ends the process, and with it a stdin thread still blocked in `read`.
    exit::status("netcat3", result)
}
