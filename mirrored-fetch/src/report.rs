//! Lines on the error stream: the win, a loss to a limit the moment it happens, and each other
//! failure when nobody won.

use std::fmt;
use std::io::Write;

use url::Url;

use crate::PROGRAM;

/// Why a mirror lost.
#[derive(Clone, Debug)]
pub(crate) struct Loss {
    pub(crate) why: String,
    /// Said the moment it happens, even if another mirror wins: a limit of the user's
    /// (`--max-size`) or of the machine's (a nearly full `TMPDIR`) cut this mirror short.
    pub(crate) say_now: bool,
}

impl Loss {
    /// A loss to a limit, said the moment it happens.
    pub(crate) fn limit(why: String) -> Loss {
        Loss { why, say_now: true }
    }
}

impl From<String> for Loss {
    fn from(why: String) -> Loss {
        Loss {
            why,
            say_now: false,
        }
    }
}

/// Writes `PROGRAM: message` and a newline in one write (stderr is unbuffered: a line written in
/// pieces could interleave with other output). A failed write to stderr is ignored: there is
/// nowhere left to report it.
pub(crate) fn line(err: &mut dyn Write, message: fmt::Arguments<'_>) {
    let _ = err.write_all(format!("{PROGRAM}: {message}\n").as_bytes());
}

/// One line per mirror, in argument order: `PROGRAM: URL: why`, except the losses already said.
pub(crate) fn failures(err: &mut dyn Write, urls: &[Url], losses: &[Loss]) {
    for (url, loss) in urls.iter().zip(losses) {
        if !loss.say_now {
            line(err, format_args!("{url}: {}", loss.why));
        }
    }
}
