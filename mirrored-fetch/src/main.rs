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
/// Every request starts at once. The winner is the first mirror whose answer is 200 OK and
/// whose whole body has arrived (all of its Content-Length, the end of a chunked body, or the
/// end of the connection when it gives neither). A mirror that errs, answers anything else (206
/// Partial Content included), stalls, resets or comes up short loses, and the race goes on among
/// the others. Nothing reaches stdout before the winner is complete; then its body goes there
/// byte for byte as the mirror sent it (no Accept-Encoding asked, nothing decoded, as curl
/// without --compressed), and every other request is cancelled that moment. Redirects to http
/// or https are followed (up to 10); to any other scheme they are an error.
///
/// Until a body is complete it is kept aside: all mirrors' bodies share 4 MiB of memory, the rest
/// waits in unnamed temporary files in TMPDIR (default /tmp). A body longer than a length another
/// mirror declared (Content-Length) loses; so does one past --max-size or one that would leave
/// TMPDIR's file system nearly full (less than a twentieth of it free, at most 1 GiB kept), said
/// at once. The soft descriptor limit is raised to the hard one; beyond it, mirrors wait their
/// turn. Ctrl-C cancels (exit 130); stdin is not read.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// The mirrors: URLs (http or https) of the same resource.
    #[arg(required = true, value_name = "URL", value_parser = parse_url)]
    urls: Vec<Url>,
    /// The longest the whole run may take, every body included (e.g. 10s, 500ms; more than 0).
    #[arg(long, value_name = "DURATION", default_value = "30s", allow_hyphen_values = true,
          value_parser = common::duration::parse_timeout)]
    timeout: Duration,
    /// A mirror whose body is longer than this loses, said at once, as curl's --max-filesize
    /// (e.g. 4096, 700MiB, 4GiB; at most 1TiB) [default: no limit]
    #[arg(long, value_name = "BYTES", value_parser = common::size::parse::<u64>, allow_hyphen_values = true)]
    max_size: Option<u64>,
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
        timeout: args.timeout,
        max_size: args.max_size,
        ..Config::new(args.urls)
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
