//! mirrored-fetch: ask every mirror at once, take the first good answer, cancel the rest.
//!
//! This follows section 8.4.4 of *The Go Programming Language* (Donovan and Kernighan), whose
//! `mirroredQuery` starts one goroutine per mirror and returns the first response, and its
//! exercise 8.11, which asks that the losing requests be cancelled once the first one arrives.
//!
//! ```text
//! mirrored-fetch [--timeout DURATION] URL...
//! cargo run -p mirrored-fetch -- http://127.0.0.1:8001/file http://127.0.0.1:8002/file > file
//! ```
//!
//! # Design
//!
//! [`run`] gives each mirror its own [`Client`] with its own done signal, and starts one thread
//! per mirror (`fetch`), all at once. The global done signal (Ctrl-C) fires every mirror's own
//! signal through a [`Done::on_cancel`] hook. The first answer with a 2xx status wins: `run`
//! fires the other mirrors' signals at that moment (each request is aborted wherever it is:
//! connecting, waiting for headers, reading a body; its server sees the connection close),
//! reports `mirrored-fetch: {url} won after {ms} ms` on stderr, and streams the winner's body to
//! stdout byte for byte. Errors and non-2xx answers never win; when every mirror has failed,
//! each failure is listed on stderr (in argument order).
//!
//! # The goroutine leak, and the Rust equivalent of its fix
//!
//! The book warns that `mirroredQuery` with an *unbuffered* channel leaks the slower goroutines:
//! they block forever sending a response nobody receives. Its fix is a channel with one slot per
//! mirror. The same holds here, and so does the fix:
//!
//! ```text
//! let (answers, answered) = crossbeam_channel::bounded(mirrors.len()); // a slot for everyone
//! thread::scope(|scope| {
//!     for mirror in &mirrors {
//!         let answers = answers.clone();
//!         scope.spawn(move || answers.send(fetch(mirror)));  // never blocks: a slot is free
//!     }
//!     // take the first 2xx from `answered`, cancel the others, stream its body
//! }); // every thread is joined here
//! ```
//!
//! Rust adds a guarantee Go leaves to discipline: [`std::thread::scope`] joins every mirror
//! thread before `run` returns (no thread outlives `main`). That join does not wait for the
//! losers' servers: each loser is cancelled the moment the winner is chosen, wherever its request
//! is (connecting, waiting for headers, reading a body), and every request has a `--timeout`.
//! One step escapes both: a DNS lookup, which neither a cancel nor `--timeout` interrupts (see
//! [`common::http`]). A loser still resolving its host name when the winner's body is written
//! delays `run`'s return until its lookup ends, within the system resolver's own limits (by
//! default 5 s per try, 2 tries per server in `/etc/resolv.conf`); its request then fails at
//! once. Mirrors given as IP addresses have no lookup.
//!
//! # Differences from the Go original
//!
//! - The book returns the first *response*, whatever it is; here errors and non-2xx statuses
//!   never win (a fast `500` from a broken mirror is no answer).
//! - The losers are cancelled (exercise 8.11), not left to finish in the background.
//! - DNS lookups cannot be interrupted (see [`common::http`]); a mirror stuck resolving finishes
//!   its lookup before it sees the cancel (see above).
//! - Redirects are followed as Go's client does (up to 10; too many is that mirror's failure),
//!   each hop on a connection of its own ([`common::http`] reuses none); the win is reported
//!   under the URL given.

use std::io::{self, Read, Write};
use std::thread;
use std::time::{Duration, Instant};

use common::done::{self, Canceller, Done};
use common::http::{self, Client, Options, Response};
use url::Url;

/// The program name, for messages.
pub const PROGRAM: &str = "mirrored-fetch";

/// The default `--timeout`: for the whole request of each mirror, body included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// What to fetch, and how long each mirror may take.
#[derive(Debug, Clone)]
pub struct Config {
    /// The mirrors: the same resource at several addresses.
    pub urls: Vec<Url>,
    /// Each request's whole time, from connecting to its last body byte.
    pub timeout: Duration,
}

/// How a run ended.
#[derive(Debug)]
pub enum Outcome {
    /// A mirror won and its whole body was written.
    Won {
        url: Url,
        /// From the start of the run to the winning answer's headers.
        after: Duration,
        /// Body bytes written.
        bytes: u64,
    },
    /// No mirror gave a 2xx answer; each failure has been listed on the error stream.
    AllFailed,
    /// The winner's body broke off mid-way (reported on the error stream); what was written of
    /// it stands.
    BodyFailed,
    /// The done signal fired.
    Cancelled,
}

/// One mirror: its URL and a client that only its own signal (or the global one) cancels.
struct Mirror {
    url: Url,
    client: Client,
    /// Fires this mirror's own done signal: when another mirror wins, or the global one fires.
    canceller: Canceller,
}

/// What a mirror thread reports: its index and its answer (headers read) or its error.
type Answer = (usize, Result<Response, http::Error>);

