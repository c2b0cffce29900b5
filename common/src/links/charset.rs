//! The page's character set, as the HTML standard determines it, and a reader that decodes the
//! page to UTF-8 as it streams (with encoding_rs, the WHATWG decoders).
//!
//! In order: a byte order mark; the `charset` of the `Content-Type` header; a `<meta charset>` or
//! `<meta http-equiv=content-type>` in the first [`PRESCAN`] bytes; else the standard leaves the
//! default to the implementation: UTF-8 if those bytes are valid UTF-8, windows-1252 (what
//! browsers take for Latin-1) if not.

use std::io::{self, Cursor, Read};

use encoding_rs::{Decoder, Encoding, UTF_8, WINDOWS_1252, X_USER_DEFINED};
use html5gum::Tokenizer;

use super::tokens::{Found, Sink};

/// How far a `<meta>` declaring the character set is looked for (the standard's prescan).
pub(super) const PRESCAN: usize = 1024;

/// Raw bytes decoded per read.
const CHUNK: usize = 16 << 10;

/// The page read from `body` as UTF-8, decoded from the encoding its first bytes and
/// `content_type` declare.
pub(super) fn utf8_reader<'a, R: Read + 'a>(
    mut body: R,
    content_type: Option<&str>,
) -> io::Result<Box<dyn Read + 'a>> {
    let mut prefix = Vec::with_capacity(PRESCAN);
    (&mut body).take(PRESCAN as u64).read_to_end(&mut prefix)?;
    let encoding = encoding(&prefix, content_type);
    let bom = Encoding::for_bom(&prefix).map(|(bom, _)| bom);
    let page = Cursor::new(prefix).chain(body);
    if encoding == UTF_8 && bom.is_none_or(|bom| bom == UTF_8) {
        // Already UTF-8: what is not valid reaches the links as U+FFFD, as if decoded.
        return Ok(Box::new(page));
    }
    // `new_decoder` sniffs a byte order mark, which wins over any declaration.
    Ok(Box::new(Decode::new(encoding.new_decoder(), page)))
}

/// The encoding declared by the header, else by a `<meta>` in `prefix`, else guessed.
fn encoding(prefix: &[u8], content_type: Option<&str>) -> &'static Encoding {
    let declared = content_type
        .and_then(charset_parameter)
        .and_then(|label| Encoding::for_label(label.as_bytes()))
        .or_else(|| meta_charset(prefix));
    declared.unwrap_or_else(|| {
        // A character cut by the end of the prescan (not of the page) may still be UTF-8.
        match std::str::from_utf8(prefix) {
            Ok(_) => UTF_8,
            Err(err) if err.error_len().is_none() && prefix.len() == PRESCAN => UTF_8,
            Err(_) => WINDOWS_1252,
        }
    })
}

/// The `charset` parameter of a `Content-Type` value, unquoted.
fn charset_parameter(content_type: &str) -> Option<&str> {
    content_type.split(';').skip(1).find_map(|parameter| {
        let (name, value) = parameter.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| value.trim().trim_matches('"'))
    })
}

/// The encoding a `<meta>` in `prefix` declares (a UTF-16 label means UTF-8 there, and
/// x-user-defined windows-1252, as the standard's prescan says).
fn meta_charset(prefix: &[u8]) -> Option<&'static Encoding> {
    Tokenizer::new_with_emitter(prefix, Sink::meta())
        .filter_map(|found| match found {
            Ok(Found::Charset(label)) => Encoding::for_label(label.trim().as_bytes()),
            _ => None,
        })
        .map(|encoding| match encoding {
            encoding if encoding == X_USER_DEFINED => WINDOWS_1252,
            encoding => encoding.output_encoding(),
        })
        .next()
}

/// A reader of UTF-8 decoded chunk by chunk from `inner`.
pub(super) struct Decode<R> {
    inner: R,
    decoder: Decoder,
    raw: Box<[u8]>,
    decoded: Vec<u8>,
    position: usize,
    ended: bool,
}

