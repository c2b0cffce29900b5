//! A concurrent web crawler: the book's section 8.6 (`crawl3`), with its exercises 8.6 (a depth
//! limit) and 8.10 (cancellation), from *The Go Programming Language* (Donovan and Kernighan).
//!
//! Run it as `crawler [--depth N] [--concurrency N] [--same-host] URL...`; it prints each URL it
//! requests once, when it starts fetching it (a redirect's target included), and fetch errors on
//! stderr as `crawler: URL: why`. A byte on stdin or Ctrl-C cancels.
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
//! - Redirects go through the coordinator too. The HTTP client follows none
//!   (`max_redirects` 0): a worker reports a 3xx ([`REDIRECT_STATUSES`]) as
//!   [`Report::Redirected`], its `Location` resolved against the URL requested, and the
//!   coordinator queues that target like a link, but at the same depth (a redirect is the same
//!   page, not a level deeper) and ahead of other work. So every URL the crawler requests,
//!   redirect hops included, passes the one `seen` set: each is requested at most once, and a
//!   page reached both through a redirect and by a link is fetched once.
//! - Termination, which the book's `crawl3` lacks: the coordinator counts tasks handed out and
//!   not yet reported; when that is zero and the work list is empty the crawl is over.
//! - Depth (ex. 8.6): start URLs are depth 0; a page at the depth limit is fetched (and printed)
//!   but its body is not even read. A redirect at the limit is still followed to its page.
//! - Cancellation (ex. 8.10): the workers' [`Client`] closes every in-flight connection the moment
//!   the done signal fires (connecting, waiting for headers or reading a body); the coordinator
//!   sees the same signal in its `Select` and stops handing out work.
//!
//! # Where it differs from the Go original, and why
//! - It ends by itself (exit 0, or 1 if any fetch failed); `crawl3` never returns.
//! - Links are taken only from `text/html` answers with a 2xx status; a non-2xx status is a fetch
//!   error, as in the book's `links.Extract` (reported `HTTP status 404`).
//! - Redirects. Go's `http.Get` follows up to 10 redirects inside one fetch, out of sight of the
//!   book's `seen` map: a page linked directly and through a redirect is fetched twice, and a
//!   redirect hop is never printed. Here each hop is a request of its own, printed when it
//!   starts like any other, and requested at most once; a redirect to a URL already seen is not
//!   followed again (that page is fetched on its own). A chain that comes back to one of its own
//!   URLs is a fetch error of the URL that closes it, `redirect loop back to URL`; a chain of
//!   ever new URLs is given up after [`MAX_REDIRECTS`] (10, Go's limit) with `stopped after 10
//!   redirects`. Links of the page a chain ends at resolve against that page's own URL.
//! - A redirect whose target is not `http` or `https` (`file:`, `mailto:`, `javascript:`...) is
//!   a fetch error, `redirect to URL, not an http or https URL`, and nothing is requested; a 3xx
//!   other than those five, or one without a `Location`, is a fetch error like a 404.
//! - `--same-host` compares host *and port* (Go's `url.Host`), so two servers on one machine count
//!   as two hosts. It applies to redirects as to links: a redirect to another host is not
//!   followed, and silently so, as a link there is not. A start URL that redirects to another
//!   host (`http:` to `https:` is another port) therefore ends the crawl there; start from the
//!   URL it redirects to.
//! - Bodies are cut at `--max-body` bytes (said on stderr, `crawler: URL: body cut at 10 MiB`,
//!   not an error) and `--timeout` bounds each URL's whole turn: connect, headers, body and the
//!   link extraction that streams it.
//!
//! # Known limits
//! - Links are found by a streaming tokenizer (`common::links`), in time linear in the page.
//! - Names are resolved by the system resolver, which neither a cancel nor `--timeout` can
//!   interrupt (see [`common::http`]): a lookup runs to its own limits.
//! - No connection is reused between requests (see [`common::http`]): each page costs a TCP
//!   (and TLS) handshake.

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
    /// Each URL's whole turn: connect, headers, body and link extraction.
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
    /// Links followed from a start URL (start URLs are 0). A redirect does not count: its
    /// target is the same page, at the same depth.
    pub depth: usize,
    /// The URLs whose redirects led here, first to last; empty for a start URL or a link.
    pub redirected_from: Vec<Url>,
}

/// What a worker sends back for each task (one report per task, except after a cancel).
#[derive(Debug)]
pub enum Report {
    /// Fetched with a 2xx status; `links` are empty unless the page is HTML below the depth
    /// limit.
    Fetched {
        task: Task,
        links: Vec<Url>,
        /// The body went on past `--max-body` and was cut.
        cut: bool,
    },
    /// A redirect ([`REDIRECT_STATUSES`]) to `location`: its `Location` resolved against the
    /// task's URL, fragment removed, `http` or `https`. The coordinator decides whether to
    /// follow it.
    Redirected { task: Task, location: Url },
    /// The fetch failed: connect, I/O, timeout, a status that is neither 2xx nor a usable
    /// redirect.
    Failed { url: Url, why: String },
}

/// The statuses followed as redirects, as Go's client and ureq do; any other 3xx is a fetch
/// error like a 4xx.
pub const REDIRECT_STATUSES: [u16; 5] = [301, 302, 303, 307, 308];

