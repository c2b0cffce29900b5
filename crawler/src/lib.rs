//! A concurrent web crawler: the book's section 8.6 (`crawl3`), with its exercises 8.6 (a depth
//! limit) and 8.10 (cancellation), from *The Go Programming Language* (Donovan and Kernighan).
//!
//! Run it as `crawler [--depth N] [--concurrency N] [--same-host] URL...`; it prints each URL
//! once, when it starts fetching it, and fetch errors on stderr as `crawler: URL: why`. A byte on
//! stdin or Ctrl-C cancels.
//!
//! # Design (the book's bounded crawler)
//! - A fixed pool of `--concurrency` [`worker`] threads (default 20, the book's) receives
//!   [`Task`]s from a rendezvous channel and sends one [`Report`] per task back. Only these
//!   threads make requests, so at most `--concurrency` requests are ever in flight.
//! - [`run`]'s own thread is the coordinator, the one owner of the `seen` set and of the work
//!   list (`frontier`): it hands a task to an idle worker, or takes a report, or sees the done
//!   signal, whichever is ready first (one `Select`). Because it never blocks on a send while a
//!   worker blocks on a report, the bounded channels cannot deadlock; the work list itself is
//!   bounded by the number of distinct URLs found.
//! - Termination, which the book's `crawl3` lacks: the coordinator counts tasks handed out and
//!   not yet reported; when that is zero and the work list is empty the crawl is over.
//! - Depth (ex. 8.6): start URLs are depth 0; a page at the depth limit is fetched (and printed)
//!   but its body is not even read.
//! - Cancellation (ex. 8.10): the workers' [`Client`] closes every in-flight connection the moment
//!   the done signal fires (connecting, waiting for headers or reading a body); the coordinator
//!   sees the same signal in its `Select` and stops handing out work.
//!
//! # Where it differs from the Go original, and why
//! - It ends by itself (exit 0, or 1 if any fetch failed); `crawl3` never returns.
//! - Links are taken only from `text/html` answers with a 2xx status; a non-2xx status is a fetch
//!   error, as in the book's `links.Extract` (reported `HTTP status 404`).
//! - A URL reached through a redirect is marked seen under its final URL too (not printed), so a
//!   link to that final URL does not fetch the same page again.
//! - `--same-host` compares host *and port* (Go's `url.Host`), so two servers on one machine count
//!   as two hosts.
//! - Bodies are cut at `--max-body` bytes and every request has a `--timeout`.

use std::collections::{HashSet, VecDeque};
use std::io::{self, Write};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use common::done::{self, Done};
use common::http::{Client, Options};
use crossbeam_channel::{Receiver, RecvTimeoutError, Select, Sender, bounded};
use url::Url;

/// The book's number of concurrent fetches.
pub const DEFAULT_CONCURRENCY: usize = 20;

/// After a cancel, how long the coordinator waits for the workers to return before it leaves
/// without them. Their requests abort within a millisecond; only an uninterruptible step (a DNS
/// lookup, parsing a page already read) can outlast this, and it then ends by itself.
const CANCEL_GRACE: Duration = Duration::from_millis(15);

/// What the command line sets.
#[derive(Clone, Debug)]
pub struct Config {
    /// Links of pages at this depth are not followed (start URLs are depth 0); `None`: no limit.
    pub depth: Option<usize>,
    /// Worker threads, hence the most requests in flight at once.
    pub concurrency: usize,
    /// Follow only links to the start URLs' hosts (host and port).
    pub same_host: bool,
    /// Each request's whole time, connect to last body byte.
    pub timeout: Duration,
    /// Bodies are cut after this many bytes.
    pub max_body: u64,
}

impl Default for Config {
    fn default() -> Config {
        let http = Options::default();
        Config {
            depth: None,
            concurrency: DEFAULT_CONCURRENCY,
            same_host: false,
            timeout: http.timeout,
            max_body: http.max_body,
        }
    }
}

/// How a crawl ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// No work was left. `failed` fetches were reported on the error writer.
    Finished { fetched: usize, failed: usize },
    /// The done signal fired.
    Cancelled,
}

