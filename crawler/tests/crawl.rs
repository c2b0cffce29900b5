//! What a crawl fetches: exact URL sets by depth over the generated site, each URL once (client
//! and server side), `--same-host` across two servers (for links and redirects), the concurrency
//! limit as the server counts it, relative links, redirects, `<base href>`, fragments, non-HTML,
//! 404, malformed HTML, `--max-body`, `--timeout`, and the crawl ending by itself. (Redirects in
//! depth: `redirect.rs`.)

use std::collections::BTreeSet;
use std::io::Read;
use std::net::TcpListener;
use std::time::Duration;

use testkit::site::{EXTERNAL_LINK, Resource, Site, SiteHandle, SiteOptions};

use crate::util::{Fetched, background, crawl, full_crawl, set};

fn generated(pages: usize, latency: Duration) -> SiteHandle {
    Site::generated(pages)
        .start(
            "127.0.0.1:0",
            SiteOptions {
                latency,
                workers: 64,
            },
        )
        .unwrap()
}

/// What `--depth 1` fetches from the generated site's index: its links on the site (see
/// [`Site::generated_depth_one`]) and the external link.
fn depth_one() -> BTreeSet<String> {
    let mut paths = set(Site::generated_depth_one(30));
    paths.insert(EXTERNAL_LINK.to_string());
    paths
}

#[test]
fn depth_zero_fetches_only_the_start_url() {
    let site = generated(30, Duration::ZERO);
    let prefix = site.url("");
    let run = crawl(&["--depth", "0", &site.url("/")]);
    run.expect_code(0);
    assert_eq!(run.fetched(&prefix), set(["/"]), "{run}");
    assert_eq!(site.stats().requests, 1, "{run}");
}

#[test]
fn depth_one_fetches_the_index_links_and_reports_failures() {
    let site = generated(30, Duration::ZERO);
    let prefix = site.url("");
    let run = crawl(&["--depth", "1", &site.url("/")]);
    // The 404 and the external link (a loopback port nothing serves) are fetch errors.
    run.expect_code(1);
    assert_eq!(run.fetched(&prefix), depth_one(), "{run}");
    let mut errors = run.stderr_lines();
    errors.sort();
    assert_eq!(errors.len(), 2, "{run}");
    assert_eq!(
        errors[0],
        format!("crawler: {}: HTTP status 404", site.url("/missing"))
    );
    assert!(
        errors[1].starts_with(&format!("crawler: {EXTERNAL_LINK}: ")),
        "{run}"
    );
}

#[test]
fn depth_two_follows_redirects_base_and_malformed_pages_one_level_more() {
    let site = generated(30, Duration::ZERO);
    let prefix = site.url("");
    let run = crawl(&["--depth", "2", "--same-host", &site.url("/")]);
    run.expect_code(1);
    let mut expected = depth_one();
    expected.remove(EXTERNAL_LINK);
    // /page/0's children 1..=10, /page/1's 11..=20; the redirect's target's relative link
    // resolves against the final URL; the base page's against its base; the malformed page's
    // unquoted href is still found.
    expected.extend((2..=20).map(|i| format!("/page/{i}")));
    expected.extend(set([
        "/landing/next.html",
        "/base-target/child.html",
        "/malformed-target",
    ]));
    assert_eq!(run.fetched(&prefix), expected, "{run}");
    assert_eq!(
        run.stderr_lines(),
        [format!(
            "crawler: {}: HTTP status 404",
            site.url("/missing")
        )],
        "{run}"
    );
}

#[test]
fn unlimited_crawl_fetches_every_page_once_and_ends_by_itself() {
    let site = generated(120, Duration::ZERO);
    let prefix = site.url("");
    let run = crawl(&["--same-host", &site.url("/")]);
    run.expect_code(1);
    let expected = full_crawl(120);
    assert_eq!(run.fetched(&prefix), expected, "{run}");
    // Server side: every path requested exactly once, and exactly the printed ones (the
    // redirect's target included).
    let stats = site.stats();
    for (path, count) in &stats.by_path {
        assert_eq!(*count, 1, "{path} requested {count} times\n{run}");
    }
    assert_eq!(
        stats.by_path.keys().cloned().collect::<BTreeSet<_>>(),
        expected,
        "{stats:?}\n{run}"
    );
    // Links in a text file and in a 404 page are not followed.
    assert!(
        !stats.by_path.keys().any(|path| path.starts_with("/never")),
        "{stats:?}"
    );
}

#[test]
fn never_more_requests_in_flight_than_the_concurrency() {
    let site = generated(300, Duration::from_millis(20));
    let run = crawl(&["--concurrency", "5", "--same-host", &site.url("/")]);
    run.expect_code(1);
    let stats = site.stats();
    assert!(stats.max_in_flight <= 5, "{stats:?}\n{run}");
    // The limit is also used: a wide tree keeps more than one worker busy.
    assert!(stats.max_in_flight >= 2, "{stats:?}\n{run}");
    assert_eq!(
        stats.requests,
        full_crawl(300).len() as u64,
        "{stats:?}\n{run}"
    );
}

