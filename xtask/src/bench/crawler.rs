//! `cargo xtask bench crawler` (not written yet).

use super::Section;

pub fn run() -> crate::Result<Section> {
    Err("not written yet".into())
}
