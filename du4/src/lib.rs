//! du4: disk usage of directory trees, walked in parallel and cancellable.
//!
//! This follows sections 8.8 and 8.9 of *The Go Programming Language* (Donovan and Kernighan):
//! du1 walks a tree and sends every file size on a channel that `main` sums; du2 prints the
//! running total on a ticker (`-v`); du3 walks directories concurrently under a semaphore of 20;
//! du4 adds cancellation by a closed `done` channel, and drains the sizes channel on the way out
//! so that no walker is left blocked on a send. Exercise 8.9 adds totals per root (`--per-root`).
//!
//! Run it: `cargo run --release -p du4 -- [-b] [-v] [--per-root] [--dedup-links] [-j N] [ROOT]...`
//! (roots default to `.`). A byte on stdin or Ctrl-C cancels: no total line, `du4: cancelled` on
//! stderr, exit status 130.
//!
//! The shape of the book is kept, with names a reader of the book will look for:
//! - `walk_dir` reads one directory: it counts the files in it, queues its subdirectories and
//!   sends one subtotal on the `sizes` channel (a `Sender<Report>`: only walkers send).
//! - `dirents` lists one directory, as the book's `dirents` does, reporting errors instead of
//!   printing them.
//! - [`run`] is the book's `main` loop: a `select!` over the sizes channel, the ticker and the done
//!   channel; on cancel it drains `sizes` until every walker has dropped its sender.
//!
//! Where this port deliberately differs from the Go original, and why:
//! - **A fixed pool of walker threads** ([`Config::threads`]) fed from a queue of directories
//!   replaces a goroutine per directory: Rust threads are OS threads. Each walker keeps its own
//!   stack of pending directories (depth first, one directory handle open at a time) and hands
//!   the shallowest ones to the shared queue whenever it runs short, so idle walkers get work.
//! - **One message per directory, not per file**: a walker sends its directory's subtotal (files
//!   and bytes), which removes nearly all of the channel traffic the Go version pays for.
//! - **Errors are reported, never silent**: one line each (`du4: PATH: why`), the walk goes on,
//!   and the exit status is 1 at the end (as GNU du does). The book prints and carries on too,
//!   but exits 0.
//! - **End of file on stdin does not cancel** (the Go du4 stops at once under `< /dev/null`).
//! - Sizes are each entry's own `lstat` size (apparent size), summed in 128 bits so that sparse
//!   files of exabytes cannot wrap the total; symlinks are never followed, not even as roots;
//!   directories themselves add nothing; a root that is not a directory counts as one file.
//!   `--dedup-links` counts each (device, inode) of a multiply linked file once, like GNU du;
//!   without it every path counts, as in the book. With several roots, `--dedup-links` also
//!   remembers every inode (directories included) and walks the roots one after another, as GNU
//!   du does, so what roots share is credited to the first of them and a root counted already
//!   counts zero (`look_at_root`): only then does memory grow with the number of files. A directory that
//!   is its own ancestor (a bind-mount loop) is reported and not entered.
//! - **No depth limit but memory**: a directory is opened relative to an open ancestor's
//!   descriptor once its path grows long, and every entry is `lstat`-ed relative to its open
//!   directory (`descriptors::Place::open`, as GNU du's fts), so trees deeper than `PATH_MAX`
//!   are counted whole, with a bounded number of descriptors; error lines print the full path.
//! - A name that is not UTF-8 is not an error: it is counted like any other (du counts bytes, not
//!   names). Where a path is printed (an error line, a `--per-root` line) it is shown as
//!   `Path::display` shows it (invalid bytes as U+FFFD), with control characters escaped (`\n`)
//!   so that each report stays one line.
//! - SIGTERM and SIGHUP cancel like Ctrl-C (exit 130), through `ctrlc`'s `termination` feature.
//!
//! Default thread count: [`DEFAULT_THREADS`], the fastest measured on the 2-core CI machine, warm
//! cache, over the benchmark's 200,000-file tree (`cargo xtask bench du4`, release build, median
//! wall time of 9 alternated runs, two runs of the benchmark):
//!
//! | `-j` | 1 | 2 | 4 | 8 | 16 |
//! |---|---|---|---|---|---|
//! | run 1, ms | 432 | 229 | 224 | 217 | 219 |
//! | run 2, ms | 423 | 225 | 221 | 217 | 214 |
//!
//! Two cores bound the gain near 2x (the work is kernel time: `getdents` and `statx`); beyond
//! two threads the extra ones only cover the moments a walker waits in the kernel. 8 and 16 are
//! within noise of each other; 8 keeps below the book's 20.

