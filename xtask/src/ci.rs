//! `cargo xtask ci`: the checks CI runs, in order, stopping at the first failure.
//!
//! `.ci/run` installs what a fresh machine lacks and then runs this, so the two never drift.

/// The checks, each a cargo command line. The last is the README's test command.
pub const CHECKS: &[&[&str]] = &[
    &["fmt", "--all", "--", "--check"],
    &[
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ],
    &["test", "--workspace"],
];

pub fn run() -> crate::Result {
    for args in CHECKS {
        eprintln!("xtask ci: cargo {}", args.join(" "));
        crate::cargo(args)?;
    }
    Ok(())
}
