//! Test helpers: run the real `du4` binary with a deadline, count a tree independently, and make
//! the trees the tests walk (small ones in temp dirs, one big cached one for long walks).

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// The most any single du4 run may take in a test before it counts as hung.
pub const DEADLINE: Duration = Duration::from_secs(60);

pub fn du4() -> Command {
    Command::new(env!("CARGO_BIN_EXE_du4"))
}

pub use testkit::child::{Run, describe, lines, read_all, wait_deadline};

/// Runs `command` (set its stdin) to completion within [`DEADLINE`].
pub fn run(command: &mut Command) -> Run {
    Run::of(command, DEADLINE)
}

/// Runs du4 with `args`, stdin at /dev/null.
pub fn du4_run<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    run(du4().args(args).stdin(Stdio::null()))
}

/// Runs du4 with `args` as a user that mode 000 keeps out. Root reads a mode-000 directory anyway
/// (CI runs as root): there the binary runs as `nobody` through `setpriv` (util-linux), from a
/// copy in `tmp` (made traversable), since the build directory may not be. Anyone else is
/// refused by the mode itself, and runs du4 as is.
pub fn run_unprivileged(tmp: &Path, args: &[&OsStr]) -> Run {
    if fs::metadata(tmp).unwrap().uid() != 0 {
        return du4_run(args);
    }
    let setpriv = Command::new("setpriv").arg("--version").output();
    assert!(
        matches!(&setpriv, Ok(out) if out.status.success()),
        "as root this test needs `setpriv` (util-linux) to drop root; .ci/run installs it: \
         {setpriv:?}"
    );
    let binary = tmp.join("du4");
    fs::copy(env!("CARGO_BIN_EXE_du4"), &binary).unwrap();
    fs::set_permissions(&binary, fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(tmp, fs::Permissions::from_mode(0o755)).unwrap();
    // A child another test forks while the copy is open for writing holds that descriptor until
    // its own exec, and the kernel refuses to run a file open for writing (ETXTBSY). No signal
    // says when that child has exec'd, so the run is retried, a bounded number of times.
    for _ in 0..100 {
        let out = run(Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&binary)
            .args(args)
            .stdin(Stdio::null()));
        if !(out.code() == Some(126) && out.stderr.contains("Text file busy")) {
            return out;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!(
        "{}: still `Text file busy` after 100 tries",
        binary.display()
    );
}

/// Files and bytes below `root`, counted independently of du4: a plain recursive walk with
/// `symlink_metadata`, every non-directory once per path (or once per inode with `dedup`).
pub fn independent_count(root: &Path, dedup: bool) -> (u64, u64) {
    fn visit(path: &Path, seen: &mut Option<HashSet<(u64, u64)>>, total: &mut (u64, u64)) {
        let meta = fs::symlink_metadata(path).unwrap();
        if meta.is_dir() {
            for entry in fs::read_dir(path).unwrap() {
                visit(&entry.unwrap().path(), seen, total);
            }
            return;
        }
        if let Some(seen) = seen
            && !seen.insert((meta.dev(), meta.ino()))
        {
            return;
        }
        total.0 += 1;
        total.1 += meta.len();
    }
    let mut seen = dedup.then(HashSet::new);
    let mut total = (0, 0);
    visit(root, &mut seen, &mut total);
    total
}

/// The `-b` line for a count.
pub fn bytes_line(files: u64, bytes: u64) -> String {
    format!("{files} files  {bytes} bytes")
}

/// A big tree for long walks, generated once into cargo's target tmp dir and reused by every
/// test (and every later run): 200 directories of 100 empty files.
pub fn big_tree() -> &'static Path {
    static TREE: OnceLock<PathBuf> = OnceLock::new();
    TREE.get_or_init(|| {
        let base = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let tree = base.join("du4-big-tree-v1");
        if tree.join("complete").exists() {
            return tree;
        }
        // Built under a private name and renamed into place, so a half-made tree is never used.
        let building = base.join(format!("du4-big-tree-building-{}", std::process::id()));
        let _ = fs::remove_dir_all(&building);
        for d in 0..BIG_DIRS {
            let dir = building
                .join(format!("d{:02}", d / 20))
                .join(format!("e{d:03}"));
            fs::create_dir_all(&dir).unwrap();
            for f in 0..BIG_FILES_PER_DIR {
                fs::File::create(dir.join(format!("f{f:03}"))).unwrap();
            }
        }
        fs::File::create(building.join("complete")).unwrap();
        if fs::rename(&building, &tree).is_err() {
            // Another test process won the race; its tree is as good.
            let _ = fs::remove_dir_all(&building);
        }
        tree
    })
}

pub const BIG_DIRS: u64 = 200;
pub const BIG_FILES_PER_DIR: u64 = 100;

/// Arguments for a walk that lasts a while: the big tree as root `copies` times.
pub fn long_walk_roots(copies: usize) -> Vec<PathBuf> {
    vec![big_tree().to_path_buf(); copies]
}