mod descriptors;

use std::collections::{HashSet, VecDeque};
use std::io::{self, Write};
use std::mem::MaybeUninit;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::Duration;

use common::done::{self, Canceller, Done};
use crossbeam_channel::{Receiver, Sender, TrySendError, never, select, tick};
use descriptors::Place;
use rustix::fs::{AtFlags, Stat};

/// Walker threads when `-j` is not given (the fastest measured; see the table above).
pub const DEFAULT_THREADS: usize = 8;

/// How often `-v` prints the running totals (the book's ticker).
pub const TICK: Duration = Duration::from_millis(500);

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

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The walk finished and the totals were printed; `errors` entries could not be read.
    Finished { errors: u64 },
    /// The done signal fired: the walk stopped, nothing more was printed, every walker joined.
    Cancelled,
}

/// A file count and its bytes. Bytes are summed in 128 bits: apparent sizes of sparse files can
/// add up past `u64::MAX` (four files of 4 EiB do), and a total must never wrap.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub files: u64,
    pub bytes: u128,
}

impl Totals {
    fn add(&mut self, other: Totals) {
        self.files += other.files;
        self.bytes += other.bytes;
    }

    /// The book's line: `{files} files  {gb:.1} GB`, or with `-b` `{files} files  {bytes} bytes`.
    pub fn line(&self, bytes: bool) -> String {
        if bytes {
            format!("{} files  {} bytes", self.files, self.bytes)
        } else {
            format!("{} files  {:.1} GB", self.files, self.bytes as f64 / 1e9)
        }
    }
}

/// What walkers send to `run` on the sizes channel.
#[derive(Debug)]
pub enum Report {
    /// One directory's files (not its subdirectories'), attributed to root number `root`.
    Subtotal { root: usize, totals: Totals },
    /// One entry that could not be read: `PATH: why`, printed as one line.
    Error(String),
}

