//! A small, deterministic HTTP site server for demos, tests and benchmarks (std only).
//!
//! The crawler (book section 8.6) and mirrored-fetch (section 8.4.4) need web servers whose
//! content, speed and load are known. A [`Site`] is a map from paths to canned [`Resource`]s,
//! built by hand or generated ([`Site::generated`], [`Site::fixed`]); [`Site::start`] serves it on
//! a loopback address with an optional per-response delay and returns a [`SiteHandle`] that
//! reports [`SiteStats`]: requests per path, requests in flight and their maximum (what the
//! crawler's concurrency tests assert against), and connections the client closed before the
//! answer (what mirrored-fetch's "losers are cancelled" tests assert against).
//!
//! The generated site ([`Site::generated`]) has `pages` pages at `/page/0` .. `/page/{pages-1}`,
//! each linking to ten children (`/page/{10i+1}` ..), to its parent (with a fragment) and to `/`;
//! the index `/` adds one of each awkward case a crawler meets: a redirect (`/redirect` to
//! `/landing/`, whose relative link resolves against the final URL), a non-HTML file whose text
//! looks like a link, a 404 with a link in its body, a page with `<base href>`, malformed markup,
//! fragments, a `mailto:` link, and an external link to `127.0.0.2:1` (loopback, a port nothing
//! serves, so following it fails fast without leaving the machine).
//! [`Site::generated_crawl`] lists what a complete same-host crawl from `/` fetches,
//! [`Site::generated_depth_one`] what one to depth 1 fetches.
//!
//! A [`Resource`] may pause mid-body ([`Resource::paused`]): a slow or stalled mirror.
//! [`SiteStats::last`] holds when the site last read a request, wrote an answer's head and its
//! last byte, and saw a client give up: what the benchmarks time latencies between.
//!
//! Design: one accept thread and a fixed pool of [`SiteOptions::workers`] connection threads fed
//! through a bounded channel; one request per connection (`Connection: close`), so there is no
//! idle keep-alive connection holding a worker. [`SiteHandle::stop`] (also run on drop) shuts
//! down every open connection, wakes the accept thread, and joins every thread.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, select};

/// How long a connection may take to send its request head, and a write may block.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest request head accepted.
const MAX_HEAD: usize = 16 << 10;
/// Children per generated page: a wide tree, so a crawl has enough parallel work at once.
const FAN_OUT: usize = 10;
/// The external link of the generated site: loopback, a port nothing listens on.
pub const EXTERNAL_LINK: &str = "http://127.0.0.2:1/external";

/// One canned answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resource {
    pub status: u16,
    pub content_type: String,
    /// Extra headers (e.g. `Location`, `Content-Encoding`).
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// A server slow mid-body: after this many body bytes, wait this long before the rest (the
    /// client closing ends the wait, and the request counts as aborted).
    pub pause: Option<(usize, Duration)>,
    /// The body is the whole answer, head included, sent as it is ([`Resource::raw`]).
    pub raw: bool,
}

impl Resource {
    /// A `200 OK` HTML page.
    pub fn html(body: impl Into<String>) -> Resource {
        Resource::new(200, "text/html; charset=utf-8", body.into().into_bytes())
    }

    /// A `200 OK` answer of any type.
    pub fn ok(content_type: &str, body: impl Into<Vec<u8>>) -> Resource {
        Resource::new(200, content_type, body.into())
    }

    /// A `302 Found` redirect to `location` (absolute or relative).
    pub fn redirect(location: &str) -> Resource {
        let mut resource = Resource::new(302, "text/html; charset=utf-8", Vec::new());
        resource
            .headers
            .push(("Location".into(), location.to_string()));
        resource
    }

    /// Any status, type and body.
    pub fn new(status: u16, content_type: &str, body: Vec<u8>) -> Resource {
        Resource {
            status,
            content_type: content_type.to_string(),
            headers: Vec::new(),
            body,
            pause: None,
            raw: false,
        }
    }

