//! `cargo xtask demo`: the chapter tour (not written yet).

pub fn run() -> crate::Result {
    Err("the demo is not written yet".into())
}
