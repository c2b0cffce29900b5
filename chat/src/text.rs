//! Hostile text stays text (SPEC.md, chat, items 2 and 5).
//!
//! - [`clean_message`]: a message's text with every control character shown visibly (`^[` for
//!   ESC, `^M` for CR, as `cat -v` does; C1 controls as U+FFFD) and bidi embeddings, overrides
//!   and isolates removed. The book relays bytes as they come, so `ESC[2J` clears every screen,
//!   an OSC sequence retitles every terminal, and a bare CR lets `bob: \ralice: hi` pass for
//!   alice. A tab stays.
//! - [`clean_name`]: the name a client asks for, trimmed, without control or format characters,
//!   at most 32 characters (ex. 8.14).
//! - [`name_problem`]: a name that would make the protocol's lines ambiguous is refused: a name
//!   is one word, without `,` (the client list's separator) or `:` (a message's), and does not
//!   start with `*` (the server's notices). So `bob has left`, `a, b` and `alice: hi` are not
//!   names.
//! - [`client_list`]: a newcomer's `Current clients:` list, cut with `... and N more` in a
//!   crowded room, so that one line stays bounded.
//! - [`name_key`]: what two names are compared by, so that look-alikes of a name in use are
//!   refused too: NFKC (fullwidth and other compatibility forms), invisible format characters
//!   removed (soft hyphen, zero-width spaces and joiners, bidi marks), then lower case.

use std::net::SocketAddr;

use unicode_normalization::UnicodeNormalization;

/// Longest name kept, in characters (exercise 8.14).
pub const MAX_NAME_CHARS: usize = 32;

/// A message's text, safe to print on any terminal; see the module's docs.
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
            c if is_bidi_control(c) => {}
            c => clean.push(c),
        }
    }
    clean
}

/// A client's name from its first line (ex. 8.14): lossy UTF-8, control and invisible format
/// characters removed, trimmed, at most 32 characters; empty falls back to the remote address,
/// as in the book.
pub fn clean_name(line: &[u8], peer: SocketAddr) -> String {
    let text = String::from_utf8_lossy(line);
    let cleaned: String = text
        .chars()
        .filter(|&c| !c.is_control() && !is_invisible(c))
        .collect();
    let name: String = cleaned.trim().chars().take(MAX_NAME_CHARS).collect();
    let name = name.trim_end();
    if name.is_empty() {
        peer.to_string()
    } else {
        name.to_string()
    }
}

/// Why `name` cannot be a name (it would make a protocol line ambiguous), or `None`. The
/// address a nameless client is given is always accepted.
pub fn name_problem(name: &str, peer: SocketAddr) -> Option<&'static str> {
    if name == peer.to_string() {
        return None;
    }
    let folded: String = name.nfkc().collect();
    if folded.chars().any(char::is_whitespace) {
        Some("a name is one word")
    } else if folded.contains([',', ':']) {
        Some("a name has no ',' or ':'")
    } else if folded.starts_with('*') {
        Some("a name does not start with '*'")
    } else {
        None
    }
}

/// The form names are compared in: equal keys are names too alike to tell apart.
pub fn name_key(name: &str) -> String {
    let visible: String = name.nfkc().filter(|&c| !is_invisible(c)).collect();
    visible.to_lowercase().nfkc().collect()
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

/// Bidi embeddings, overrides and isolates: they reorder the rest of a terminal's line.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Characters that print as nothing: format characters a name could hide behind.
fn is_invisible(c: char) -> bool {
    is_bidi_control(c)
        || matches!(
            c,
            '\u{ad}'
                | '\u{34f}'
                | '\u{61c}'
                | '\u{115f}'
                | '\u{1160}'
                | '\u{17b4}'
                | '\u{17b5}'
                | '\u{180b}'..='\u{180f}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2060}'..='\u{2064}'
                | '\u{3164}'
                | '\u{fe00}'..='\u{fe0f}'
                | '\u{feff}'
                | '\u{ffa0}'
                | '\u{e0000}'..='\u{e0fff}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer() -> SocketAddr {
        "127.0.0.1:4000".parse().expect("addr")
    }

    #[test]
    fn messages_show_controls_visibly_and_keep_tabs() {
        assert_eq!(clean_message(b"\x1b[2Jgone"), "^[[2Jgone");
        assert_eq!(clean_message(b"\x1b]0;title\x07"), "^[]0;title^G");
        assert_eq!(clean_message(b"\ralice: hi"), "^Malice: hi");
        assert_eq!(clean_message(b"a\0b\x7fc\td"), "a^@b^?c\td");
        assert_eq!(clean_message("\u{9b}2J".as_bytes()), "\u{fffd}2J");
        assert_eq!(clean_message("\u{202e}olleh".as_bytes()), "olleh");
        assert_eq!(
            clean_message("caf\u{e9} \u{1f600}".as_bytes()),
            "caf\u{e9} \u{1f600}"
        );
    }

    #[test]
    fn names_lose_controls_and_invisible_characters() {
        assert_eq!(clean_name(b"  ev\x07il\x1b \r", peer()), "evil");
        assert_eq!(clean_name("\u{202e}evil".as_bytes(), peer()), "evil");
        assert_eq!(clean_name("al\u{ad}ice".as_bytes(), peer()), "alice");
        assert_eq!(clean_name(b"   ", peer()), "127.0.0.1:4000");
        assert_eq!(clean_name(&[b'x'; 50], peer()), "x".repeat(32));
    }

    #[test]
    fn look_alikes_share_a_key() {
        for alike in [
            "ALICE",
            "Alice",
            "al\u{ad}ice",
            "al\u{200b}ice",
            "\u{ff41}lice",
            "\u{202e}alice",
        ] {
            assert_eq!(name_key(alike), name_key("alice"), "{alike:?}");
        }
        assert_ne!(name_key("alice2"), name_key("alice"));
        assert_ne!(name_key("bob"), name_key("alice"));
    }

    #[test]
    fn a_crowded_rooms_client_list_stays_bounded() {
        assert_eq!(client_list([].into_iter()), "none");
        assert_eq!(client_list(["a", "b"].into_iter()), "a, b");
        let names: Vec<String> = (0..10_000).map(|i| format!("client{i}")).collect();
        let list = client_list(names.iter().map(String::as_str));
        assert!(list.len() < MAX_CLIENT_LIST + 40, "{} bytes", list.len());
        assert!(list.starts_with("client0, client1, "), "{list}");
        let (shown, more) = list.rsplit_once(", ... and ").expect("cut");
        let more: usize = more
            .strip_suffix(" more")
            .and_then(|n| n.parse().ok())
            .expect(&list);
        assert_eq!(shown.split(", ").count() + more, names.len());
    }

    #[test]
    fn names_that_would_make_lines_ambiguous_are_refused() {
        for bad in [
            "bob has left",
            "a, b",
            "a,b",
            "alice: hi",
            "x:y",
            "***",
            "*bold",
            "fullwidth\u{ff1a}colon",
        ] {
            assert!(name_problem(bad, peer()).is_some(), "{bad:?} accepted");
        }
        for good in ["alice", "bob-2", "\u{e9}lodie", "O'Brien", "127.0.0.1:4000"] {
            assert_eq!(name_problem(good, peer()), None, "{good:?} refused");
        }
    }
}
