//! Trees deeper than PATH_MAX: a chain of 5,000 nested directories, each with a one-byte file, is
//! counted whole (its paths reach 10,000 bytes) with few descriptors, and an unreadable directory
//! deep in it is reported by its full path. The chain is built and removed by descriptors too,
//! since no path to its bottom can be given to a system call.

use std::ffi::OsStr;
use std::fs;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use rustix::fs::{CWD, Mode, OFlags, chmodat, mkdirat, openat};

use crate::util::{bytes_line, du4, run, run_unprivileged};

/// Directories in the chain (and files: one in the root and one in each but the last).
const DEPTH: usize = 5_000;

fn open_dir(at: impl std::os::fd::AsFd, name: impl rustix::path::Arg) -> OwnedFd {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    openat(at, name, flags, Mode::empty()).unwrap()
}

/// A temp dir on tmpfs: 20,000 creations take a second there, and a minute on a busy disk.
fn shm_tempdir() -> tempfile::TempDir {
    tempfile::tempdir_in("/dev/shm").expect("a temp dir on tmpfs (/dev/shm)")
}

/// Builds `root/f`, `root/d/f`, `root/d/d/f`, ... down to `DEPTH` directories `d` (the last one
/// empty), every file one byte. Returns the descriptor of the directory holding the `d` at
/// depth `keep` (1 is `root/d`).
fn chain(root: &Path, keep: usize) -> OwnedFd {
    let mut dir = open_dir(CWD, root);
    let mut kept = None;
    for depth in 1..=DEPTH {
        let file = OFlags::WRONLY | OFlags::CREATE | OFlags::CLOEXEC;
        let f = openat(&dir, "f", file, Mode::from_bits_truncate(0o644)).unwrap();
        assert_eq!(rustix::io::write(&f, b"x").unwrap(), 1);
        mkdirat(&dir, "d", Mode::from_bits_truncate(0o755)).unwrap();
        let below = open_dir(&dir, "d");
        if depth == keep {
            kept = Some(dir);
        }
        dir = below;
    }
    kept.unwrap()
}

/// `root` and the `depth` directories `d` below it, as one path (longer than PATH_MAX).
fn deep_path(root: &Path, depth: usize) -> PathBuf {
    root.join(vec!["d"; depth].join("/"))
}

/// Removes the chain with GNU rm, which walks by descriptors as du does.
fn remove(root: &Path) {
    let out = run(Command::new("rm").arg("-rf").arg(root).stdin(Stdio::null()));
    out.expect_code(0);
}

#[test]
fn a_chain_deeper_than_path_max_is_counted_whole_with_few_descriptors() {
    let tmp = shm_tempdir();
    let root = tmp.path().join("chain");
    fs::create_dir(&root).unwrap();
    drop(chain(&root, 1));
    assert!(deep_path(&root, DEPTH).as_os_str().len() > 10_000);
    // 32 descriptors in all: a walker holding one per level would run out at once.
    let out = run(Command::new("prlimit")
        .arg("--nofile=32:32")
        .arg(env!("CARGO_BIN_EXE_du4"))
        .arg("-b")
        .arg(&root)
        .stdin(Stdio::null()));
    remove(&root);
    out.expect_code(0);
    let files = DEPTH as u64;
    assert_eq!(out.stdout_lines(), [bytes_line(files, files)], "\n{out}");
    assert!(out.stderr.is_empty(), "\n{out}");
    // And on one thread, the walk that descends farthest before it comes back.
    let tmp = shm_tempdir();
    let root = tmp.path().join("chain");
    fs::create_dir(&root).unwrap();
    drop(chain(&root, 1));
    let out = run(du4()
        .args([OsStr::new("-b"), OsStr::new("-j1"), root.as_os_str()])
        .stdin(Stdio::null()));
    remove(&root);
    out.expect_code(0);
    assert_eq!(out.stdout_lines(), [bytes_line(files, files)], "\n{out}");
}

#[test]
fn an_unreadable_directory_deep_in_a_chain_prints_its_full_path() {
    let tmp = shm_tempdir();
    let root = tmp.path().join("chain");
    fs::create_dir(&root).unwrap();
    let locked_at = 4_000;
    let parent = chain(&root, locked_at);
    chmodat(&parent, "d", Mode::empty(), rustix::fs::AtFlags::empty()).unwrap();
    let out = run_unprivileged(tmp.path(), &[OsStr::new("-b"), root.as_os_str()]);
    chmodat(
        &parent,
        "d",
        Mode::from_bits_truncate(0o755),
        rustix::fs::AtFlags::empty(),
    )
    .unwrap();
    remove(&root);
    out.expect_code(1);
    // The files above the locked directory: one in the root and one in each directory above.
    let files = locked_at as u64;
    assert_eq!(out.stdout_lines(), [bytes_line(files, files)], "\n{out}");
    let expected = format!(
        "du4: {}: Permission denied (os error 13)",
        deep_path(&root, locked_at).display()
    );
    assert_eq!(out.stderr_lines(), [expected.as_str()], "\n{out}");
}
