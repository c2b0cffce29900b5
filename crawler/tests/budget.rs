//! The crawler's own budget, whatever pages say (issue 17): URLs over 8 KiB dropped and said
//! once per page, a frontier past its memory budget read back from disk in order, and a page's
//! depth as its shortest path (ex. 8.6). Memory itself is measured by `cargo xtask bench
//! crawler`.

use std::process::Stdio;
use std::time::Duration;

use testkit::hostile::{long_path, query_links};
use testkit::site::{Resource, Site};

use crate::util::{DEADLINE, Fetched, Run, crawl, crawler, set};

#[test]
fn urls_over_8_kib_are_dropped_and_said_once_per_page() {
    let long = |tag: &str| format!("/{}{tag}", "x".repeat(8 << 10));
    let index = format!(
        r#"<a href="{}">a</a><a href="{}">b</a><a href="/two">two</a><a href="/ok">ok</a><a href="{}">a</a>"#,
        long("a"),
        long("b"),
        long("a")
    );
    let site = Site::new()
        .page("/", &index)
        .page("/two", &format!(r#"<a href="{}">c</a>"#, long("c")))
        .page("/ok", "ok")
        .serve(Duration::ZERO)
        .unwrap();
    let run = crawl(&["--depth", "2", &site.url("/")]);
    run.expect_code(0);
    assert_eq!(
        run.fetched(&site.url("")),
        set(["/", "/two", "/ok"]),
        "{run}"
    );
    let mut errors = run.stderr_lines();
    errors.sort();
    assert_eq!(
        errors,
        [
            format!(
                "crawler: {}: 3 links longer than 8 KiB dropped",
                site.url("/")
            ),
            format!(
                "crawler: {}: 1 link longer than 8 KiB dropped",
                site.url("/two")
            ),
        ],
        "{run}"
    );
    assert!(
        site.stats().by_path.keys().all(|path| path.len() < 8 << 10),
        "{run}"
    );
}

#[test]
fn a_frontier_past_its_memory_budget_comes_back_from_disk_in_order() {
    // 2,000 links of 4,000 characters each: 8 MB of URLs, past the frontier's 256 KiB.
    let links = 2000;
    let site = Site::new()
        .with_fallback(query_links(links))
        .serve(Duration::ZERO)
        .unwrap();
    let start = site.url(&long_path(1));
    let run = crawl(&["--depth", "1", &start]);
    run.expect_code(0);
    let expected: Vec<String> = std::iter::once(start.clone())
        .chain((0..links).map(|i| format!("{start}?{i}")))
        .collect();
    // Printed as handed out: in the order the page gave them, the frontier's own order.
    assert_eq!(run.stdout_lines(), expected, "{}", run.stderr);
    let stats = site.stats();
    assert_eq!(stats.requests, links as u64 + 1);
    assert!(stats.by_path.values().all(|&n| n == 1), "{stats:?}");
}

#[test]
fn a_page_reached_again_by_a_shorter_path_has_its_links_read_then() {
    // /x is first reached at depth 2 (/fast -> /b -> /x), its links not read at --depth 2;
    // then at depth 1 from /slow, whose body waits: so /y (depth 2) must be fetched.
    let slow = Resource::html(r#"<a href="/x">x</a>"#).paused(0, Duration::from_millis(1500));
    let site = Site::new()
        .page("/fast", r#"<a href="/b">b</a>"#)
        .with("/slow", slow)
        .page("/b", r#"<a href="/x">x</a>"#)
        .page("/x", r#"<a href="/y">y</a>"#)
        .page("/y", r#"<a href="/z">z</a>"#)
        .page("/z", "too deep")
        .serve(Duration::ZERO)
        .unwrap();
    let run = crawl(&["--depth", "2", &site.url("/fast"), &site.url("/slow")]);
    run.expect_code(0);
    // Each printed once (`fetched` checks), /z beyond the limit.
    assert_eq!(
        run.fetched(&site.url("")),
        set(["/fast", "/slow", "/b", "/x", "/y"]),
        "{run}"
    );
    let stats = site.stats();
    // Twice: first by the fast path at depth 2 (the test's premise), then for its links.
    assert_eq!(stats.by_path.get("/x"), Some(&2), "{stats:?}\n{run}");
    assert_eq!(stats.by_path.get("/y"), Some(&1), "{stats:?}\n{run}");
}

#[test]
fn a_frontier_that_cannot_spill_ends_the_crawl_saying_where() {
    let site = Site::new()
        .with_fallback(query_links(2000))
        .serve(Duration::ZERO)
        .unwrap();
    let missing = std::env::temp_dir().join("crawler-test-no-such-dir");
    let run = Run::of(
        crawler()
            .args(["--depth", "1", &site.url(&long_path(1))])
            .env("TMPDIR", &missing)
            .stdin(Stdio::null()),
        DEADLINE,
    );
    run.expect_code(1);
    let said = format!(
        "crawler: a file for the frontier in {}: No such file or directory (os error 2)",
        missing.display()
    );
    assert_eq!(run.stderr_lines().last(), Some(&said.as_str()), "{run}");
}
