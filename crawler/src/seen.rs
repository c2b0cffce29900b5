//! The book's `seen` map, and what it decides: which links and redirect targets are new, or now
//! reached by a shorter path, on a host followed (`--same-host`), and which redirect chains are
//! loops or too long.
//!
//! It keeps a fixed 16 bytes per URL, whatever the URL's length: a [`Fingerprint`] (112 bits
//! of a hash keyed at random when the crawl starts, so a page cannot choose URLs that collide)
//! and the shortest depth the URL was queued at (16 bits).

use std::collections::HashSet;
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher, RandomState};

use url::Url;

use crate::{MAX_REDIRECTS, Report, Task};

/// 112 bits of a keyed hash of a normalised URL, in the high bits of a `u128` (the low 16 are
/// zero). Two keyed 64-bit SipHash outputs: a page cannot engineer a collision without the keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fingerprint(u128);

/// The random keys of one crawl's fingerprints. Cheap to copy to every worker.
/// Its keys are drawn at random (std's `RandomState`, seeded from the operating system).
#[derive(Clone, Debug, Default)]
pub struct Fingerprinter {
    high: RandomState,
    low: RandomState,
}

impl Fingerprinter {
    /// The fingerprint of `url` as parsed (so normalised: scheme and host lower case, percent
    /// encoding and dot segments settled), its fragment already removed by the caller.
    pub fn of(&self, url: &Url) -> Fingerprint {
        let text = url.as_str();
        let high = u128::from(self.high.hash_one(text));
        let low = u128::from(self.low.hash_one(text));
        Fingerprint((high << 64 | low) & !u128::from(u16::MAX))
    }
}

/// A fingerprint and, in its low 16 bits, a depth (saturated). Equal and hashed by the
/// fingerprint alone, so the set finds an entry whatever depth it holds.
#[derive(Clone, Copy, Debug)]
struct Entry(u128);

impl Entry {
    fn new(fingerprint: Fingerprint, depth: usize) -> Entry {
        Entry(fingerprint.0 | u128::from(u16::try_from(depth).unwrap_or(u16::MAX)))
    }

    fn depth(self) -> usize {
        usize::from(self.0 as u16)
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Entry) -> bool {
        self.0 >> 16 == other.0 >> 16
    }
}

impl Eq for Entry {}

impl Hash for Entry {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Already a keyed hash: its top 64 bits are the table's hash as they are.
        state.write_u64((self.0 >> 64) as u64);
    }
}

/// The identity hasher for [`Entry`], which writes one `u64` already random.
#[derive(Default)]
struct Identity(u64);

impl Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

/// Every URL ever queued (its fingerprint and shortest depth), and the hosts followed.
pub(crate) struct Seen {
    /// `host:port` of the start URLs with `--same-host`; `None`: any host.
    hosts: Option<HashSet<String>>,
    keys: Fingerprinter,
    seen: HashSet<Entry, BuildHasherDefault<Identity>>,
    /// `--depth`: with a limit, a URL reached again by a shorter path is queued again.
    max_depth: Option<usize>,
}

/// What a report adds to the crawl.
pub(crate) enum Taken {
    /// Tasks for the links (or redirect target) not seen before, or now at a shorter depth.
    Unseen(Vec<Task>),
    /// A fetch error, a redirect loop or too long a chain: the URL and why.
    Failed(Url, String),
    /// The fetch was cancelled.
    Cancelled,
}

impl Seen {
    /// Nothing seen yet; with `same_host`, only links to those URLs' hosts are followed.
    pub(crate) fn new(
        keys: Fingerprinter,
        same_host: Option<&[Url]>,
        max_depth: Option<usize>,
    ) -> Seen {
        Seen {
            hosts: same_host.map(|start| start.iter().map(host_and_port).collect()),
            keys,
            seen: HashSet::default(),
            max_depth,
        }
    }

