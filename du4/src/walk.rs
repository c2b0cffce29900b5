//! The walker pool that stands in for the book's goroutine per directory: a fixed number of
//! threads, each with its own depth-first stack of directories, sharing a bounded queue.
//!
//! A walker takes a directory from its own stack, or from the queue when that is empty, walks it
//! (`crate::walk_dir`), and hands its shallowest pending directories to the queue whenever the
//! queue runs short, so idle walkers get work. A count of directories found but not yet walked
//! (the book's `sync.WaitGroup` of `walkDir` calls) ends the walk: the walker that takes it to
//! zero fires the walkers' stop signal, or first releases the next root when roots are walked one
//! after another (`--dedup-links` with several roots).

use std::collections::VecDeque;
use std::ffi::OsStr;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, Scope};

use common::done::{Canceller, Done};
use crossbeam_channel::{Receiver, Sender, TrySendError, select};
use rustix::fs::{AtFlags, CWD, Stat, statat};

use crate::dedup::Seen;
use crate::descriptors::{self, Place};
use crate::report::{Report, Totals};

/// Stack size of a walker thread: the walk is iterative, so little is needed.
const WALKER_STACK: usize = 256 << 10;

/// A directory waiting to be walked.
#[derive(Debug)]
pub struct Dir {
    /// Its full path, as error lines print it.
    pub path: PathBuf,
    /// Where it is opened from (by descriptor, below a long path).
    pub place: Place,
    /// Which root it belongs to (index into the roots).
    pub root: usize,
    /// Its own identity and its ancestors', to refuse entering a loop; `None` for a root not
    /// looked at yet.
    pub lineage: Option<Arc<Lineage>>,
}

