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
    /// How connections are served: `events` (a few event-loop threads, for many clients) or
    /// `threads` (the book's design: two threads per client).
    #[arg(long, value_enum, default_value_t = EngineArg::Events)]
    engine: EngineArg,
    /// Event-loop threads for `--engine events` [default: one per core]
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1024), value_name = "N")]
    loops: Option<u16>,
    /// Address to listen on.
    #[arg(long, default_value = "localhost:8000", value_parser = common::addr::parse, value_name = "HOST:PORT")]
    addr: String,
    /// Disconnect a client that sends no line for this long (e.g. 300ms, 2s, 5m; at most 365d).
    #[arg(long, default_value = "5m", value_parser = common::duration::parse_timeout, value_name = "DURATION")]
    idle_timeout: Duration,
    /// Bytes held for one client that is not reading (e.g. 64KiB, 1MiB); beyond that, messages
    /// are dropped for that client only, and it is told how many once it reads again.
    #[arg(long, default_value = "1MiB", value_parser = parse_size, value_name = "BYTES")]
    max_backlog: usize,
    /// Bytes held for all clients together; past it, the largest backlogs drop first. Lowered
    /// to fit a memory limit (ulimit -v, ulimit -d, the cgroup's memory.max), said in the log.
    #[arg(long, default_value = "256MiB", value_parser = parse_size, value_name = "BYTES")]
    max_backlog_total: usize,
    /// Longest line broadcast, in bytes; longer lines are dropped and the sender told.
    #[arg(long, default_value_t = 8192, value_parser = clap::value_parser!(u32).range(1..), value_name = "BYTES")]
    max_line: u32,
    /// Connections served at once; further ones are told the server is full [default: as many
    /// as the process's limits allow, said in the start-up log]
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..), value_name = "N")]
    max_clients: Option<u32>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum EngineArg {
    Events,
    Threads,
}

/// A size in bytes: a number with an optional unit, `B`, `KiB`, `MiB`, `GiB` (or `K`, `M`,
/// `G`, also powers of 1024); at least 1 byte, at most 1 TiB.
fn parse_size(arg: &str) -> Result<usize, String> {
    let digits = arg.find(|c: char| !c.is_ascii_digit()).unwrap_or(arg.len());
    let (number, unit) = arg.split_at(digits);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{arg:?} is not a size such as 4096, 64KiB or 1MiB"))?;
    let shift = match unit.trim() {
        "" | "B" => 0,
        "K" | "KiB" | "k" => 10,
        "M" | "MiB" => 20,
        "G" | "GiB" => 30,
        other => return Err(format!("unknown unit {other:?} (B, KiB, MiB, GiB)")),
    };
    match number.checked_shl(shift).filter(|&n| n >> shift == number) {
        Some(0) => Err("must be at least 1 byte".into()),
        Some(bytes) if bytes <= 1 << 40 => Ok(bytes as usize),
        _ => Err("must be at most 1TiB".into()),
    }
}

fn main() -> ExitCode {
    common::exit::status("chat", serve(Args::parse()))
}

fn serve(args: Args) -> std::io::Result<Ending> {
    let listener =
        chat::listen(&args.addr).map_err(|err| common::exit::context(&args.addr, err))?;
    let (canceller, done) = common::done::new();
    common::cancel::on_ctrlc(canceller)
        .map_err(|err| common::exit::context("Ctrl-C handler", std::io::Error::other(err)))?;
    match listener.local_addr() {
        Ok(addr) => common::exit::error("chat", format_args!("listening on {addr}")),
        Err(err) => common::exit::error("chat", format_args!("listening on {}: {err}", args.addr)),
    }
    let config = chat::Config {
        engine: match args.engine {
            EngineArg::Events => chat::Engine::Events,
            EngineArg::Threads => chat::Engine::Threads,
        },
        loops: args.loops.map_or(0, usize::from),
        idle_timeout: args.idle_timeout,
        max_backlog: args.max_backlog,
        max_backlog_total: args.max_backlog_total,
        max_line: args.max_line as usize,
        max_clients: args.max_clients.map_or(usize::MAX, |n| n as usize),
        ..chat::Config::default()
    };
    chat::run(listener, config, done).map_err(|err| common::exit::context("serve", err))?;
    Ok(Ending::Success)
}
