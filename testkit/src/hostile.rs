//! Pages an adversary serves a crawler, each behind an index that links to it three times:
//! a small gzip body that unpacks to 20 MiB of NULs, and 10 MiB pages of 200,000 nested
//! `<div>`s, of a million attributes, and of one comment. A crawler that extracts links should
//! get through each in bounded memory and time; `cargo xtask bench crawler` measures it.
//!
//! Then pages that make a crawler keep what they say (issue 17): [`query_links`], a small
//! gzipped page of tens of thousands of `<a href=?N>`, served at URLs of [`LONG_URL`]
//! characters ([`long_url_site`]), so each link resolves to a URL as long; [`many_links`], a
//! plain page of hundreds of thousands of short links; and [`Framing`], answers whose framing a
//! client can get wrong (a `1xx` first, codings it would not decode), sent raw.
//!
//! And mirrors an adversary runs for mirrored-fetch ([`Mirror`]): a `.tar.gz` served with
//! `Content-Encoding: gzip`, a `206 Partial Content`, redirects to `file:` and `javascript:`,
//! and ([`endless`]) a body that never ends, with no length or a declared TiB.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use flate2::Compression;
use flate2::write::{GzEncoder, ZlibEncoder};

use crate::net::{ServeOne, read_head};
use crate::site::{Resource, Site};

/// The size of each uncompressed hostile page.
pub const PAGE_BYTES: usize = 10 << 20;
/// What the gzip page unpacks to.
pub const GZIP_UNPACKED: usize = 20 << 20;
/// Links from the index to the hostile page (each its own URL).
pub const LINKS: usize = 3;

/// One kind of hostile page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hostile {
    /// `Content-Encoding: gzip`, about 20 KB that unpacks to [`GZIP_UNPACKED`] NUL bytes.
    GzipNuls,
    /// 200,000 nested `<div>`s, padded to [`PAGE_BYTES`].
    NestedDivs,
    /// One tag with a million attributes, padded to [`PAGE_BYTES`].
    Attributes,
    /// One comment of [`PAGE_BYTES`].
    Comment,
}

impl Hostile {
    pub const ALL: [Hostile; 4] = [
        Hostile::GzipNuls,
        Hostile::NestedDivs,
        Hostile::Attributes,
        Hostile::Comment,
    ];

    /// A short description, for reports.
    pub fn describe(self) -> &'static str {
        match self {
            Hostile::GzipNuls => "gzip: ~20 KB unpacking to 20 MiB of NULs",
            Hostile::NestedDivs => "10 MiB: 200,000 nested `<div>`",
            Hostile::Attributes => "10 MiB: 1,000,000 attributes",
            Hostile::Comment => "10 MiB: one comment",
        }
    }

    /// The page, served as `text/html`.
    pub fn resource(self) -> Resource {
        match self {
            Hostile::GzipNuls => Resource::ok("text/html", gzip_zeros(GZIP_UNPACKED))
                .header("Content-Encoding", "gzip"),
            Hostile::NestedDivs => html(page("<div>".repeat(200_000)), ""),
            Hostile::Attributes => {
                let mut head = page("<p".into());
                for i in 0..1_000_000 {
                    let _ = write!(head, " a{i}=x");
                }
                head.push('>');
                html(head, "</p>")
            }
            Hostile::Comment => html(page("<!--".into()), "-->"),
        }
    }

    /// A site whose index `/` links to `/hostile/1` .. `/hostile/3`, each this page (one copy
    /// in memory, served to every path but the index).
    pub fn site(self) -> Site {
        let links: String = (1..=LINKS)
            .map(|i| format!("<a href=\"/hostile/{i}\">{i}</a>\n"))
            .collect();
        Site::new()
            .with_fallback(self.resource())
            .page("/", &format!("<html><body>\n{links}</body></html>\n"))
    }
}

/// Links on each page of [`long_url_site`], and the length of its page URLs.
pub const LONG_LINKS: usize = 60_000;
pub const LONG_URL: usize = 4_000;

/// A gzipped HTML page of `links` links `<a href=?0>` .. : each resolves to the page's own URL
/// with that query, which this page is served at too (by [`long_url_site`]).
pub fn query_links(links: usize) -> Resource {
    let mut page = String::from("<html><body>\n");
    for i in 0..links {
        let _ = writeln!(page, "<a href=?{i}>{i}</a>");
    }
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    encoder
        .write_all(page.as_bytes())
        .expect("writing to a Vec");
    Resource::ok("text/html", encoder.finish().expect("writing to a Vec"))
        .header("Content-Encoding", "gzip")
}

/// The path of long page `i` of [`long_url_site`]: [`LONG_URL`] characters.
pub fn long_path(i: usize) -> String {
    let head = format!("/long/{i}/");
    format!("{head}{}", "x".repeat(LONG_URL.saturating_sub(head.len())))
}

/// A site whose index `/` links to [`LINKS`] pages at [`long_path`]s, each (and each of its
/// `?N` links, and every other path) the [`query_links`] page of `links` links.
pub fn long_url_site(links: usize) -> Site {
    let index: String = (1..=LINKS)
        .map(|i| format!("<a href=\"{}\">{i}</a>\n", long_path(i)))
        .collect();
    Site::new()
        .with_fallback(query_links(links))
        .page("/", &format!("<html><body>\n{index}</body></html>\n"))
}