impl<R: Read> Decode<R> {
    fn new(decoder: Decoder, inner: R) -> Decode<R> {
        Decode {
            inner,
            decoder,
            raw: vec![0; CHUNK].into_boxed_slice(),
            decoded: Vec::new(),
            position: 0,
            ended: false,
        }
    }

    /// Decodes the next chunk of `inner` (the last call flushes the decoder).
    fn fill(&mut self) -> io::Result<()> {
        let read = loop {
            match self.inner.read(&mut self.raw) {
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                other => break other?,
            }
        };
        self.ended = read == 0;
        let room = self
            .decoder
            .max_utf8_buffer_length(read)
            .ok_or_else(|| io::Error::other("decoded chunk too large"))?;
        self.decoded.resize(room, 0);
        // With that much room a decoder takes its whole input at once.
        let (_, _, written, _) =
            self.decoder
                .decode_to_utf8(&self.raw[..read], &mut self.decoded, self.ended);
        self.decoded.truncate(written);
        self.position = 0;
        Ok(())
    }
}

impl<R: Read> Read for Decode<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.position == self.decoded.len() {
            if self.ended {
                return Ok(0);
            }
            self.fill()?;
        }
        let available = &self.decoded[self.position..];
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.position += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(body: &[u8], content_type: Option<&str>) -> String {
        let mut text = String::new();
        utf8_reader(body, content_type)
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        text
    }

    #[test]
    fn the_header_wins_over_meta_and_a_bom_over_both() {
        let latin = b"<meta charset=utf-8>caf\xe9";
        assert_eq!(
            decoded(latin, Some("text/html; charset=ISO-8859-1")),
            "<meta charset=utf-8>café"
        );
        assert_eq!(
            decoded(
                b"\xef\xbb\xbfcaf\xc3\xa9",
                Some("text/html; charset=latin1")
            ),
            "café"
        );
    }

    #[test]
    fn meta_charset_and_http_equiv_in_the_first_bytes() {
        assert_eq!(
            decoded(b"<!-- x --><meta charset='latin1'>caf\xe9", None),
            "<!-- x --><meta charset='latin1'>café"
        );
        let equiv = b"<meta http-equiv=\"Content-Type\" content=\"text/html; charset=koi8-r\">\xc1";
        assert!(decoded(equiv, Some("text/html")).ends_with('а'));
        // A UTF-16 label in a meta means UTF-8 (the bytes are ASCII-compatible).
        assert_eq!(
            decoded(b"<meta charset=utf-16>caf\xc3\xa9", None),
            "<meta charset=utf-16>café"
        );
        // Past the prescan, a meta is not looked at.
        let late = [&[b' '; PRESCAN][..], b"<meta charset=latin1>\xc3\xa9"].concat();
        assert!(decoded(&late, None).ends_with("é"));
    }

    #[test]
    fn undeclared_pages_are_utf8_when_they_can_be() {
        assert_eq!(decoded(b"caf\xc3\xa9", None), "café");
        assert_eq!(decoded(b"caf\xe9", None), "café");
        // A character cut by the end of the prescan is still UTF-8.
        let long = [&[b'a'; PRESCAN - 1][..], "é".as_bytes()].concat();
        assert!(decoded(&long, None).ends_with("aé"));
    }

    #[test]
    fn a_character_cut_between_two_reads_is_decoded_whole() {
        // Shift_JIS `あ` is two bytes: put it across the prescan's end, then across a chunk's.
        let sjis = Some("text/html; charset=shift_jis");
        for before in [PRESCAN - 1, PRESCAN + CHUNK - 1] {
            let page = [&vec![b'a'; before][..], &[0x82, 0xa0]].concat();
            assert!(decoded(&page, sjis).ends_with("aあ"), "{before}");
        }
    }

    #[test]
    fn charset_parameters_are_found_quoted_or_not() {
        assert_eq!(
            charset_parameter("text/html; charset=\"utf-8\""),
            Some("utf-8")
        );
        assert_eq!(
            charset_parameter("text/html;Charset=latin1 ; q=1"),
            Some("latin1")
        );
        assert_eq!(charset_parameter("text/html"), None);
    }
}
