//! `cargo xtask ci`: the checks CI runs, in order, stopping at the first failure.
//!
//! `.ci/run` installs what a fresh machine lacks and then runs this, so the two never drift.

use std::process::Command;

use crate::workspace_root;

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
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    for args in CHECKS {
        eprintln!("xtask ci: cargo {}", args.join(" "));
        let status = Command::new(&cargo)
            .args(*args)
            .current_dir(workspace_root())
            .status()
            .map_err(|err| format!("cargo: {err}"))?;
        if !status.success() {
            return Err(format!("`cargo {}` failed ({status})", args.join(" ")));
        }
    }
    Ok(())
}
