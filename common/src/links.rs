//! Link extraction: the book's `links.Extract` (section 5.6, used by the crawler of section 8.6).
//!
//! [`extract_from`] reads a page as a stream, decodes it from its own character set (see
//! `charset`: the `Content-Type` header, a `<meta>`, or a guess, as the HTML standard says) and
//! feeds it, chunk by chunk, to a WHATWG HTML tokenizer (`html5gum`, which follows the standard's
//! tokenization like Go's `x/net/html`). Only `<a href>` and `<base href>` start tags matter, so
//! no tree is built: time is linear in the page's size and memory constant whatever its markup
//! (deep nesting, a million attributes, a giant comment), apart from the links themselves. Text of
//! `<script>`, `<style>`, `<textarea>` and the like is not taken for markup. Each `<a href>` is
//! resolved against the page's final URL (after redirects) or, if the page has one, its first
//! `<base href>` (itself resolved against the page URL, as browsers do; hrefs wait for it up to
//! 64 KiB of them, and a `<base>` after that is ignored, so memory stays bounded whatever the
//! page: the standard wants `<base>` before any link). Fragments are removed,
//! only `http` and `https` links are kept. [`extract_from`] returns each link once, in document
//! order; [`for_each_link`] hands them over one at a time, duplicates included, to a caller that
//! bounds its own memory (the crawler keeps a fingerprint per link, not the link).
//!
//! Differences from the book's version: the book returns duplicates and only skips hrefs that do
//! not parse; it ignores `<base href>` and the page's character set. Fetching is not done here:
//! the caller passes the body, so cancellation stays with the HTTP client, whose reader this
//! module reads one chunk at a time.

use std::collections::HashSet;
use std::io::{self, Read};
use std::ops::ControlFlow;

use html5gum::{IoReader, Tokenizer};
use url::Url;

mod charset;
mod tokens;

use tokens::{Found, Sink};

/// The `http`/`https` links of the HTML page read from `body`, whose final URL is `page` and
/// whose `Content-Type` header is `content_type`: resolved, without fragments, each once, in
/// document order. Hrefs that do not resolve are skipped. An error reading `body` is returned.
pub fn extract_from(
    page: &Url,
    body: impl Read,
    content_type: Option<&str>,
) -> io::Result<Vec<Url>> {
    let mut seen = HashSet::new();
    let mut links = Vec::new();
    let _ = for_each_link(page, body, content_type, |link| {
        if seen.insert(link.clone()) {
            links.push(link);
        }
        ControlFlow::Continue(())
    })?;
    Ok(links)
}

/// Hrefs held back, waiting for a `<base href>`, before the page URL is taken as the base.
const HELD_BACK: usize = 64 << 10;

/// Calls `each` with every `http`/`https` link of the HTML page read from `body` (see
/// [`extract_from`]), in document order, duplicates included, as the page is read, until it
/// returns `ControlFlow::Break`, which is returned. One link is resolved at a time, so memory
/// holds one resolved URL, however long the URLs are: the caller decides what to keep.
///
/// A `<base href>` applies to the links before it too, so hrefs wait, as written, until one
/// comes; but no more than [`HELD_BACK`] bytes of them: past that the page URL is the base, and a
/// `<base>` later still is ignored (the HTML standard wants it before any link).
pub fn for_each_link(
    page: &Url,
    body: impl Read,
    content_type: Option<&str>,
    mut each: impl FnMut(Url) -> ControlFlow<()>,
) -> io::Result<ControlFlow<()>> {
    let html = charset::utf8_reader(body, content_type)?;
    // The base, once settled: by the first `<base href>`, or by too many hrefs before one.
    let mut base: Option<Url> = None;
    let mut held = Hrefs::default();
    for found in Tokenizer::new_with_emitter(IoReader::new(html), Sink::links()) {
        let settled = match (found?, &base) {
            (Found::Anchor(href), Some(base)) => {
                if emit(base, &href, &mut each).is_break() {
                    return Ok(ControlFlow::Break(()));
                }
                continue;
            }
            (Found::Anchor(href), None) => {
                held.push(&href);
                if held.text.len() + held.ends.len() * 8 <= HELD_BACK {
                    continue;
                }
                page.clone()
            }
            // Only the first `<base href>` counts; one that does not resolve leaves the page's.
            (Found::Base(href), None) => page.join(&href).unwrap_or_else(|_| page.clone()),
            _ => continue,
        };
        if held.drain(&settled, &mut each).is_break() {
            return Ok(ControlFlow::Break(()));
        }
        base = Some(settled);
    }
    let base = base.unwrap_or_else(|| page.clone());
    Ok(held.drain(&base, &mut each))
}

/// Resolves `href` against `base` and calls `each` with it, if it is a link to follow.
fn emit(base: &Url, href: &str, each: &mut impl FnMut(Url) -> ControlFlow<()>) -> ControlFlow<()> {
    match resolve(base, href) {
        Some(link) => each(link),
        None => ControlFlow::Continue(()),
    }
}

/// Hrefs as written, end to end in one string (one allocation, not one per href).
#[derive(Default)]
struct Hrefs {
    text: String,
    ends: Vec<usize>,
}

impl Hrefs {
    fn push(&mut self, href: &str) {
        self.text.push_str(href);
        self.ends.push(self.text.len());
    }

    /// Emits every href held, resolved against `base`, and forgets them.
    fn drain(
        &mut self,
        base: &Url,
        each: &mut impl FnMut(Url) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        let held = std::mem::take(self);
        held.iter().try_for_each(|href| emit(base, href, each))
    }

