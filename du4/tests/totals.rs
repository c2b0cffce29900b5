//! Totals: every kind of entry counted as SPEC.md says, checked against hand-computed figures and
//! an independent count; hard links with and without `--dedup-links` (and repeated roots);
//! totals past `u64::MAX`; roots that are files or symlinks; `--per-root` order; the default
//! root; any thread count.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::symlink;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use tempfile::TempDir;

use crate::util::{bytes_line, du4, du4_run, independent_count, run};

/// Files in the sample tree, counted per path.
const FILES: u64 = 16;
/// Their apparent bytes (the sparse file alone is 3 GB).
const BYTES: u64 = 3_000_002_740;

fn write(path: impl AsRef<Path>, len: usize) {
    fs::write(path, vec![b'x'; len]).unwrap();
}

/// A tree with one of everything: nested directories (one empty), empty and sparse files,
/// symlinks to a file, to a directory, dangling and looping, two hard links to one file, a
/// socket, and names that are not UTF-8.
fn sample_tree() -> TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    write(root.join("top.txt"), 10);
    write(root.join("empty"), 0);
    fs::create_dir_all(root.join("a/b/c/d")).unwrap();
    fs::create_dir_all(root.join("a/empty-dir")).unwrap();
    write(root.join("a/one"), 100);
    write(root.join("a/b/two"), 200);
    write(root.join("a/b/c/d/three"), 300);
    let sparse = fs::File::create(root.join("sparse")).unwrap();
    sparse.set_len(3_000_000_000).unwrap();
    symlink("top.txt", root.join("link-file")).unwrap(); // 7 bytes: the target's name
    symlink("a", root.join("link-dir")).unwrap(); // 1
    symlink("nowhere", root.join("dangling")).unwrap(); // 7
    symlink(".", root.join("loop")).unwrap(); // 1
    symlink("self", root.join("self")).unwrap(); // 4
    write(root.join("hard1"), 1000);
    fs::hard_link(root.join("hard1"), root.join("hard2")).unwrap();
    write(root.join(OsStr::from_bytes(b"bad\xffname")), 50);
    let odd_dir = root.join(OsStr::from_bytes(b"dir\xfe"));
    fs::create_dir(&odd_dir).unwrap();
    write(odd_dir.join("inner"), 60);
    drop(UnixListener::bind(root.join("sock")).unwrap()); // a socket entry stays behind, size 0
    tmp
}

#[test]
fn totals_equal_hand_count_and_independent_count() {
    let tree = sample_tree();
    assert_eq!(independent_count(tree.path(), false), (FILES, BYTES));
    let out = du4_run([OsStr::new("-b"), tree.path().as_os_str()]);
    out.expect_code(0);
    assert_eq!(out.stdout_lines(), [bytes_line(FILES, BYTES)], "\n{out}");
    assert!(out.stderr.is_empty(), "\n{out}");
}

#[test]
fn default_output_is_the_books_line() {
    let tree = sample_tree();
    let out = du4_run([tree.path()]);
    out.expect_code(0);
    assert_eq!(out.stdout, format!("{FILES} files  3.0 GB\n"), "\n{out}");
}

#[test]
fn dedup_links_counts_an_inode_once() {
    let tree = sample_tree();
    let expected = independent_count(tree.path(), true);
    assert_eq!(expected, (FILES - 1, BYTES - 1000));
    let out = du4_run([
        OsStr::new("-b"),
        OsStr::new("--dedup-links"),
        tree.path().as_os_str(),
    ]);
    out.expect_code(0);
    assert_eq!(
        out.stdout_lines(),
        [bytes_line(expected.0, expected.1)],
        "\n{out}"
    );
}

#[test]
fn dedup_links_counts_a_repeated_or_overlapping_root_once() {
    let tree = sample_tree();
    let root = tree.path().as_os_str();
    let expected = independent_count(tree.path(), true);
    let inner = tree.path().join("a");
    for roots in [vec![root, root], vec![root, inner.as_os_str()]] {
        let out = run(du4()
            .args(["-b", "--dedup-links"])
            .args(&roots)
            .stdin(std::process::Stdio::null()));
        out.expect_code(0);
        assert_eq!(
            out.stdout_lines(),
            [bytes_line(expected.0, expected.1)],
            "\n{out}"
        );
    }
    // Without it, every path counts, as in the book: the repeated root twice.
    let out = du4_run([OsStr::new("-b"), root, root]);
    out.expect_code(0);
    assert_eq!(
        out.stdout_lines(),
        [bytes_line(2 * FILES, 2 * BYTES)],
        "\n{out}"
    );
}

#[test]
fn apparent_sizes_past_u64_max_add_up_exactly() {
    // Four sparse files of 4 EiB: 2^64 bytes in all, one more than u64 holds. tmpfs allows
    // such sizes (most disk file systems stop at a few TiB).
    let tmp = tempfile::tempdir_in("/dev/shm").expect("a temp dir on tmpfs (/dev/shm)");
    for name in ["a", "b", "c", "d"] {
        let file = fs::File::create(tmp.path().join(name)).unwrap();
        file.set_len(1 << 62)
            .expect("a sparse file of 4 EiB on tmpfs");
    }
    let out = du4_run([OsStr::new("-b"), tmp.path().as_os_str()]);
    out.expect_code(0);
    assert_eq!(
        out.stdout_lines(),
        ["4 files  18446744073709551616 bytes"],
        "\n{out}"
    );
}

