//! The `mirrored-fetch` command: parses the arguments, wires Ctrl-C to the done signal, runs
//! [`mirrored_fetch::run`] and maps its outcome to the exit status (0 when a mirror won and its
//! body was written, 1 when every mirror failed or the body broke off, 2 for usage, 130 when
//! cancelled). See the library docs for the design.

use std::io;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use common::exit;
use mirrored_fetch::{Config, Outcome, PROGRAM};
use url::Url;

/// Fetch one resource from several mirrors at once (The Go Programming Language, 8.4.4 and
/// exercise 8.11).
///
/// Every request starts at once; the first answer with a 2xx status wins and its body goes to
/// stdout byte for byte; the other requests are cancelled that moment. Errors and non-2xx
/// answers never win. Ctrl-C cancels.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// The mirrors: URLs (http or https) of the same resource.
    #[arg(required = true, value_name = "URL", value_parser = parse_url)]
    urls: Vec<Url>,
    /// The longest each request may take, body included (e.g. 10s, 500ms).
    #[arg(long, value_name = "DURATION", default_value = "30s",
          value_parser = humantime::parse_duration)]
    timeout: Duration,
}

/// An absolute http or https URL.
fn parse_url(text: &str) -> Result<Url, String> {
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
    let (canceller, done) = common::done::new();
    if let Err(err) = common::cancel::on_ctrlc(canceller) {
        exit::error(PROGRAM, format!("Ctrl-C handler: {err}"));
    }
    let outcome = mirrored_fetch::run(
        &config,
        &done,
        &mut io::stdout().lock(),
        &mut io::stderr().lock(),
    );
    let code = match outcome {
        Ok(Outcome::Won { .. }) => exit::SUCCESS,
        Ok(Outcome::AllFailed | Outcome::BodyFailed) => exit::FAILURE,
        Ok(Outcome::Cancelled) => {
            exit::error(PROGRAM, "cancelled");
            exit::CANCELLED
        }
        Err(err) if exit::is_broken_pipe(&err) => exit::SUCCESS,
        Err(err) => {
            exit::error(PROGRAM, format!("writing the body: {err}"));
            exit::FAILURE
        }
    };
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
