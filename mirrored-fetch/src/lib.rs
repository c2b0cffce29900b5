//! mirrored-fetch: ask every mirror at once; the first complete answer wins, the rest are
//! cancelled. The book's `mirroredQuery` (*The Go Programming Language*, Donovan and Kernighan,
//! section 8.4.4) with its exercise 8.11 (cancel the slower requests once one has answered).
//!
//! ```text
//! cargo run -p mirrored-fetch -- http://127.0.0.1:8001/file http://127.0.0.1:8002/file > file
//! ```
//!
//! The book's flaws, and the function that fixes each:
//! - The slower requests run on after the winner (ex. 8.11): `mirrored_query` cancels them
//!   through a child done signal the moment the winner's body is complete.
//! - An error, a `500` or a part of the file would win as well as a good answer: `request`
//!   answers only with `200 OK` whose body arrived whole (`spool::whole_body`); anything else
//!   (a `206 Partial Content` included) loses.
//! - A body held in memory grows with the file: `spool::whole_body` keeps all mirrors' bodies
//!   in at most [`spool::MEMORY`] bytes of memory together, the rest in unnamed temporary files,
//!   and bounds those too: a body longer than the other mirrors declared, past `--max-size`, or
//!   that would leave `TMPDIR` nearly full, loses (the last two said on stderr at once).
//! - A thousand mirrors would be a thousand descriptors and threads at once: `limits::at_once`
//!   raises the soft descriptor limit to the hard one and asks no more mirrors at once than it,
//!   and a limit on address space, allow (a mirror waits for an earlier request to end rather
//!   than fail with EMFILE or abort the process).
//!
//! Where it deliberately differs from Go:
//! - The bytes written are the bytes the mirror sent: no `Accept-Encoding` is asked and no
//!   `Content-Encoding` decoded (Go's client asks for gzip and decodes it), as curl without
//!   `--compressed`: a `.tar.gz` served as `Content-Encoding: gzip` stays a `.tar.gz`.
//! - The winner is the first *complete* answer, not the first headers: a mirror that stalls,
//!   resets or comes up short mid-body loses, and the race goes on among the others.
//! - Every request thread is joined before [`run`] returns (Go leaves the losers running).
//! - A DNS lookup cannot be interrupted (see [`common::http`]): a loser still resolving its host
//!   holds back `run`'s return until its lookup ends. Mirrors given as IP addresses have none.
//! - Redirects are followed as Go's client does (up to 10), by `redirect::follow`, which
//!   refuses a `Location` that is not http or https (the error names its scheme); the win is
//!   reported under the URL given.
//! - `--timeout` is one deadline for the whole run: a mirror that waited for a descriptor has
//!   only what is left of it.