    /// This resource with `name: value` among its headers.
    pub fn header(mut self, name: &str, value: &str) -> Resource {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// An answer sent byte for byte as given, status line and head included: framing no
    /// well-behaved server sends (a `100 Continue` first, odd codings).
    pub fn raw(answer: impl Into<Vec<u8>>) -> Resource {
        Resource {
            raw: true,
            ..Resource::new(200, "", answer.into())
        }
    }

    /// This resource, paused for `wait` after `bytes` of its body ([`Resource::pause`]); a
    /// wait longer than the client's patience is a mirror that stalls.
    pub fn paused(mut self, bytes: usize, wait: Duration) -> Resource {
        self.pause = Some((bytes, wait));
        self
    }
}

/// What a site serves: paths (without query) to resources, and what any other path gets.
#[derive(Clone, Debug)]
pub struct Site {
    routes: HashMap<String, Arc<Resource>>,
    fallback: Arc<Resource>,
}

impl Default for Site {
    fn default() -> Site {
        Site::new()
    }
}

impl Site {
    /// An empty site: every path is a 404.
    pub fn new() -> Site {
        Site {
            routes: HashMap::new(),
            fallback: Arc::new(Resource::new(
                404,
                "text/html; charset=utf-8",
                b"<html><body><h1>404 Not Found</h1></body></html>".to_vec(),
            )),
        }
    }

    /// Adds (or replaces) the resource at `path` (e.g. `/a/b.html`).
    pub fn with(mut self, path: &str, resource: Resource) -> Site {
        self.routes.insert(path.to_string(), Arc::new(resource));
        self
    }

    /// Adds an HTML page at `path`.
    pub fn page(self, path: &str, html: &str) -> Site {
        self.with(path, Resource::html(html))
    }

    /// What every path without a resource of its own gets (a 404 by default).
    pub fn with_fallback(mut self, resource: Resource) -> Site {
        self.fallback = Arc::new(resource);
        self
    }

    /// The same `200 OK` body on every path: a mirror for mirrored-fetch.
    pub fn fixed(content_type: &str, body: impl Into<Vec<u8>>) -> Site {
        Site::new().with_fallback(Resource::ok(content_type, body))
    }

    /// The generated site (see the module docs) with `pages` tree pages.
    pub fn generated(pages: usize) -> Site {
        let mut site = Site::new().with_fallback(Resource::new(
            404,
            "text/html; charset=utf-8",
            b"<html><body><h1>404</h1><a href=\"/never/from-404\">not followed</a></body></html>"
                .to_vec(),
        ));
        let mut index = String::from(
            "<!DOCTYPE html>\n<html><head><title>Generated site</title></head><body>\n<h1 id=\"top\">Generated site</h1>\n<ul>\n",
        );
        if pages > 0 {
            index.push_str("<li><a href=\"/page/0\">the first page</a>\n");
        }
        if pages > 1 {
            index.push_str("<li><a href=\"page/1#intro\">relative, with a fragment</a>\n");
        }
        for (href, text) in [
            ("/redirect", "a redirect"),
            ("/files/notes.txt", "a text file"),
            ("/missing", "a missing page"),
            ("/based/", "a page with a base element"),
            ("/malformed", "malformed markup"),
            (EXTERNAL_LINK, "another host"),
            ("mailto:nobody@example.invalid", "mail"),
            ("#top", "this page"),
        ] {
            let _ = writeln!(index, "<li><a href=\"{href}\">{text}</a>");
        }
        index.push_str("</ul></body></html>\n");
        site = site.page("/", &index);
        for i in 0..pages {
            site = site.page(&format!("/page/{i}"), &generated_page(i, pages));
        }
        site.with("/redirect", Resource::redirect("/landing/"))
            .page(
                "/landing/",
                "<html><body><p>Reached by a redirect.<a href=\"next.html\">next</a></body></html>",
            )
            .page(
                "/landing/next.html",
                "<html><body><a href=\"/\">home</a></body></html>",
            )
            .with(
                "/files/notes.txt",
                Resource::ok(
                    "text/plain; charset=utf-8",
                    "Plain text, not HTML: <a href=\"/never/from-text\">not a link</a>\n",
                ),
            )
            .page(
                "/based/",
                "<html><head><base href=\"/base-target/\"></head>\
                 <body><a href=\"child.html\">resolved against the base</a></body></html>",
            )
            .page(
                "/base-target/child.html",
                "<html><body><a href=\"/\">home</a></body></html>",
            )
            .page(
                "/malformed",
                "<html><body><div><p>unclosed <b>tags<table><tr><td>cell\
                 <a href=/malformed-target>unquoted</td></span></i><p",
            )
            .page(
                "/malformed-target",
                "<html><body><a href=\"/\">home</a></body></html>",
            )
    }

