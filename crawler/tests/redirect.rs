//! Redirects go through the crawler's one `seen` set: a page reached by a link and through a
//! redirect is requested once, a loop ends (reported), an endless chain stops after ten hops, a
//! `Location` out of http(s) is an error, a redirect's target is at the same depth and its links
//! resolve against its own URL; and a keep-alive server that closes a connection between requests
//! costs no page. (`--same-host` and redirects: `crawl.rs`.)

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use testkit::site::{Resource, Site, SiteHandle, SiteOptions};

use crate::util::{Fetched, crawl, set};

fn serve(site: Site) -> SiteHandle {
    site.start("127.0.0.1:0", SiteOptions::default()).unwrap()
}

/// A redirect with any status (the site's own is a 302).
fn redirect(status: u16, location: &str) -> Resource {
    let mut resource = Resource::new(status, "text/html; charset=utf-8", Vec::new());
    resource
        .headers
        .push(("Location".into(), location.to_string()));
    resource
}

#[test]
fn a_page_linked_directly_and_through_a_redirect_is_requested_once() {
    let site = serve(
        Site::new()
            .page(
                "/",
                "<a href=\"/r\">via a redirect</a><a href=\"/t\">direct</a>",
            )
            .with("/r", Resource::redirect("/t"))
            .page("/t", "<a href=\"/\">home</a>"),
    );
    // One worker and twenty: in either order the two ways in meet in the seen set.
    for concurrency in ["1", "20"] {
        let before = site.stats().by_path;
        let run = crawl(&["-c", concurrency, &site.url("/")]);
        run.expect_code(0);
        assert_eq!(run.fetched(&site.url("")), set(["/", "/r", "/t"]), "{run}");
        assert!(run.stderr.is_empty(), "{run}");
        let after = site.stats().by_path;
        let count = |path: &str| after.get(path).unwrap_or(&0) - before.get(path).unwrap_or(&0);
        assert_eq!(count("/t"), 1, "GET /t, -c {concurrency}: {after:?}\n{run}");
        assert_eq!(count("/r"), 1, "GET /r, -c {concurrency}: {after:?}\n{run}");
    }
}

#[test]
fn a_redirect_loop_is_requested_once_round_and_reported() {
    let site = serve(
        Site::new()
            .page("/", "<a href=\"/a\">a</a><a href=\"/self\">self</a>")
            .with("/a", Resource::redirect("/b"))
            .with("/b", redirect(301, "/a#again"))
            .with("/self", redirect(307, "self")),
    );
    let run = crawl(&[&site.url("/")]);
    run.expect_code(1);
    assert_eq!(
        run.fetched(&site.url("")),
        set(["/", "/a", "/b", "/self"]),
        "{run}"
    );
    let mut errors = run.stderr_lines();
    errors.sort_unstable();
    assert_eq!(
        errors,
        [
            format!(
                "crawler: {}: redirect loop back to {}",
                site.url("/b"),
                site.url("/a")
            ),
            format!(
                "crawler: {}: redirect loop back to {}",
                site.url("/self"),
                site.url("/self")
            ),
        ],
        "{run}"
    );
    let stats = site.stats();
    assert_eq!(stats.requests, 4, "{stats:?}");
}

#[test]
fn an_endless_chain_of_new_urls_stops_after_ten_redirects() {
    // Every path redirects one level deeper: /c/ to /c/x/, /c/x/ to /c/x/x/, and so on.
    let site = serve(Site::new().with_fallback(Resource::redirect("x/")));
    let run = crawl(&[&site.url("/c/")]);
    run.expect_code(1);
    let chain: Vec<String> = (0..=10)
        .map(|hops| site.url(&format!("/c/{}", "x/".repeat(hops))))
        .collect();
    assert_eq!(run.stdout.lines().collect::<Vec<_>>(), chain, "{run}");
    assert_eq!(
        run.stderr,
        format!("crawler: {}: stopped after 10 redirects\n", chain[10]),
        "{run}"
    );
    assert_eq!(site.stats().requests, 11);
}

#[test]
fn a_redirect_out_of_http_or_without_a_location_is_an_error_and_requests_nothing() {
    let site = serve(
        Site::new()
            .page(
                "/",
                "<a href=\"/file\">1</a><a href=\"/mail\">2</a><a href=\"/js\">3</a>\
                 <a href=\"/nowhere\">4</a><a href=\"/not-modified\">5</a>",
            )
            .with("/file", Resource::redirect("file:///etc/passwd"))
            .with("/mail", redirect(301, "mailto:someone@example.invalid"))
            .with("/js", redirect(303, "javascript:alert(1)"))
            .with("/nowhere", Resource::new(302, "text/html", Vec::new()))
            .with("/not-modified", redirect(304, "/elsewhere")),
    );
    let run = crawl(&[&site.url("/")]);
    run.expect_code(1);
    let mut errors = run.stderr_lines();
    errors.sort_unstable();
    let error = |path: &str, why: &str| format!("crawler: {}: {why}", site.url(path));
    assert_eq!(
        errors,
        [
            error(
                "/file",
                "redirect to file:///etc/passwd, not an http or https URL"
            ),
            error(
                "/js",
                "redirect to javascript:alert(1), not an http or https URL"
            ),
            error(
                "/mail",
                "redirect to mailto:someone@example.invalid, not an http or https URL"
            ),
            error("/not-modified", "HTTP status 304"),
            error("/nowhere", "HTTP status 302 without a Location header"),
        ],
        "{run}"
    );
    assert_eq!(run.stdout.lines().count(), 6, "{run}");
    assert_eq!(site.stats().requests, 6, "{:?}", site.stats());
}