/// Fetches `config.urls` at once, streams the first 2xx body to `out`, cancels the rest.
///
/// `err` gets the `won after` line or the failures. An `Err` is a failed write to `out` (check
/// [`common::exit::is_broken_pipe`]); the winner's request is aborted then too.
pub fn run(
    config: &Config,
    done: &Done,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> io::Result<Outcome> {
    let start = Instant::now();
    let options = Options {
        timeout: config.timeout,
        // Mirrors serve whole files: nothing is cut.
        max_body: u64::MAX,
        ..Options::default()
    };
    let mirrors: Vec<Mirror> = config
        .urls
        .iter()
        .map(|url| {
            let (canceller, own) = done::new();
            Mirror {
                url: url.clone(),
                client: Client::new(own, options),
                canceller,
            }
        })
        .collect();
    // The global signal fires each mirror's own; the guards unregister the hooks on return.
    let _global: Vec<_> = mirrors
        .iter()
        .map(|mirror| {
            let canceller = mirror.canceller.clone();
            done.on_cancel(move || canceller.cancel())
        })
        .collect();
    // One slot per mirror: no mirror thread ever blocks sending its answer, even after a
    // winner was chosen and nobody receives any more (the book's fix of the goroutine leak).
    let (answers, answered) = crossbeam_channel::bounded::<Answer>(mirrors.len());
    thread::scope(|scope| {
        let mut failures: Vec<Option<String>> = vec![None; mirrors.len()];
        let mut started = 0;
        for (index, mirror) in mirrors.iter().enumerate() {
            let answers = answers.clone();
            let spawned = thread::Builder::new()
                .name(format!("mirror-{index}"))
                .stack_size(256 << 10)
                .spawn_scoped(scope, move || {
                    let _ = answers.send((index, fetch(mirror)));
                });
            match spawned {
                Ok(_) => started += 1,
                Err(why) => failures[index] = Some(format!("starting a thread: {why}")),
            }
        }
        // From here only the mirror threads hold senders: the loop below ends once each of them
        // has answered (or, should one die, once they are all gone).
        drop(answers);
        for (index, answer) in answered.iter().take(started) {
            match answer {
                Ok(response) if (200..300).contains(&response.status) && !done.cancelled() => {
                    // The win: cancel every other request first, then report and stream.
                    for (other, mirror) in mirrors.iter().enumerate() {
                        if other != index {
                            mirror.canceller.cancel();
                        }
                    }
                    let after = start.elapsed();
                    let url = &mirrors[index].url;
                    line(
                        err,
                        format_args!("{url} won after {} ms", after.as_millis()),
                    );
                    let result = stream(response, out, err, url);
                    // Whatever happened to the body, the winner's connection is done with; on a
                    // failed write this aborts its request.
                    mirrors[index].canceller.cancel();
                    return match result? {
                        Some(bytes) => Ok(Outcome::Won {
                            url: url.clone(),
                            after,
                            bytes,
                        }),
                        None if done.cancelled() => Ok(Outcome::Cancelled),
                        None => Ok(Outcome::BodyFailed),
                    };
                }
                Ok(response) => {
                    failures[index] = Some(format!("HTTP status {}", response.status));
                }
                Err(why) => failures[index] = Some(why.to_string()),
            }
        }
        if done.cancelled() {
            return Ok(Outcome::Cancelled);
        }
        for (mirror, failure) in mirrors.iter().zip(&failures) {
            let why = failure.as_deref().unwrap_or("no answer");
            line(err, format_args!("{}: {why}", mirror.url));
        }
        Ok(Outcome::AllFailed)
    })
}

/// Writes `PROGRAM: message` and a newline to `err` in one write (stderr is unbuffered: a line
/// written in pieces could interleave with other output). A failed write to stderr is ignored:
/// there is nowhere left to report it.
fn line(err: &mut dyn Write, message: std::fmt::Arguments<'_>) {
    let _ = err.write_all(format!("{PROGRAM}: {message}\n").as_bytes());
}

/// One mirror's request, up to its headers (the body stays on the connection for the winner).
fn fetch(mirror: &Mirror) -> Result<Response, http::Error> {
    mirror.client.get(&mirror.url)
}

/// Copies the winner's body to `out`. `Ok(Some(bytes))` when it arrived whole, `Ok(None)` when
/// reading it failed (reported on `err`, unless it was cancelled), `Err` when writing failed.
fn stream(
    response: Response,
    out: &mut dyn Write,
    err: &mut dyn Write,
    url: &Url,
) -> io::Result<Option<u64>> {
    let mut body = response.into_reader();
    let mut buffer = vec![0u8; 64 << 10];
    let mut total = 0u64;
    loop {
        let n = match body.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(why) if why.kind() == io::ErrorKind::Interrupted => continue,
            Err(why) => {
                out.flush()?;
                if !http::is_cancelled_io(&why) {
                    let why = http::Error::from_io(why);
                    line(err, format_args!("{url}: reading the body: {why}"));
                }
                return Ok(None);
            }
        };
        out.write_all(&buffer[..n])?;
        total += n as u64;
    }
    out.flush()?;
    Ok(Some(total))
}
