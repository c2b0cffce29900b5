//! Link extraction: the book's `links.Extract` (section 5.6, used by the crawler of section 8.6).
//!
//! [`extract`] parses a page with a real HTML5 parser (`scraper`, built on html5ever, a
//! spec-following parser like Go's `x/net/html`), so malformed markup yields the links a browser
//! would see. Each `<a href>` is resolved against the page's final URL (after redirects) or, if the
//! page has one, its first `<base href>` (itself resolved against the page URL, as browsers do).
//! Fragments are removed, only `http` and `https` links are kept, and each link is returned once,
//! in document order.
//!
//! Differences from the book's version: the book returns duplicates and only skips hrefs that do
//! not parse; it ignores `<base href>`. Fetching is not done here: the caller passes the body, so
//! the function is pure and cancellation stays with the HTTP client.

use std::collections::HashSet;
use std::sync::LazyLock;

use scraper::{Html, Selector};
use url::Url;

/// `<a>` elements that carry an `href`.
static ANCHORS: LazyLock<Selector> =
    LazyLock::new(|| Selector::parse("a[href]").expect("a valid CSS selector"));
/// `<base>` elements that carry an `href` (only the first counts, per the HTML standard).
static BASES: LazyLock<Selector> =
    LazyLock::new(|| Selector::parse("base[href]").expect("a valid CSS selector"));

/// The `http`/`https` links of `html`, a page whose final URL is `page`: resolved, without
/// fragments, each once, in document order. Hrefs that do not resolve are skipped.
pub fn extract(page: &Url, html: &str) -> Vec<Url> {
    let document = Html::parse_document(html);
    let base = document
        .select(&BASES)
        .next()
        .and_then(|element| element.value().attr("href"))
        .and_then(|href| page.join(href).ok())
        .unwrap_or_else(|| page.clone());
    let mut seen = HashSet::new();
    let mut links = Vec::new();
    for anchor in document.select(&ANCHORS) {
        let Some(href) = anchor.value().attr("href") else {
            continue;
        };
        let Ok(mut link) = base.join(href) else {
            continue;
        };
        if !matches!(link.scheme(), "http" | "https") {
            continue;
        }
        link.set_fragment(None);
        if seen.insert(link.clone()) {
            links.push(link);
        }
    }
    links
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    fn extract_strings(page: &str, html: &str) -> Vec<String> {
        extract(&url(page), html)
            .into_iter()
            .map(String::from)
            .collect()
    }

    #[test]
    fn resolves_relative_and_absolute_links() {
        let html = r#"<html><body>
            <a href="b.html">b</a>
            <a href="/root">root</a>
            <a href="../up/">up</a>
            <a href="https://example.org/x?q=1">abs</a>
            <a href="//other.example/proto-relative">pr</a>
        </body></html>"#;
        assert_eq!(
            extract_strings("http://h.test/dir/a.html", html),
            [
                "http://h.test/dir/b.html",
                "http://h.test/root",
                "http://h.test/up/",
                "https://example.org/x?q=1",
                "http://other.example/proto-relative",
            ]
        );
    }

    #[test]
    fn removes_fragments_and_duplicates() {
        let html = r##"<a href="p#one">1</a><a href="p#two">2</a><a href="p">3</a>
            <a href="#top">self</a>"##;
        assert_eq!(
            extract_strings("http://h.test/a/index.html", html),
            ["http://h.test/a/p", "http://h.test/a/index.html"]
        );
    }

    #[test]
    fn keeps_only_http_and_https() {
        let html = r#"<a href="mailto:x@y.z">m</a><a href="javascript:void(0)">j</a>
            <a href="ftp://f.test/">f</a><a href="data:text/plain,hi">d</a>
            <a href="HTTPS://UPPER.test/">u</a><a href="tel:123">t</a>"#;
        assert_eq!(
            extract_strings("http://h.test/", html),
            ["https://upper.test/"]
        );
    }

    #[test]
    fn honours_the_first_base_href() {
        let html = r#"<html><head><base href="/docs/v2/"><base href="/ignored/"></head>
            <body><a href="page.html">p</a><a href="/abs">a</a></body></html>"#;
        assert_eq!(
            extract_strings("http://h.test/other/place.html", html),
            ["http://h.test/docs/v2/page.html", "http://h.test/abs"]
        );
    }

    #[test]
    fn base_href_on_another_host() {
        let html = r#"<base href="https://cdn.test/root/"><a href="x">x</a>"#;
        assert_eq!(
            extract_strings("http://h.test/", html),
            ["https://cdn.test/root/x"]
        );
    }

    #[test]
    fn malformed_html_still_yields_its_links() {
        // Unclosed tags, an unquoted attribute, stray end tags, a missing `>` at the very end,
        // and anchors inside a table where the parser has to re-parent them.
        let html = "<html><body><div><p><a href=one.html>one<p><a href='two.html'>two\
            </span></b><table><tr><a href=\"three.html\">three</a><td>cell</table>\
            <a href=\"four.html\"";
        let links = extract_strings("http://h.test/", html);
        assert!(
            links.contains(&"http://h.test/one.html".to_string()),
            "{links:?}"
        );
        assert!(
            links.contains(&"http://h.test/two.html".to_string()),
            "{links:?}"
        );
        assert!(
            links.contains(&"http://h.test/three.html".to_string()),
            "{links:?}"
        );
    }

    #[test]
    fn skips_anchors_without_href_and_unresolvable_hrefs() {
        let html = r#"<a name="x">no href</a><a href="http://[bad">bad</a><a href="ok">ok</a>
            <a href="">empty</a>"#;
        assert_eq!(
            extract_strings("http://h.test/d/", html),
            ["http://h.test/d/ok", "http://h.test/d/"]
        );
    }

    #[test]
    fn hrefs_with_spaces_and_entities() {
        let html = r#"<a href="  spaced.html  ">s</a><a href="q?a=1&amp;b=2">e</a>"#;
        assert_eq!(
            extract_strings("http://h.test/", html),
            ["http://h.test/spaced.html", "http://h.test/q?a=1&b=2"]
        );
    }

    #[test]
    fn empty_and_binary_input_give_no_links() {
        assert!(extract(&url("http://h.test/"), "").is_empty());
        assert!(extract(&url("http://h.test/"), "\u{0}\u{1}\u{fffd}<<<>>>").is_empty());
    }
}
