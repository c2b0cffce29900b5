//! Test helpers: run the real `du4` binary with a deadline, count a tree independently, and make
//! the trees the tests walk (small ones in temp dirs, one big cached one for long walks).

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fmt;
use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// The most any single du4 run may take in a test before it counts as hung.
pub const DEADLINE: Duration = Duration::from_secs(60);

pub fn du4() -> Command {
    Command::new(env!("CARGO_BIN_EXE_du4"))
}

/// A finished run: everything needed to explain a failure.
pub struct Run {
    pub command: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl fmt::Display for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "command: {}\nstatus: {}\n--- stdout ---\n{}--- stderr ---\n{}",
            self.command, self.status, self.stdout, self.stderr
        )
    }
}

impl Run {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Asserts the exit code, printing the whole run if it differs.
    pub fn expect_code(&self, code: i32) -> &Run {
        assert_eq!(self.code(), Some(code), "unexpected exit status\n{self}");
        self
    }

    pub fn stdout_lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }
}

pub fn describe(command: &Command) -> String {
    let mut text = command.get_program().to_string_lossy().into_owned();
    for arg in command.get_args() {
        text.push(' ');
        text.push_str(&arg.to_string_lossy());
    }
    text
}

/// Runs `command` (stdin at /dev/null unless set) to completion within [`DEADLINE`].
pub fn run(command: &mut Command) -> Run {
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let text = describe(command);
    let child = command
        .spawn()
        .unwrap_or_else(|err| panic!("{text}: {err}"));
    finish(child, text)
}

/// Runs du4 with `args`, stdin at /dev/null.
pub fn du4_run<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    run(du4().args(args).stdin(Stdio::null()))
}

/// Collects a spawned child's piped stdout and stderr and waits for it, killing it (and failing)
/// after [`DEADLINE`].
pub fn finish(mut child: Child, command: String) -> Run {
    let stdout = child.stdout.take().map(read_all);
    let stderr = child.stderr.take().map(read_all);
    let status = wait_deadline(&mut child, DEADLINE);
    let collect = |reader: Option<mpsc::Receiver<String>>| {
        reader
            .and_then(|rx| rx.recv_timeout(Duration::from_secs(10)).ok())
            .unwrap_or_default()
    };
    let stdout = collect(stdout);
    let stderr = collect(stderr);
    match status {
        Some(status) => Run {
            command,
            status,
            stdout,
            stderr,
        },
        None => panic!(
            "command did not finish within {DEADLINE:?}: {command}\n--- stdout ---\n{stdout}--- stderr ---\n{stderr}"
        ),
    }
}

/// Reads a pipe to its end on a thread; the text arrives on the returned channel.
pub fn read_all(mut pipe: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        let _ = tx.send(String::from_utf8_lossy(&bytes).into_owned());
    });
    rx
}

/// Waits for `child` at most `limit`; on timeout kills and reaps it and returns `None`.
pub fn wait_deadline(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if start.elapsed() < limit => thread::sleep(Duration::from_millis(2)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
}

/// Reads lines from a pipe on a thread, each sent on the returned channel as it arrives (so a
/// test can wait for one with a timeout).
pub fn lines(pipe: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
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
        if let Some(seen) = seen {
            if !seen.insert((meta.dev(), meta.ino())) {
                return;
            }
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
