//! chat: the command line of the chat server (book section 8.10); the server is in `lib.rs`.
//!
//! Parses the flags, binds the address, cancels on Ctrl-C, and serves until then. A Ctrl-C is
//! the normal way to stop a server, so it exits 0 (SPEC.md, chat, item 11).

use std::net::TcpListener;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

/// A chat server: every line a client sends reaches every client (The Go Programming Language,
/// section 8.10, exercises 8.12-8.15). Talk to it with `netcat3`.
#[derive(Parser)]
#[command(name = "chat", version)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "localhost:8000", value_name = "HOST:PORT")]
    addr: String,
    /// Disconnect a client that sends no line for this long (e.g. 300ms, 2s, 5m).
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration, value_name = "DURATION")]
    idle_timeout: Duration,
    /// Messages queued per client; beyond that, messages are dropped for that client only.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..), value_name = "N")]
    queue: u32,
    /// Longest line broadcast, in bytes; longer lines are dropped and the sender told.
    #[arg(long, default_value_t = 8192, value_parser = clap::value_parser!(u32).range(1..), value_name = "BYTES")]
    max_line: u32,
    /// Connections served at once; further ones are told the server is full.
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u32).range(1..), value_name = "N")]
    max_clients: u32,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.idle_timeout.is_zero() {
        clap::Error::raw(
            clap::error::ErrorKind::ValueValidation,
            "--idle-timeout must be more than zero\n",
        )
        .exit();
    }
    let listener = match TcpListener::bind(&args.addr) {
        Ok(listener) => listener,
        Err(err) => {
            common::exit::error("chat", format_args!("{}: {err}", args.addr));
            return ExitCode::from(common::exit::FAILURE as u8);
        }
    };
    let (canceller, done) = common::done::new();
    if let Err(err) = common::cancel::on_ctrlc(canceller) {
        common::exit::error("chat", format_args!("Ctrl-C handler: {err}"));
        return ExitCode::from(common::exit::FAILURE as u8);
    }
    match listener.local_addr() {
        Ok(addr) => eprintln!("chat: listening on {addr}"),
        Err(err) => eprintln!("chat: listening on {}: {err}", args.addr),
    }
    let config = chat::Config {
        idle_timeout: args.idle_timeout,
        queue: args.queue as usize,
        max_line: args.max_line as usize,
        max_clients: args.max_clients as usize,
        ..chat::Config::default()
    };
    match chat::run(listener, config, done) {
        Ok(summary) => {
            if summary.dropped > 0 {
                eprintln!(
                    "chat: {} messages dropped for slow clients",
                    summary.dropped
                );
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            common::exit::error("chat", format_args!("serve: {err}"));
            ExitCode::from(common::exit::FAILURE as u8)
        }
    }
}
