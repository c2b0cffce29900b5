//! chat: the command line of the chat server (book section 8.10); the server is in `lib.rs`.
//!
//! Parses the flags, binds the address, cancels on Ctrl-C, and serves until then. A Ctrl-C is
//! the normal way to stop a server, so it exits 0 (SPEC.md, chat, item 11).

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use common::exit::Ending;

/// What `--help` says about names (SPEC.md, chat, item 2).
const NAME_RULES: &str = "\
Names: a client's first line is its name, at most 32 characters. A name is one word with a visible
character (not only blanks such as U+2800), without ',' or ':', not starting with '*', with at most 4
combining marks on a letter, and not mixing scripts whose letters look alike (Cyrillic 'а' in 'аlice').
Names that look alike are one name: compared after NFKC, lower case and removing combining marks, by
their Unicode TR39 skeleton, so ALICE, alıce, a̸lice and Alicé are all alice; a name in use is refused.";

/// A chat server: every line a client sends reaches every client (The Go Programming Language,
/// section 8.10, exercises 8.12-8.15). Talk to it with `netcat3`.
#[derive(Parser)]
#[command(name = "chat", version, after_help = NAME_RULES)]
struct Args {
    /// How connections are served.
    #[arg(long, value_enum, default_value_t = chat::Engine::Events)]
    engine: chat::Engine,
    /// Event-loop threads for `--engine events` [default: one per core]
    #[arg(long, allow_negative_numbers = true, value_parser = common::number::in_range::<usize>(1..=1024), value_name = "N")]
    loops: Option<usize>,
    /// Address to listen on.
    #[arg(long, default_value = "localhost:8000", value_parser = common::addr::parse, value_name = "HOST:PORT")]
    addr: String,
    /// Disconnect a client that sends no line for this long (e.g. 300ms, 2s, 5m; at most 365d).
    #[arg(long, default_value = "5m", allow_hyphen_values = true, value_parser = common::duration::parse_timeout, value_name = "DURATION")]
    idle_timeout: Duration,
    /// Bytes held for one client that has not read for a second (e.g. 64KiB, 1MiB); beyond
    /// that, messages are dropped for it alone, and it is told how many once it catches up. A
    /// client that reads holds the room at a quarter of this. Longer lines are refused.
    #[arg(long, default_value = "1MiB", allow_hyphen_values = true, value_parser = common::size::parse::<usize>, value_name = "BYTES")]
    max_backlog: usize,
    /// Bytes held for all clients together; past it, the largest backlogs drop first. Lowered
    /// to fit a memory limit (ulimit -v, ulimit -d, the cgroup's memory.max), said in the log.
    #[arg(long, default_value = "256MiB", allow_hyphen_values = true, value_parser = common::size::parse::<usize>, value_name = "BYTES")]
    max_backlog_total: usize,
    /// Longest line broadcast (e.g. 8192, 64KiB); longer lines are dropped and the sender told.
    #[arg(long, default_value = "8192", allow_hyphen_values = true, value_parser = common::size::parse::<usize>, value_name = "BYTES")]
    max_line: usize,
    /// Connections served at once; further ones are told the server is full [default: as many
    /// as the process's limits allow, said in the start-up log]
    #[arg(long, allow_negative_numbers = true, value_parser = common::number::in_range::<usize>(1..=u32::MAX.into()), value_name = "N")]
    max_clients: Option<usize>,
}

fn main() -> ExitCode {
    common::exit::status("chat", serve(Args::parse()))
}

fn serve(args: Args) -> std::io::Result<Ending> {
    let listener =
        common::net::listen(&args.addr).map_err(|err| common::exit::context(&args.addr, err))?;
    let (canceller, done) = common::done::new();
    common::cancel::on_ctrlc(canceller)
        .map_err(|err| common::exit::context("Ctrl-C handler", std::io::Error::other(err)))?;
    match listener.local_addr() {
        Ok(addr) => common::exit::error("chat", format_args!("listening on {addr}")),
        Err(err) => common::exit::error("chat", format_args!("listening on {}: {err}", args.addr)),
    }
    let config = chat::Config {
        engine: args.engine,
        loops: args.loops.unwrap_or(0),
        idle_timeout: args.idle_timeout,
        max_backlog: args.max_backlog,
        max_backlog_total: args.max_backlog_total,
        max_line: args.max_line,
        max_clients: args.max_clients.unwrap_or(usize::MAX),
        ..chat::Config::default()
    };
    chat::run(listener, config, done).map_err(|err| common::exit::context("serve", err))?;
    Ok(Ending::Success)
}
