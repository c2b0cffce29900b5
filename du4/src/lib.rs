//! du4: disk usage of directory trees, walked in parallel and cancellable, after sections 8.8 and
//! 8.9 of *The Go Programming Language* (Donovan and Kernighan), with exercise 8.9 (`--per-root`).
//!
//! Run it: `cargo run --release -p du4 -- [-b] [-v] [--per-root] [--dedup-links] [-j N] [ROOT]...`
//! A byte on stdin or Ctrl-C cancels: no total line, `du4: cancelled`, exit status 130.
//!
//! The book's functions come first, under its names: [`run`] (its `main`: the `select` loop over
//! the sizes channel, the `-v` ticker and `done`, with the drain on cancel), `walk_dir` and
//! `dirents`. The book's flaws, and the function that fixes each:
//! - A directory's path past `PATH_MAX` fails (`File name too long`): `descriptors::Place::open`
//!   opens it relative to an ancestor's descriptor, so depth is bounded by memory only.
//! - Errors are printed but the exit status is 0: [`run`] counts them, and the exit status is 1.
//! - A loop through a bind mount is walked forever: `walk::Walk::subdir` refuses an ancestor.
//! - One message per file: `walk_dir` sends one subtotal per directory.
//! - Sizes are summed in an `int64` that sparse files can wrap: `report::Totals` sums in 128 bits.
//! - A name with a newline breaks the one-line error: `report::shown` escapes control characters
//!   (and prints the other bytes as they are: a name that is not UTF-8 as GNU du prints it).
//! - A hard-linked file counts once per path: `--dedup-links` counts it once
//!   (`dedup::Seen::first_sight`); roots that overlap are then walked in order, the first one
//!   credited, as GNU du does (`walk::Walk::walked_one`).
//!
//! Where it deliberately differs from Go:
//! - A fixed pool of walker threads ([`Config::threads`]) replaces a goroutine per directory
//!   under a semaphore of 20: Rust threads are OS threads (`walk`).
//! - End of file on stdin does not cancel (Go's du4 stops at once under `< /dev/null`).
//! - Sizes are each entry's own `lstat` size; symlinks are never followed, not even as roots; a
//!   root that is not a directory counts as one file; a name that is not UTF-8 is no error.
//! - SIGTERM and SIGHUP cancel like Ctrl-C.
//!
//! Threads: every walker is a scoped thread, joined before [`run`] returns, on every path (a test
//! counts them after a finished and a cancelled run). The one thread that may outlive `run` is
//! the stdin watcher `main` starts (`common::cancel`): a read of a terminal cannot be woken, and
//! it holds nothing but stdin.

mod dedup;
mod descriptors;
mod report;
mod walk;

use std::collections::VecDeque;
use std::ffi::OsStr;
use std::io::{self, Write};
use std::mem::MaybeUninit;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use common::done::Done;
use common::exit::Ending;
use crossbeam_channel::{Receiver, Sender, never, select, tick};
use rustix::fs::Stat;

use dedup::Seen;
use descriptors::Place;
use report::print_totals;
pub use report::{Report, Totals};
use walk::{Dir, Walk};

/// Walker threads when `-j` is not given: the fastest measured (`cargo xtask bench du4`).
pub const DEFAULT_THREADS: usize = 8;

/// How often `-v` prints the running totals (the book's ticker).
pub const TICK: Duration = Duration::from_millis(500);

/// The book's `main`: walks `config.roots`, summing the subtotals the walkers send on `sizes`
/// and printing the running totals on each `-v` tick, until the walk is over or `done` fires;
/// then prints the totals to `out`. Each unreadable entry is one line on `errors`. Every walker
/// has been joined when this returns. An `Err` is a failed write to `out`; the walk stops first.
pub fn run(
    config: &Config,
    done: &Done,
    out: &mut impl Write,
    errors: &mut impl Write,
) -> io::Result<Outcome> {
    let roots = config.roots();
    // The walkers' one signal: fired with `done`, at the end of the walk, or by a failed write.
    let (stopper, stop) = done.child();
    let seen = Seen::new(config.dedup_links, roots.len());
    let walk = Walk::new(&roots, seen, config.threads.max(1), (stopper.clone(), stop));
    let (sizes_tx, sizes) = crossbeam_channel::bounded(1024);
    let tick = if config.verbose { tick(TICK) } else { never() };
    let (mut per_root, mut failed) = (vec![Totals::default(); roots.len()], 0);
    thread::scope(|scope| -> io::Result<Outcome> {
        // Only walkers hold senders now: `sizes` closes when the last one returns.
        walk.spawn(scope, sizes_tx).inspect_err(|_| drain(&sizes))?;
        loop {
            select! {
                recv(done.channel()) -> _ => break,
                recv(sizes) -> report => match report {
                    Ok(Report::Subtotal { root, totals }) => per_root[root].add(totals),
                    Ok(Report::Error(line)) => {
                        failed += 1;
                        // stderr failing is not worth stopping the walk for.
                        let _ = errors.write_all(&[b"du4: ", &line[..], b"\n"].concat());
                    }
                    Err(_) => break,
                },
                recv(tick) -> _ => {
                    if let Err(err) = print_totals(out, &roots, &per_root, config, false) {
                        stopper.cancel();
                        drain(&sizes);
                        return Err(err);
                    }
                }
            }
        }
        drain(&sizes);
        if done.cancelled() {
            return Ok(Outcome::Cancelled);
        }
        print_totals(out, &roots, &per_root, config, true)?;
        Ok(Outcome::Finished { errors: failed })
    })
}

