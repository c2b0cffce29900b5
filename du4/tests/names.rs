//! Names as their bytes (SPEC.md, du4): a root or an entry whose name is not UTF-8 is printed as
//! it is on disk, on stdout and stderr alike, never as U+FFFD; control characters are escaped so
//! a line stays one line. Raw bytes are compared, not lossy text.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::Stdio;

use crate::util::{DEADLINE, du4};

/// Runs du4 with `args` (stdin at /dev/null) and returns its exit code, stdout and stderr as bytes.
fn du4_bytes(args: &[&OsStr]) -> (Option<i32>, Vec<u8>, Vec<u8>) {
    let mut command = du4();
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = command.spawn().unwrap();
    let ended = testkit::child::finish(child, DEADLINE);
    (
        ended.status.and_then(|s| s.code()),
        ended.stdout,
        ended.stderr,
    )
}

fn bytes(path: &Path) -> &[u8] {
    path.as_os_str().as_bytes()
}

#[test]
fn per_root_prints_names_that_are_not_utf8_as_their_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let ff = tmp.path().join(OsStr::from_bytes(b"bad\xffname"));
    let fe = tmp.path().join(OsStr::from_bytes(b"bad\xfename"));
    fs::write(&ff, b"12").unwrap();
    fs::create_dir(&fe).unwrap();
    fs::write(fe.join(OsStr::from_bytes(b"in\xc3side")), b"12345").unwrap();
    let args = [
        "-b".as_ref(),
        "--per-root".as_ref(),
        ff.as_os_str(),
        fe.as_os_str(),
    ];
    let (code, stdout, stderr) = du4_bytes(&args);
    let expected = [
        &b"1 files  2 bytes  "[..],
        bytes(&ff),
        b"\n1 files  5 bytes  ",
        bytes(&fe),
        b"\n2 files  7 bytes  total\n",
    ]
    .concat();
    assert_eq!(
        code,
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&stderr)
    );
    assert_eq!(stdout, expected, "{:?}", String::from_utf8_lossy(&stdout));
    assert!(!stdout.windows(3).any(|w| w == "\u{fffd}".as_bytes()));
}

#[test]
fn an_error_line_prints_the_name_as_its_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join(OsStr::from_bytes(b"gone\xff\xfe"));
    let (code, stdout, stderr) = du4_bytes(&["-b".as_ref(), missing.as_os_str()]);
    let expected = [
        &b"du4: "[..],
        bytes(&missing),
        b": No such file or directory (os error 2)\n",
    ]
    .concat();
    assert_eq!(code, Some(1));
    assert_eq!(stderr, expected, "{:?}", String::from_utf8_lossy(&stderr));
    assert_eq!(stdout, b"0 files  0 bytes\n");
}

#[test]
fn control_characters_are_escaped_and_the_rest_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let odd = tmp
        .path()
        .join(OsStr::from_bytes(b"two\nlines\x1b[31m\xff"));
    fs::write(&odd, b"x").unwrap();
    let (code, stdout, _) = du4_bytes(&["-b".as_ref(), "--per-root".as_ref(), odd.as_os_str()]);
    let expected = [
        &b"1 files  1 bytes  "[..],
        bytes(tmp.path()),
        b"/two\\nlines\\u{1b}[31m\xff\n1 files  1 bytes  total\n",
    ]
    .concat();
    assert_eq!(code, Some(0));
    assert_eq!(stdout, expected, "{:?}", String::from_utf8_lossy(&stdout));
}

#[test]
fn verbose_running_lines_print_names_as_their_bytes() {
    // The big tree reached through a symlink named `big\xff` (a symlink inside a root's path is
    // followed by the kernel), walked 40 times on one thread: seconds, so ticks come first.
    let tmp = tempfile::tempdir().unwrap();
    let big = crate::util::big_tree();
    let link = tmp.path().join(OsStr::from_bytes(b"big\xff"));
    std::os::unix::fs::symlink(big.parent().unwrap(), &link).unwrap();
    let root = link.join(big.file_name().unwrap());
    let mut args: Vec<&OsStr> = ["-v", "-b", "--per-root", "-j", "1"].map(OsStr::new).into();
    args.extend(std::iter::repeat_n(root.as_os_str(), 40));
    let (code, stdout, _) = du4_bytes(&args);
    assert_eq!(code, Some(0));
    let lines: Vec<&[u8]> = stdout
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let suffix = [b"  ", bytes(&root)].concat();
    let (roots, totals): (Vec<&[u8]>, Vec<&[u8]>) =
        lines.iter().partition(|line| line.ends_with(&suffix));
    let files = (crate::util::BIG_DIRS * crate::util::BIG_FILES_PER_DIR + 1) * 40;
    let total = format!("{files} files  0 bytes  total");
    assert_eq!(
        totals,
        [total.as_bytes()],
        "the lines not ending in the root's bytes"
    );
    assert!(
        roots.len() > 40 && roots.len() % 40 == 0,
        "no running block before the final one"
    );
}