#[test]
fn concurrency_one_fetches_one_at_a_time() {
    let site = generated(40, Duration::from_millis(2));
    let run = crawl(&["-c", "1", "--same-host", &site.url("/")]);
    run.expect_code(1);
    assert_eq!(site.stats().max_in_flight, 1, "{run}");
    assert_eq!(run.fetched(&site.url("")), full_crawl(40), "{run}");
}

#[test]
fn same_host_keeps_to_the_start_hosts_and_ports() {
    let other = Site::new()
        .page("/elsewhere", "<a href=\"/deeper\">deeper</a>")
        .page("/deeper", "end")
        .start("127.0.0.1:0", SiteOptions::default())
        .unwrap();
    // The other server is reached by a link and by a redirect.
    let home = Site::new()
        .page(
            "/",
            &format!(
                "<a href=\"/a\">a</a><a href=\"{}\">other port</a><a href=\"/away\">r</a>",
                other.url("/elsewhere")
            ),
        )
        .page("/a", "<a href=\"/\">home</a>")
        .with("/away", Resource::redirect(&other.url("/elsewhere")))
        .start("127.0.0.1:0", SiteOptions::default())
        .unwrap();
    let run = crawl(&["--same-host", &home.url("/")]);
    run.expect_code(0);
    assert_eq!(
        run.fetched(""),
        set([home.url("/"), home.url("/a"), home.url("/away")]),
        "{run}"
    );
    assert!(run.stderr.is_empty(), "{run}");
    // Neither the link nor the redirect was followed.
    assert_eq!(other.stats().requests, 0);

    let run = crawl(&[&home.url("/")]);
    run.expect_code(0);
    assert_eq!(
        run.fetched(""),
        set([
            home.url("/"),
            home.url("/a"),
            home.url("/away"),
            other.url("/elsewhere"),
            other.url("/deeper")
        ]),
        "{run}"
    );
    assert_eq!(other.stats().by_path.get("/elsewhere"), Some(&1));
    // Both start hosts count: with two start URLs, links to either are followed.
    let run = crawl(&["--same-host", &home.url("/"), &other.url("/elsewhere")]);
    run.expect_code(0);
    assert_eq!(run.fetched("").len(), 5, "{run}");
}

#[test]
fn relative_links_fragments_redirects_and_base_resolve_like_a_browser() {
    let site = Site::new()
        .page(
            "/dir/a.html",
            "<a href=\"b.html#part\">b</a><a href=\"b.html\">b again</a>\
             <a href=\"../top.html\">up</a><a href=\"#self\">self</a>\
             <a href=\"/go\">redirect</a><a href=\"/based/x/\">base</a>\
             <a href=\"/data.json\">data</a><a href=\"/gone\">gone</a>\
             <a href=\"mailto:a@b.c\">mail</a><a href=\"javascript:0\">js</a>",
        )
        .page("/dir/b.html", "<a href=\"a.html#top\">back</a>")
        .page("/top.html", "top")
        .with("/go", Resource::redirect("/moved/here/"))
        .page(
            "/moved/here/",
            "<a href=\"sub.html\">relative to the final URL</a>",
        )
        .page("/moved/here/sub.html", "end")
        .page(
            "/based/x/",
            "<head><base href=\"/elsewhere/\"></head><a href=\"y.html\">y</a>",
        )
        .page("/elsewhere/y.html", "end")
        .with(
            "/data.json",
            Resource::ok("application/json", "{\"a\": \"<a href='/never'>x</a>\"}"),
        )
        .start("127.0.0.1:0", SiteOptions::default())
        .unwrap();
    let run = crawl(&[&site.url("/dir/a.html")]);
    run.expect_code(1);
    assert_eq!(
        run.fetched(&site.url("")),
        set([
            "/dir/a.html",
            "/dir/b.html",
            "/top.html",
            "/go",
            "/moved/here/",
            "/moved/here/sub.html",
            "/based/x/",
            "/elsewhere/y.html",
            "/data.json",
            "/gone",
        ]),
        "{run}"
    );
    assert_eq!(
        run.stderr_lines(),
        [format!("crawler: {}: HTTP status 404", site.url("/gone"))],
        "{run}"
    );
    let stats = site.stats();
    assert_eq!(stats.by_path.get("/moved/here/"), Some(&1), "{stats:?}");
    assert!(!stats.by_path.contains_key("/never"), "{stats:?}");
}

#[test]
fn malformed_html_still_yields_its_links() {
    let site = Site::new()
        .page(
            "/",
            "<html><body><table><tr><a href=one>1</a><td><p><b>unclosed\
             <a href='two'>2<div></span></i><a href=\"three\"",
        )
        .page("/one", "")
        .page("/two", "")
        .start("127.0.0.1:0", SiteOptions::default())
        .unwrap();
    let run = crawl(&[&site.url("/")]);
    run.expect_code(0);
    assert_eq!(
        run.fetched(&site.url("")),
        set(["/", "/one", "/two"]),
        "{run}"
    );
}