/// A URL to fetch, and how far it is from a start URL.
#[derive(Debug)]
pub struct Task {
    pub url: Url,
    pub depth: usize,
}

/// What a worker sends back for each task (one report per task, except after a cancel).
#[derive(Debug)]
pub enum Report {
    /// Fetched with a 2xx status; `links` are empty unless the page is HTML below the depth
    /// limit.
    Fetched {
        depth: usize,
        url: Url,
        /// Where the redirects, if any, ended.
        final_url: Url,
        links: Vec<Url>,
    },
    /// The fetch failed: connect, I/O, timeout, too many redirects, or a non-2xx status.
    Failed { url: Url, why: String },
}

/// Parses a start URL from the command line: absolute, `http` or `https`, fragment removed.
pub fn parse_start_url(text: &str) -> Result<Url, String> {
    let mut url = Url::parse(text).map_err(|err| format!("{text}: {err}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{text}: only http and https URLs can be crawled"));
    }
    url.set_fragment(None);
    Ok(url)
}

/// Crawls from `start` until no work is left or `done` fires. Writes each URL to `out` when its
/// fetch starts and each failure to `errors` as `crawler: URL: why`. An error writing `out`
/// (a closed pipe) stops the crawl, cancels what is in flight and is returned.
pub fn run(
    start: &[Url],
    config: &Config,
    done: &Done,
    out: &mut dyn Write,
    errors: &mut dyn Write,
) -> io::Result<Outcome> {
    // Our own signal, fired by the caller's or by a failed write to `out`.
    let (stop, stopped) = done::new();
    let _forward = done.on_cancel({
        let stop = stop.clone();
        move || stop.cancel()
    });
    let client = Client::new(
        stopped.clone(),
        Options {
            timeout: config.timeout,
            max_body: config.max_body,
            ..Options::default()
        },
    );
    let (tasks, incoming) = bounded::<Task>(0);
    let (reports, outgoing) = bounded::<Report>(config.concurrency.max(1));
    // Each worker holds a sender; the channel disconnects when the last one has returned.
    let (alive, all_returned) = bounded::<()>(0);
    let mut workers = Vec::with_capacity(config.concurrency);
    for n in 0..config.concurrency.max(1) {
        let spawned = thread::Builder::new()
            .name(format!("crawler-worker-{n}"))
            .spawn({
                let (client, incoming, reports) =
                    (client.clone(), incoming.clone(), reports.clone());
                let (alive, depth) = (alive.clone(), config.depth);
                move || {
                    worker(&client, &incoming, &reports, depth);
                    drop(alive);
                }
            });
        match spawned {
            Ok(handle) => workers.push(handle),
            Err(err) => {
                drop((tasks, incoming, reports, alive));
                stop.cancel();
                finish(workers, &all_returned, false);
                return Err(err);
            }
        }
    }
    drop((incoming, reports, alive));

    let outcome = coordinate(start, config, &stopped, &tasks, &outgoing, out, errors);
    let cancelled = !matches!(outcome, Ok(Outcome::Finished { .. }));
    if cancelled {
        stop.cancel();
    }
    drop(tasks);
    drop(outgoing);
    finish(workers, &all_returned, cancelled);
    outcome
}

/// Joins the workers; after a cancel, only those that return within [`CANCEL_GRACE`] (all of
/// them, unless one is in a step nothing can interrupt, which then ends by itself).
fn finish(workers: Vec<JoinHandle<()>>, all_returned: &Receiver<()>, cancelled: bool) {
    if cancelled {
        let deadline = Instant::now() + CANCEL_GRACE;
        if let Err(RecvTimeoutError::Timeout) = all_returned.recv_deadline(deadline) {
            for worker in workers.into_iter().filter(JoinHandle::is_finished) {
                let _ = worker.join();
            }
            return;
        }
    }
    for worker in workers {
        let _ = worker.join();
    }
}

