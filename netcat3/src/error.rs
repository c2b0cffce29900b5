//! Why a session ended badly, as the one line `netcat3: what: why` tells it.

use std::fmt;
use std::io;

/// Why a session ended badly.
#[derive(Debug)]
pub enum Error {
    /// The address did not resolve, or no address accepted the connection.
    Connect { addr: String, source: io::Error },
    /// The connection broke (reset, timed out), whether netcat3 was receiving or still sending.
    Connection { addr: String, source: io::Error },
    /// Reading standard input failed (e.g. stdin is a directory).
    Stdin(io::Error),
    /// Writing standard output failed (other than a closed pipe, which is a normal end).
    Stdout(io::Error),
    /// The stdin thread could not be started, or a descriptor could not be duplicated.
    Setup(io::Error),
    /// The done signal fired.
    Cancelled,
}

impl fmt::Display for Error {
    /// `what: why`, to follow `netcat3: `.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Connect { addr, source } | Error::Connection { addr, source } => {
                write!(f, "{addr}: {source}")
            }
            Error::Stdin(err) => write!(f, "stdin: {err}"),
            Error::Stdout(err) => write!(f, "stdout: {err}"),
            Error::Setup(err) => write!(f, "setting up the copy: {err}"),
            Error::Cancelled => f.write_str("cancelled"),
        }
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::ErrorKind;

    #[test]
    fn errors_read_as_what_colon_why() {
        let err = Error::Connect {
            addr: "h:1".into(),
            source: io::Error::new(ErrorKind::ConnectionRefused, "refused"),
        };
        assert_eq!(err.to_string(), "h:1: refused");
        let err = Error::Stdin(io::Error::new(ErrorKind::IsADirectory, "is a directory"));
        assert_eq!(err.to_string(), "stdin: is a directory");
    }
}
