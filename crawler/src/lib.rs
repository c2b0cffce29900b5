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
//! - No depth limit (ex. 8.6): [`worker`] does not read the links of a page at `--depth`.
//! - No cancellation (ex. 8.10): the workers' [`Client`] shuts every socket down when the done
//!   signal fires, the body reader checks it between chunks, and [`run`] joins every worker.
//! - Go's `http.Get` follows redirects out of sight of `seen`, so a page can be fetched twice:
//!   `crawl` follows none, and `Seen::take` queues a redirect's target through `seen`.
//! - A parse tree costs about 100 bytes per page byte and time quadratic in its nesting:
//!   `crawl` streams the body through `common::links::extract_from`, a tokenizer.
//! - The page's character set is ignored: `common::links::extract_from` decodes it.
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
use crossbeam_channel::{Receiver, Sender, bounded, unbounded};
use url::Url;

mod handout;
mod page;
mod seen;

use handout::Handout;
use page::{Failure, Page};
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
    /// The URLs whose redirects led here, first to last; empty for a start URL or a link.
    pub redirected_from: Vec<Url>,
}

/// What a worker sends to the worklist for each task.
#[derive(Debug)]
pub enum Report {
    /// Fetched with a 2xx status; `links` are empty unless the page is HTML below the depth
    /// limit; `cut` when its body went on past `--max-body`.
    Fetched {
        task: Task,
        links: Vec<Url>,
        cut: bool,
    },
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
    let (to_worklist, worklist) = unbounded::<Report>();
    let (to_unseen_links, unseen_links) = bounded::<Task>(0);
    // Scoped threads: all joined before `run` returns, whatever the outcome.
    thread::scope(|scope| {
        let mut handout = Handout::new(to_unseen_links, &done, out);
        let mut workers = Vec::new();
        for n in 0..config.concurrency.max(1) {
            let (client, unseen_links) = (&client, &unseen_links);
            let to_worklist = to_worklist.clone();
            workers.push(
                thread::Builder::new()
                    .name(format!("crawler-worker-{n}"))
                    .spawn_scoped(scope, move || {
                        worker(client, unseen_links, &to_worklist, config.depth)
                    })?,
            );
        }
        drop(to_worklist);
        let mut seen = Seen::new(config.same_host.then_some(start));
        let outcome = match handout.all(seen.unseen(start.iter().cloned(), 0)) {
            Ok(true) => deduplicate(&worklist, &mut seen, &mut handout, config, errors),
            Ok(false) => Ok(Outcome::Cancelled),
            Err(err) => Err(err),
        };
        if !matches!(outcome, Ok(Outcome::Finished { .. })) {
            stop.cancel();
        }
        // Closing `unseen_links` ends every worker's loop.
        drop(handout);
        for worker in workers {
            let _ = worker.join();
        }
        outcome
    })
}

/// The book's `for list := range worklist` loop: takes each report, and hands each link not
/// `seen` before to an idle worker; ends when no link handed out is still to be reported.
fn deduplicate(
    worklist: &Receiver<Report>,
    seen: &mut Seen,
    handout: &mut Handout,
    config: &Config,
    errors: &mut dyn Write,
) -> io::Result<Outcome> {
    let mut failed = 0;
    while handout.pending() > 0 {
        let Ok(report) = worklist.recv() else {
            return Err(io::Error::other("every worker stopped"));
        };
        handout.reported();
        if let Report::Fetched {
            task, cut: true, ..
        } = &report
        {
            let at = page::size(config.max_body);
            let _ = writeln!(errors, "crawler: {}: body cut at {at}", task.url);
        }
        match seen.take(report) {
            Taken::Unseen(tasks) => {
                if !handout.all(tasks)? {
                    return Ok(Outcome::Cancelled);
                }
            }
            Taken::Failed(url, why) => {
                failed += 1;
                let _ = writeln!(errors, "crawler: {url}: {why}");
            }
            Taken::Cancelled => return Ok(Outcome::Cancelled),
        }
    }
    handout.flush()?;
    Ok(Outcome::Finished {
        fetched: handout.handed_out(),
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
) {
    for task in unseen_links {
        // The depth limit (ex. 8.6): a page at the limit is fetched, its links are not read.
        let follow = max_depth.is_none_or(|max| task.depth < max);
        let report = match crawl(client, &task.url, follow) {
            Ok(Page::Links { links, cut }) => Report::Fetched { task, links, cut },
            Ok(Page::Redirect(location)) => Report::Redirected { task, location },
            Err(Failure::Cancelled) => Report::Cancelled,
            Err(Failure::Failed(why)) => Report::Failed { url: task.url, why },
        };
        if worklist.send(report).is_err() {
            return;
        }
    }
}

/// The book's `crawl`: one GET of `url` (no redirect followed), and, if `follow` and it is an
/// HTML page, its links, resolved against `url`, which is the final URL.
fn crawl(client: &Client, url: &Url, follow: bool) -> Result<Page, Failure> {
    let response = client.get(url)?;
    if REDIRECT_STATUSES.contains(&response.status) {
        return page::redirect_target(url, &response).map(Page::Redirect);
    }
    if !(200..300).contains(&response.status) {
        return Err(Failure::Failed(format!("HTTP status {}", response.status)));
    }
    if !follow || !response.is_html() {
        return Ok(Page::Links {
            links: Vec::new(),
            cut: false,
        });
    }
    page::links(url, response)
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