#[test]
fn every_thread_count_gives_the_same_totals() {
    let tree = sample_tree();
    for threads in ["1", "2", "3", "16"] {
        let out = du4_run([
            OsStr::new("-b"),
            OsStr::new("-j"),
            OsStr::new(threads),
            tree.path().as_os_str(),
        ]);
        out.expect_code(0);
        assert_eq!(out.stdout_lines(), [bytes_line(FILES, BYTES)], "\n{out}");
    }
}

#[test]
fn a_file_root_and_a_symlink_root_count_as_one_file() {
    let tree = sample_tree();
    let out = du4_run([OsStr::new("-b"), tree.path().join("top.txt").as_os_str()]);
    out.expect_code(0);
    assert_eq!(out.stdout_lines(), [bytes_line(1, 10)], "\n{out}");
    // Never followed, not even as a root: the link's own size is the length of "a".
    let out = du4_run([OsStr::new("-b"), tree.path().join("link-dir").as_os_str()]);
    out.expect_code(0);
    assert_eq!(out.stdout_lines(), [bytes_line(1, 1)], "\n{out}");
}

#[test]
fn per_root_lines_follow_argument_order_then_total() {
    let tree = sample_tree();
    let roots: Vec<PathBuf> = [
        tree.path().join(OsStr::from_bytes(b"dir\xfe")),
        tree.path().join("a"),
        tree.path().join("top.txt"),
        tree.path().join("a/empty-dir"),
    ]
    .into();
    let out = run(du4()
        .arg("--per-root")
        .arg("-b")
        .args(&roots)
        .stdin(std::process::Stdio::null()));
    out.expect_code(0);
    let expected = [
        format!("{}  {}", bytes_line(1, 60), roots[0].display()),
        format!("{}  {}", bytes_line(3, 600), roots[1].display()),
        format!("{}  {}", bytes_line(1, 10), roots[2].display()),
        format!("{}  {}", bytes_line(0, 0), roots[3].display()),
        format!("{}  total", bytes_line(5, 670)),
    ];
    assert_eq!(out.stdout_lines(), expected, "\n{out}");
    // Without -b: the book's GB figures, the same order.
    let out = run(du4()
        .arg("--per-root")
        .args(&roots[..2])
        .stdin(std::process::Stdio::null()));
    out.expect_code(0);
    let expected = [
        format!("1 files  0.0 GB  {}", roots[0].display()),
        format!("3 files  0.0 GB  {}", roots[1].display()),
        "4 files  0.0 GB  total".to_string(),
    ];
    assert_eq!(out.stdout_lines(), expected, "\n{out}");
}

#[test]
fn roots_default_to_the_current_directory() {
    let tree = sample_tree();
    let out = run(du4()
        .arg("-b")
        .current_dir(tree.path())
        .stdin(std::process::Stdio::null()));
    out.expect_code(0);
    assert_eq!(out.stdout_lines(), [bytes_line(FILES, BYTES)], "\n{out}");
}

#[test]
fn dedup_links_credits_what_roots_share_to_the_first_as_gnu_du_does() {
    // GNU `du -s t2 t2/sub` walks its roots in order and skips an inode seen already, so `t2`
    // gets everything and `t2/sub` nothing (GNU prints no line for it; --per-root prints zero).
    let tmp = tempfile::tempdir().unwrap();
    let t2 = tmp.path().join("t2");
    fs::create_dir_all(t2.join("sub")).unwrap();
    for n in 0..300 {
        write(t2.join(format!("sub/f{n}")), 1);
    }
    write(t2.join("top"), 5);
    let (sub, top) = (t2.join("sub"), t2.join("top"));
    let per_root = |dedup: bool, roots: &[&PathBuf]| {
        let out = run(du4()
            .args(["-b", "--per-root"])
            .args(dedup.then_some("--dedup-links"))
            .args(roots)
            .stdin(std::process::Stdio::null()));
        out.expect_code(0);
        out.stdout_lines()
            .iter()
            .map(|line| line.to_string())
            .collect::<Vec<_>>()
    };
    let line =
        |(files, bytes), root: &Path| format!("{}  {}", bytes_line(files, bytes), root.display());
    // (--dedup-links, roots, the two roots' (files, bytes), the total's)
    let cases = [
        (true, [&t2, &sub], [(301, 305), (0, 0), (301, 305)]),
        (true, [&sub, &t2], [(300, 300), (1, 5), (301, 305)]),
        (true, [&t2, &top], [(301, 305), (0, 0), (301, 305)]),
        // Without it every path counts, as in the book (and GNU `du -s --count-links`).
        (false, [&t2, &sub], [(301, 305), (300, 300), (601, 605)]),
    ];
    for (dedup, roots, [first, second, (files, bytes)]) in cases {
        let total = format!("{}  total", bytes_line(files, bytes));
        let expected = [line(first, roots[0]), line(second, roots[1]), total];
        assert_eq!(per_root(dedup, &roots), expected, "--dedup-links: {dedup}");
    }
}
