//! Unit tests of `chat/src/lines.rs` (a child module of it, kept out of `src/`).

use super::*;

fn text(line: Option<Line<'_>>) -> String {
    match line {
        Some(Line::Text(bytes)) => String::from_utf8_lossy(bytes).into_owned(),
        other => panic!("expected a line, got {other:?}"),
    }
}

#[test]
fn lines_up_to_the_limit_pass_with_or_without_cr_and_longer_ones_are_skipped() {
    let mut lines = LineBuffer::new(10);
    lines.push(b"0123456789\n0123456789\r\n0123456789A\nnext\r\n");
    assert_eq!(text(lines.next_line()), "0123456789");
    assert_eq!(text(lines.next_line()), "0123456789");
    assert_eq!(lines.next_line(), Some(Line::TooLong));
    assert_eq!(text(lines.next_line()), "next");
    assert_eq!(lines.next_line(), None);
}

#[test]
fn a_long_line_is_reported_once_skipped_to_its_newline_and_never_stored() {
    let mut lines = LineBuffer::new(100);
    let chunk = vec![b'x'; 64 << 10];
    let mut reports = 0;
    for _ in 0..16 {
        lines.push(&chunk);
        while let Some(line) = lines.next_line() {
            assert_eq!(line, Line::TooLong);
            reports += 1;
        }
        assert!(
            lines.buf.capacity() <= chunk.len() + 102,
            "{}",
            lines.buf.capacity()
        );
    }
    assert_eq!(reports, 1);
    lines.push(b"\nafter\nlast");
    assert_eq!(text(lines.next_line()), "after");
    assert_eq!(lines.next_line(), None);
    // The final line, without a newline, comes at end of input; then nothing.
    assert_eq!(text(lines.finish()), "last");
    assert_eq!(lines.finish(), None);
}

#[test]
fn a_line_split_across_pushes_is_joined_and_a_partial_line_waits() {
    let mut lines = LineBuffer::new(100);
    lines.push(b"par");
    assert_eq!(lines.next_line(), None);
    lines.push(b"tial line\nnext");
    assert_eq!(text(lines.next_line()), "partial line");
    assert_eq!(lines.next_line(), None);
    lines.push(b"\n");
    assert_eq!(text(lines.next_line()), "next");
    assert_eq!(lines.next_line(), None);
    assert_eq!(lines.buf.capacity(), 0, "an emptied buffer is given back");
}