/// Measures `config.roots`, printing the totals to `out` and one line per unreadable entry to
/// `errors`, until the walk ends or `done` fires. Every walker thread has been joined when this
/// returns, whichever way it returns. An `Err` is a failed write to `out` (a closed pipe, say);
/// the walk is stopped first.
pub fn run(
    config: &Config,
    done: &Done,
    out: &mut impl Write,
    errors: &mut impl Write,
) -> io::Result<Outcome> {
    // The walkers watch a local signal fired by the caller's `done` or by a failed write here.
    let (stopper, stop) = done::new();
    let _forward = {
        let stopper = stopper.clone();
        done.on_cancel(move || stopper.cancel())
    };
    let roots = if config.roots.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        config.roots.clone()
    };
    let threads = config.threads.max(1);
    let mut per_root = vec![Totals::default(); roots.len()];
    let mut error_count = 0u64;
    let mut report_error = |errors: &mut dyn Write, line: &str| {
        error_count += 1;
        // stderr failing is not worth stopping the walk for.
        let _ = writeln!(errors, "du4: {line}");
    };

    let seen = config.dedup_links.then(|| Mutex::new(HashSet::new()));
    // With several roots, `--dedup-links` remembers every inode, directories included, and walks
    // the roots one after another, as GNU du does: a root already counted counts nothing.
    let every_inode = config.dedup_links && roots.len() > 1;
    let mut root_dirs: VecDeque<Dir> = (0..roots.len())
        .map(|index| Dir::root(&roots, index))
        .collect();
    let first = if every_inode {
        root_dirs.len().min(1)
    } else {
        root_dirs.len()
    };
    let later = root_dirs.split_off(first);
    let (queue_tx, queue_rx) = crossbeam_channel::bounded(threads * 4 + root_dirs.len());
    let (all_walked, walked) = done::new();
    let walk = Walk {
        queue_tx,
        queue_rx,
        pending: AtomicUsize::new(root_dirs.len()),
        later: Mutex::new(later),
        all_walked,
        walked,
        stop,
        seen,
        every_inode,
        threads,
    };
    let (sizes_tx, sizes) = crossbeam_channel::bounded::<Report>(1024);
    let ticker = if config.verbose { tick(TICK) } else { never() };

    let ended = thread::scope(|scope| -> io::Result<Ended> {
        if !root_dirs.is_empty() {
            for n in 0..threads {
                let sizes = sizes_tx.clone();
                let walk = &walk;
                let spawned = thread::Builder::new()
                    .name(format!("du4-walker-{n}"))
                    .stack_size(256 << 10)
                    .spawn_scoped(scope, move || walker(walk, sizes));
                if let Err(err) = spawned {
                    // Walkers already started see the stop and end; the scope joins them.
                    stopper.cancel();
                    return Err(io::Error::new(
                        err.kind(),
                        format!("spawning a walker: {err}"),
                    ));
                }
            }
            for dir in root_dirs {
                // Cannot fail: the queue has room for every root and holds nothing yet.
                let _ = walk.queue_tx.try_send(dir);
            }
        }
        // Only walkers hold senders now: the channel closes when the last walker returns.
        drop(sizes_tx);
        loop {
            select! {
                recv(sizes) -> report => match report {
                    Ok(Report::Subtotal { root, totals }) => per_root[root].add(totals),
                    Ok(Report::Error(line)) => report_error(errors, &line),
                    Err(_) => return Ok(Ended::Walked),
                },
                recv(ticker) -> _ => {
                    if let Err(err) = print_totals(out, &roots, &per_root, config, false) {
                        stopper.cancel();
                        drain(&sizes);
                        return Err(err);
                    }
                }
                recv(walk.stop.channel()) -> _ => {
                    // The book's drain: empty `sizes` until every walker has dropped its sender,
                    // so none stays blocked on a send; the scope then joins them all.
                    drain(&sizes);
                    return Ok(Ended::Stopped);
                }
            }
        }
    })?;

    if ended == Ended::Stopped || done.cancelled() {
        return Ok(Outcome::Cancelled);
    }
    print_totals(out, &roots, &per_root, config, true)?;
    Ok(Outcome::Finished {
        errors: error_count,
    })
}

/// How the receiving loop of [`run`] ended.
#[derive(Debug, PartialEq, Eq)]
enum Ended {
    Walked,
    Stopped,
}

/// Receives until every sender is gone.
fn drain(sizes: &Receiver<Report>) {
    for _ in sizes.iter() {}
}

/// Writes the totals: one line, or with `--per-root` a line per root (then, when `last`, the
/// `total` line).
fn write_totals(
    out: &mut impl Write,
    roots: &[PathBuf],
    per_root: &[Totals],
    config: &Config,
    last: bool,
) -> io::Result<()> {
    let mut all = Totals::default();
    for totals in per_root {
        all.add(*totals);
    }
    if config.per_root {
        for (root, totals) in roots.iter().zip(per_root) {
            writeln!(out, "{}  {}", totals.line(config.bytes), shown(root))?;
        }
        if last {
            writeln!(out, "{}  total", all.line(config.bytes))?;
        }
    } else {
        writeln!(out, "{}", all.line(config.bytes))?;
    }
    out.flush()
}

/// Prints the totals (see `write_totals`); a failure keeps its kind and says what failed.
fn print_totals(
    out: &mut impl Write,
    roots: &[PathBuf],
    per_root: &[Totals],
    config: &Config,
    last: bool,
) -> io::Result<()> {
    write_totals(out, roots, per_root, config, last)
        .map_err(|err| io::Error::new(err.kind(), format!("writing the totals: {err}")))
}