/// A plain HTML page of `links` short links `<a href=0>` .. (15 bytes each on average for
/// 700,000 of them: 10 MiB), relative, so served at a directory such as `/big/` they resolve to
/// `/big/0` ..
pub fn many_links(links: usize) -> Resource {
    let mut page = String::with_capacity(links * 16);
    for i in 0..links {
        let _ = write!(page, "<a href={i}>");
    }
    Resource::ok("text/html", page)
}

/// An answer whose framing a client can get wrong, sent raw ([`Resource::raw`]); each carries
/// the page `<a href="/next">`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// An unsolicited `100 Continue`, alone in its packet, then the page.
    Continue,
    /// A `100 Continue` with a header field (RFC 9110 allows them), then the page.
    ContinueWithHeaders,
    /// `103 Early Hints` with a `Link`, a `100 Continue`, then the page.
    EarlyHints,
    /// `Transfer-Encoding: gzip, chunked`: the page gzipped, then chunked.
    TransferGzip,
    /// `Content-Encoding: deflate` (zlib, as RFC 9110 says).
    Deflate,
    /// `Content-Encoding: gzip, gzip`: gzipped twice.
    GzipGzip,
    /// Two `Content-Encoding: gzip` lines: gzipped twice.
    GzipTwice,
}

impl Framing {
    pub const ALL: [Framing; 7] = [
        Framing::Continue,
        Framing::ContinueWithHeaders,
        Framing::EarlyHints,
        Framing::TransferGzip,
        Framing::Deflate,
        Framing::GzipGzip,
        Framing::GzipTwice,
    ];

    /// The page every answer carries.
    pub const PAGE: &'static str = "<html><body><a href=\"/next\">next</a></body></html>";

    /// What a client must say when it fails this answer (`None`: it must find the link).
    pub fn error(self) -> Option<&'static str> {
        match self {
            Framing::Continue | Framing::ContinueWithHeaders | Framing::EarlyHints => None,
            Framing::TransferGzip => {
                Some("transfer coding not supported: Transfer-Encoding: gzip, chunked")
            }
            Framing::Deflate => Some("content coding not supported: Content-Encoding: deflate"),
            Framing::GzipGzip | Framing::GzipTwice => {
                Some("content coding not supported: Content-Encoding: gzip, gzip")
            }
        }
    }

    /// The whole answer, raw.
    pub fn resource(self) -> Resource {
        let page = Framing::PAGE.as_bytes();
        let ok = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\n";
        let sized = |headers: &str, body: &[u8]| {
            let head = format!("{ok}{headers}Content-Length: {}\r\n\r\n", body.len());
            [head.as_bytes(), body].concat()
        };
        let gzip = |bytes: &[u8]| {
            let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
            encoder.write_all(bytes).expect("writing to a Vec");
            encoder.finish().expect("writing to a Vec")
        };
        let answer = match self {
            Framing::Continue => {
                let continued = b"HTTP/1.1 100 Continue\r\n\r\n";
                let answer = [&continued[..], &sized("", page)].concat();
                // Alone in its packet: the client reads it before the page is sent.
                return Resource::raw(answer)
                    .paused(continued.len(), std::time::Duration::from_millis(50));
            }
            Framing::ContinueWithHeaders => {
                let head = b"HTTP/1.1 100 Continue\r\nServer: hostile\r\n\r\n";
                [&head[..], &sized("", page)].concat()
            }
            Framing::EarlyHints => {
                let heads = b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n";
                [&heads[..], &sized("", page)].concat()
            }
            Framing::TransferGzip => {
                let body = gzip(page);
                let head = format!(
                    "{ok}Transfer-Encoding: gzip, chunked\r\n\r\n{:x}\r\n",
                    body.len()
                );
                [head.as_bytes(), &body, b"\r\n0\r\n\r\n"].concat()
            }
            Framing::Deflate => {
                let mut encoder = ZlibEncoder::new(Vec::new(), Compression::default());
                encoder.write_all(page).expect("writing to a Vec");
                let body = encoder.finish().expect("writing to a Vec");
                sized("Content-Encoding: deflate\r\n", &body)
            }
            Framing::GzipGzip => sized("Content-Encoding: gzip, gzip\r\n", &gzip(&gzip(page))),
            Framing::GzipTwice => sized(
                "Content-Encoding: gzip\r\nContent-Encoding: gzip\r\n",
                &gzip(&gzip(page)),
            ),
        };
        Resource::raw(answer)
    }
}

/// A page's buffer (one allocation of [`PAGE_BYTES`], so building it copies nothing), opening
/// with `head`.
fn page(head: String) -> String {
    let mut page = String::with_capacity(PAGE_BYTES);
    page.push_str(&head);
    page
}

