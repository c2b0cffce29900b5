//! What [`crate::crawl`] makes of an answer: a redirect's target, or a page's links, its body
//! streamed through the tokenizer chunk by chunk (so a cancel or the timeout stops it between
//! two chunks), and whether `--max-body` cut it. The links go to the worklist in small batches
//! as they are resolved ([`Batches`]), each with its fingerprint, so no page's links are ever
//! all in memory, and the done signal is polled before each one.

use std::io::Write;
use std::ops::ControlFlow;

use common::done::Done;
use common::http::{self, Response};
use crossbeam_channel::Sender;
use url::Url;

use crate::Report;
use crate::seen::{Fingerprint, Fingerprinter};

/// URLs longer than this are dropped (and the drops counted): a page may not make the crawler
/// keep, queue or request URLs of any length.
pub const MAX_URL: usize = 8 << 10;
/// Links sent to the worklist at once, and the most URL text in one batch.
const BATCH_LINKS: usize = 256;
const BATCH_BYTES: usize = 64 << 10;

/// What one crawl found.
pub(crate) enum Page {
    /// A 2xx answer, its links already sent (none for a page at the depth limit or not HTML);
    /// `cut` when the body went on past `--max-body`.
    Links { cut: bool },
    /// A redirect to this URL.
    Redirect(Url),
}

pub(crate) enum Failure {
    Cancelled,
    Failed(String),
}

impl From<http::Error> for Failure {
    fn from(err: http::Error) -> Failure {
        if err.is_cancelled() {
            Failure::Cancelled
        } else {
            Failure::Failed(err.to_string())
        }
    }
}

/// A page's links on their way to the worklist: fingerprinted, batched, those over
/// [`MAX_URL`] counted and dropped, the done signal polled before each.
pub(crate) struct Batches<'a> {
    worklist: &'a Sender<Report>,
    keys: &'a Fingerprinter,
    done: &'a Done,
    depth: usize,
    batch: Vec<(Url, Fingerprint)>,
    bytes: usize,
    /// Links dropped for their length.
    pub(crate) long: usize,
    /// The worklist is gone: the crawl is over.
    pub(crate) closed: bool,
}

impl<'a> Batches<'a> {
    /// Batches of links at `depth`.
    pub(crate) fn new(
        worklist: &'a Sender<Report>,
        keys: &'a Fingerprinter,
        done: &'a Done,
        depth: usize,
    ) -> Batches<'a> {
        Batches {
            worklist,
            keys,
            done,
            depth,
            batch: Vec::new(),
            bytes: 0,
            long: 0,
            closed: false,
        }
    }

    /// Takes one link; `Break` when the crawl is cancelled or over.
    fn take(&mut self, link: Url) -> ControlFlow<()> {
        if self.done.cancelled() {
            return ControlFlow::Break(());
        }
        let len = link.as_str().len();
        if len > MAX_URL {
            self.long += 1;
            return ControlFlow::Continue(());
        }
        let fingerprint = self.keys.of(&link);
        self.batch.push((link, fingerprint));
        self.bytes += len;
        if self.batch.len() >= BATCH_LINKS || self.bytes >= BATCH_BYTES {
            return self.send();
        }
        ControlFlow::Continue(())
    }

    /// Sends the links taken and not yet sent.
    pub(crate) fn send(&mut self) -> ControlFlow<()> {
        if self.batch.is_empty() {
            return ControlFlow::Continue(());
        }
        let links = std::mem::take(&mut self.batch);
        self.bytes = 0;
        let depth = self.depth;
        if self.worklist.send(Report::Links { depth, links }).is_err() {
            self.closed = true;
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }
}

/// Sends the links of the HTML page `response`, whose final URL is `url`, to `batches`.
pub(crate) fn links(url: &Url, response: Response, batches: &mut Batches) -> Result<Page, Failure> {
    let content_type = response.content_type.clone();
    let mut body = response.into_body();
    let flow = common::links::for_each_link(url, &mut body, content_type.as_deref(), |link| {
        batches.take(link)
    })
    .map_err(http::Error::from_io)?;
    if flow.is_break() || batches.send().is_break() {
        return Err(Failure::Cancelled);
    }
    let cut = body.cut();
    Ok(Page::Links { cut })
}

/// Where a redirect from `url` points: its `Location` resolved against `url`, without a
/// fragment; an error unless that is an `http` or `https` URL of at most [`MAX_URL`] bytes.
pub(crate) fn redirect_target(url: &Url, response: &Response) -> Result<Url, Failure> {
    let Some(location) = response.location.as_deref() else {
        let status = response.status;
        return Err(Failure::Failed(format!(
            "HTTP status {status} without a Location header"
        )));
    };
    let mut target = url
        .join(location.trim())
        .map_err(|err| Failure::Failed(format!("redirect to {location:?}: {err}")))?;
    if !matches!(target.scheme(), "http" | "https") {
        return Err(Failure::Failed(format!(
            "redirect to {target}, not an http or https URL"
        )));
    }
    target.set_fragment(None);
    if target.as_str().len() > MAX_URL {
        return Err(Failure::Failed(format!(
            "redirect to a URL longer than {}",
            common::size::format(MAX_URL as u64)
        )));
    }
    Ok(target)
}

/// Says on `errors` what a fetched page lost: its body past `--max-body` (`max_body`), and
/// `long` links over [`MAX_URL`], one line each.
pub(crate) fn tell(errors: &mut dyn Write, url: &Url, cut: bool, long: usize, max_body: u64) {
    if cut {
        let _ = writeln!(
            errors,
            "crawler: {url}: body cut at {}",
            common::size::format(max_body)
        );
    }
    if long > 0 {
        let plural = if long == 1 { "link" } else { "links" };
        let at = common::size::format(MAX_URL as u64);
        let _ = writeln!(
            errors,
            "crawler: {url}: {long} {plural} longer than {at} dropped"
        );
    }
}
