//! Lines on the error stream: the win, and each failure when nobody won.

use std::fmt;
use std::io::Write;

use url::Url;

use crate::PROGRAM;

/// Writes `PROGRAM: message` and a newline in one write (stderr is unbuffered: a line written in
/// pieces could interleave with other output). A failed write to stderr is ignored: there is
/// nowhere left to report it.
pub(crate) fn line(err: &mut dyn Write, message: fmt::Arguments<'_>) {
    let _ = err.write_all(format!("{PROGRAM}: {message}\n").as_bytes());
}

/// One line per mirror, in argument order: `PROGRAM: URL: why`.
pub(crate) fn failures(err: &mut dyn Write, urls: &[Url], failures: &[String]) {
    for (url, why) in urls.iter().zip(failures) {
        line(err, format_args!("{url}: {why}"));
    }
}