    /// The paths a complete same-host crawl of [`Site::generated`]`(pages)` from `/` fetches,
    /// sorted. (`/landing/` is reached only as the target of `/redirect`, which the crawler
    /// requests itself; `/missing` is a 404.)
    pub fn generated_crawl(pages: usize) -> Vec<String> {
        let mut paths: Vec<String> = [
            "/",
            "/redirect",
            "/landing/",
            "/landing/next.html",
            "/files/notes.txt",
            "/missing",
            "/based/",
            "/base-target/child.html",
            "/malformed",
            "/malformed-target",
        ]
        .iter()
        .map(|path| path.to_string())
        .chain((0..pages).map(|i| format!("/page/{i}")))
        .collect();
        paths.sort();
        paths
    }

    /// The paths a same-host crawl of [`Site::generated`]`(pages)` from `/` fetches at depth 1,
    /// sorted: the index and what it links to on this site, `/landing/` included (the target of
    /// `/redirect`: the same page, at the same depth, requested by the crawler itself). The index
    /// also links to [`EXTERNAL_LINK`], on another host.
    pub fn generated_depth_one(pages: usize) -> Vec<String> {
        let mut paths: Vec<String> = [
            "/",
            "/redirect",
            "/landing/",
            "/files/notes.txt",
            "/missing",
            "/based/",
            "/malformed",
        ]
        .iter()
        .map(|path| path.to_string())
        .chain((0..pages.min(2)).map(|i| format!("/page/{i}")))
        .collect();
        paths.sort();
        paths
    }

    /// The resource for a request path (query string ignored).
    pub fn resource(&self, path: &str) -> &Resource {
        let path = path.split(['?', '#']).next().unwrap_or(path);
        self.routes.get(path).unwrap_or(&self.fallback)
    }

    /// Serves this site on `addr` (use `127.0.0.1:0` for a free port) until the handle is
    /// stopped or dropped.
    pub fn start(&self, addr: impl ToSocketAddrs, options: SiteOptions) -> io::Result<SiteHandle> {
        SiteHandle::start(self.clone(), addr, options)
    }

    /// Serves this site on one fresh loopback port per entry of `latencies`, each with that
    /// delay: mirrors of different speeds for mirrored-fetch. Handles come back in the same
    /// order; if one fails to start, those already started are stopped.
    pub fn start_mirrors(&self, latencies: &[Duration]) -> io::Result<Vec<SiteHandle>> {
        latencies
            .iter()
            .map(|&latency| self.serve(latency))
            .collect()
    }

    /// Serves this site on a fresh loopback port, each answer after `latency`, with the default
    /// pool of connection threads.
    pub fn serve(&self, latency: Duration) -> io::Result<SiteHandle> {
        let options = SiteOptions {
            latency,
            ..SiteOptions::default()
        };
        self.start((Ipv4Addr::LOCALHOST, 0), options)
    }
}

/// Page `i` of a generated site of `pages` pages.
fn generated_page(i: usize, pages: usize) -> String {
    let mut html = format!(
        "<!DOCTYPE html>\n<html><head><title>Page {i}</title></head><body>\n\
         <h1 id=\"top\">Page {i}</h1>\n<p><a href=\"/\">home</a> <a href=\"#top\">top</a>"
    );
    if i > 0 {
        let parent = (i - 1) / FAN_OUT;
        let _ = write!(html, " <a href=\"{parent}#child-{i}\">parent</a>");
    }
    html.push_str("</p>\n<ul>\n");
    for child in (FAN_OUT * i + 1..=FAN_OUT * i + FAN_OUT).filter(|&child| child < pages) {
        let _ = writeln!(
            html,
            "<li id=\"child-{child}\"><a href=\"{child}\">page {child}</a>"
        );
    }
    html.push_str("</ul>\n<p>");
    // Some text, so a page weighs what a small real page does (about 1.5 KiB).
    for _ in 0..12 {
        html.push_str("Goroutines and channels, rebuilt with threads and crossbeam. ");
    }
    html.push_str("</p>\n</body></html>\n");
    html
}

/// How a site is served.
#[derive(Clone, Copy, Debug)]
pub struct SiteOptions {
    /// Delay before each answer (after the request head is read). A client that closes its
    /// connection during the delay is counted in [`SiteStats::aborted`] (at once, except in
    /// the last 30 ms of the delay, which are slept for precision: then when the answer is due).
    pub latency: Duration,
    /// Connection threads: at most this many requests are handled at once; further connections
    /// wait in the accept queue. Keep it above the client's concurrency.
    pub workers: usize,
}

impl Default for SiteOptions {
    fn default() -> SiteOptions {
        SiteOptions {
            latency: Duration::ZERO,
            workers: 64,
        }
    }
}

/// What a running site has seen so far.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SiteStats {
    /// Requests whose head was read.
    pub requests: u64,
    /// Requests read and not yet answered or abandoned.
    pub in_flight: usize,
    /// The most requests in flight at once: what a concurrency limit is checked against.
    pub max_in_flight: usize,
    /// Requests whose client closed the connection before the answer (or that could not be
    /// written).
    pub aborted: u64,
    /// Requests per path (with query string).
    pub by_path: BTreeMap<String, u64>,
    /// Connections ended, whatever happened on them (a client that connects and closes without
    /// a request included): what a caller waits for before the next run.
    pub ended: u64,
    /// When the latest of each event happened.
    pub last: Moments,
}