/// The book's drain (`for range fileSizes {}`): receives until every walker has dropped its
/// sender, so that none stays blocked on a send while the scope waits to join it.
fn drain(sizes: &Receiver<Report>) {
    for _ in sizes.iter() {}
}

/// The book's `walkDir`, one level deep: counts the files of `dir` and pushes its subdirectories
/// on the walker's `stack` (where the book starts a goroutine for each), then sends the
/// directory's subtotal on `sizes`: one message per directory, where the book sends one per file.
fn walk_dir(
    dir: &Dir,
    walk: &Walk,
    stack: &mut VecDeque<Dir>,
    buffer: &mut [MaybeUninit<u8>],
    sizes: &Sender<Report>,
) {
    let mut totals = Totals::default();
    dirents(dir, buffer, sizes, &walk.stop, |name, stat, below| {
        if descriptors::is_dir(stat) {
            stack.extend(walk.subdir(dir, name, stat, below, sizes));
        } else if walk.seen.first_sight(stat) {
            totals.add_file(stat);
        }
    });
    if totals.files > 0 {
        let _ = sizes.send(Report::Subtotal {
            root: dir.root,
            totals,
        });
    }
}

/// The book's `dirents`: calls `each` with the name and `lstat` of every entry of `dir`, and the
/// place its subdirectories are opened from. What cannot be read is reported on `sizes` and
/// skipped; a failed listing stops (its next error would only repeat), and so does `stop`.
fn dirents(
    dir: &Dir,
    buffer: &mut [MaybeUninit<u8>],
    sizes: &Sender<Report>,
    stop: &Done,
    mut each: impl FnMut(&OsStr, &Stat, &Place),
) {
    let report = |path: &Path, err: io::Error| {
        let _ = sizes.send(Report::error(path, err));
    };
    let id = dir.lineage.as_ref().map_or((0, 0), |lineage| lineage.id);
    let listed = dir.place.open(&dir.path, id).and_then(|opened| {
        let mut listed = |name: &OsStr, stat: &Stat| {
            each(name, stat, opened.below());
            !stop.cancelled()
        };
        opened.list(buffer, &mut listed, |name, err| {
            report(&dir.path.join(name), err)
        })
    });
    if let Err(err) = listed {
        report(&dir.path, err);
    }
}

/// What to measure and how to print it.
#[derive(Debug, Clone)]
pub struct Config {
    /// The trees to measure, in the order their `--per-root` lines are printed.
    pub roots: Vec<PathBuf>,
    /// `-b`: exact bytes instead of GB with one decimal.
    pub bytes: bool,
    /// `-v`: print the running totals every [`TICK`].
    pub verbose: bool,
    /// `--per-root` (exercise 8.9): a line per root, then a `total` line.
    pub per_root: bool,
    /// `--dedup-links`: count a multiply linked file once (by device and inode).
    pub dedup_links: bool,
    /// `-j`: walker threads (at least one).
    pub threads: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            roots: vec![PathBuf::from(".")],
            bytes: false,
            verbose: false,
            per_root: false,
            dedup_links: false,
            threads: DEFAULT_THREADS,
        }
    }
}

impl Config {
    /// The roots, `.` when none is given.
    fn roots(&self) -> Vec<PathBuf> {
        if self.roots.is_empty() {
            vec![PathBuf::from(".")]
        } else {
            self.roots.clone()
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The walk finished and the totals were printed; `errors` entries could not be read.
    Finished { errors: u64 },
    /// The done signal fired: the walk stopped, nothing more was printed, every walker joined.
    Cancelled,
}

/// The exit status an outcome maps to: 1 when some entry could not be read, as GNU du.
impl From<Outcome> for Ending {
    fn from(outcome: Outcome) -> Ending {
        match outcome {
            Outcome::Finished { errors: 0 } => Ending::Success,
            Outcome::Finished { .. } => Ending::Failure,
            Outcome::Cancelled => Ending::Cancelled,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The walker threads (`du4-walker-N`) still listed once they have had 2 s to leave.
    fn walker_threads() -> usize {
        testkit::threads::left_after("du4-walker", std::time::Duration::from_secs(2)).len()
    }

    // The only test here that runs walkers, so no other test's can be counted.
    #[test]
    fn no_walker_outlives_run_finished_or_cancelled() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("sub")).unwrap();
        std::fs::write(tmp.path().join("sub/f"), b"123").unwrap();
        let config = Config {
            roots: vec![tmp.path().to_path_buf()],
            bytes: true,
            ..Config::default()
        };
        let (canceller, done) = common::done::new();
        let (mut out, mut errors) = (Vec::new(), Vec::new());
        let outcome = run(&config, &done, &mut out, &mut errors).unwrap();
        assert_eq!(outcome, Outcome::Finished { errors: 0 });
        assert_eq!(String::from_utf8_lossy(&out), "1 files  3 bytes\n");
        assert_eq!(walker_threads(), 0);
        canceller.cancel();
        let mut out = Vec::new();
        let outcome = run(&config, &done, &mut out, &mut errors).unwrap();
        assert_eq!(outcome, Outcome::Cancelled);
        assert!(
            out.is_empty(),
            "printed {:?}",
            String::from_utf8_lossy(&out)
        );
        assert_eq!(walker_threads(), 0);
    }
}