/// A directory waiting to be walked.
#[derive(Debug)]
struct Dir {
    /// Its full path, as error lines print it.
    path: PathBuf,
    /// Where it is opened from (by descriptor, below a long path).
    place: Place,
    /// Which root it belongs to (index into `Config::roots`).
    root: usize,
    /// Its own identity and its ancestors', to refuse entering a loop; `None` for a root not
    /// looked at yet.
    lineage: Option<Arc<Lineage>>,
}

impl Dir {
    /// Root number `index`, to be looked at by the walker that takes it (see `look_at_root`).
    fn root(roots: &[PathBuf], index: usize) -> Dir {
        Dir {
            path: roots[index].clone(),
            place: Place::default(),
            root: index,
            lineage: None,
        }
    }
}

/// The first look at a root, by the walker that takes it: a root that is not a directory counts
/// as one file; under `--dedup-links` a root whose inode was counted already counts nothing.
/// Returns the directory to walk, if it is one.
fn look_at_root(mut dir: Dir, walk: &Walk, sizes: &Sender<Report>) -> Option<Dir> {
    let stat = match rustix::fs::statat(rustix::fs::CWD, &dir.path, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(stat) => stat,
        Err(err) => {
            let why = io::Error::from(err);
            let _ = sizes.send(Report::Error(format!("{}: {why}", shown(&dir.path))));
            return None;
        }
    };
    if !first_sight(walk.seen.as_ref(), walk.every_inode, &stat) {
        return None;
    }
    if !descriptors::is_dir(&stat) {
        let totals = Totals {
            files: 1,
            bytes: size(&stat),
        };
        let _ = sizes.send(Report::Subtotal {
            root: dir.root,
            totals,
        });
        return None;
    }
    let id = (stat.st_dev, stat.st_ino);
    dir.lineage = Some(Arc::new(Lineage { id, parent: None }));
    Some(dir)
}

/// An entry's apparent size (`lstat`'s `st_size`).
fn size(stat: &Stat) -> u128 {
    u64::try_from(stat.st_size).unwrap_or(0).into()
}

/// A directory's (device, inode) and its parent's lineage: the path from the root, shared.
#[derive(Debug)]
struct Lineage {
    id: (u64, u64),
    parent: Option<Arc<Lineage>>,
}

/// Unlinks the ancestors one by one: dropping a chain 5,000 deep recursively would overflow a
/// walker's small stack.
impl Drop for Lineage {
    fn drop(&mut self) {
        let mut parent = self.parent.take();
        while let Some(lineage) = parent {
            parent = Arc::into_inner(lineage).and_then(|mut last| last.parent.take());
        }
    }
}

impl Lineage {
    fn contains(&self, id: (u64, u64)) -> bool {
        let mut node = Some(self);
        while let Some(lineage) = node {
            if lineage.id == id {
                return true;
            }
            node = lineage.parent.as_deref();
        }
        false
    }
}

/// What every walker shares.
struct Walk {
    /// Directories any walker may take; bounded, and only ever `try_send`-ed to.
    queue_tx: Sender<Dir>,
    queue_rx: Receiver<Dir>,
    /// Directories found but not yet walked (queued, on a walker's stack, or being read).
    pending: AtomicUsize,
    /// Roots released one at a time, each when the walk of those before it has ended (several
    /// roots under `--dedup-links`, so that an earlier root is credited first, as GNU du does).
    later: Mutex<VecDeque<Dir>>,
    /// Fired by the walker that finishes the last pending directory: idle walkers then return.
    all_walked: Canceller,
    walked: Done,
    /// Cancellation (the caller's done signal, or a failed write).
    stop: Done,
    /// `--dedup-links`: the (device, inode) pairs of multiply linked files already counted.
    seen: Option<Mutex<HashSet<(u64, u64)>>>,
    /// `--dedup-links` with several roots: `seen` holds every inode, directories included.
    every_inode: bool,
    threads: usize,
}

