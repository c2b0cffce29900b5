//! The `netcat3` binary: parses the address, then runs [`netcat3::run`] and maps its result to
//! an exit code (0, 1 for a runtime error; clap exits 2 on a bad command line). Ctrl-C keeps its
//! default action, killing the process at once (see the library docs for why).

use std::process::ExitCode;

use clap::Parser;
use common::exit;

/// Connects to a TCP server and copies stdin to it and its answers to stdout (book 8.4.1).
#[derive(Parser)]
#[command(version, about)]
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
    // Nothing fires this signal: Ctrl-C keeps its default action (the library docs say why).
    let (_canceller, done) = common::done::new();
    let code = match netcat3::run(&args.addr, &done) {
        Ok(()) => exit::SUCCESS,
        Err(netcat3::Error::Cancelled) => exit::CANCELLED,
        Err(err) => {
            exit::error("netcat3", err);
            exit::FAILURE
        }
    };
    // Returning ends the process, and with it a stdin thread still blocked in `read`.
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