use std::io::{self, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::done::Done;
use common::http::{Client, Options};
use crossbeam_channel::Receiver;
use url::Url;

mod limits;
mod redirect;
mod report;
pub mod spool;

use report::Loss;
use spool::{Body, Spools};

/// The program name, for messages.
pub const PROGRAM: &str = "mirrored-fetch";

/// The default `--timeout`: for the whole run, every mirror's body included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Each connection's buffers: small, as hundreds of mirrors may be read at once and each buffer
/// is filled whole (ureq's default is 128 KiB).
const IO_BUFFER: usize = 8 << 10;

/// What to fetch, how long each mirror may take, and the bounds on what they send.
#[derive(Debug, Clone)]
pub struct Config {
    /// The mirrors: the same resource at several addresses.
    pub urls: Vec<Url>,
    /// Each request's whole time, from the start of the run to its last body byte.
    pub timeout: Duration,
    /// `--max-size`: a body longer than this loses (none: no limit).
    pub max_size: Option<u64>,
    /// Free bytes to keep on `TMPDIR`'s file system: a body that would leave less loses (none:
    /// [`spool::keep_free`] of its size).
    pub keep_free: Option<u64>,
}

impl Config {
    /// `urls` with the defaults: [`DEFAULT_TIMEOUT`], no `--max-size`, the default free space.
    pub fn new(urls: Vec<Url>) -> Config {
        Config {
            urls,
            timeout: DEFAULT_TIMEOUT,
            max_size: None,
            keep_free: None,
        }
    }
}

/// How a run ended.
#[derive(Debug)]
pub enum Outcome {
    /// A mirror's whole body arrived first, and was written.
    Won {
        url: Url,
        /// From the start of the run to the winner's last body byte.
        after: Duration,
        /// Body bytes written.
        bytes: u64,
    },
    /// No mirror gave a complete 200 answer; each failure has been listed on the error stream.
    AllFailed,
    /// The done signal fired.
    Cancelled,
}

/// One mirror's whole answer: a 200 body that arrived complete, and when it did.
struct Answer {
    body: Body,
    /// From the start of the run to the body's last byte.
    after: Duration,
}

/// What each `request` sends on `responses`: its mirror's index, and its answer or why not.
type Response = (usize, Result<Answer, Loss>);

/// What every request of one run shares.
struct Race {
    client: Client,
    spools: Spools,
    start: Instant,
    /// When every request is due (`--timeout` from the start).
    deadline: Option<Instant>,
    /// Requests in flight at most, and what bounds them (`limits::at_once`).
    at_once: (usize, &'static str),
}

/// Fetches `config.urls` at once; the first complete 200 body goes to `out`, the rest are
/// cancelled. `err` gets the `won after` line, a loss to a limit when it happens, and every
/// other failure when nobody won.
///
/// An `Err` is a failed write to `out` (check [`common::exit::is_broken_pipe`]). Every thread
/// this starts has been joined when it returns.
pub fn run(
    config: &Config,
    done: &Done,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> io::Result<Outcome> {
    let winner = mirrored_query(config, done, Instant::now(), err);
    if done.cancelled() {
        return Ok(Outcome::Cancelled);
    }
    match winner {
        Ok((index, answer)) => {
            let url = &config.urls[index];
            let ms = answer.after.as_millis();
            report::line(err, format_args!("{url} won after {ms} ms"));
            let bytes = answer.body.write_to(out)?;
            Ok(Outcome::Won {
                url: url.clone(),
                after: answer.after,
                bytes,
            })
        }
        Err(failures) => {
            report::failures(err, &config.urls, &failures);
            Ok(Outcome::AllFailed)
        }
    }
}

/// The book's `mirroredQuery`: a `request` per mirror, all at once, each sending into
/// `responses`; the first complete answer wins and every other request is cancelled that moment.
/// Returns the winner (its index and answer) or each mirror's loss, in argument order.
///
/// A thread per mirror, as many as `limits::at_once` allows; when that is fewer than the
/// mirrors, a thread whose request has ended takes the next mirror not yet asked.
fn mirrored_query(
    config: &Config,
    done: &Done,
    start: Instant,
    err: &mut dyn Write,
) -> Result<(usize, Answer), Vec<Loss>> {
    // Fires with the caller's done (Ctrl-C) or at the win: every loser's connection closes.
    let (cancel_losers, local) = done.child();
    let mirrors = config.urls.len();
    let race = Race {
        client: Client::new(local, options(config.timeout)),
        spools: Spools::new(mirrors, config.max_size, config.keep_free),
        start,
        deadline: start.checked_add(config.timeout),
        at_once: limits::at_once(mirrors),
    };
    let next = AtomicUsize::new(0);
    // A slot per mirror, so no request blocks sending after the win (the book's leak fix).
    let (sender, responses) = crossbeam_channel::bounded::<Response>(mirrors);
    thread::scope(|scope| {
        let mut failures = vec![Loss::from(String::from("no answer")); mirrors];
        let mut requests = Vec::new();
        for thread in 0..race.at_once.0 {
            let (race, next, sender) = (&race, &next, sender.clone());
            let spawned = thread::Builder::new()
                .name(format!("mirror-{thread}"))
                .stack_size(256 << 10)
                .spawn_scoped(scope, move || {
                    while let Some(index) = take(next, mirrors) {
                        let url = &config.urls[index];
                        let _ = sender.send((index, request(race, index, url)));
                    }
                });
            match spawned {
                Ok(request) => requests.push(request),
                Err(why) if requests.is_empty() => {
                    let why = Loss::from(format!("starting a thread: {why}"));
                    failures.fill(why);
                    break;
                }
                // The threads started take the mirrors this one would have.
                Err(_) => break,
            }
        }
        // Only the request threads hold senders now: `responses` ends when they all have.
        drop(sender);
        let winner = first_complete(&responses, &mut failures, &config.urls, err);
        cancel_losers.cancel();
        // Joined, not only finished (as the scope's end would have it): none outlives `run`.
        // Prompt: every loser's socket has just been shut down.
        requests
            .into_iter()
            .for_each(|request| drop(request.join()));
        winner.ok_or(failures)
    })
}

/// The index of the next mirror to ask, if one is left.
fn take(next: &AtomicUsize, mirrors: usize) -> Option<usize> {
    Some(next.fetch_add(1, Ordering::Relaxed)).filter(|&index| index < mirrors)
}

/// The book's `request`: mirror `index`'s whole answer. Only `200 OK` whose body arrived
/// complete and within the bounds (`spool::whole_body` says what that means) is an answer.
fn request(race: &Race, index: usize, url: &Url) -> Result<Answer, Loss> {
    limits::in_time(race.deadline, race.at_once)?;
    let response = redirect::follow(&race.client, url, race.deadline)?;
    whole_file(response.status)?;
    let body = spool::whole_body(response, &race.spools, index)?;
    Ok(Answer {
        body,
        after: race.start.elapsed(),
    })
}

/// Only `200 OK` is the whole file: a `206 Partial Content` or another 2xx is a part of it, or
/// nothing.
fn whole_file(status: u16) -> Result<(), String> {
    match status {
        200 => Ok(()),
        201..300 => Err(format!(
            "HTTP status {status}, not 200 OK: not the whole file"
        )),
        _ => Err(format!("HTTP status {status}")),
    }
}

/// The first complete answer on `responses`; the losses before it are noted in `failures`, and
/// a loss to a limit is said on `err` at once.
fn first_complete(
    responses: &Receiver<Response>,
    failures: &mut [Loss],
    urls: &[Url],
    err: &mut dyn Write,
) -> Option<(usize, Answer)> {
    for (index, response) in responses {
        match response {
            Ok(answer) => return Some((index, answer)),
            Err(loss) => {
                if loss.say_now {
                    report::line(err, format_args!("{}: {}", urls[index], loss.why));
                }
                failures[index] = loss;
            }
        }
    }
    None
}

/// Each request's limits: the bytes as the mirror sent them (no coding asked, nothing decoded);
/// redirects followed by `redirect::follow`, each hop within the run's deadline; nothing cut
/// (the spool bounds memory and disk whatever the size); small buffers. The rest as the
/// defaults have it, whatever fields `Options` gains.
#[allow(clippy::needless_update)]
fn options(timeout: Duration) -> Options {
    Options {
        timeout,
        max_body: u64::MAX,
        max_redirects: 0,
        raw: true,
        io_buffer: IO_BUFFER,
        ..Options::default()
    }
}
