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
//! - An error or a `500` would win as well as a good answer: `request` answers only with a 2xx
//!   status whose body arrived whole (`spool::whole_body`); anything else loses.
//! - A body held in memory grows with the file: `spool::whole_body` keeps at most 1 MiB per
//!   mirror in memory, the rest in an unnamed temporary file.
//!
//! Where it deliberately differs from Go:
//! - The winner is the first *complete* answer, not the first headers: a mirror that stalls,
//!   resets or comes up short mid-body loses, and the race goes on among the others.
//! - Every request thread is joined before [`run`] returns (Go leaves the losers running).
//! - A DNS lookup cannot be interrupted (see [`common::http`]): a loser still resolving its host
//!   holds back `run`'s return until its lookup ends. Mirrors given as IP addresses have none.
//! - Redirects are followed as Go's client does (up to 10); the win is reported under the URL
//!   given.

use std::io::{self, Write};
use std::thread;
use std::time::{Duration, Instant};

use common::done::Done;
use common::http::{Client, Options};
use crossbeam_channel::Receiver;
use url::Url;

mod report;
mod spool;

use spool::Body;

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
    /// A mirror's whole body arrived first, and was written.
    Won {
        url: Url,
        /// From the start of the run to the winner's last body byte.
        after: Duration,
        /// Body bytes written.
        bytes: u64,
    },
    /// No mirror gave a complete 2xx answer; each failure has been listed on the error stream.
    AllFailed,
    /// The done signal fired.
    Cancelled,
}

/// One mirror's whole answer: a 2xx body that arrived complete, and when it did.
struct Answer {
    body: Body,
    /// From the start of the run to the body's last byte.
    after: Duration,
}

/// What each `request` sends on `responses`: its mirror's index, and its answer or why not.
type Response = (usize, Result<Answer, String>);

/// Fetches `config.urls` at once; the first complete 2xx body goes to `out`, the rest are
/// cancelled. `err` gets the `won after` line, or every failure when nobody won.
///
/// An `Err` is a failed write to `out` (check [`common::exit::is_broken_pipe`]). Every thread
/// this starts has been joined when it returns.
pub fn run(
    config: &Config,
    done: &Done,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> io::Result<Outcome> {
    let winner = mirrored_query(config, done, Instant::now());
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

/// The book's `mirroredQuery`: one `request` per mirror, all at once, each sending into
/// `responses`; the first complete answer wins and every other request is cancelled that moment.
/// Returns the winner (its index and answer) or each mirror's failure, in argument order.
fn mirrored_query(
    config: &Config,
    done: &Done,
    start: Instant,
) -> Result<(usize, Answer), Vec<String>> {
    // Fires with the caller's done (Ctrl-C) or at the win: every loser's connection closes.
    let (cancel_losers, local) = done.child();
    let client = Client::new(local, options(config.timeout));
    // A slot per mirror, so no request blocks sending after the win (the book's leak fix).
    let (sender, responses) = crossbeam_channel::bounded::<Response>(config.urls.len());
    thread::scope(|scope| {
        let mut failures = vec![String::from("no answer"); config.urls.len()];
        let mut requests = Vec::new();
        for (index, url) in config.urls.iter().enumerate() {
            let (client, sender) = (client.clone(), sender.clone());
            let spawned = thread::Builder::new()
                .name(format!("mirror-{index}"))
                .stack_size(256 << 10)
                .spawn_scoped(scope, move || {
                    let _ = sender.send((index, request(&client, url, start)));
                });
            match spawned {
                Ok(request) => requests.push(request),
                Err(why) => failures[index] = format!("starting a thread: {why}"),
            }
        }
        // Only the request threads hold senders now: `responses` ends when they all have.
        drop(sender);
        let winner = first_complete(&responses, &mut failures);
        cancel_losers.cancel();
        // Joined, not only finished (as the scope's end would have it): none outlives `run`.
        // Prompt: every loser's socket has just been shut down.
        requests
            .into_iter()
            .for_each(|request| drop(request.join()));
        winner.ok_or(failures)
    })
}

/// The book's `request`: one mirror's whole answer. Only a 2xx status whose body arrived
/// complete (`spool::whole_body` says what complete means) is an answer.
fn request(client: &Client, url: &Url, start: Instant) -> Result<Answer, String> {
    let response = client.get(url).map_err(|why| why.to_string())?;
    if !(200..300).contains(&response.status) {
        return Err(format!("HTTP status {}", response.status));
    }
    let body = spool::whole_body(response)?;
    Ok(Answer {
        body,
        after: start.elapsed(),
    })
}

/// The first complete answer on `responses`; the failures before it are noted in `failures`.
fn first_complete(
    responses: &Receiver<Response>,
    failures: &mut [String],
) -> Option<(usize, Answer)> {
    for (index, response) in responses {
        match response {
            Ok(answer) => return Some((index, answer)),
            Err(why) => failures[index] = why,
        }
    }
    None
}

/// Each request's limits: the whole request within `timeout`; nothing cut (the spool keeps
/// memory bounded whatever the size).
fn options(timeout: Duration) -> Options {
    Options {
        timeout,
        max_body: u64::MAX,
        ..Options::default()
    }
}
