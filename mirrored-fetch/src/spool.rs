//! A mirror's body, kept aside until it has arrived whole: nothing reaches stdout before the
//! winner is complete, and memory and disk stay bounded whatever the mirrors send.
//!
//! What "whole" means is what ureq (through `common::http`) checks, as the tests show: a body
//! with a `Content-Length` is whole at that many bytes (fewer, and the connection closing, is an
//! error); a chunked body at its last, empty chunk (a connection closing before it is an error);
//! a body with neither at a clean end of the connection, as curl and wget take it (a reset is an
//! error: `common::http` keeps ureq from reading it as that end). A stall is cut by `--timeout`.
//!
//! The bounds, all of one run's bodies together ([`Spools`]):
//! - Memory: at most [`MEMORY`] bytes across all mirrors; a body that finds none left moves to
//!   an unnamed temporary file in `TMPDIR` and gives its memory back.
//! - A declared length: mirrors serve one file, so a body longer than every length the *other*
//!   mirrors declared (`Content-Length`) loses the moment it passes it (an endless body, or one
//!   that declares a TiB, against an honest mirror). The longest of them, not the shortest: one
//!   mirror that declares too little cannot make the others lose while another agrees with them;
//!   and a mirror that lost takes its length back. What is not guarded: with no other mirror to
//!   agree, one that declares too little and then stalls makes the longer, true bodies lose
//!   (no rule on lengths alone tells it from an honest mirror beside an endless one).
//! - `--max-size`: a body that declares more, or passes it, loses, said at once.
//! - Disk: a body whose file would leave `TMPDIR`'s file system nearly full (less free than
//!   [`keep_free`]) loses, said at once; the free space is read (`fstatvfs`) each time a file
//!   has grown by [`CHECK_EVERY`].

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use common::http::{self, Response};

use crate::report::Loss;

/// Bytes of bodies kept in memory across all mirrors at once; beyond it, bodies wait in files.
pub const MEMORY: usize = 4 << 20;
/// Bytes read from a mirror at a time.
const READ: usize = 8 << 10;
/// The least memory a body in memory reserves at a time.
const FIRST: usize = 64 << 10;
/// How much a spool file grows between two looks at the free space of its file system; each
/// mirror may write this much past the last look.
pub const CHECK_EVERY: u64 = 1 << 20;
/// The most [`keep_free`] keeps free by default.
const KEEP_FREE_MOST: u64 = 1 << 30;

/// What every body of one run shares: the memory left, the lengths mirrors declared, the limits.
pub(crate) struct Spools {
    /// Bytes of memory held by bodies (their capacity), at most [`MEMORY`].
    memory: AtomicUsize,
    /// The length each mirror declared, while its request stands (a mirror that lost has its
    /// length taken back: a short or reset body said nothing true about the file).
    declared: Mutex<Vec<Option<u64>>>,
    /// Bumped at every change of `declared`, so a body looks again only then.
    changes: AtomicU64,
    max_size: Option<u64>,
    keep_free: Option<u64>,
}

impl Spools {
    /// Spools for `mirrors` mirrors, with `--max-size` (none: no limit) and the free space to
    /// keep in `TMPDIR` (none: [`keep_free`]'s default).
    pub(crate) fn new(mirrors: usize, max_size: Option<u64>, keep_free: Option<u64>) -> Spools {
        Spools {
            memory: AtomicUsize::new(0),
            declared: Mutex::new(vec![None; mirrors]),
            changes: AtomicU64::new(0),
            max_size,
            keep_free,
        }
    }

    /// Notes that mirror `index` declared `length` (none: takes its length back); a loss if it
    /// passes `--max-size`.
    fn declare(&self, index: usize, length: Option<u64>) -> Result<(), Loss> {
        if let Some((length, max)) = length.zip(self.max_size).filter(|(l, max)| l > max) {
            return Err(Loss::limit(format!(
                "the body would pass --max-size ({length} bytes declared, {max} allowed)"
            )));
        }
        let mut declared = self.declared.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(slot) = declared.get_mut(index) {
            *slot = length;
        }
        self.changes.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    /// The longest length declared by a mirror other than `index`, if any.
    fn declared_by_others(&self, index: usize) -> Option<u64> {
        let declared = self.declared.lock().unwrap_or_else(PoisonError::into_inner);
        let others = declared.iter().enumerate().filter(|&(by, _)| by != index);
        others.filter_map(|(_, length)| *length).max()
    }

    /// Takes `bytes` of memory if that many are left.
    fn reserve(&self, bytes: usize) -> bool {
        self.memory
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                held.checked_add(bytes).filter(|&held| held <= MEMORY)
            })
            .is_ok()
    }

    fn release(&self, bytes: usize) {
        self.memory.fetch_sub(bytes, Ordering::AcqRel);
    }
}

/// Free bytes to keep on a file system of `size` bytes: a twentieth of it, at most 1 GiB.
pub fn keep_free(size: u64) -> u64 {
    (size / 20).min(KEEP_FREE_MOST)
}