#[test]
fn a_redirect_is_the_same_page_at_the_same_depth_and_its_links_resolve_against_it() {
    let site = serve(
        Site::new()
            .with("/old/", redirect(301, "/new/dir/#section"))
            .page("/new/dir/", "<a href=\"child\">relative</a>")
            .page("/new/dir/child", "end"),
    );
    // The start URL is depth 0 and so is the page it redirects to: fetched, links not followed.
    let run = crawl(&["--depth", "0", &site.url("/old/")]);
    run.expect_code(0);
    assert_eq!(
        run.fetched(&site.url("")),
        set(["/old/", "/new/dir/"]),
        "{run}"
    );
    // One level more: the link resolves against the final URL, not against /old/.
    let run = crawl(&["--depth", "1", &site.url("/old/")]);
    run.expect_code(0);
    assert_eq!(
        run.fetched(&site.url("")),
        set(["/old/", "/new/dir/", "/new/dir/child"]),
        "{run}"
    );
    assert!(run.stderr.is_empty(), "{run}");
    assert!(!site.stats().by_path.contains_key("/old/child"));
}

/// What the keep-alive server saw.
#[derive(Debug, Default)]
struct KeepAliveStats {
    /// Requests answered, per path.
    answered: BTreeMap<String, usize>,
    /// Requests that arrived on a connection already used, and were not answered.
    refused_reuse: usize,
}

/// A keep-alive HTTP/1.1 server (no `Connection: close`) that answers the first request of
/// each connection and closes the connection, unanswered, when a second request arrives on it:
/// the worst case of a server's idle timeout racing a client that reuses connections. Each
/// connection has a thread of its own; `connections` bounds how many it accepts.
fn closing_keep_alive_server(
    routes: &'static [(&'static str, &'static str)],
    connections: usize,
) -> (String, Arc<Mutex<KeepAliveStats>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let stats = Arc::new(Mutex::new(KeepAliveStats::default()));
    let shared = Arc::clone(&stats);
    thread::spawn(move || {
        for stream in listener.incoming().take(connections) {
            let Ok(stream) = stream else { continue };
            let shared = Arc::clone(&shared);
            thread::spawn(move || keep_alive_connection(stream, routes, &shared));
        }
    });
    (base, stats)
}

fn keep_alive_connection(
    mut stream: TcpStream,
    routes: &[(&str, &str)],
    stats: &Mutex<KeepAliveStats>,
) {
    // Bounded: a client that neither sends nor closes is given up after this.
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut answered = false;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while stream.read(&mut byte).is_ok_and(|n| n == 1) && head.len() < 16 << 10 {
        head.push(byte[0]);
        if !head.ends_with(b"\r\n\r\n") {
            continue;
        }
        let mut stats = stats.lock().unwrap();
        if answered {
            stats.refused_reuse += 1;
            break;
        }
        let text = String::from_utf8_lossy(&head);
        let path = text.split(' ').nth(1).unwrap_or("").to_string();
        let answer = match routes.iter().find(|(route, _)| *route == path) {
            Some((_, target)) if target.starts_with("->") => format!(
                "HTTP/1.1 302 Found\r\nLocation: {}\r\nContent-Length: 0\r\n\r\n",
                &target[2..]
            ),
            Some((_, html)) => format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\r\n{html}",
                html.len()
            ),
            None => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_string(),
        };
        *stats.answered.entry(path).or_default() += 1;
        drop(stats);
        if stream.write_all(answer.as_bytes()).is_err() {
            break;
        }
        answered = true;
        head.clear();
    }
    let _ = stream.shutdown(Shutdown::Both);
}

#[test]
fn a_keep_alive_server_closing_between_requests_still_serves_every_page() {
    static ROUTES: &[(&str, &str)] = &[
        (
            "/",
            "<a href=\"/a\">a</a><a href=\"/b\">b</a><a href=\"/r\">r</a><a href=\"/c\">c</a>",
        ),
        ("/a", "<a href=\"/d\">d</a><a href=\"/\">home</a>"),
        ("/b", "<a href=\"/e\">e</a>"),
        ("/r", "->/landing"),
        ("/landing", "<a href=\"/f\">f</a>"),
        ("/c", "end"),
        ("/d", "end"),
        ("/e", "end"),
        ("/f", "end"),
    ];
    let (base, stats) = closing_keep_alive_server(ROUTES, 64);
    // A few workers, so that a connection given back to a pool would be taken again at once.
    let run = crawl(&["-c", "3", &format!("{base}/")]);
    run.expect_code(0);
    assert!(run.stderr.is_empty(), "{run}");
    let every: Vec<&str> = ROUTES.iter().map(|(path, _)| *path).collect();
    assert_eq!(run.fetched(&base), set(every.clone()), "{run}");
    let stats = stats.lock().unwrap();
    assert_eq!(
        stats.answered,
        every.iter().map(|path| (path.to_string(), 1)).collect(),
        "{stats:?}"
    );
    assert_eq!(stats.refused_reuse, 0, "{stats:?}");
}
