//! The tokenizer's one sink: it keeps the `href` of `<a>` and `<base>` start tags (or, for the
//! character-set prescan, what a `<meta>` declares) and drops everything else as it streams by:
//! text, comments, other tags and attributes. So memory stays constant whatever the page, apart
//! from the one attribute value being kept.

use html5gum::{Emitter, Error, State, naive_next_state};

/// What the tokenizer yields: one per start tag that matters.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Found {
    /// The `href` of an `<a>` (as written, character references decoded).
    Anchor(String),
    /// The `href` of a `<base>`.
    Base(String),
    /// The encoding label a `<meta charset>` or `<meta http-equiv=content-type>` declares.
    Charset(String),
}

/// Tag and attribute names longer than this are none we look for: only their start is kept.
const NAME_MAX: usize = 16;

/// A tag or attribute name, kept up to [`NAME_MAX`] bytes (the tokenizer lowercases ASCII).
#[derive(Debug, Default, Clone)]
struct Name {
    bytes: Vec<u8>,
    long: bool,
}

impl Name {
    fn push(&mut self, s: &[u8]) {
        if self.bytes.len() + s.len() <= NAME_MAX {
            self.bytes.extend_from_slice(s);
        } else {
            self.long = true;
        }
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.long = false;
    }

    fn is(&self, name: &[u8]) -> bool {
        !self.long && self.bytes == name
    }
}

/// The [`Emitter`] of link extraction (see the module docs).
#[derive(Debug, Default)]
pub(super) struct Sink {
    /// The prescan: yield `<meta>` charsets, not links.
    meta: bool,
    start: bool,
    tag: Name,
    last_start: Name,
    attribute: Name,
    /// Where the current attribute's value goes (see [`Sink::slot`]); `None` until known.
    keeping: Option<Option<usize>>,
    value: Vec<u8>,
    /// The first value of each attribute wanted on this tag (later duplicates are ignored, as
    /// the HTML standard says): `href`; or `charset`, `http-equiv`, `content`.
    values: [Option<Vec<u8>>; 3],
    found: Option<Found>,
}

impl Sink {
    /// A sink for links.
    pub(super) fn links() -> Sink {
        Sink::default()
    }

    /// A sink for the charset declared by a `<meta>`.
    pub(super) fn meta() -> Sink {
        Sink {
            meta: true,
            ..Sink::default()
        }
    }

    /// Which of [`Sink::values`] the current attribute fills, if it is one wanted.
    fn slot(&self) -> Option<usize> {
        let name = &self.attribute;
        match (self.meta, &self.tag) {
            (false, tag) if (tag.is(b"a") || tag.is(b"base")) && name.is(b"href") => Some(0),
            (true, tag) if tag.is(b"meta") => [&b"charset"[..], b"http-equiv", b"content"]
                .iter()
                .position(|wanted| name.is(wanted)),
            _ => None,
        }
    }

    fn finish_attribute(&mut self) {
        if let Some(slot) = self.keeping.unwrap_or_else(|| self.slot())
            && self.values[slot].is_none()
        {
            self.values[slot] = Some(std::mem::take(&mut self.value));
        }
        self.value.clear();
        self.attribute.clear();
        self.keeping = None;
    }

    /// What the start tag just finished declares, if anything.
    fn take_found(&mut self) -> Option<Found> {
        let text = |value: Vec<u8>| String::from_utf8_lossy(&value).into_owned();
        let [first, http_equiv, content] = std::mem::take(&mut self.values);
        if !self.meta {
            let href = first.map(text)?;
            return Some(if self.tag.is(b"a") {
                Found::Anchor(href)
            } else {
                Found::Base(href)
            });
        }
        if let Some(charset) = first {
            return Some(Found::Charset(text(charset)));
        }
        let http_equiv = http_equiv.map(text)?;
        if !http_equiv.eq_ignore_ascii_case("content-type") {
            return None;
        }
        charset_of_content(&text(content?)).map(Found::Charset)
    }
}

/// The charset in a `<meta http-equiv=content-type>`'s `content`, e.g. `text/html;
/// charset=latin1` (the HTML standard's "extracting a character encoding from a meta element").
pub(super) fn charset_of_content(content: &str) -> Option<String> {
    let mut rest = content;
    loop {
        let at = rest.to_ascii_lowercase().find("charset")?;
        rest = rest[at + "charset".len()..].trim_start();
        let Some(value) = rest.strip_prefix('=') else {
            continue;
        };
        let value = value.trim_start();
        return match value.chars().next() {
            Some(quote @ ('"' | '\'')) => {
                let value = &value[1..];
                value.find(quote).map(|end| value[..end].to_string())
            }
            Some(_) => value
                .split(|c: char| c.is_ascii_whitespace() || c == ';')
                .next()
                .map(str::to_string),
            None => None,
        };
    }
}

impl Emitter for Sink {
    type Token = Found;

    fn set_last_start_tag(&mut self, last_start_tag: Option<&[u8]>) {
        self.last_start.clear();
        self.last_start.push(last_start_tag.unwrap_or_default());
    }

    fn emit_eof(&mut self) {}

    fn emit_error(&mut self, _: Error) {}

    fn should_emit_errors(&mut self) -> bool {
        false
    }

    fn pop_token(&mut self) -> Option<Found> {
        self.found.take()
    }

    fn emit_string(&mut self, _: &[u8]) {}

    fn init_start_tag(&mut self) {
        self.start = true;
        self.tag.clear();
        self.values = Default::default();
    }

    fn init_end_tag(&mut self) {
        self.start = false;
        self.tag.clear();
    }

    fn init_comment(&mut self) {}

    fn emit_current_tag(&mut self) -> Option<State> {
        self.finish_attribute();
        if !self.start {
            return None;
        }
        self.found = self.take_found();
        self.last_start = self.tag.clone();
        // `<script>`, `<style>`, `<textarea>`...: their text is not markup (as a tree builder
        // would switch the tokenizer, approximated from the tag name alone).
        if self.tag.long {
            None
        } else {
            naive_next_state(&self.tag.bytes)
        }
    }

    fn emit_current_comment(&mut self) {}

    fn emit_current_doctype(&mut self) {}

    fn set_self_closing(&mut self) {}

    fn set_force_quirks(&mut self) {}

    fn push_tag_name(&mut self, s: &[u8]) {
        self.tag.push(s);
    }

    fn push_comment(&mut self, _: &[u8]) {}

    fn push_doctype_name(&mut self, _: &[u8]) {}

    fn init_doctype(&mut self) {}

    fn init_attribute(&mut self) {
        self.finish_attribute();
    }

    fn push_attribute_name(&mut self, s: &[u8]) {
        self.attribute.push(s);
    }

    fn push_attribute_value(&mut self, s: &[u8]) {
        let keeping = match self.keeping {
            Some(keeping) => keeping,
            None => {
                let slot = self.slot().filter(|&slot| self.values[slot].is_none());
                self.keeping = Some(slot);
                slot
            }
        };
        if keeping.is_some() {
            self.value.extend_from_slice(s);
        }
    }

    fn set_doctype_public_identifier(&mut self, _: &[u8]) {}

    fn set_doctype_system_identifier(&mut self, _: &[u8]) {}

    fn push_doctype_public_identifier(&mut self, _: &[u8]) {}

    fn push_doctype_system_identifier(&mut self, _: &[u8]) {}

    fn current_is_appropriate_end_tag_token(&mut self) -> bool {
        let last = &self.last_start;
        !self.start && !last.bytes.is_empty() && !last.long && self.tag.is(&last.bytes)
    }
}
