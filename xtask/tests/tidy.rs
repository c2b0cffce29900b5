//! House rules checked by `cargo test`: every Rust file opens with a `//!` doc, no test is
//! ignored, the CI script runs what the README tells newcomers to run, no code or doc cites a
//! file outside the repository (a fresh clone has only what is in it), and none carries the
//! book's copyright line (its code is read beside this project, never copied in).

use std::path::{Path, PathBuf};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Every `.rs` file of the workspace, skipping `target/` and hidden folders.
fn rust_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![workspace_root()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.starts_with('.') || name == "target" {
                continue;
            }
            if path.is_dir() {
                pending.push(path);
            } else if name.ends_with(".rs") {
                files.push(path);
            }
        }
    }
    assert!(files.len() > 10, "found only {} Rust files", files.len());
    files
}

#[test]
fn every_rust_file_opens_with_a_module_doc() {
    let undocumented: Vec<_> = rust_files()
        .into_iter()
        .filter(|path| {
            let text = std::fs::read_to_string(path).unwrap();
            !text.trim_start().starts_with("//!")
        })
        .collect();
    assert!(
        undocumented.is_empty(),
        "files without a `//!` opening doc: {undocumented:?}"
    );
}

#[test]
fn no_test_is_ignored() {
    let needle = ["#[", "ignore"].concat();
    let offenders: Vec<_> = rust_files()
        .into_iter()
        .filter(|path| std::fs::read_to_string(path).unwrap().contains(&needle))
        .collect();
    assert!(offenders.is_empty(), "ignored tests in {offenders:?}");
}

#[test]
fn ci_runs_the_readme_test_command() {
    let root = workspace_root();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let ci = std::fs::read_to_string(root.join(".ci/run")).unwrap();
    assert!(
        readme.contains("cargo xtask demo"),
        "README lacks the demo command"
    );
    assert!(
        readme.contains("cargo test --workspace"),
        "README lacks the test command"
    );
    assert!(
        ci.contains("cargo xtask ci"),
        ".ci/run does not run `cargo xtask ci`"
    );
    let xtask_ci = std::fs::read_to_string(root.join("xtask/src/ci.rs")).unwrap();
    assert!(
        xtask_ci.contains(r#"&["test", "--workspace"]"#),
        "`cargo xtask ci` no longer runs the README's test command"
    );
}

/// Every `.rs` file, the README, ARCHITECTURE.md and what `docs/` holds.
fn rust_files_and_docs() -> Vec<PathBuf> {
    let root = workspace_root();
    let mut files = rust_files();
    files.extend(["README.md", "ARCHITECTURE.md"].map(|name| root.join(name)));
    for entry in std::fs::read_dir(root.join("docs")).unwrap() {
        files.push(entry.unwrap().path());
    }
    files
}

#[test]
fn nothing_points_outside_the_repository() {
    // Assembled, so that this file does not name what it looks for.
    let needles = [["FIELD", "-NOTES"].concat(), ["../", "shared"].concat()];
    let files = rust_files_and_docs();
    let offenders: Vec<_> = files
        .into_iter()
        .filter(|path| {
            let text = std::fs::read_to_string(path).unwrap();
            needles.iter().any(|needle| text.contains(needle.as_str()))
        })
        .collect();
    assert!(
        offenders.is_empty(),
        "files citing a file outside the repository: {offenders:?}"
    );
}

#[test]
fn no_file_carries_the_books_copyright_line() {
    // The book's programs are read beside this project (`cargo xtask compare`), never copied:
    // each of its files opens with this line. Assembled, so that this file does not carry it.
    let needle = [
        "Copyright © 2016 Alan A. A. Donovan",
        " & Brian W. Kernighan",
    ]
    .concat();
    let files = rust_files_and_docs();
    let offenders: Vec<_> = files
        .into_iter()
        .filter(|path| std::fs::read_to_string(path).is_ok_and(|text| text.contains(&needle)))
        .collect();
    assert!(
        offenders.is_empty(),
        "the book's code copied into {offenders:?}"
    );
}