    fn iter(&self) -> impl Iterator<Item = &str> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts
            .zip(&self.ends)
            .map(|(start, &end)| &self.text[start..end])
    }
}

/// The links of `html`, a page already decoded, whose final URL is `page` (see [`extract_from`]).
pub fn extract(page: &Url, html: &str) -> Vec<Url> {
    extract_from(page, html.as_bytes(), Some("text/html; charset=utf-8")).unwrap_or_default()
}

/// `href` resolved against `base`, without its fragment, if that is an `http`/`https` URL.
fn resolve(base: &Url, href: &str) -> Option<Url> {
    let mut link = base.join(href).ok()?;
    if !matches!(link.scheme(), "http" | "https") {
        return None;
    }
    link.set_fragment(None);
    Some(link)
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

    fn from_bytes(page: &str, body: &[u8], content_type: Option<&str>) -> Vec<String> {
        extract_from(&url(page), body, content_type)
            .unwrap()
            .into_iter()
            .map(String::from)
            .collect()
    }

    #[test]
    fn a_latin1_page_gives_its_links_in_utf8() {
        let page = b"<a href=\"caf\xe9\">caf\xe9</a>";
        for content_type in [
            Some("text/html; charset=iso-8859-1"),
            Some("text/html"),
            None,
        ] {
            assert_eq!(
                from_bytes("http://h.test/sub/", page, content_type),
                ["http://h.test/sub/caf%C3%A9"],
                "{content_type:?}"
            );
        }
        let meta = b"<meta charset=windows-1252><a href=\"caf\xe9\">x</a>";
        assert_eq!(
            from_bytes("http://h.test/sub/", meta, Some("text/html")),
            ["http://h.test/sub/caf%C3%A9"]
        );
        assert_eq!(
            from_bytes("http://h.test/sub/", "<a href=café>".as_bytes(), None),
            ["http://h.test/sub/caf%C3%A9"]
        );
    }

    #[test]
    fn script_style_comments_and_other_tags_hide_no_link_and_make_none() {
        let html = r#"<script>var s = '<a href="/no-script">';</script>
            <style>a::after { content: '<a href="/no-style">' }</style>
            <!-- <a href="/no-comment"> --><textarea><a href="/no-text"></textarea>
            <link href="/no-link"><area href="/no-area"><a data-href="/no-data">
            <A HREF="/yes" href="/no-duplicate">ok</A></a href="/no-end-tag">"#;
        assert_eq!(
            extract_strings("http://h.test/", html),
            ["http://h.test/yes"]
        );
    }

    #[test]
    fn a_base_after_64_kib_of_hrefs_is_ignored() {
        let many: String = (0..10_000).map(|i| format!("<a href=\"p{i}\">")).collect();
        let html = format!("{many}<base href=\"/b/\"><a href=\"last\">");
        let links = extract_strings("http://h.test/d/", &html);
        assert_eq!(links.len(), 10_001);
        assert_eq!(links[0], "http://h.test/d/p0");
        assert_eq!(links[10_000], "http://h.test/d/last");
    }

    #[test]
    fn links_before_the_base_resolve_against_it_too() {
        let html = r#"<a href="x">x</a><base href="/b/"><base href="/c/"><a href="y">y</a>"#;
        assert_eq!(
            extract_strings("http://h.test/", html),
            ["http://h.test/b/x", "http://h.test/b/y"]
        );
    }

    #[test]
    fn hostile_shapes_still_yield_their_links() {
        let nested = format!("{}<a href=\"/deep\">d</a>", "<div>".repeat(50_000));
        assert_eq!(
            extract_strings("http://h.test/", &nested),
            ["http://h.test/deep"]
        );
        let attributes: String = (0..100_000).map(|i| format!("a{i}=1 ")).collect();
        let wide = format!("<a {attributes}href=\"/wide\">w</a>");
        assert_eq!(
            extract_strings("http://h.test/", &wide),
            ["http://h.test/wide"]
        );
        let comment = format!("<!--{}--><a href=\"/after\">a</a>", "-".repeat(1 << 20));
        assert_eq!(
            extract_strings("http://h.test/", &comment),
            ["http://h.test/after"]
        );
        let nul = [&vec![0u8; 1 << 20][..], b"<a href=\"/nul\">"].concat();
        assert_eq!(
            from_bytes("http://h.test/", &nul, None),
            ["http://h.test/nul"]
        );
    }

    /// A body that gives `chunk` bytes per read, then fails.
    struct Failing<'a> {
        body: &'a [u8],
        chunk: usize,
    }

    impl Read for Failing<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.body.is_empty() {
                return Err(io::Error::other("reset"));
            }
            let n = self.chunk.min(buf.len()).min(self.body.len());
            buf[..n].copy_from_slice(&self.body[..n]);
            self.body = &self.body[n..];
            Ok(n)
        }
    }

    #[test]
    fn a_read_error_is_returned_and_small_reads_are_fine() {
        let body = b"<a href=\"/one\">1</a>";
        let err = extract_from(&url("http://h.test/"), Failing { body, chunk: 3 }, None);
        assert_eq!(err.unwrap_err().to_string(), "reset");
        let ok = extract_from(&url("http://h.test/"), &mut &body[..], None).unwrap();
        assert_eq!(ok, [url("http://h.test/one")]);
    }

    #[test]
    fn empty_and_binary_input_give_no_links() {
        assert!(extract(&url("http://h.test/"), "").is_empty());
        assert!(extract(&url("http://h.test/"), "\u{0}\u{1}\u{fffd}<<<>>>").is_empty());
    }
}
