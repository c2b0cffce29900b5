//! Directories opened relative to descriptors, so that a tree deeper than `PATH_MAX` (4096
//! bytes of path) is walked whole, as GNU du's fts does.
//!
//! A directory is opened by its path from the current directory while that path is short (as
//! `std::fs::read_dir` would). Once a path grows long, its directory becomes an *anchor*: a
//! descriptor kept open, from which the directories below are opened by the rest of their
//! path (`openat`), which stays short. Every entry is `lstat`-ed relative to its open directory
//! (`fstatat`), so no system call ever sees a path longer than [`SHORT`] plus one name, whatever
//! the depth; error lines still print the full path, kept beside.
//!
//! Descriptors stay bounded: a walker holds one per directory it reads, and at most
//! [`KEPT_ANCHORS`] anchors keep theirs across the whole process. An anchor made past that
//! bound keeps none: it is re-opened from its own anchor each time a directory below it is
//! opened, and checked to be the same directory (device and inode) as when it was first seen.
//! Memory, not descriptors, is then what bounds the depth.

use std::ffi::OsStr;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rustix::fs::{AtFlags, CWD, FileType, Mode, OFlags, RawDir, Stat, fstat, openat, statat};

/// Bytes of relative path a directory is opened by, at most (plus one name of at most
/// [`NAME_MAX`]): well below `PATH_MAX`.
pub const SHORT: usize = 2048;
/// The longest name of one entry on Linux.
const NAME_MAX: usize = 255;
/// Anchors that keep their descriptor open at once, in the whole process.
pub const KEPT_ANCHORS: usize = 64;
/// Bytes of the buffer each walker lists directories into (`getdents64`), as glibc's `readdir`.
pub const LISTING_BUFFER: usize = 32 << 10;

/// Anchors holding a descriptor now (at most [`KEPT_ANCHORS`]).
static KEPT: AtomicUsize = AtomicUsize::new(0);

/// Where a directory is opened from: the bytes of its path after `skip`, relative to `anchor`'s
/// descriptor, or to the current directory when there is no anchor.
#[derive(Debug, Clone, Default)]
pub struct Place {
    anchor: Option<Arc<Anchor>>,
    skip: usize,
}

/// An ancestor directory that the directories below it are opened from.
#[derive(Debug)]
struct Anchor {
    /// Its own descriptor, or `None` past [`KEPT_ANCHORS`]: then it is re-opened from `place`.
    fd: Option<OwnedFd>,
    /// Where it is itself opened from, and its full path (kept only when `fd` is `None`).
    place: Place,
    path: Box<[u8]>,
    id: (u64, u64),
}

/// Gives its descriptor back to the count, and unlinks the anchors above one by one (a long chain
/// of anchors without descriptors must not be dropped recursively, on a walker's small stack).
impl Drop for Anchor {
    fn drop(&mut self) {
        if self.fd.is_some() {
            KEPT.fetch_sub(1, Ordering::Relaxed);
        }
        let mut up = self.place.anchor.take();
        while let Some(anchor) = up {
            up = Arc::into_inner(anchor).and_then(|mut last| last.place.anchor.take());
        }
    }
}

/// A directory opened for listing, and the place its subdirectories are opened from.
pub struct Opened {
    fd: OwnedFd,
    below: Place,
}

impl Place {
    /// Opens directory `path` (found at this place, with device and inode `id`), without
    /// following a symlink.
    pub fn open(&self, path: &Path, id: (u64, u64)) -> io::Result<Opened> {
        let bytes = path.as_os_str().as_bytes();
        let fd = self.with_anchor(|at| open_dir(at, &bytes[self.skip..]))?;
        // Children's paths are this path, a separator (unless it ends in one) and a name.
        let separator = usize::from(bytes.last().is_some_and(|&b| b != b'/'));
        let below = if bytes.len() - self.skip + separator + NAME_MAX < SHORT {
            self.clone()
        } else {
            let kept = KEPT.fetch_add(1, Ordering::Relaxed) < KEPT_ANCHORS;
            let own = if kept { fd.try_clone().ok() } else { None };
            if own.is_none() {
                KEPT.fetch_sub(1, Ordering::Relaxed);
            }
            let (place, path) = match own {
                Some(_) => (Place::default(), Box::default()),
                None => (self.clone(), bytes.into()),
            };
            Place {
                anchor: Some(Arc::new(Anchor {
                    fd: own,
                    place,
                    path,
                    id,
                })),
                skip: bytes.len() + separator,
            }
        };
        Ok(Opened { fd, below })
    }