/// A body that arrived whole: in memory, or in an unnamed temporary file.
pub(crate) struct Body {
    memory: Vec<u8>,
    file: Option<File>,
}

/// Reads `response`'s whole body aside, as mirror `index`'s. A loss is one line: why the body is
/// not whole, or which bound it passed.
pub(crate) fn whole_body(response: Response, spools: &Spools, index: usize) -> Result<Body, Loss> {
    spools.declare(index, response.content_length)?;
    let mut reader = response.into_body();
    // From here a loss takes the declared length back (the spool's drop).
    let mut spool = Spool::new(spools, index);
    let mut buffer = vec![0u8; READ];
    loop {
        let n = match reader.read(&mut buffer) {
            Ok(0) => return Ok(spool.finish()),
            Ok(n) => n,
            Err(why) if why.kind() == io::ErrorKind::Interrupted => continue,
            Err(why) => {
                return Err(format!("reading the body: {}", http::Error::from_io(why)).into());
            }
        };
        spool.push(&buffer[..n])?;
    }
}

/// A body on its way: in memory while [`Spools`] has some left, then in a file.
struct Spool<'a> {
    spools: &'a Spools,
    index: usize,
    memory: Vec<u8>,
    /// Memory taken from `spools` (the capacity of `memory`).
    reserved: usize,
    file: Option<File>,
    /// Bytes so far.
    len: u64,
    /// The length at the last look at the free space.
    checked: u64,
    /// The longest length the other mirrors declared, as of `Spools::changes` then.
    bound: (u64, Option<u64>),
    /// Whether the body arrived whole (it keeps its declared length).
    whole: bool,
}

impl Spool<'_> {
    fn new(spools: &Spools, index: usize) -> Spool<'_> {
        Spool {
            spools,
            index,
            memory: Vec::new(),
            reserved: 0,
            file: None,
            len: 0,
            checked: 0,
            bound: (u64::MAX, None),
            whole: false,
        }
    }

    /// The longest length the other mirrors declared, looked up again only if one changed.
    fn declared_by_others(&mut self) -> Option<u64> {
        let changes = self.spools.changes.load(Ordering::Acquire);
        if self.bound.0 != changes {
            self.bound = (changes, self.spools.declared_by_others(self.index));
        }
        self.bound.1
    }

    /// Adds `bytes`, unless the body passes a bound with them.
    fn push(&mut self, bytes: &[u8]) -> Result<(), Loss> {
        let len = self.len + bytes.len() as u64;
        if let Some(max) = self.spools.max_size.filter(|&max| len > max) {
            return Err(Loss::limit(format!(
                "the body passes --max-size ({max} bytes)"
            )));
        }
        if let Some(declared) = self.declared_by_others()
            && len > declared
        {
            return Err(
                format!("the body passes the {declared} bytes another mirror declared").into(),
            );
        }
        if self.file.is_none() && !self.room_in_memory(bytes.len()) {
            self.move_to_file()?;
        }
        match &mut self.file {
            None => self.memory.extend_from_slice(bytes),
            Some(_) => self.write(self.len, bytes)?,
        }
        self.len = len;
        Ok(())
    }

    /// Makes room for `more` bytes in memory, if the shared memory has it.
    fn room_in_memory(&mut self, more: usize) -> bool {
        let needed = self.memory.len() + more;
        if needed <= self.memory.capacity() {
            return true;
        }
        let capacity = needed.max(self.reserved * 2).max(FIRST);
        if !self.spools.reserve(capacity - self.reserved) {
            return false;
        }
        self.memory.reserve_exact(capacity - self.memory.len());
        self.reserved = capacity;
        true
    }

    /// Moves the body to an unnamed temporary file in `TMPDIR`, and gives its memory back.
    fn move_to_file(&mut self) -> Result<(), Loss> {
        let file = tempfile::tempfile()
            .map_err(|why| Loss::limit(format!("keeping the body aside in TMPDIR: {why}")))?;
        self.file = Some(file);
        let memory = std::mem::take(&mut self.memory);
        self.spools.release(std::mem::take(&mut self.reserved));
        self.checked = 0;
        self.write(0, &memory)
    }

    /// Writes `bytes` to the file, which holds `written` bytes, if its file system keeps room
    /// enough.
    fn write(&mut self, written: u64, bytes: &[u8]) -> Result<(), Loss> {
        let Some(file) = &mut self.file else {
            return Ok(());
        };
        if written == 0 || written + bytes.len() as u64 >= self.checked + CHECK_EVERY {
            room_left(file, self.spools.keep_free, bytes.len() as u64)?;
            self.checked = written;
        }
        file.write_all(bytes)
            .map_err(|why| Loss::limit(format!("keeping the body aside in TMPDIR: {why}")))
    }

    /// The whole body.
    fn finish(mut self) -> Body {
        self.whole = true;
        Body {
            memory: std::mem::take(&mut self.memory),
            file: self.file.take(),
        }
    }
}

impl Drop for Spool<'_> {
    fn drop(&mut self) {
        self.spools.release(self.reserved);
        if !self.whole {
            let _ = self.spools.declare(self.index, None);
        }
    }
}

