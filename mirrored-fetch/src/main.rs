//! The `mirrored-fetch` command: parses the arguments, runs [`mirrored_fetch::run`] with Ctrl-C
//! as its done signal, and maps its outcome to the exit status (0 a mirror won and its body was
//! written, 1 every mirror failed, 2 usage, 130 cancelled).

use std::io;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use common::exit::{self, Ending};
use mirrored_fetch::{Config, Outcome, PROGRAM};
use url::Url;

/// Fetch one resource from several mirrors at once (The Go Programming Language, 8.4.4 and
/// exercise 8.11).
///
/// Every request starts at once. The winner is the first mirror whose answer has a 2xx status
/// and whose whole body has arrived (all of its Content-Length, the end of a chunked body, or the
/// end of the connection when it gives neither). A mirror that errs, answers non-2xx, stalls, resets or
/// comes up short loses, and the race goes on among the others. Nothing reaches stdout before
/// the winner is complete; then its body goes there byte for byte, and every other request is
/// cancelled that moment.
///
/// Until a body is complete it is kept aside: up to 1 MiB per mirror in memory, the rest in an
/// unnamed temporary file in TMPDIR (default /tmp), which needs room for a copy per mirror.
/// Ctrl-C cancels (exit 130); stdin is not read.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// The mirrors: URLs (http or https) of the same resource.
    #[arg(required = true, value_name = "URL", value_parser = parse_url)]
    urls: Vec<Url>,
    /// The longest each request may take, body included (e.g. 10s, 500ms; more than 0).
    #[arg(long, value_name = "DURATION", default_value = "30s", allow_hyphen_values = true,
          value_parser = common::duration::parse_timeout)]
    timeout: Duration,
}

/// An absolute http or https URL.
fn parse_url(text: &str) -> Result<Url, String> {
    if text.is_empty() {
        return Err("the URL is empty".into());
    }
    let url = Url::parse(text).map_err(|err| err.to_string())?;
    match url.scheme() {
        "http" | "https" => Ok(url),
        other => Err(format!("unsupported scheme {other} (http or https)")),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let config = Config {
        urls: args.urls,
        timeout: args.timeout,
    };
    let done = common::cancel::main_done(PROGRAM, false);
    let outcome = mirrored_fetch::run(
        &config,
        &done,
        &mut io::stdout().lock(),
        &mut io::stderr().lock(),
    );
    let ending = outcome
        .map(|outcome| match outcome {
            Outcome::Won { .. } => Ending::Success,
            Outcome::AllFailed => Ending::Failure,
            Outcome::Cancelled => Ending::Cancelled,
        })
        .map_err(|err| exit::context("writing the body", err));
    exit::status(PROGRAM, ending)
}