    /// Runs `f` with the descriptor paths at this place are relative to.
    fn with_anchor<T>(&self, f: impl FnOnce(BorrowedFd<'_>) -> io::Result<T>) -> io::Result<T> {
        match &self.anchor {
            None => f(CWD),
            Some(anchor) => match &anchor.fd {
                Some(fd) => f(fd.as_fd()),
                None => f(anchor.reopen()?.as_fd()),
            },
        }
    }
}

impl Anchor {
    /// Opens this anchor again from its own place, checking it is still the same directory.
    /// Iterative, so that a long chain of anchors without descriptors needs no deep stack.
    fn reopen(&self) -> io::Result<OwnedFd> {
        let mut chain = vec![self];
        while let Some(up) = &chain[chain.len() - 1].place.anchor {
            if up.fd.is_some() {
                break;
            }
            chain.push(up);
        }
        let mut fd: Option<OwnedFd> = None;
        for anchor in chain.into_iter().rev() {
            let rel = &anchor.path[anchor.place.skip..];
            let next = match &fd {
                Some(fd) => open_dir(fd.as_fd(), rel)?,
                None => anchor.place.with_anchor(|at| open_dir(at, rel))?,
            };
            let stat = fstat(&next)?;
            if (stat.st_dev, stat.st_ino) != anchor.id {
                return Err(io::Error::other("moved during the walk"));
            }
            fd = Some(next);
        }
        fd.ok_or_else(|| io::Error::other("no anchor to reopen"))
    }
}

fn open_dir(at: BorrowedFd<'_>, rel: &[u8]) -> io::Result<OwnedFd> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    Ok(openat(at, rel, flags, Mode::empty())?)
}

impl Opened {
    /// Where the subdirectories of this directory are opened from.
    pub fn below(&self) -> &Place {
        &self.below
    }

    /// Calls `each` with the name and `lstat` of every entry but `.` and `..`, until it returns
    /// false. A failed `lstat` goes to `failed` with the entry's name; a failed listing ends the
    /// listing, its error returned.
    pub fn list(
        &self,
        buffer: &mut [MaybeUninit<u8>],
        mut each: impl FnMut(&OsStr, &Stat) -> bool,
        mut failed: impl FnMut(&OsStr, io::Error),
    ) -> io::Result<()> {
        let mut entries = RawDir::new(self.fd.as_fd(), buffer);
        while let Some(entry) = entries.next() {
            let entry = entry?;
            let name = entry.file_name();
            if matches!(name.to_bytes(), b"." | b"..") {
                continue;
            }
            let os_name = OsStr::from_bytes(name.to_bytes());
            let going_on = match statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(stat) => each(os_name, &stat),
                Err(err) => {
                    failed(os_name, err.into());
                    true
                }
            };
            if !going_on {
                break;
            }
        }
        Ok(())
    }
}

/// True for a directory's `lstat`.
pub fn is_dir(stat: &Stat) -> bool {
    FileType::from_raw_mode(stat.st_mode) == FileType::Directory
}

/// A buffer for [`Opened::list`], one per walker.
pub fn listing_buffer() -> Vec<MaybeUninit<u8>> {
    vec![MaybeUninit::uninit(); LISTING_BUFFER]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn id(path: &Path) -> (u64, u64) {
        let meta = std::fs::symlink_metadata(path).unwrap();
        (meta.dev(), meta.ino())
    }

    /// An anchor past the bound: no descriptor, opened again from its own place.
    fn unkept(place: Place, path: &Path) -> Place {
        let bytes = path.as_os_str().as_bytes();
        Place {
            anchor: Some(Arc::new(Anchor {
                fd: None,
                place,
                path: bytes.into(),
                id: id(path),
            })),
            skip: bytes.len() + 1,
        }
    }

    #[test]
    fn a_long_path_becomes_an_anchor_that_opens_what_is_below() {
        let tmp = tempfile::tempdir().unwrap();
        let long = tmp.path().join("x".repeat(250)).join("y".repeat(250));
        let deep = (0..8).fold(long, |path, _| path.join("z".repeat(250)));
        std::fs::create_dir_all(deep.join("bottom")).unwrap();
        let opened = Place::default().open(&deep, id(&deep)).unwrap();
        let below = opened.below();
        assert!(below.anchor.is_some() && below.skip == deep.as_os_str().len() + 1);
        let bottom = deep.join("bottom");
        let opened = below.open(&bottom, id(&bottom)).unwrap();
        let stat = fstat(&opened.fd).unwrap();
        assert_eq!((stat.st_dev, stat.st_ino), id(&bottom));
    }

    #[test]
    fn anchors_without_descriptors_are_reopened_and_checked() {
        let tmp = tempfile::tempdir().unwrap();
        let (a, b, c) = (
            tmp.path().join("a"),
            tmp.path().join("a/b"),
            tmp.path().join("a/b/c"),
        );
        std::fs::create_dir_all(&c).unwrap();
        let at_b = unkept(Place::default(), &a);
        let below_b = unkept(at_b, &b);
        let opened = below_b.open(&c, id(&c)).unwrap();
        let stat = fstat(&opened.fd).unwrap();
        assert_eq!((stat.st_dev, stat.st_ino), id(&c));
        // `a` replaced by another directory of the same shape: refused, not walked.
        std::fs::rename(&a, tmp.path().join("moved")).unwrap();
        std::fs::create_dir_all(&c).unwrap();
        let err = below_b.open(&c, id(&c)).err().unwrap();
        assert_eq!(err.to_string(), "moved during the walk");
    }
}
