//! Hostile text stays text (SPEC.md, chat, items 2 and 5): message text that cannot drive a
//! terminal, names that cannot make a protocol line ambiguous or pass for another (ex. 8.14),
//! and a bounded client list (ex. 8.12).

use std::net::SocketAddr;

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;
use unicode_security::{MixedScript, is_potential_mixed_script_confusable_char, skeleton};

/// Longest name kept, in characters (exercise 8.14).
pub const MAX_NAME_CHARS: usize = 32;
/// Most combining marks on one base character: enough for any script's diacritics (Vietnamese
/// stacks two, pointed Hebrew three), too few to paint over neighbouring lines ("Zalgo").
const MAX_MARKS: usize = 4;

/// A message's text, safe to print on any terminal (the book relays `ESC[2J`, and a bare CR that
/// lets `bob: \ralice: hi` pass for alice): controls shown as `cat -v` does (C1 as U+FFFD), line
/// and paragraph separators and bidi controls removed, a tab kept.
pub fn clean_message(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(line);
    let mut clean = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\t' => clean.push(c),
            '\0'..='\x1f' => {
                clean.push('^');
                clean.push(char::from(c as u8 + b'@'));
            }
            '\x7f' => clean.push_str("^?"),
            '\u{80}'..='\u{9f}' => clean.push(char::REPLACEMENT_CHARACTER),
            '\u{2028}' | '\u{2029}' => {}
            c if is_bidi_control(c) => {}
            c => clean.push(c),
        }
    }
    clean
}

/// A client's name from its first line (ex. 8.14): lossy UTF-8, controls and invisibles removed
/// (unless that leaves nothing, for [`name_problem`] to refuse), trimmed, at most 32
/// characters; empty falls back to the remote address, as in the book.
pub fn clean_name(line: &[u8], peer: SocketAddr) -> String {
    let text = String::from_utf8_lossy(line);
    let text = text.trim_matches(|c: char| c.is_control() || c.is_whitespace());
    let visible: String = text
        .chars()
        .filter(|&c| !c.is_control() && !is_invisible(c))
        .collect();
    let name = if visible.trim().is_empty() {
        text.chars().filter(|c| !c.is_control()).collect()
    } else {
        visible
    };
    let name: String = name.trim().chars().take(MAX_NAME_CHARS).collect();
    match name.trim_end() {
        "" => peer.to_string(),
        name => name.to_string(),
    }
}

/// Why `name` cannot be a name, or `None`: a name is one word with a visible character, without
/// `,` or `:` (the list's and a message's separators), not starting with `*` (notices), without
/// a pile of marks on one letter, not mixing look-alike scripts (`аlice`); or the peer address.
pub fn name_problem(name: &str, peer: SocketAddr) -> Option<&'static str> {
    if name == peer.to_string() {
        return None;
    }
    let folded: String = name.nfkc().collect();
    if !folded.chars().any(is_visible) {
        Some("a name needs a visible character")
    } else if folded.chars().any(|c| c.is_whitespace() || is_blank(c)) {
        Some("a name is one word")
    } else if folded.contains([',', ':']) {
        Some("a name has no ',' or ':'")
    } else if folded.starts_with('*') {
        Some("a name does not start with '*'")
    } else if most_marks_on_one_base(&folded) > MAX_MARKS {
        Some("too many accents on one letter")
    } else if !folded.as_str().is_single_script()
        && folded
            .chars()
            .any(is_potential_mixed_script_confusable_char)
    {
        Some("a name mixes scripts whose letters look alike")
    } else {
        None
    }
}

/// The form names are compared in, equal for names too alike to tell apart: NFKC, lower case,
/// combining marks and invisibles removed, then the Unicode TR39 skeleton (`unicode-security`,
/// as rustc's `confusable_idents` lint): `ALICE`, `аlice`, `alıce`, `a̸lice`, `Alicé` are `alice`.
pub fn name_key(name: &str) -> String {
    let bare: String = name
        .nfkc()
        .collect::<String>()
        .to_lowercase()
        .nfd()
        .filter(|&c| !is_combining_mark(c) && !is_invisible(c))
        .collect();
    skeleton(&bare).collect::<String>().to_lowercase()
}

/// The longest run of combining marks on one base character (decomposed: `é` counts its accent).
fn most_marks_on_one_base(name: &str) -> usize {
    let (mut run, mut most) = (0, 0);
    for c in name.nfd() {
        run = if is_combining_mark(c) { run + 1 } else { 0 };
        most = most.max(run);
    }
    most
}

/// The longest `Current clients:` list, in bytes; a longer one ends with `... and N more`.
const MAX_CLIENT_LIST: usize = 1000;

/// The names for a newcomer's `Current clients:` line (ex. 8.12), in arrival order: `none` when
/// alone, and cut with `... and N more` so that a crowded room's line stays bounded.
pub fn client_list<'a>(names: impl ExactSizeIterator<Item = &'a str>) -> String {
    let count = names.len();
    if count == 0 {
        return "none".to_string();
    }
    let mut list = String::new();
    for (listed, name) in names.enumerate() {
        if list.len() + name.len() > MAX_CLIENT_LIST {
            list.push_str(&format!(", ... and {} more", count - listed));
            break;
        }
        if listed > 0 {
            list.push_str(", ");
        }
        list.push_str(name);
    }
    list
}

/// Bidi controls (marks, embeddings, overrides, isolates), which reorder the rest of a line.
fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{61c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
    )
}

/// Characters that print as nothing: Unicode's default-ignorable code points (format
/// characters, fillers, variation selectors, tags) a name could hide behind.
fn is_invisible(c: char) -> bool {
    is_bidi_control(c)
        || matches!(
            c,
            '\u{ad}'
                | '\u{34f}'
                | '\u{115f}'
                | '\u{1160}'
                | '\u{17b4}'
                | '\u{17b5}'
                | '\u{180b}'..='\u{180f}'
                | '\u{200b}'..='\u{200d}'
                | '\u{2060}'..='\u{2065}'
                | '\u{206a}'..='\u{206f}'
                | '\u{3164}'
                | '\u{fe00}'..='\u{fe0f}'
                | '\u{feff}'
                | '\u{ffa0}'
                | '\u{fff0}'..='\u{fff8}'
                | '\u{1bca0}'..='\u{1bca3}'
                | '\u{1d173}'..='\u{1d17a}'
                | '\u{e0000}'..='\u{e0fff}'
        )
}

/// Characters that draw an empty cell: the Braille blank and the Hangul fillers.
fn is_blank(c: char) -> bool {
    matches!(
        c,
        '\u{2800}' | '\u{115f}' | '\u{1160}' | '\u{3164}' | '\u{ffa0}'
    )
}

/// A character that leaves ink: not a space, a blank, an invisible or a lone combining mark.
fn is_visible(c: char) -> bool {
    !(c.is_whitespace() || c.is_control() || is_blank(c) || is_invisible(c) || is_combining_mark(c))
}

#[cfg(test)]
#[path = "../tests/unit/text.rs"]
mod tests;