/// When a site last read a request head, wrote an answer's head, wrote an answer's last byte,
/// and saw a client give up on a request: the timestamps a latency is measured between.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Moments {
    pub requested: Option<Instant>,
    pub answered: Option<Instant>,
    pub finished: Option<Instant>,
    pub aborted: Option<Instant>,
}

/// A running site. [`SiteHandle::stop`] or drop stops it and joins its threads.
pub struct SiteHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

/// State shared by the handle, the accept thread and the connection threads.
struct Shared {
    site: Site,
    latency: Duration,
    /// Set by `stop`; checked by every thread before it blocks again.
    stopping: AtomicBool,
    /// Dropped by `stop`: wakes the accept thread's send and every latency wait.
    stop_sender: Mutex<Option<Sender<()>>>,
    stop: Receiver<()>,
    /// Clones of open connections, shut down by `stop` to wake blocked reads.
    open: Mutex<HashMap<u64, TcpStream>>,
    next_id: AtomicU64,
    stats: Mutex<SiteStats>,
    /// Notified on every change of `stats`, for [`SiteHandle::wait_stats`].
    changed: Condvar,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl SiteHandle {
    fn start(site: Site, addr: impl ToSocketAddrs, options: SiteOptions) -> io::Result<SiteHandle> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let (stop_sender, stop) = crossbeam_channel::bounded(0);
        let shared = Arc::new(Shared {
            site,
            latency: options.latency,
            stopping: AtomicBool::new(false),
            stop_sender: Mutex::new(Some(stop_sender)),
            stop,
            open: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
            stats: Mutex::new(SiteStats::default()),
            changed: Condvar::new(),
        });
        let workers = options.workers.max(1);
        let (connections, incoming) = crossbeam_channel::bounded::<TcpStream>(workers);
        let mut handle = SiteHandle {
            addr,
            shared: Arc::clone(&shared),
            threads: Vec::with_capacity(workers + 1),
        };
        for n in 0..workers {
            let shared = Arc::clone(&shared);
            let incoming = incoming.clone();
            let spawned = thread::Builder::new()
                .name(format!("site-conn-{n}"))
                .stack_size(128 << 10)
                .spawn(move || {
                    for stream in incoming {
                        handle_connection(&shared, stream);
                    }
                });
            // On failure the handle's drop stops and joins the threads started so far.
            handle.threads.push(spawned?);
        }
        drop(incoming);
        let spawned = thread::Builder::new()
            .name("site-accept".into())
            .stack_size(128 << 10)
            .spawn(move || accept_loop(&shared, &listener, &connections));
        handle.threads.push(spawned?);
        Ok(handle)
    }

    /// The address the site listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR{path}`; `path` starts with `/`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// A snapshot of the statistics.
    pub fn stats(&self) -> SiteStats {
        lock(&self.shared.stats).clone()
    }