    /// A task for `url` at `depth` if it is on a host followed and new (printed when handed
    /// out), or if it was queued deeper before and a depth limit makes the difference (then
    /// fetched again for its links, not printed again: ex. 8.6's depth is the shortest path).
    pub(crate) fn offer(
        &mut self,
        url: Url,
        fingerprint: Fingerprint,
        depth: usize,
        redirected_from: Vec<Url>,
    ) -> Option<Task> {
        if !self.allowed(&url) {
            return None;
        }
        let entry = Entry::new(fingerprint, self.max_depth.map_or(0, |_| depth));
        let print = match self.seen.get(&entry) {
            None => true,
            Some(old) if entry.depth() < old.depth() => false,
            Some(_) => return None,
        };
        self.seen.replace(entry);
        Some(Task {
            url,
            depth,
            print,
            redirected_from,
        })
    }

    fn allowed(&self, url: &Url) -> bool {
        self.hosts
            .as_ref()
            .is_none_or(|hosts| hosts.contains(&host_and_port(url)))
    }

    /// What a worker's report adds: its links one level deeper, or its redirect's target at the
    /// same depth (a chain that loops or runs past [`MAX_REDIRECTS`] is a failure).
    pub(crate) fn take(&mut self, report: Report) -> Taken {
        match report {
            Report::Links { depth, links } => Taken::Unseen(
                links
                    .into_iter()
                    .filter_map(|(url, fingerprint)| {
                        self.offer(url, fingerprint, depth, Vec::new())
                    })
                    .collect(),
            ),
            Report::Fetched { .. } => Taken::Unseen(Vec::new()),
            Report::Redirected { task, location } => {
                if location == task.url || task.redirected_from.contains(&location) {
                    return Taken::Failed(task.url, format!("redirect loop back to {location}"));
                }
                if task.redirected_from.len() >= MAX_REDIRECTS {
                    let why = format!("stopped after {MAX_REDIRECTS} redirects");
                    return Taken::Failed(task.url, why);
                }
                let Task {
                    url,
                    depth,
                    mut redirected_from,
                    ..
                } = task;
                redirected_from.push(url);
                let fingerprint = self.keys.of(&location);
                // Like a link: not followed to another host, nor fetched twice (unless nearer).
                Taken::Unseen(
                    self.offer(location, fingerprint, depth, redirected_from)
                        .into_iter()
                        .collect(),
                )
            }
            Report::Failed { url, why } => Taken::Failed(url, why),
            Report::Cancelled => Taken::Cancelled,
        }
    }

    /// Tasks at depth 0 for the start URLs not seen before.
    pub(crate) fn start(&mut self, urls: &[Url]) -> Vec<Task> {
        urls.iter()
            .filter_map(|url| self.offer(url.clone(), self.keys.of(url), 0, Vec::new()))
            .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    #[test]
    fn a_url_is_new_once_and_again_only_when_nearer_under_a_limit() {
        let keys = Fingerprinter::default();
        let x = url("http://h.test/x");
        let mut seen = Seen::new(keys.clone(), None, Some(2));
        let first = seen.offer(x.clone(), keys.of(&x), 2, Vec::new()).unwrap();
        assert!(first.print);
        assert!(seen.offer(x.clone(), keys.of(&x), 2, Vec::new()).is_none());
        let nearer = seen.offer(x.clone(), keys.of(&x), 1, Vec::new()).unwrap();
        assert!(!nearer.print && nearer.depth == 1);
        assert!(seen.offer(x.clone(), keys.of(&x), 1, Vec::new()).is_none());
        assert_eq!(seen.seen.len(), 1);
        let mut unlimited = Seen::new(keys.clone(), None, None);
        assert!(
            unlimited
                .offer(x.clone(), keys.of(&x), 3, Vec::new())
                .is_some()
        );
        assert!(
            unlimited
                .offer(x.clone(), keys.of(&x), 0, Vec::new())
                .is_none()
        );
    }

    #[test]
    fn fingerprints_differ_by_url_and_by_crawl() {
        let (a, b) = (Fingerprinter::default(), Fingerprinter::default());
        let x = url("http://h.test/x");
        assert_eq!(a.of(&x), a.of(&url("HTTP://H.TEST/./x")));
        assert_ne!(a.of(&x), a.of(&url("http://h.test/y")));
        assert_ne!(a.of(&x), b.of(&x));
        assert_eq!(std::mem::size_of::<Entry>(), 16);
    }
}