#[test]
fn max_body_cuts_pages_and_their_late_links() {
    let padding = "x".repeat(4000);
    let site = Site::new()
        .page(
            "/",
            &format!("<a href=\"/early\">e</a><p>{padding}</p><a href=\"/late\">l</a>"),
        )
        .page("/early", "")
        .page("/late", "")
        .start("127.0.0.1:0", SiteOptions::default())
        .unwrap();
    let run = crawl(&["--max-body", "1000", &site.url("/")]);
    run.expect_code(0);
    assert_eq!(run.fetched(&site.url("")), set(["/", "/early"]), "{run}");
    // The cut is said, not an error.
    assert_eq!(
        run.stderr,
        format!("crawler: {}: body cut at 1000 bytes\n", site.url("/")),
        "{run}"
    );
    let run = crawl(&[&site.url("/")]);
    run.expect_code(0);
    assert_eq!(
        run.fetched(&site.url("")),
        set(["/", "/early", "/late"]),
        "{run}"
    );
    assert!(run.stderr.is_empty(), "{run}");
}

#[test]
fn hostile_pages_give_their_links_and_the_crawl_ends() {
    // Shapes that cost a tree builder time or memory out of proportion to their size: deep
    // nesting (quadratic), a million attributes, a giant comment, NUL bytes; the link after
    // each is still found, and the crawl ends.
    let attributes: String = (0..1_000_000).map(|i| format!("a{i}=1 ")).collect();
    let site = Site::new()
        .page(
            "/nested",
            &format!("{}<a href=\"/after-nested\">x</a>", "<div>".repeat(200_000)),
        )
        .page(
            "/attributes",
            &format!("<a {attributes}href=\"/after-attributes\">"),
        )
        .page(
            "/comment",
            &format!(
                "<!--{}--><a href=\"/after-comment\">x</a>",
                "-".repeat(8 << 20)
            ),
        )
        .page(
            "/nul",
            &format!("{}<a href=\"/after-nul\">x</a>", "\0".repeat(8 << 20)),
        )
        .with_fallback(Resource::html(""))
        .start("127.0.0.1:0", SiteOptions::default())
        .unwrap();
    let pages = ["/nested", "/attributes", "/comment", "/nul"];
    let mut args = vec!["--depth".to_string(), "1".to_string()];
    args.extend(pages.iter().map(|page| site.url(page)));
    let run = crawl(&args);
    run.expect_code(0);
    let mut expected = set(pages);
    expected.extend(pages.iter().map(|page| format!("/after-{}", &page[1..])));
    assert_eq!(run.fetched(&site.url("")), expected, "{run}");
    assert!(run.stderr.is_empty(), "{run}");
}

#[test]
fn timeout_fails_a_silent_server_and_the_crawl_still_ends() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // Accepts one connection and answers nothing until the client gives up.
    let server = background(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut sink = Vec::new();
        stream.read_to_end(&mut sink).map(|_| sink.len())
    });
    let url = format!("http://{addr}/slow");
    let started = std::time::Instant::now();
    let run = crawl(&["--timeout", "300ms", &url]);
    run.expect_code(1);
    assert!(started.elapsed() < Duration::from_secs(20), "{run}");
    assert_eq!(run.stdout, format!("{url}\n"), "{run}");
    let errors = run.stderr_lines();
    assert_eq!(errors.len(), 1, "{run}");
    assert!(errors[0].starts_with(&format!("crawler: {url}: ")), "{run}");
    assert!(errors[0].contains("timed out"), "{run}");
    // The server saw the request and then the close.
    let read = server.wait(Duration::from_secs(10), "the silent server");
    assert!(read.as_ref().is_ok_and(|&n| n > 0), "{read:?}");
}

#[test]
fn duplicate_start_urls_are_fetched_once() {
    let site = generated(3, Duration::ZERO);
    let run = crawl(&[
        "--depth",
        "0",
        &site.url("/"),
        &site.url("/#top"),
        &site.url("/page/0"),
    ]);
    run.expect_code(0);
    assert_eq!(run.fetched(&site.url("")), set(["/", "/page/0"]), "{run}");
}

#[test]
fn a_latin1_page_gives_its_links_in_utf8() {
    let site = Site::new()
        .with(
            "/sub/",
            Resource::ok(
                "text/html; charset=iso-8859-1",
                &b"<a href=\"caf\xe9\">caf\xe9</a>"[..],
            ),
        )
        .with(
            "/meta/",
            Resource::ok(
                "text/html",
                &b"<meta charset=latin1><a href=\"caf\xe9\">caf\xe9</a>"[..],
            ),
        )
        .with_fallback(Resource::html(""))
        .start("127.0.0.1:0", SiteOptions::default())
        .unwrap();
    let run = crawl(&[&site.url("/sub/"), &site.url("/meta/")]);
    run.expect_code(0);
    assert_eq!(
        run.fetched(&site.url("")),
        set(["/sub/", "/sub/caf%C3%A9", "/meta/", "/meta/caf%C3%A9"]),
        "{run}"
    );
}
