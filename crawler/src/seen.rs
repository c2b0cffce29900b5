//! The book's `seen` map, and what it decides: which links and redirect targets are new, on a
//! host followed (`--same-host`), and which redirect chains are loops or too long.

use std::collections::HashSet;

use url::Url;

use crate::{MAX_REDIRECTS, Report, Task};

/// Every URL ever handed out, and the hosts followed.
pub(crate) struct Seen {
    /// `host:port` of the start URLs with `--same-host`; `None`: any host.
    hosts: Option<HashSet<String>>,
    seen: HashSet<Url>,
}

/// What a report adds to the crawl.
pub(crate) enum Taken {
    /// Tasks for the links (or redirect target) not seen before.
    Unseen(Vec<Task>),
    /// A fetch error, a redirect loop or too long a chain: the URL and why.
    Failed(Url, String),
    /// The fetch was cancelled.
    Cancelled,
}

impl Seen {
    /// Nothing seen yet; with `same_host`, only links to those URLs' hosts are followed.
    pub(crate) fn new(same_host: Option<&[Url]>) -> Seen {
        Seen {
            hosts: same_host.map(|start| start.iter().map(host_and_port).collect()),
            seen: HashSet::new(),
        }
    }

    /// Tasks at `depth` for the URLs not seen before, on a host followed; marks them seen.
    pub(crate) fn unseen(
        &mut self,
        urls: impl IntoIterator<Item = Url>,
        depth: usize,
    ) -> Vec<Task> {
        urls.into_iter()
            .filter(|url| self.allowed(url) && self.seen.insert(url.clone()))
            .map(|url| Task {
                url,
                depth,
                redirected_from: Vec::new(),
            })
            .collect()
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
            Report::Fetched { task, links, .. } => {
                Taken::Unseen(self.unseen(links, task.depth + 1))
            }
            Report::Redirected { task, location } => {
                if !self.allowed(&location) {
                    // Like a link to another host: not followed.
                    return Taken::Unseen(Vec::new());
                }
                if location == task.url || task.redirected_from.contains(&location) {
                    return Taken::Failed(task.url, format!("redirect loop back to {location}"));
                }
                if self.seen.contains(&location) {
                    // That page is fetched on its own (or was): not again.
                    return Taken::Unseen(Vec::new());
                }
                if task.redirected_from.len() >= MAX_REDIRECTS {
                    let why = format!("stopped after {MAX_REDIRECTS} redirects");
                    return Taken::Failed(task.url, why);
                }
                let Task {
                    url,
                    depth,
                    mut redirected_from,
                } = task;
                redirected_from.push(url);
                self.seen.insert(location.clone());
                Taken::Unseen(vec![Task {
                    url: location,
                    depth,
                    redirected_from,
                }])
            }
            Report::Failed { url, why } => Taken::Failed(url, why),
            Report::Cancelled => Taken::Cancelled,
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