/// One walker thread: takes directories from its own stack, or from the shared queue when that
/// is empty, until every directory has been walked or the walk is stopped.
fn walker(walk: &Walk, sizes: Sender<Report>) {
    let mut stack = VecDeque::new();
    let mut buffer = descriptors::listing_buffer();
    loop {
        let dir = match stack.pop_back() {
            Some(dir) => dir,
            None => select! {
                recv(walk.queue_rx) -> dir => match dir {
                    Ok(dir) => dir,
                    Err(_) => return,
                },
                recv(walk.walked.channel()) -> _ => return,
                recv(walk.stop.channel()) -> _ => return,
            },
        };
        if walk.stop.cancelled() {
            return;
        }
        let dir = match dir.lineage {
            Some(_) => Some(dir),
            None => look_at_root(dir, walk, &sizes),
        };
        if let Some(dir) = dir {
            walk_dir(&dir, walk, &mut stack, &mut buffer, &sizes);
        }
        // Hand the shallowest pending directories to idle walkers, keeping one to go on with.
        while stack.len() > 1 && walk.queue_tx.len() < walk.threads {
            let Some(shared) = stack.pop_front() else {
                break;
            };
            if let Err(TrySendError::Full(shared) | TrySendError::Disconnected(shared)) =
                walk.queue_tx.try_send(shared)
            {
                stack.push_front(shared);
                break;
            }
        }
        if walk.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
            let next = walk
                .later
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop_front();
            match next {
                // Cannot fail: nothing is pending, so the queue is empty.
                Some(root) => {
                    walk.pending.fetch_add(1, Ordering::AcqRel);
                    let _ = walk.queue_tx.try_send(root);
                }
                None => walk.all_walked.cancel(),
            }
        }
    }
}

/// Walks one directory: counts its files, pushes its subdirectories on `stack`, and sends the
/// directory's subtotal on `sizes` (the book's `walkDir`, one level deep).
fn walk_dir(
    dir: &Dir,
    walk: &Walk,
    stack: &mut VecDeque<Dir>,
    buffer: &mut [MaybeUninit<u8>],
    sizes: &Sender<Report>,
) {
    let mut totals = Totals::default();
    dirents(dir, buffer, sizes, &walk.stop, |name, stat, below| {
        if !descriptors::is_dir(stat) {
            if first_sight(walk.seen.as_ref(), walk.every_inode, stat) {
                totals.files += 1;
                totals.bytes += size(stat);
            }
            return;
        }
        let (id, path) = ((stat.st_dev, stat.st_ino), dir.path.join(name));
        let Some(lineage) = &dir.lineage else {
            return;
        };
        if lineage.contains(id) {
            let why = "not entered: the same directory as one of its ancestors (a loop)";
            let _ = sizes.send(Report::Error(format!("{}: {why}", shown(&path))));
        } else if !walk.every_inode || first_sight(walk.seen.as_ref(), true, stat) {
            // (Otherwise already walked from another root: counted there.)
            walk.pending.fetch_add(1, Ordering::AcqRel);
            let parent = Some(Arc::clone(lineage));
            stack.push_back(Dir {
                path,
                place: below.clone(),
                root: dir.root,
                lineage: Some(Arc::new(Lineage { id, parent })),
            });
        }
    });
    if totals.files > 0 {
        let _ = sizes.send(Report::Subtotal {
            root: dir.root,
            totals,
        });
    }
}