/// A loss if writing `more` bytes and then up to [`CHECK_EVERY`] before the next look would
/// leave `file`'s file system with less free than `keep` (none: [`keep_free`] of its size).
fn room_left(file: &File, keep: Option<u64>, more: u64) -> Result<(), Loss> {
    let Ok(stats) = rustix::fs::fstatvfs(file) else {
        // A file system that cannot say: the write itself fails when it is full.
        return Ok(());
    };
    let free = stats.f_bavail.saturating_mul(stats.f_frsize);
    let keep = keep.unwrap_or_else(|| keep_free(stats.f_blocks.saturating_mul(stats.f_frsize)));
    if free >= keep.saturating_add(more).saturating_add(CHECK_EVERY) {
        return Ok(());
    }
    let dir = std::env::temp_dir();
    Err(Loss::limit(format!(
        "TMPDIR ({}) is nearly full: {} free, {} kept free",
        dir.display(),
        common::size::format(free),
        common::size::format(keep)
    )))
}

impl Body {
    /// Writes the whole body to `out`; returns its length.
    pub(crate) fn write_to(self, out: &mut dyn Write) -> io::Result<u64> {
        let bytes = match self.file {
            Some(mut file) => {
                file.seek(SeekFrom::Start(0))?;
                io::copy(&mut BufReader::with_capacity(64 << 10, file), out)?
            }
            None => {
                out.write_all(&self.memory)?;
                self.memory.len() as u64
            }
        };
        out.flush()?;
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_of_a_mirror_is_the_longest_length_the_others_declared() {
        let spools = Spools::new(3, None, None);
        assert_eq!(spools.declared_by_others(0), None);
        spools.declare(0, Some(100)).unwrap();
        assert_eq!(spools.declared_by_others(0), None);
        assert_eq!(spools.declared_by_others(1), Some(100));
        // A mirror that declares a TiB is bounded by the others, and does not bound them.
        spools.declare(1, Some(1 << 40)).unwrap();
        assert_eq!(spools.declared_by_others(1), Some(100));
        assert_eq!(spools.declared_by_others(0), Some(1 << 40));
        spools.declare(2, Some(10)).unwrap();
        assert_eq!(spools.declared_by_others(1), Some(100));
        // A mirror that lost takes its length back.
        spools.declare(0, None).unwrap();
        assert_eq!(spools.declared_by_others(1), Some(10));
    }

    #[test]
    fn a_body_past_another_mirrors_length_loses_and_a_lost_one_takes_its_length_back() {
        let spools = Spools::new(2, None, None);
        spools.declare(0, Some(20)).unwrap();
        let mut spool = Spool::new(&spools, 1);
        spool.push(&[1; 20]).unwrap();
        let loss = spool.push(&[1]).unwrap_err();
        assert!(
            !loss.say_now && loss.why.contains("20 bytes another mirror declared"),
            "{loss:?}"
        );
        drop(Spool::new(&spools, 0));
        let mut spool = Spool::new(&spools, 1);
        spool.push(&[1; 40]).unwrap();
    }

    #[test]
    fn a_declared_length_past_max_size_loses_and_is_said() {
        let spools = Spools::new(2, Some(100), None);
        assert!(spools.declare(0, Some(100)).is_ok());
        let loss = spools.declare(1, Some(101)).unwrap_err();
        assert!(loss.say_now, "{loss:?}");
        assert!(loss.why.contains("--max-size"), "{loss:?}");
        let mut spool = Spool::new(&spools, 1);
        spool.push(&[0; 100]).unwrap();
        let loss = spool.push(&[0]).unwrap_err();
        assert!(
            loss.say_now && loss.why.contains("--max-size (100 bytes)"),
            "{loss:?}"
        );
    }

    #[test]
    fn memory_is_shared_and_a_body_moves_to_a_file_when_none_is_left() {
        let spools = Spools::new(2, None, Some(0));
        let chunk = vec![7u8; READ];
        let mut first = Spool::new(&spools, 0);
        while first.len < MEMORY as u64 - READ as u64 {
            first.push(&chunk).unwrap();
        }
        assert!(first.file.is_none());
        let mut second = Spool::new(&spools, 1);
        for _ in 0..(FIRST / READ + 1) {
            second.push(&chunk).unwrap();
        }
        assert!(second.file.is_some(), "no memory left: to a file");
        assert_eq!(second.reserved, 0);
        drop(first);
        assert_eq!(spools.memory.load(Ordering::Acquire), 0);
        let mut out = Vec::new();
        let len = second.len;
        assert_eq!(second.finish().write_to(&mut out).unwrap(), len);
        assert!(out.len() as u64 == len && out.iter().all(|&byte| byte == 7));
    }

    #[test]
    fn a_file_that_would_leave_its_file_system_nearly_full_loses_and_is_said() {
        let spools = Spools::new(1, None, Some(u64::MAX));
        let loss = Spool::new(&spools, 0)
            .move_to_file()
            .expect_err("no file system keeps u64::MAX free");
        assert!(loss.say_now && loss.why.contains("nearly full"), "{loss:?}");
    }
}
