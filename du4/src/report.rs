//! What the walkers tell `run`, and how `run` prints it: the book's line, per root under
//! `--per-root` (exercise 8.9), totals that cannot wrap, paths that stay on one line.

use std::fmt::Display;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::Stat;

use crate::Config;

/// A file count and its bytes. Bytes are summed in 128 bits: apparent sizes of sparse files can
/// add up past `u64::MAX` (four files of 4 EiB do), and a total must never wrap.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub files: u64,
    pub bytes: u128,
}

impl Totals {
    pub(crate) fn add(&mut self, other: Totals) {
        self.files += other.files;
        self.bytes += other.bytes;
    }

    /// Counts one file of its `lstat` size (apparent size).
    pub(crate) fn add_file(&mut self, stat: &Stat) {
        self.files += 1;
        self.bytes += u128::from(u64::try_from(stat.st_size).unwrap_or(0));
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
    /// One entry that could not be read: `PATH: why`, printed as one line (bytes: the path is
    /// printed as its bytes, see [`shown`]).
    Error(Vec<u8>),
}

impl Report {
    /// The error line `PATH: why` for `path`.
    pub(crate) fn error(path: &Path, why: impl Display) -> Report {
        let mut line = shown(path);
        line.extend_from_slice(format!(": {why}").as_bytes());
        Report::Error(line)
    }
}

/// Prints the totals (see `totals_text`); a failure keeps its kind and says what failed.
pub(crate) fn print_totals(
    out: &mut impl Write,
    roots: &[PathBuf],
    per_root: &[Totals],
    config: &Config,
    last: bool,
) -> io::Result<()> {
    let text = totals_text(roots, per_root, config, last);
    out.write_all(&text)
        .and_then(|()| out.flush())
        .map_err(|err| common::exit::context("writing the totals", err))
}

/// The totals: one line, or with `--per-root` a line per root (then, when `last`, the `total`
/// line).
fn totals_text(roots: &[PathBuf], per_root: &[Totals], config: &Config, last: bool) -> Vec<u8> {
    let mut all = Totals::default();
    for totals in per_root {
        all.add(*totals);
    }
    if !config.per_root {
        return format!("{}\n", all.line(config.bytes)).into_bytes();
    }
    let mut text = Vec::new();
    for (root, totals) in roots.iter().zip(per_root) {
        text.extend_from_slice(format!("{}  ", totals.line(config.bytes)).as_bytes());
        text.extend_from_slice(&shown(root));
        text.push(b'\n');
    }
    if last {
        text.extend_from_slice(format!("{}  total\n", all.line(config.bytes)).as_bytes());
    }
    text
}

/// A path as du4 prints it: its bytes, as GNU du prints a name (a name that is not UTF-8 comes
/// out as it is on disk, never as U+FFFD), except control characters, escaped (`\n`, `\t`,
/// `\u{1b}`) so that every line stays one line and no name drives the terminal.
pub(crate) fn shown(path: &Path) -> Vec<u8> {
    let bytes = path.as_os_str().as_bytes();
    let mut text = Vec::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c.is_control() {
                text.extend_from_slice(c.escape_default().to_string().as_bytes());
            } else {
                text.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
            }
        }
        text.extend_from_slice(chunk.invalid());
    }
    text
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
        assert_eq!(
            totals_text(&roots, &per_root, &config, false),
            b"2 files  30 bytes  b\n1 files  5 bytes  a\n"
        );
        assert!(
            totals_text(&roots, &per_root, &config, true)
                .ends_with(b"\n3 files  35 bytes  total\n")
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
        assert_eq!(shown(Path::new("a/b c")), b"a/b c");
        assert_eq!(shown(Path::new("x\ny\tz")), b"x\\ny\\tz");
        assert_eq!(shown(Path::new("\u{85}\u{1b}")), b"\\u{85}\\u{1b}");
    }

    #[test]
    fn shown_paths_keep_bytes_that_are_not_utf8() {
        use std::ffi::OsStr;
        let path = Path::new(OsStr::from_bytes(b"bad\xffname/\xe2\x82\n\xfe"));
        assert_eq!(shown(path), b"bad\xffname/\xe2\x82\\n\xfe");
        assert_eq!(shown(Path::new("caf\u{e9}")), "caf\u{e9}".as_bytes());
    }
}