/// The book's `dirents`: calls `each` with the name and `lstat` of every entry of `dir`, and
/// the place its subdirectories open from; what cannot be read is reported on `sizes` and
/// skipped. Stops at the first error of the listing itself (which would only repeat), or when
/// `stop` fires.
fn dirents(
    dir: &Dir,
    buffer: &mut [MaybeUninit<u8>],
    sizes: &Sender<Report>,
    stop: &Done,
    mut each: impl FnMut(&std::ffi::OsStr, &Stat, &Place),
) {
    let report = |path: &Path, err: io::Error| {
        let _ = sizes.send(Report::Error(format!("{}: {err}", shown(path))));
    };
    let listed = dir
        .place
        .open(
            &dir.path,
            dir.lineage.as_ref().map_or((0, 0), |lineage| lineage.id),
        )
        .and_then(|opened| {
            opened.list(
                buffer,
                |name, stat| {
                    each(name, stat, opened.below());
                    !stop.cancelled()
                },
                |name, err| report(&dir.path.join(name), err),
            )
        });
    if let Err(err) = listed {
        report(&dir.path, err);
    }
}

/// Whether a file should be counted (or a directory entered): always, unless `--dedup-links` has
/// seen its inode already. Only multiply linked files are remembered, or every inode when
/// `every_inode` (several roots).
fn first_sight(seen: Option<&Mutex<HashSet<(u64, u64)>>>, every_inode: bool, stat: &Stat) -> bool {
    match seen {
        Some(seen) if every_inode || stat.st_nlink > 1 => seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert((stat.st_dev, stat.st_ino)),
        _ => true,
    }
}

/// A path as error lines print it: `Path::display` (lossy for names that are not UTF-8), with
/// control characters escaped (`\n`, `\t`, `\u{1b}`) so that every error stays one line.
fn shown(path: &Path) -> String {
    let text = path.display().to_string();
    if !text.chars().any(char::is_control) {
        return text;
    }
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_follow_the_book() {
        let totals = Totals {
            files: 213,
            bytes: 123_456_789,
        };
        assert_eq!(totals.line(false), "213 files  0.1 GB");
        assert_eq!(totals.line(true), "213 files  123456789 bytes");
    }

    #[test]
    fn per_root_running_lines_have_no_total() {
        let roots = [PathBuf::from("b"), PathBuf::from("a")];
        let per_root = [
            Totals {
                files: 2,
                bytes: 30,
            },
            Totals { files: 1, bytes: 5 },
        ];
        let config = Config {
            per_root: true,
            bytes: true,
            ..Config::default()
        };
        let mut out = Vec::new();
        write_totals(&mut out, &roots, &per_root, &config, false).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "2 files  30 bytes  b\n1 files  5 bytes  a\n"
        );
        let mut out = Vec::new();
        write_totals(&mut out, &roots, &per_root, &config, true).unwrap();
        assert!(
            String::from_utf8(out)
                .unwrap()
                .ends_with("\n3 files  35 bytes  total\n")
        );
    }

    #[test]
    fn totals_do_not_wrap_past_u64() {
        let mut totals = Totals {
            files: 1,
            bytes: u64::MAX.into(),
        };
        totals.add(Totals { files: 1, bytes: 1 });
        assert_eq!(totals.line(true), "2 files  18446744073709551616 bytes");
    }

    #[test]
    fn shown_paths_stay_on_one_line() {
        assert_eq!(shown(Path::new("a/b c")), "a/b c");
        assert_eq!(shown(Path::new("x\ny\tz")), "x\\ny\\tz");
    }

    #[test]
    fn lineage_finds_ancestors_only() {
        let root = Arc::new(Lineage {
            id: (1, 2),
            parent: None,
        });
        let child = Lineage {
            id: (1, 3),
            parent: Some(root),
        };
        assert!(child.contains((1, 2)));
        assert!(child.contains((1, 3)));
        assert!(!child.contains((1, 4)));
    }

    #[test]
    fn a_cancelled_run_joins_and_prints_nothing() {
        let (canceller, done) = done::new();
        canceller.cancel();
        let dir = std::env::temp_dir();
        let config = Config {
            roots: vec![dir],
            ..Config::default()
        };
        let (mut out, mut errors) = (Vec::new(), Vec::new());
        let outcome = run(&config, &done, &mut out, &mut errors).unwrap();
        assert_eq!(outcome, Outcome::Cancelled);
        assert!(
            out.is_empty(),
            "printed {:?}",
            String::from_utf8_lossy(&out)
        );
    }
}
