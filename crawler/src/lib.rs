//! A concurrent web crawler: *The Go Programming Language* (Donovan and Kernighan), section 8.6
//! (`crawl3`), with its exercises 8.6 (a depth limit) and 8.10 (cancellation).
//!
//! Run it as `crawler [--depth N] [-c N] [--same-host] [--timeout D] [--max-body BYTES] URL...`.
//! It prints each URL once, when its fetch starts, and fetch errors on stderr as
//! `crawler: URL: why`. A byte on stdin or Ctrl-C cancels.
//!
//! The book's program is here under the book's names: [`run`] is its `main` (the `worklist` and
//! `unseen_links` channels, a pool of [`worker`]s, the `seen` set), [`worker`] its crawler
//! goroutine, `crawl` its `crawl`.
//!
//! # The book's flaws, and the function that fixes each
//! - `crawl3` never ends: [`run`] counts the links handed out and not yet reported (`Handout`).
//! - No depth limit (ex. 8.6): [`worker`] does not read the links of a page at `--depth`; and a
//!   page's depth is its shortest path: `Seen::offer` queues a page again, not to be printed
//!   again, when a shorter path reaches it, so its links are read then.
//! - No cancellation (ex. 8.10): the workers' [`Client`] shuts every socket down when the done
//!   signal fires, the body reader checks it between chunks, `page::Batches` before each link,
//!   `Handout::next_report` while waiting, and [`run`] joins every worker.
//! - Memory grows with what pages say (the `seen` map keeps every URL; a page's links are all
//!   in memory at once; the worklist is unbounded): `Seen` keeps a 16-byte keyed
//!   [`Fingerprint`] per URL, `page::Batches` sends a page's links in small batches through a
//!   bounded worklist and drops URLs over [`MAX_URL`] (said once per page), and the `Frontier`
//!   keeps 256 KiB of tasks in memory and the rest in an unnamed temporary file, in order.
//! - Go's `http.Get` follows redirects out of sight of `seen`, so a page can be fetched twice:
//!   `crawl` follows none, and `Seen::take` queues a redirect's target through `seen`.
//! - A parse tree costs about 100 bytes per page byte and time quadratic in its nesting:
//!   `crawl` streams the body through `common::links::for_each_link`, a tokenizer.
//! - The page's character set is ignored: `common::links::for_each_link` decodes it.
//! - Framing a client gets wrong silently (a `100 Continue` with headers, `Transfer-Encoding:
//!   gzip, chunked`, `Content-Encoding: deflate` or `gzip, gzip`): `common::http` skips 1xx
//!   answers and fails a coding it does not decode with an error that names it.
//! - A page without end holds a worker for ever: `--timeout` bounds each URL's whole turn and
//!   `--max-body` its body (`common::http::Body`), a cut said on stderr.
//!
//! # Where it differs from Go, and why
//! - The URL is printed by [`run`] when a worker takes it, so that output has one writer.
//! - A non-2xx status is a fetch error (`HTTP status 404`), as in the book's `links.Extract`;
//!   links come only from 2xx `text/html` answers.
//! - Each redirect hop is requested (and printed) once, at the depth of the link that led to it;
//!   a loop (`redirect loop back to URL`), more than [`MAX_REDIRECTS`] hops, or a target that is
//!   not http(s) is a fetch error.
//! - `--same-host` compares host and port (Go's `url.Host`), for redirects as for links.
//! - A cancel ends the crawl with every worker joined: a request aborts at once, a DNS lookup
//!   (which nothing interrupts) when it returns. No connection is reused between requests.

use std::io::{self, Write};
use std::thread;
use std::time::Duration;

use common::done::Done;
use common::http::{Client, Options};
use crossbeam_channel::{Receiver, Sender, bounded};
use url::Url;

mod frontier;
mod handout;
mod page;
mod seen;

use frontier::Frontier;
use handout::Handout;
pub use page::MAX_URL;
use page::{Batches, Failure, Page};
pub use seen::{Fingerprint, Fingerprinter};
use seen::{Seen, Taken};

/// The book's number of concurrent fetches.
pub const DEFAULT_CONCURRENCY: usize = 20;