/// Redirects followed in a row before a chain is given up (Go's client's limit, and
/// `common::http`'s default).
pub const MAX_REDIRECTS: usize = 10;

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
            // Redirects go through the coordinator's `seen` set: the client follows none.
            max_redirects: 0,
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
    let mut work = Work {
        hosts: config
            .same_host
            .then(|| start.iter().map(host_and_port).collect()),
        seen: HashSet::new(),
        frontier: VecDeque::new(),
    };
    for url in start {
        work.add(url.clone(), 0, Vec::new());
    }
    let (mut pending, mut fetched, mut failed) = (0usize, 0usize, 0usize);
    while pending > 0 || !work.frontier.is_empty() {
        let mut select = Select::new();
        let cancel_op = select.recv(done.channel());
        let report_op = select.recv(reports);
        if !work.frontier.is_empty() {
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
            if let Report::Fetched {
                task, cut: true, ..
            } = &report
            {
                let at = size(config.max_body);
                let _ = writeln!(errors, "crawler: {}: body cut at {at}", task.url);
            }
            if let Err((url, why)) = work.take(report) {
                failed += 1;
                let _ = writeln!(errors, "crawler: {url}: {why}");
            }
            continue;
        }
        let Some(task) = work.frontier.pop_front() else {
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

/// What the coordinator alone owns: every URL ever queued, and those not yet handed out.
struct Work {
    /// `host:port` of the start URLs with `--same-host`; `None`: any host.
    hosts: Option<HashSet<String>>,
    seen: HashSet<Url>,
    frontier: VecDeque<Task>,
}

impl Work {
    /// Queues `url` unless it was seen already or is on a host not followed.
    fn add(&mut self, url: Url, depth: usize, redirected_from: Vec<Url>) {
        if !self.allowed(&url) || !self.seen.insert(url.clone()) {
            return;
        }
        let task = Task {
            url,
            depth,
            redirected_from,
        };
        // A redirect's target is the page its chain is fetching: finish that first.
        if task.redirected_from.is_empty() {
            self.frontier.push_back(task);
        } else {
            self.frontier.push_front(task);
        }
    }

    fn allowed(&self, url: &Url) -> bool {
        self.hosts
            .as_ref()
            .is_none_or(|hosts| hosts.contains(&host_and_port(url)))
    }

    /// Takes a worker's report: queues its links or its redirect's target; a fetch error, a
    /// redirect loop or too long a chain comes back as the URL and why, for the error stream.
    fn take(&mut self, report: Report) -> Result<(), (Url, String)> {
        match report {
            Report::Fetched { task, links, .. } => {
                for link in links {
                    self.add(link, task.depth + 1, Vec::new());
                }
                Ok(())
            }
            Report::Redirected { task, location } => {
                if !self.allowed(&location) {
                    // Like a link to another host: not followed.
                    return Ok(());
                }
                if location == task.url || task.redirected_from.contains(&location) {
                    return Err((task.url, format!("redirect loop back to {location}")));
                }
                if self.seen.contains(&location) {
                    // That page is fetched on its own (or was): not again.
                    return Ok(());
                }
                if task.redirected_from.len() >= MAX_REDIRECTS {
                    return Err((task.url, format!("stopped after {MAX_REDIRECTS} redirects")));
                }
                let Task {
                    url,
                    depth,
                    mut redirected_from,
                } = task;
                redirected_from.push(url);
                self.add(location, depth, redirected_from);
                Ok(())
            }
            Report::Failed { url, why } => Err((url, why)),
        }
    }
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
    for task in tasks {
        let follow = max_depth.is_none_or(|max| task.depth < max);
        let report = match fetch(client, &task.url, follow) {
            Ok(Page::Links { links, cut }) => Report::Fetched { task, links, cut },
            Ok(Page::Redirect(location)) => Report::Redirected { task, location },
            Err(Failure::Cancelled) => return,
            Err(Failure::Failed(why)) => Report::Failed { url: task.url, why },
        };
        if reports.send(report).is_err() {
            return;
        }
    }
}

/// What one fetch found.
enum Page {
    /// A 2xx answer and the links to follow (none for a page at the depth limit or not HTML);
    /// `cut` when the body went on past `--max-body`.
    Links { links: Vec<Url>, cut: bool },
    /// A redirect to this URL.
    Redirect(Url),
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

/// Fetches `url` (no redirect followed): its redirect, or if `follow` and it is an HTML page,
/// its links, resolved against `url`, which is the final URL.
fn fetch(client: &Client, url: &Url, follow: bool) -> Result<Page, Failure> {
    let response = client.get(url)?;
    if REDIRECT_STATUSES.contains(&response.status) {
        return redirect_target(url, response.status, response.location.as_deref())
            .map(Page::Redirect)
            .map_err(Failure::Failed);
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
    // Streamed: a cancel or the timeout stops the tokenizer between two chunks.
    let content_type = response.content_type.clone();
    let mut body = response.into_body();
    let links = common::links::extract_from(url, &mut body, content_type.as_deref())
        .map_err(common::http::Error::from_io)?;
    let cut = body.cut();
    Ok(Page::Links { links, cut })
}

/// `bytes` as a person writes it: `10 MiB`, `512 KiB`, `1000 bytes`.
fn size(bytes: u64) -> String {
    match bytes {
        0 => "0 bytes".into(),
        _ if bytes % (1 << 20) == 0 => format!("{} MiB", bytes >> 20),
        _ if bytes % (1 << 10) == 0 => format!("{} KiB", bytes >> 10),
        _ => format!("{bytes} bytes"),
    }
}

/// Where a redirect from `url` points: its `Location` resolved against `url`, without a
/// fragment; an error unless that is an `http` or `https` URL.
fn redirect_target(url: &Url, status: u16, location: Option<&str>) -> Result<Url, String> {
    let Some(location) = location else {
        return Err(format!("HTTP status {status} without a Location header"));
    };
    let mut target = url
        .join(location.trim())
        .map_err(|err| format!("redirect to {location:?}: {err}"))?;
    if !matches!(target.scheme(), "http" | "https") {
        return Err(format!("redirect to {target}, not an http or https URL"));
    }
    target.set_fragment(None);
    Ok(target)
}