/// The coordinator: the one owner of `seen` and the work list (see the crate docs).
fn coordinate(
    start: &[Url],
    config: &Config,
    done: &Done,
    tasks: &Sender<Task>,
    reports: &Receiver<Report>,
    out: &mut dyn Write,
    errors: &mut dyn Write,
) -> io::Result<Outcome> {
    let hosts: HashSet<String> = start.iter().map(host_and_port).collect();
    let mut seen: HashSet<Url> = HashSet::new();
    let mut frontier: VecDeque<Task> = VecDeque::new();
    for url in start {
        if seen.insert(url.clone()) {
            frontier.push_back(Task {
                url: url.clone(),
                depth: 0,
            });
        }
    }
    let (mut pending, mut fetched, mut failed) = (0usize, 0usize, 0usize);
    while pending > 0 || !frontier.is_empty() {
        let mut select = Select::new();
        let cancel_op = select.recv(done.channel());
        let report_op = select.recv(reports);
        if !frontier.is_empty() {
            select.send(tasks);
        }
        let op = select.select();
        let index = op.index();
        if index == cancel_op {
            let _ = op.recv(done.channel());
            return Ok(Outcome::Cancelled);
        }
        if index == report_op {
            let Ok(report) = op.recv(reports) else {
                return Err(io::Error::other("every worker stopped"));
            };
            pending -= 1;
            match report {
                Report::Fetched {
                    depth,
                    url,
                    final_url,
                    links,
                } => {
                    if final_url != url {
                        seen.insert(final_url);
                    }
                    for link in links {
                        if config.same_host && !hosts.contains(&host_and_port(&link)) {
                            continue;
                        }
                        if seen.insert(link.clone()) {
                            frontier.push_back(Task {
                                url: link,
                                depth: depth + 1,
                            });
                        }
                    }
                }
                Report::Failed { url, why } => {
                    failed += 1;
                    let _ = writeln!(errors, "crawler: {url}: {why}");
                }
            }
            continue;
        }
        let Some(task) = frontier.pop_front() else {
            unreachable!("the send operation is offered only with work to hand out")
        };
        let line = task.url.to_string();
        if op.send(tasks, task).is_err() {
            return Err(io::Error::other("every worker stopped"));
        }
        pending += 1;
        fetched += 1;
        // Printed once a worker has taken the URL: when its fetch starts, as the book does.
        writeln!(out, "{line}")?;
    }
    out.flush()?;
    Ok(Outcome::Finished { fetched, failed })
}

/// `host:port` of a URL (the port spelled out even when it is the scheme's default).
fn host_and_port(url: &Url) -> String {
    format!(
        "{}:{}",
        url.host_str().unwrap_or(""),
        url.port_or_known_default().unwrap_or(0)
    )
}

/// One worker: fetches tasks until the task channel closes, the coordinator stops listening,
/// or the done signal aborts its request.
pub fn worker(
    client: &Client,
    tasks: &Receiver<Task>,
    reports: &Sender<Report>,
    max_depth: Option<usize>,
) {
    for Task { url, depth } in tasks {
        let follow = max_depth.is_none_or(|max| depth < max);
        let report = match fetch(client, &url, follow) {
            Ok((final_url, links)) => Report::Fetched {
                depth,
                url,
                final_url,
                links,
            },
            Err(Failure::Cancelled) => return,
            Err(Failure::Failed(why)) => Report::Failed { url, why },
        };
        if reports.send(report).is_err() {
            return;
        }
    }
}

enum Failure {
    Cancelled,
    Failed(String),
}

impl From<common::http::Error> for Failure {
    fn from(err: common::http::Error) -> Failure {
        if err.is_cancelled() {
            Failure::Cancelled
        } else {
            Failure::Failed(err.to_string())
        }
    }
}

/// Fetches `url`: its final URL and, if `follow` and it is an HTML page, its links.
fn fetch(client: &Client, url: &Url, follow: bool) -> Result<(Url, Vec<Url>), Failure> {
    let response = client.get(url)?;
    if !(200..300).contains(&response.status) {
        return Err(Failure::Failed(format!("HTTP status {}", response.status)));
    }
    let final_url = response.url.clone();
    if !follow || !response.is_html() {
        return Ok((final_url, Vec::new()));
    }
    let body = response.read_body()?;
    let links = common::links::extract(&final_url, &String::from_utf8_lossy(&body));
    Ok((final_url, links))
}
