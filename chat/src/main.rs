//! chat: not written yet (placeholder while the workspace is laid).

fn main() {}