/// What the command line sets.
#[derive(Clone, Debug)]
pub struct Config {
    /// Links of pages at this depth are not followed (start URLs are depth 0); `None`: no limit.
    pub depth: Option<usize>,
    /// Worker threads, hence the most requests in flight at once.
    pub concurrency: usize,
    /// Follow only links to the start URLs' hosts (host and port).
    pub same_host: bool,
    /// Each URL's whole turn: connect, headers, body and link extraction.
    pub timeout: Duration,
    /// Bodies are cut after this many bytes (the cut is said on the error writer).
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
    /// Links followed from a start URL (start URLs are 0). A redirect does not count: its
    /// target is the same page, at the same depth.
    pub depth: usize,
    /// False when the page was fetched (and printed) before at a greater depth and is fetched
    /// again, nearer now, for its links.
    pub print: bool,
    /// The URLs whose redirects led here, first to last; empty for a start URL or a link.
    pub redirected_from: Vec<Url>,
}

/// What a worker sends to the worklist for each task.
#[derive(Debug)]
pub enum Report {
    /// Some of a page's links, at `depth` (the page's plus one), with their fingerprints; sent
    /// as they are found, before the page's `Fetched`.
    Links {
        depth: usize,
        links: Vec<(Url, Fingerprint)>,
    },
    /// Fetched with a 2xx status, its links (if HTML below the depth limit) sent before;
    /// `cut` when its body went on past `--max-body`; `long` links dropped for their length.
    Fetched { task: Task, cut: bool, long: usize },
    /// A redirect ([`REDIRECT_STATUSES`]) to `location`: its `Location` resolved against the
    /// task's URL, fragment removed, `http` or `https`. [`run`] decides whether to follow it.
    Redirected { task: Task, location: Url },
    /// The fetch failed: connect, I/O, timeout, a status that is neither 2xx nor a usable
    /// redirect.
    Failed { url: Url, why: String },
    /// The done signal aborted the fetch.
    Cancelled,
}

/// The statuses followed as redirects, as Go's client and ureq do; any other 3xx is a fetch
/// error like a 4xx.
pub const REDIRECT_STATUSES: [u16; 5] = [301, 302, 303, 307, 308];

/// Redirects followed in a row before a chain is given up (Go's client's limit).
pub const MAX_REDIRECTS: usize = 10;

/// Parses a start URL from the command line: absolute, `http` or `https`, fragment removed.
pub fn parse_start_url(text: &str) -> Result<Url, String> {
    if text.is_empty() {
        return Err("the URL is empty".into());
    }
    let mut url = Url::parse(text).map_err(|err| format!("{text}: {err}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{text}: only http and https URLs can be crawled"));
    }
    url.set_fragment(None);
    if url.as_str().len() > MAX_URL {
        return Err(format!(
            "a URL longer than {MAX_URL} bytes cannot be crawled"
        ));
    }
    Ok(url)
}

/// The book's `main`: crawls from `start` until no work is left or `done` fires. Writes each URL
/// to `out` when a worker takes it, and each failure (or cut body) to `errors` as
/// `crawler: URL: why`. An error writing `out` (a closed pipe) stops the crawl and is returned.
/// Every worker has returned when `run` does.
pub fn run(
    start: &[Url],
    config: &Config,
    done: &Done,
    out: &mut dyn Write,
    errors: &mut dyn Write,
) -> io::Result<Outcome> {
    // Our own signal: the caller's, or ours when the crawl stops early (`out` failed).
    let (stop, done) = done.child();
    let client = Client::new(done.clone(), config.http());
    let keys = Fingerprinter::default();
    // Bounded: a worker with links waits while the worklist is full (it is always read).
    let (to_worklist, worklist) = bounded::<Report>(WORKLIST);
    let (to_unseen_links, unseen_links) = bounded::<Task>(0);
    // Scoped threads: all joined before `run` returns, whatever the outcome.
    thread::scope(|scope| {
        let frontier = Frontier::new();
        let mut handout = Handout::new(to_unseen_links, frontier, &done, out);
        let mut workers = Vec::new();
        for n in 0..config.concurrency.max(1) {
            let (client, unseen_links, keys, done) = (&client, &unseen_links, &keys, &done);
            let to_worklist = to_worklist.clone();
            workers.push(
                thread::Builder::new()
                    .name(format!("crawler-worker-{n}"))
                    .spawn_scoped(scope, move || {
                        worker(client, unseen_links, &to_worklist, config.depth, keys, done)
                    })?,
            );
        }
        drop(to_worklist);
        let mut seen = Seen::new(
            keys.clone(),
            config.same_host.then_some(start),
            config.depth,
        );
        let outcome = handout
            .queue(seen.start(start))
            .and_then(|()| deduplicate(&worklist, &mut seen, &mut handout, config, errors));
        if !matches!(outcome, Ok(Outcome::Finished { .. })) {
            stop.cancel();
        }
        // Closing `unseen_links` ends every worker's loop, closing the worklist every send.
        drop(handout);
        drop(worklist);
        for worker in workers {
            let _ = worker.join();
        }
        outcome
    })
}

