//! The tour's crawler steps: a bounded, depth-limited crawl of a generated local site (book 8.6,
//! ex. 8.6), and a crawl with 20 requests in flight cancelled by a byte on its stdin (8.9,
//! ex. 8.10).

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use testkit::child::{Proc, output};
use testkit::site::{EXTERNAL_LINK, Site, SiteHandle};

use super::{Bins, PROMPTLY, check, remark, show_command, show_output};
use crate::workspace_root;

pub(super) fn crawler(bins: &Bins) -> crate::Result {
    const PAGES: usize = 40;
    let site = Site::generated(PAGES)
        .serve(Duration::from_millis(20))
        .map_err(|err| format!("starting the site: {err}"))?;
    let start = site.url("/");
    let crawler = bins.path("crawler");
    remark(&format!(
        "a generated site of {PAGES} pages and some awkward cases, each answer after 20 ms, \
         is served at {start}"
    ));

    crawl_depth_one(&crawler, &site, PAGES)?;
    crawl_whole_site(&crawler, &site, PAGES)?;
    site.stop();
    Ok(())
}

/// `crawler --depth 1`: the start page and what it links to, each once.
fn crawl_depth_one(crawler: &Path, site: &SiteHandle, pages: usize) -> crate::Result {
    let start = site.url("/");
    show_command(&format!("crawler --depth 1 {start}"));
    let (code, stdout, stderr) = output(
        crawler,
        &["--depth", "1", start.as_str()],
        &workspace_root(),
        Duration::from_secs(60),
    )?;
    show_output(&stdout);
    show_output(&stderr);
    // The index links to a 404 and to a port nothing serves: two fetch errors, so exit 1.
    check(code == 1, || {
        format!("crawler exited with {code}, expected 1")
    })?;
    let expected: BTreeSet<String> = Site::generated_depth_one(pages)
        .iter()
        .map(|path| site.url(path))
        .chain([EXTERNAL_LINK.to_string()])
        .collect();
    let printed = printed_once(&stdout)?;
    check(printed == expected, || {
        format!("depth 1 fetched {printed:?}, expected {expected:?}")
    })?;
    remark(
        "the start page (depth 0) and the pages it links to (depth 1), each once; /landing/ is \
         where /redirect leads: the same page, at the same depth, requested by the crawler itself",
    );
    Ok(())
}

/// `crawler --same-host`: every page of the site, each once, at most 20 requests at a time.
fn crawl_whole_site(crawler: &Path, site: &SiteHandle, pages: usize) -> crate::Result {
    let start = site.url("/");
    show_command(&format!("crawler --same-host {start}"));
    let (code, stdout, _stderr) = output(
        crawler,
        &["--same-host", start.as_str()],
        &workspace_root(),
        Duration::from_secs(60),
    )?;
    check(code == 1, || {
        format!("crawler exited with {code}, expected 1 (one 404)")
    })?;
    let printed = printed_once(&stdout)?;
    let expected: BTreeSet<String> = Site::generated_crawl(pages)
        .iter()
        .map(|path| site.url(path))
        .collect();
    check(printed == expected, || {
        format!(
            "the full crawl fetched {} URLs, expected {}: missing {:?}, extra {:?}",
            printed.len(),
            expected.len(),
            expected.difference(&printed).collect::<Vec<_>>(),
            printed.difference(&expected).collect::<Vec<_>>()
        )
    })?;
    let stats = site.stats();
    remark(&format!(
        "the whole site: {} URLs, each fetched once, and the crawl ended by itself; at most {} \
         requests were in flight at once (the limit is 20)",
        printed.len(),
        stats.max_in_flight
    ));
    check(stats.max_in_flight <= 20, || {
        format!("{} requests in flight at once", stats.max_in_flight)
    })
}

/// The URLs a crawl printed, checking that none was printed twice.
fn printed_once(stdout: &str) -> crate::Result<BTreeSet<String>> {
    let mut printed = BTreeSet::new();
    for line in stdout.lines() {
        check(printed.insert(line.to_string()), || {
            format!("{line} was printed twice")
        })?;
    }
    Ok(printed)
}

// --- 8.9 and ex. 8.10: cancellation --------------------------------------------------------

pub(super) fn cancellation(bins: &Bins) -> crate::Result {
    const IN_FLIGHT: usize = 20;
    let site = Site::generated(IN_FLIGHT)
        .serve(Duration::from_secs(30))
        .map_err(|err| format!("starting the site: {err}"))?;
    let urls: Vec<String> = (0..IN_FLIGHT)
        .map(|i| site.url(&format!("/page/{i}")))
        .collect();
    remark("a site that answers after 30 s; the crawl starts from 20 of its pages at once");
    show_command(&format!(
        "crawler {} ... {}    (then a key is pressed)",
        urls[0],
        urls[IN_FLIGHT - 1]
    ));
    let mut crawl = Proc::spawn(&bins.path("crawler"), &urls, &workspace_root(), "crawler")?;
    let (stats, all_waiting) = site.wait_stats(PROMPTLY, |stats| stats.in_flight == IN_FLIGHT);
    check(all_waiting, || {
        format!("expected {IN_FLIGHT} requests in flight, the site saw {stats:?}")
    })?;
    let pressed = Instant::now();
    crawl.send(b"\n")?;
    let (stdout, exited) = crawl.stdout.finish(PROMPTLY)?;
    let latency = exited.saturating_duration_since(pressed);
    crawl.expect_exit(130, PROMPTLY)?;
    let (stderr, _) = crawl.stderr.finish(PROMPTLY)?;
    show_output(&stdout);
    show_output(&stderr);
    let (stats, closed) = site.wait_stats(PROMPTLY, |stats| {
        stats.in_flight == 0 && stats.aborted == IN_FLIGHT as u64
    });
    check(closed, || {
        format!("the site did not see every connection closed: {stats:?}")
    })?;
    remark(&format!(
        "{IN_FLIGHT} requests were in flight; the crawler exited 130 {:.1} ms after the byte, and \
         the site saw all {IN_FLIGHT} connections closed",
        latency.as_secs_f64() * 1000.0
    ));
    site.stop();
    Ok(())
}
