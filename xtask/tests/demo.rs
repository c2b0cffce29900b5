//! `cargo xtask demo` runs in CI: the whole chapter tour must pass, step by step.

use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn the_chapter_tour_passes_every_step() {
    let started = Instant::now();
    // The demo builds the chapter's programs itself (a no-op when `cargo test --workspace` has
    // built them already) and runs them from this executable's directory.
    let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("demo")
        .env("CARGO", env!("CARGO"))
        .output()
        .expect("run cargo xtask demo");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "xtask demo failed ({})\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        output.status
    );
    for section in ["8.8-8.9", "8.10", "8.6", "8.4.4", "ex. 8.10"] {
        assert!(stdout.contains(section), "no step for {section}:\n{stdout}");
    }
    assert_eq!(stdout.matches("-- ok (").count(), 5, "{stdout}");
    assert!(
        started.elapsed() < Duration::from_secs(120),
        "the tour took {:?}",
        started.elapsed()
    );
}
