//! Unit tests of `chat/src/events.rs` (a child module of it, kept out of `src/`).

use super::place;

#[test]
fn a_loop_fills_to_the_pack_then_the_emptiest_takes_the_next() {
    assert_eq!(place(&[0, 0], 512), 0);
    assert_eq!(place(&[511, 0], 512), 0);
    assert_eq!(place(&[512, 0], 512), 1);
    assert_eq!(place(&[600, 512], 512), 1);
    assert_eq!(place(&[512, 600], 512), 0);
    assert_eq!(place(&[3, 1, 2], 1), 1);
}