    /// Waits until `ready(stats)` holds or `timeout` passes; returns the last snapshot and
    /// whether it held. (A readiness check for tests and benchmarks: no sleeping and polling.)
    pub fn wait_stats(
        &self,
        timeout: Duration,
        mut ready: impl FnMut(&SiteStats) -> bool,
    ) -> (SiteStats, bool) {
        let deadline = Instant::now() + timeout;
        let mut stats = lock(&self.shared.stats);
        loop {
            if ready(&stats) {
                return (stats.clone(), true);
            }
            let now = Instant::now();
            if now >= deadline {
                return (stats.clone(), false);
            }
            stats = self
                .shared
                .changed
                .wait_timeout(stats, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Stops serving: open connections are shut down, every thread is joined.
    pub fn stop(mut self) {
        self.stop_threads();
    }

    fn stop_threads(&mut self) {
        if self.threads.is_empty() {
            return;
        }
        self.shared.stopping.store(true, Ordering::SeqCst);
        drop(lock(&self.shared.stop_sender).take());
        for stream in lock(&self.shared.open).values() {
            let _ = stream.shutdown(Shutdown::Both);
        }
        // Wake the accept thread blocked in `accept` with a connection of our own.
        let mut wake = self.addr;
        if wake.ip().is_unspecified() {
            wake.set_ip(Ipv4Addr::LOCALHOST.into());
        }
        let _ = TcpStream::connect_timeout(&wake, Duration::from_secs(1));
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

impl Drop for SiteHandle {
    fn drop(&mut self) {
        self.stop_threads();
    }
}

/// Accepts connections and hands them to the pool; blocks (the accept queue fills) while every
/// connection thread is busy. Dropping `connections` on return ends the pool.
fn accept_loop(shared: &Shared, listener: &TcpListener, connections: &Sender<TcpStream>) {
    loop {
        let accepted = listener.accept();
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        match accepted {
            Ok((stream, _)) => {
                select! {
                    send(connections, stream) -> sent => if sent.is_err() { return },
                    recv(shared.stop) -> _ => return,
                }
            }
            // Out of descriptors or a connection reset before accept: back off briefly.
            Err(_) => {
                if shared
                    .stop
                    .recv_timeout(Duration::from_millis(10))
                    .is_err_and(|err| err.is_disconnected())
                {
                    return;
                }
            }
        }
    }
}

/// Serves one request on `stream`, then closes it.
fn handle_connection(shared: &Shared, stream: TcpStream) {
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    if let Ok(clone) = stream.try_clone() {
        lock(&shared.open).insert(id, clone);
    }
    // Registered first, then checked: `stop` either sees this stream or we see `stopping`.
    if !shared.stopping.load(Ordering::SeqCst) {
        serve(shared, &stream);
    }
    lock(&shared.open).remove(&id);
    note(shared, |stats| stats.ended += 1);
}

/// Keeps `in_flight` honest on every way out of a request.
struct InFlight<'a> {
    shared: &'a Shared,
    /// Still counted in `in_flight`.
    counted: bool,
}

impl InFlight<'_> {
    /// Stops counting this request as in flight; `aborted` if the client gave up on it.
    ///
    /// A request leaves `in_flight` *before* its answer is written: the client cannot start its
    /// next request before it has read this answer, so a client that keeps N requests going
    /// never shows as N + 1 here (which counting after the write would).
    fn leave(&mut self, aborted: bool) {
        if !std::mem::replace(&mut self.counted, false) {
            return;
        }
        note(self.shared, |stats| {
            stats.in_flight -= 1;
            if aborted {
                stats.aborted += 1;
                stats.last.aborted = Some(Instant::now());
            }
        });
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.leave(true);
    }
}

/// Changes the statistics and tells whoever waits on them.
fn note(shared: &Shared, change: impl FnOnce(&mut SiteStats)) {
    change(&mut lock(&shared.stats));
    shared.changed.notify_all();
}

fn serve(shared: &Shared, stream: &TcpStream) {
    let _ = stream.set_read_timeout(Some(IO_TIMEOUT));
    let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
    let Some((method, target)) = read_request_head(stream) else {
        return;
    };
    let mut in_flight = {
        let mut stats = lock(&shared.stats);
        stats.requests += 1;
        stats.in_flight += 1;
        stats.max_in_flight = stats.max_in_flight.max(stats.in_flight);
        *stats.by_path.entry(target.clone()).or_default() += 1;
        stats.last.requested = Some(Instant::now());
        shared.changed.notify_all();
        InFlight {
            shared,
            counted: true,
        }
    };
    if !shared.latency.is_zero() && !wait_out(shared, stream, shared.latency) {
        return;
    }
    let refused;
    let resource = if method == "GET" || method == "HEAD" {
        shared.site.resource(&target)
    } else {
        refused = Resource::new(405, "text/plain", b"method not allowed\n".to_vec());
        &refused
    };
    let body = if method == "HEAD" {
        &[][..]
    } else {
        &resource.body[..]
    };
    in_flight.leave(false);
    if write_answer(shared, stream, resource, body) {
        let _ = stream.shutdown(Shutdown::Write);
    } else {
        note(shared, |stats| {
            stats.aborted += 1;
            stats.last.aborted = Some(Instant::now());
        });
    }
}

/// Writes the head, then the body (pausing where the resource says), noting when the head and
/// the last byte went out; false if the client is gone.
fn write_answer(shared: &Shared, stream: &TcpStream, resource: &Resource, body: &[u8]) -> bool {
    let write = |bytes: &[u8]| {
        let mut to = stream;
        to.write_all(bytes).and_then(|()| to.flush()).is_ok()
    };
    let Resource {
        status,
        content_type,
        headers,
        pause,
        ..
    } = resource;
    let mut head = String::new();
    if !resource.raw {
        head = format!(
            "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n",
            reason(*status),
            resource.body.len()
        );
        for (name, value) in headers {
            let _ = write!(head, "{name}: {value}\r\n");
        }
        head.push_str("\r\n");
    }
    if !write(head.as_bytes()) {
        return false;
    }
    note(shared, |stats| stats.last.answered = Some(Instant::now()));
    let (first, rest) = body.split_at(pause.map_or(body.len(), |(at, _)| at.min(body.len())));
    let paused = |wait: Duration| !rest.is_empty() && !wait_out(shared, stream, wait);
    if !write(first) || pause.is_some_and(|(_, wait)| paused(wait)) || !write(rest) {
        return false;
    }
    note(shared, |stats| stats.last.finished = Some(Instant::now()));
    true
}

/// A socket read timeout is counted in kernel ticks and overshoots by up to two of them (8 ms
/// measured at 250 Hz, 20 ms at 100 Hz): the last stretch of a delay is slept instead, which is
/// precise to well under a millisecond.
const TICK_MARGIN: Duration = Duration::from_millis(30);

/// Waits `wait` (the latency, or a pause mid-body); false if the client closed the connection
/// or the site is stopping.
///
/// A close is seen the moment it happens until [`TICK_MARGIN`] before the wait ends, and at the
/// latest when it ends (a wait of `TICK_MARGIN` or less is one precise sleep).
fn wait_out(shared: &Shared, mut stream: &TcpStream, wait: Duration) -> bool {
    let deadline = Instant::now() + wait;
    let mut byte = [0u8; 1];
    loop {
        if shared.stopping.load(Ordering::SeqCst) {
            return false;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left <= TICK_MARGIN {
            thread::sleep(left);
            break;
        }
        // A peek blocks until the client sends or closes, or the time is up: a close is seen
        // the moment it happens, without polling.
        let _ = stream.set_read_timeout(Some(left - TICK_MARGIN));
        match stream.peek(&mut byte) {
            Ok(0) => return false,
            Ok(_) => {
                // The client sent more (a body or a pipelined request): drain it and go on
                // waiting; the answer still comes after the delay.
                let _ = stream.read(&mut [0u8; 4096]);
            }
            Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(err) if err.kind() == ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    // One look without blocking: a client that left during the sleep is not answered.
    if stream.set_nonblocking(true).is_err() {
        return false;
    }
    let gone = match stream.peek(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(err) => err.kind() != ErrorKind::WouldBlock,
    };
    stream.set_nonblocking(false).is_ok() && !gone && !shared.stopping.load(Ordering::SeqCst)
}

/// Reads a request head; returns its method and target, or None for a closed, slow or
/// malformed request.
fn read_request_head(stream: &TcpStream) -> Option<(String, String)> {
    let head = crate::net::read_head(stream, MAX_HEAD)?;
    let text = String::from_utf8_lossy(&head);
    let mut words = text.lines().next()?.split_ascii_whitespace();
    let method = words.next()?.to_string();
    let target = words.next()?.to_string();
    Some((method, target))
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        404 => "Not Found",
        405 => "Method Not Allowed",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A raw HTTP/1.0-style GET: the whole answer as text.
    fn get(addr: SocketAddr, path: &str) -> String {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        write!(stream, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
    }

    #[test]
    fn serves_pages_redirects_text_and_404() {
        let site = Site::generated(25)
            .start("127.0.0.1:0", SiteOptions::default())
            .unwrap();
        let index = get(site.addr(), "/");
        assert!(index.starts_with("HTTP/1.1 200 OK\r\n"), "{index}");
        assert!(index.contains("Content-Type: text/html"), "{index}");
        assert!(index.contains("href=\"/redirect\""), "{index}");
        let page = get(site.addr(), "/page/2");
        assert!(
            page.contains("href=\"21\"") && !page.contains("href=\"31\""),
            "{page}"
        );
        let redirect = get(site.addr(), "/redirect");
        assert!(redirect.starts_with("HTTP/1.1 302 Found\r\n"), "{redirect}");
        assert!(redirect.contains("Location: /landing/\r\n"), "{redirect}");
        let text = get(site.addr(), "/files/notes.txt?x=1");
        assert!(text.contains("Content-Type: text/plain"), "{text}");
        assert!(
            index.contains(&format!("href=\"{EXTERNAL_LINK}\"")),
            "{index}"
        );
        assert!(index.contains("href=\"page/1#intro\""), "{index}");
        let based = get(site.addr(), "/based/");
        assert!(based.contains("<base href=\"/base-target/\">"), "{based}");
        let missing = get(site.addr(), "/nowhere");
        assert!(
            missing.starts_with("HTTP/1.1 404 Not Found\r\n"),
            "{missing}"
        );
        let stats = site.stats();
        assert_eq!(stats.requests, 6);
        assert_eq!(stats.by_path["/files/notes.txt?x=1"], 1);
        assert_eq!(stats.in_flight, 0);
        site.stop();
    }

    #[test]
    fn fixed_site_serves_one_body_everywhere() {
        let site = Site::fixed("application/octet-stream", vec![7u8; 3000])
            .start("127.0.0.1:0", SiteOptions::default())
            .unwrap();
        for path in ["/", "/a/b"] {
            let mut stream = TcpStream::connect(site.addr()).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            write!(stream, "GET {path} HTTP/1.1\r\n\r\n").unwrap();
            let mut answer = Vec::new();
            stream.read_to_end(&mut answer).unwrap();
            assert!(answer.ends_with(&[7u8; 3000]));
            assert!(answer.starts_with(b"HTTP/1.1 200 OK\r\n"));
        }
    }

    #[test]
    fn mirrors_serve_one_body_on_several_ports_with_their_own_delays() {
        let latencies = [Duration::from_millis(400), Duration::ZERO];
        let mirrors = Site::fixed("text/plain", "same body\n")
            .start_mirrors(&latencies)
            .unwrap();
        assert_eq!(mirrors.len(), 2);
        assert_ne!(mirrors[0].addr(), mirrors[1].addr());
        let timed_get = |addr| {
            let start = Instant::now();
            let answer = get(addr, "/anything");
            (answer, start.elapsed())
        };
        let (slow, slow_time) = timed_get(mirrors[0].addr());
        let (fast, fast_time) = timed_get(mirrors[1].addr());
        assert!(slow.ends_with("\r\n\r\nsame body\n"), "{slow}");
        assert_eq!(slow, fast);
        assert!(slow_time >= Duration::from_millis(400), "{slow_time:?}");
        assert!(fast_time < slow_time, "{fast_time:?} vs {slow_time:?}");
        for mirror in &mirrors {
            assert_eq!(mirror.stats().requests, 1);
        }
    }

    #[test]
    fn latency_delays_answers_and_counts_in_flight_and_aborts() {
        let site = Site::generated(3)
            .start(
                "127.0.0.1:0",
                SiteOptions {
                    latency: Duration::from_secs(30),
                    workers: 8,
                },
            )
            .unwrap();
        let clients: Vec<TcpStream> = (0..3)
            .map(|_| {
                let mut stream = TcpStream::connect(site.addr()).unwrap();
                stream.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
                stream
            })
            .collect();
        let (stats, ready) = site.wait_stats(Duration::from_secs(10), |s| s.in_flight == 3);
        assert!(ready, "{stats:?}");
        assert_eq!(stats.max_in_flight, 3);
        // Closing a client during the delay is seen at once, not after 30 s.
        drop(clients);
        let (stats, ready) = site.wait_stats(Duration::from_secs(10), |s| s.aborted == 3);
        assert!(ready, "{stats:?}");
        assert_eq!(stats.in_flight, 0);
    }

    #[test]
    fn a_short_delay_is_slept_and_a_client_gone_meanwhile_is_not_answered() {
        let site = Site::generated(1)
            .start(
                "127.0.0.1:0",
                SiteOptions {
                    latency: Duration::from_millis(25),
                    workers: 4,
                },
            )
            .unwrap();
        let start = Instant::now();
        let answer = get(site.addr(), "/page/0");
        assert!(start.elapsed() >= Duration::from_millis(25));
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        let mut leaving = TcpStream::connect(site.addr()).unwrap();
        leaving.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
        drop(leaving);
        let (stats, ready) = site.wait_stats(Duration::from_secs(10), |s| s.aborted == 1);
        assert!(ready, "{stats:?}");
        assert_eq!((stats.requests, stats.in_flight), (2, 0), "{stats:?}");
    }

    #[test]
    fn stop_wakes_waiting_and_idle_connections() {
        let site = Site::generated(1)
            .start(
                "127.0.0.1:0",
                SiteOptions {
                    latency: Duration::from_secs(60),
                    workers: 4,
                },
            )
            .unwrap();
        let mut waiting = TcpStream::connect(site.addr()).unwrap();
        waiting.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
        let _idle = TcpStream::connect(site.addr()).unwrap();
        let (stats, ready) = site.wait_stats(Duration::from_secs(10), |s| s.in_flight == 1);
        assert!(ready, "{stats:?}");
        let start = Instant::now();
        site.stop();
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
        waiting
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut rest = Vec::new();
        let read = waiting.read_to_end(&mut rest);
        assert!(read.is_err() || rest.is_empty(), "{read:?} {rest:?}");
    }

    #[test]
    fn a_pause_mid_body_is_timed_and_a_stall_ends_when_the_client_leaves() {
        let pause = Duration::from_millis(100);
        let slow = Site::new()
            .with_fallback(Resource::ok("text/plain", "partial-rest").paused(8, pause))
            .start("127.0.0.1:0", SiteOptions::default())
            .unwrap();
        assert!(get(slow.addr(), "/").ends_with("\r\n\r\npartial-rest"));
        let (stats, ready) = slow.wait_stats(Duration::from_secs(10), |s| s.ended == 1);
        assert!(ready, "{stats:?}");
        let Moments {
            requested: Some(requested),
            answered: Some(answered),
            finished: Some(finished),
            aborted: None,
        } = stats.last
        else {
            panic!("{stats:?}");
        };
        assert!(requested <= answered && finished.duration_since(answered) >= pause);

        let stall = Site::new()
            .with_fallback(
                Resource::ok("text/plain", "partial-never").paused(8, Duration::from_secs(60)),
            )
            .start("127.0.0.1:0", SiteOptions::default())
            .unwrap();
        let mut client = TcpStream::connect(stall.addr()).unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        client.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
        let mut seen = Vec::new();
        let mut buffer = [0u8; 256];
        while !seen.ends_with(b"partial-") {
            let n = client.read(&mut buffer).unwrap();
            assert!(n > 0, "{seen:?}");
            seen.extend_from_slice(&buffer[..n]);
        }
        drop(client);
        let (stats, ready) = stall.wait_stats(Duration::from_secs(10), |s| s.aborted == 1);
        assert!(ready && stats.last.finished.is_none(), "{stats:?}");
    }

    #[test]
    fn generated_depth_one_is_the_index_links_on_this_site() {
        let site = Site::generated(30);
        let index = String::from_utf8_lossy(&site.resource("/").body).into_owned();
        let crawl = Site::generated_crawl(30);
        let paths = Site::generated_depth_one(30);
        assert_eq!(paths.len(), 9);
        for path in &paths {
            assert!(crawl.contains(path), "{path}");
            // The index itself, the redirect's target, and /page/1 (linked relatively, as
            // "page/1#intro") aside, the index links to each by its absolute path.
            if !["/", "/landing/", "/page/1"].contains(&path.as_str()) {
                assert!(index.contains(&format!("href=\"{path}\"")), "{path}");
            }
        }
        assert_eq!(Site::generated_depth_one(1).len(), 8);
    }

    #[test]
    fn generated_crawl_lists_every_reachable_page() {
        let crawl = Site::generated(30);
        let paths = Site::generated_crawl(30);
        assert_eq!(paths.len(), 40);
        for path in &paths {
            if path != "/missing" && path != "/redirect" {
                assert_eq!(crawl.resource(path).status, 200, "{path}");
            }
        }
        // Every tree page but the first has exactly one parent linking to it.
        for i in 1..30 {
            let parent = (i - 1) / FAN_OUT;
            let parent_page = crawl.resource(&format!("/page/{parent}"));
            let html = String::from_utf8_lossy(&parent_page.body);
            assert!(html.contains(&format!("href=\"{i}\"")), "{parent} -> {i}");
        }
    }
}
