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
/// Until a body is complete it is kept aside: all mirrors' bodies share 8 MiB of memory, the rest
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
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = common::duration::parse_timeout)]
    timeout: Duration,
    /// A mirror whose body is longer than this loses, said at once, as curl's --max-filesize
    /// (e.g. 4096, 700MiB, 4GiB) [default: no limit]
    #[arg(long, value_name = "BYTES", value_parser = parse_size, allow_hyphen_values = true)]
    max_size: Option<u64>,
}

/// An absolute http or https URL.
fn parse_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|err| err.to_string())?;
    match url.scheme() {
        "http" | "https" => Ok(url),
        other => Err(format!("unsupported scheme {other} (http or https)")),
    }
}

/// A size in bytes: a positive whole number with an optional unit, `B`, `KiB`, `MiB`, `GiB`,
/// `TiB` (or `K`, `M`, `G`, `T`: powers of 1024 too).
fn parse_size(arg: &str) -> Result<u64, String> {
    if arg.starts_with('-') {
        return Err("must be positive".into());
    }
    let digits = arg.find(|c: char| !c.is_ascii_digit()).unwrap_or(arg.len());
    let (number, unit) = arg.split_at(digits);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{arg:?} is not a size such as 4096, 700MiB or 4GiB"))?;
    let shift = match unit.trim() {
        "" | "B" => 0,
        "K" | "k" | "KiB" => 10,
        "M" | "MiB" => 20,
        "G" | "GiB" => 30,
        "T" | "TiB" => 40,
        other => return Err(format!("unknown unit {other:?} (B, KiB, MiB, GiB, TiB)")),
    };
    match number.checked_shl(shift).filter(|&n| n >> shift == number) {
        Some(0) => Err("must be positive".into()),
        Some(bytes) => Ok(bytes),
        None => Err(format!("{arg:?} is more than {} bytes", u64::MAX)),
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

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_read_units_of_1024_and_must_be_positive() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64KiB"), Ok(64 << 10));
        assert_eq!(parse_size("700MiB"), Ok(700 << 20));
        assert_eq!(parse_size("4G"), Ok(4 << 30));
        assert_eq!(parse_size("2TiB"), Ok(2 << 40));
        for bad in [
            "",
            "-1",
            "0",
            "0KiB",
            "1.5MiB",
            "12PiB",
            "MiB",
            "99999999999TiB",
        ] {
            assert!(parse_size(bad).is_err(), "{bad:?}");
        }
        assert_eq!(parse_size("-1").unwrap_err(), "must be positive");
    }
}