/// A directory's (device, inode) and its parent's lineage: the path from the root, shared.
#[derive(Debug)]
pub struct Lineage {
    pub id: (u64, u64),
    pub parent: Option<Arc<Lineage>>,
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
    pub fn contains(&self, id: (u64, u64)) -> bool {
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
pub struct Walk {
    /// Directories any walker may take; bounded, and only ever `try_send`-ed to.
    queue_tx: Sender<Dir>,
    queue_rx: Receiver<Dir>,
    /// Directories found but not yet walked (queued, on a walker's stack, or being read).
    pending: AtomicUsize,
    /// Roots released one at a time, each when the walk of those before it has ended.
    later: Mutex<VecDeque<Dir>>,
    /// Fires `stop` when the walk is over.
    stopper: Canceller,
    /// The walkers' signal: the caller's done, the end of the walk, or a failed write.
    pub stop: Done,
    /// `--dedup-links`: the inodes counted already.
    pub seen: Seen,
    threads: usize,
}

impl Walk {
    /// The walk of `roots` by `threads` walkers, stopped by `stop` (which `stopper` fires).
    /// With several roots under `--dedup-links` they are walked one after another, so that what
    /// they share is credited to the first, as GNU du does; otherwise all at once.
    pub fn new(roots: &[PathBuf], seen: Seen, threads: usize, stop: (Canceller, Done)) -> Walk {
        let mut dirs: VecDeque<Dir> = roots
            .iter()
            .enumerate()
            .map(|(root, path)| Dir {
                path: path.clone(),
                place: Place::default(),
                root,
                lineage: None,
            })
            .collect();
        let later = dirs.split_off(if seen.every_inode() { 1 } else { dirs.len() });
        let (queue_tx, queue_rx) = crossbeam_channel::bounded(threads * 4 + dirs.len());
        for dir in dirs {
            // Cannot fail: the queue has room for every root and holds nothing yet.
            let _ = queue_tx.try_send(dir);
        }
        Walk {
            pending: AtomicUsize::new(queue_tx.len()),
            queue_tx,
            queue_rx,
            later: Mutex::new(later),
            stopper: stop.0,
            stop: stop.1,
            seen,
            threads,
        }
    }

    /// Starts the walkers in `scope`, each with a clone of `sizes`. On a failed spawn the walk is
    /// stopped, and the walkers started already end.
    pub fn spawn<'scope>(
        &'scope self,
        scope: &'scope Scope<'scope, '_>,
        sizes: Sender<Report>,
    ) -> io::Result<()> {
        for n in 0..self.threads {
            let sizes = sizes.clone();
            let spawned = thread::Builder::new()
                .name(format!("du4-walker-{n}"))
                .stack_size(WALKER_STACK)
                .spawn_scoped(scope, move || walker(self, sizes));
            if let Err(err) = spawned {
                self.stopper.cancel();
                return Err(io::Error::new(
                    err.kind(),
                    format!("spawning a walker: {err}"),
                ));
            }
        }
        Ok(())
    }

    /// The subdirectory `name` of `dir`, to be walked: unless it is one of its own ancestors (a
    /// loop, reported on `sizes`) or was walked already from another root.
    pub fn subdir(
        &self,
        dir: &Dir,
        name: &OsStr,
        stat: &Stat,
        below: &Place,
        sizes: &Sender<Report>,
    ) -> Option<Dir> {
        let (id, path) = ((stat.st_dev, stat.st_ino), dir.path.join(name));
        let lineage = dir.lineage.as_ref()?;
        if lineage.contains(id) {
            let why = "not entered: the same directory as one of its ancestors (a loop)";
            let _ = sizes.send(Report::error(&path, why));
            return None;
        }
        if !self.seen.first_directory(stat) {
            return None;
        }
        self.pending.fetch_add(1, Ordering::AcqRel);
        let parent = Some(Arc::clone(lineage));
        Some(Dir {
            path,
            place: below.clone(),
            root: dir.root,
            lineage: Some(Arc::new(Lineage { id, parent })),
        })
    }

    /// Hands the shallowest directories of `stack` to idle walkers, keeping one to go on with.
    fn share(&self, stack: &mut VecDeque<Dir>) {
        while stack.len() > 1 && self.queue_tx.len() < self.threads {
            let Some(shared) = stack.pop_front() else {
                break;
            };
            if let Err(TrySendError::Full(shared) | TrySendError::Disconnected(shared)) =
                self.queue_tx.try_send(shared)
            {
                stack.push_front(shared);
                break;
            }
        }
    }

    /// One directory is walked: at zero pending, releases the next root or ends the walk.
    fn walked_one(&self) {
        if self.pending.fetch_sub(1, Ordering::AcqRel) != 1 {
            return;
        }
        let next = self
            .later
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop_front();
        match next {
            Some(root) => {
                self.pending.fetch_add(1, Ordering::AcqRel);
                // Cannot fail: nothing is pending, so the queue is empty.
                let _ = self.queue_tx.try_send(root);
            }
            None => self.stopper.cancel(),
        }
    }
}

/// One walker thread: takes directories from its own stack, or from the shared queue when that
/// is empty, until the walk is over or stopped.
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
                recv(walk.stop.channel()) -> _ => return,
            },
        };
        if walk.stop.cancelled() {
            return;
        }
        if let Some(dir) = look_at_root(dir, walk, &sizes) {
            crate::walk_dir(&dir, walk, &mut stack, &mut buffer, &sizes);
        }
        walk.share(&mut stack);
        walk.walked_one();
    }
}

/// Passes a directory found by the walk through; looks at a root the first time: a root that is
/// not a directory counts as one file, and under `--dedup-links` a root whose inode was counted
/// already counts nothing. Returns the directory to walk, if any.
fn look_at_root(mut dir: Dir, walk: &Walk, sizes: &Sender<Report>) -> Option<Dir> {
    if dir.lineage.is_some() {
        return Some(dir);
    }
    let stat = match statat(CWD, &dir.path, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(stat) => stat,
        Err(err) => {
            let why = io::Error::from(err);
            let _ = sizes.send(Report::error(&dir.path, why));
            return None;
        }
    };
    if !walk.seen.first_sight(&stat) {
        return None;
    }
    if !descriptors::is_dir(&stat) {
        let mut totals = Totals::default();
        totals.add_file(&stat);
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn a_long_lineage_drops_without_recursion() {
        let deep = (0..200_000).fold(None, |parent, n| {
            Some(Arc::new(Lineage { id: (0, n), parent }))
        });
        // On a walker-sized stack: a recursive drop of 200,000 links would overflow it.
        thread::Builder::new()
            .stack_size(WALKER_STACK)
            .spawn(move || drop(deep))
            .unwrap()
            .join()
            .unwrap();
    }
}
