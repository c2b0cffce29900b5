//! `--dedup-links`: each inode counted once, as GNU du counts it (the book counts every path).

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};

use rustix::fs::Stat;

/// The (device, inode) pairs counted already, when `--dedup-links` is given.
#[derive(Debug)]
pub struct Seen {
    inodes: Option<Mutex<HashSet<(u64, u64)>>>,
    /// Several roots: every inode is remembered, directories included, so that a root that
    /// repeats or lies inside another is counted once. Otherwise only multiply linked files are.
    every_inode: bool,
}

impl Seen {
    /// Nothing seen yet; remembers nothing unless `dedup_links`.
    pub fn new(dedup_links: bool, roots: usize) -> Seen {
        Seen {
            inodes: dedup_links.then(|| Mutex::new(HashSet::new())),
            every_inode: dedup_links && roots > 1,
        }
    }

    /// Whether every inode is remembered (several roots under `--dedup-links`).
    pub fn every_inode(&self) -> bool {
        self.every_inode
    }

    /// Whether a file (or a root) should be counted: always, unless its inode was seen already.
    pub fn first_sight(&self, stat: &Stat) -> bool {
        match &self.inodes {
            Some(inodes) if self.every_inode || stat.st_nlink > 1 => inodes
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert((stat.st_dev, stat.st_ino)),
            _ => true,
        }
    }

    /// Whether a directory found by the walk should be entered: always, unless every inode is
    /// remembered and it was walked already (from another root).
    pub fn first_directory(&self, stat: &Stat) -> bool {
        !self.every_inode || self.first_sight(stat)
    }
}