/// `page`, padding up to [`PAGE_BYTES`], then `tail`, as a `text/html` page.
fn html(mut page: String, tail: &str) -> Resource {
    let padding = PAGE_BYTES.saturating_sub(page.len() + tail.len());
    page.extend(std::iter::repeat_n('x', padding));
    page.push_str(tail);
    Resource::ok("text/html", page)
}

/// `count` NUL bytes, gzipped (compressed a block at a time, so they are never all in memory).
fn gzip_zeros(count: usize) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    let block = [0u8; 64 << 10];
    for _ in 0..count / block.len() {
        encoder.write_all(&block).expect("writing to a Vec");
    }
    encoder.finish().expect("writing to a Vec")
}

/// The bytes of a small `.tar.gz` (one gzip member): what a mirror serving one with
/// `Content-Encoding: gzip` must have written as it is, not unpacked.
pub fn tarball() -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    let mut tar = b"hello.txt".to_vec();
    tar.resize(512, 0);
    tar.extend_from_slice(b"hello, mirrors\n");
    tar.resize(2048, 0);
    encoder.write_all(&tar).expect("writing to a Vec");
    encoder.finish().expect("writing to a Vec")
}

/// A mirror an adversary (or a careless server) runs for mirrored-fetch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mirror {
    /// [`tarball`], `application/gzip` with `Content-Encoding: gzip`.
    GzipTarball,
    /// [`GZIP_UNPACKED`] NUL bytes gzipped, with `Content-Encoding: gzip`: a bomb if decoded.
    GzipBomb,
    /// `206 Partial Content`, `Content-Range: bytes 0-1/100`, body `PA`.
    Partial,
    /// A `302` to `file:///etc/passwd`.
    RedirectToFile,
    /// A `302` to `javascript:alert(1)`.
    RedirectToJavascript,
}

impl Mirror {
    /// The answer to every path.
    pub fn resource(self) -> Resource {
        match self {
            Mirror::GzipTarball => {
                Resource::ok("application/gzip", tarball()).header("Content-Encoding", "gzip")
            }
            Mirror::GzipBomb => Hostile::GzipNuls.resource(),
            Mirror::Partial => Resource::new(206, "application/octet-stream", b"PA".to_vec())
                .header("Content-Range", "bytes 0-1/100"),
            Mirror::RedirectToFile => Resource::redirect("file:///etc/passwd"),
            Mirror::RedirectToJavascript => Resource::redirect("javascript:alert(1)"),
        }
    }

    /// A site serving [`Mirror::resource`] on every path.
    pub fn site(self) -> Site {
        Site::new().with_fallback(self.resource())
    }
}

/// The bytes of an endless body written at a time.
const ENDLESS_CHUNK: usize = 64 << 10;

/// A mirror on 127.0.0.1:0 for one connection that answers `200 OK` (declaring `length`, if
/// given, else delimited by the close) and writes body bytes until the client goes away, or
/// `patience` has passed (since the request). Its report: the body bytes it managed to write.
pub fn endless(length: Option<u64>, patience: Duration) -> io::Result<ServeOne<u64>> {
    ServeOne::start(Some(patience), move |mut stream: TcpStream| {
        if read_head(&mut stream, 64 << 10).is_none() {
            return 0;
        }
        let head = match length {
            Some(length) => format!("HTTP/1.1 200 OK\r\nContent-Length: {length}\r\n\r\n"),
            None => "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".into(),
        };
        if stream.write_all(head.as_bytes()).is_err() {
            return 0;
        }
        let chunk = [b'e'; ENDLESS_CHUNK];
        let mut sent = 0;
        let until = Instant::now() + patience;
        // Each write is bounded by the socket's timeout (`patience`), the loop by `until`.
        while Instant::now() < until {
            match stream.write(&chunk) {
                Ok(n) if n > 0 => sent += n as u64,
                _ => break,
            }
        }
        sent
    })
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use flate2::read::GzDecoder;

    use super::*;

    #[test]
    fn each_page_is_as_big_and_as_hostile_as_it_says() {
        let gzip = Hostile::GzipNuls.resource();
        assert!(gzip.body.len() < 64 << 10, "{} bytes", gzip.body.len());
        assert!(
            gzip.headers
                .contains(&("Content-Encoding".into(), "gzip".into()))
        );
        let mut unpacked = 0;
        let mut decoder = GzDecoder::new(&gzip.body[..]);
        let mut buffer = vec![0u8; 1 << 20];
        loop {
            let n = decoder.read(&mut buffer).unwrap();
            if n == 0 {
                break;
            }
            assert!(buffer[..n].iter().all(|&byte| byte == 0));
            unpacked += n;
        }
        assert_eq!(unpacked, GZIP_UNPACKED);
        for kind in [Hostile::NestedDivs, Hostile::Attributes, Hostile::Comment] {
            let page = kind.resource();
            assert_eq!(page.body.len(), PAGE_BYTES, "{kind:?}");
            assert_eq!(page.content_type, "text/html");
        }
        let site = Hostile::Comment.site();
        let index = String::from_utf8_lossy(&site.resource("/").body).into_owned();
        assert_eq!(index.matches("href=\"/hostile/").count(), LINKS);
        assert!(site.resource("/hostile/2").body.starts_with(b"<!--"));
    }
}
