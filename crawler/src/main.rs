//! The `crawler` command: parses the arguments, wires the cancel sources (a byte on stdin,
//! Ctrl-C) to the done signal, runs [`crawler::run`] and maps its outcome to the exit status
//! (0; 1 when a fetch failed; 2 for usage; 130 when cancelled).

use std::io;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use common::exit::{self, Ending};
use url::Url;

/// Crawls the web from the given URLs, concurrently (The Go Programming Language, 8.6).
///
/// Prints each URL once, when its fetch starts; fetch errors go to stderr. Ends when no work is
/// left (exit 1 if any fetch failed). A byte on stdin or Ctrl-C cancels at once (exit 130): in
/// a shell loop that feeds other commands' stdin, run it with `< /dev/null`.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Where to start (http or https).
    #[arg(required = true, value_parser = crawler::parse_start_url)]
    urls: Vec<Url>,
    /// Do not follow the links of pages this far from a start URL (start URLs are depth 0).
    /// Unlimited by default: the crawl goes on as long as it finds new pages.
    #[arg(long, value_name = "N", allow_negative_numbers = true,
          value_parser = common::number::in_range::<usize>(0..=u64::MAX))]
    depth: Option<usize>,
    /// Requests in flight at once (worker threads; 1 to 4096).
    #[arg(short = 'c', long, value_name = "N", default_value_t = crawler::DEFAULT_CONCURRENCY,
          allow_negative_numbers = true, value_parser = common::number::in_range::<usize>(1..=4096))]
    concurrency: usize,
    /// Follow only links to the start URLs' hosts (host and port).
    #[arg(long)]
    same_host: bool,
    /// Each URL's whole turn (connect, headers, body, links), e.g. `10s` or `500ms`; above zero.
    #[arg(long, value_name = "DURATION", default_value = "30s", allow_hyphen_values = true,
          value_parser = common::duration::parse_timeout)]
    timeout: Duration,
    /// Bodies are cut after this many bytes (e.g. 512KiB, 10MiB): the links after the cut are
    /// not followed, and the cut is said on stderr (not an error).
    #[arg(long, value_name = "BYTES", default_value = "10MiB", allow_hyphen_values = true,
          value_parser = common::size::parse::<u64>)]
    max_body: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let config = crawler::Config {
        depth: args.depth,
        concurrency: args.concurrency,
        same_host: args.same_host,
        timeout: args.timeout,
        max_body: args.max_body,
    };
    let done = common::cancel::main_done("crawler", true);
    let outcome = crawler::run(
        &args.urls,
        &config,
        &done,
        &mut io::stdout().lock(),
        &mut io::stderr(),
    );
    let ending = outcome.map(|outcome| match outcome {
        crawler::Outcome::Finished { failed: 0, .. } => Ending::Success,
        crawler::Outcome::Finished { .. } => Ending::Failure,
        crawler::Outcome::Cancelled => Ending::Cancelled,
    });
    exit::status("crawler", ending)
}