/// Reports the worklist holds (each at most a batch of links) before workers wait.
const WORKLIST: usize = 64;

/// The book's `for list := range worklist` loop: takes each report, and queues each link not
/// `seen` before for an idle worker; ends when no task is queued or handed out and unreported.
fn deduplicate(
    worklist: &Receiver<Report>,
    seen: &mut Seen,
    handout: &mut Handout,
    config: &Config,
    errors: &mut dyn Write,
) -> io::Result<Outcome> {
    let mut failed = 0;
    while handout.busy() {
        let Some(report) = handout.next_report(worklist)? else {
            return Ok(Outcome::Cancelled);
        };
        if !matches!(report, Report::Links { .. }) {
            handout.reported();
        }
        if let Report::Fetched { task, cut, long } = &report {
            page::tell(errors, &task.url, *cut, *long, config.max_body);
        }
        match seen.take(report) {
            Taken::Unseen(tasks) => handout.queue(tasks)?,
            Taken::Failed(url, why) => {
                failed += 1;
                let _ = writeln!(errors, "crawler: {url}: {why}");
            }
            Taken::Cancelled => return Ok(Outcome::Cancelled),
        }
    }
    handout.flush()?;
    Ok(Outcome::Finished {
        fetched: handout.printed(),
        failed,
    })
}

/// The book's crawler goroutine: crawls each task taken from `unseen_links` and sends its
/// report to the worklist, until `unseen_links` closes.
pub fn worker(
    client: &Client,
    unseen_links: &Receiver<Task>,
    worklist: &Sender<Report>,
    max_depth: Option<usize>,
    keys: &Fingerprinter,
    done: &Done,
) {
    for task in unseen_links {
        // The depth limit (ex. 8.6): a page at the limit is fetched, its links are not read.
        let follow = max_depth.is_none_or(|max| task.depth < max);
        let mut links = Batches::new(worklist, keys, done, task.depth + 1);
        let report = match crawl(client, &task.url, follow, &mut links) {
            Ok(Page::Links { cut }) => Report::Fetched {
                task,
                cut,
                long: links.long,
            },
            Ok(Page::Redirect(location)) => Report::Redirected { task, location },
            Err(Failure::Cancelled) => Report::Cancelled,
            Err(Failure::Failed(why)) => Report::Failed { url: task.url, why },
        };
        if links.closed || worklist.send(report).is_err() {
            return;
        }
    }
}

/// The book's `crawl`: one GET of `url` (no redirect followed), and, if `follow` and it is an
/// HTML page, its links, resolved against `url`, which is the final URL, sent to `links`.
fn crawl(client: &Client, url: &Url, follow: bool, links: &mut Batches) -> Result<Page, Failure> {
    let response = client.get(url)?;
    if REDIRECT_STATUSES.contains(&response.status) {
        return page::redirect_target(url, &response).map(Page::Redirect);
    }
    if !(200..300).contains(&response.status) {
        return Err(Failure::Failed(format!("HTTP status {}", response.status)));
    }
    if !follow || !response.is_html() {
        return Ok(Page::Links { cut: false });
    }
    page::links(url, response, links)
}

impl Config {
    /// The limits of each request.
    fn http(&self) -> Options {
        Options {
            timeout: self.timeout,
            max_body: self.max_body,
            // Redirects go through `seen`: the client follows none.
            max_redirects: 0,
            ..Options::default()
        }
    }
}
