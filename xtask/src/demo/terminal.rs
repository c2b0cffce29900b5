//! A netcat3 client in the tour, and its terminal as the reader would see it: the chat step's
//! alice, bob and carol, and the reverb step's clients.

use std::time::Instant;

use testkit::child::Proc;

use super::{Bins, PROMPTLY, check, show_all, show_command};
use crate::workspace_root;

/// One netcat3 client, and its terminal as the reader would see it (what it typed included).
pub(super) struct Terminal {
    pub(super) name: &'static str,
    pub(super) netcat3: Proc,
    pub(super) screen: String,
}

impl Terminal {
    pub(super) fn open(bins: &Bins, addr: &str, name: &'static str) -> crate::Result<Terminal> {
        let netcat3 = Proc::spawn(
            &bins.path("netcat3"),
            &[addr],
            &workspace_root(),
            &format!("{name}'s netcat3"),
        )?;
        Ok(Terminal {
            name,
            netcat3,
            screen: String::new(),
        })
    }

    /// Waits until the server's output to this client contains `text`.
    pub(super) fn expect(&mut self, text: &str) -> crate::Result {
        let seen = self
            .netcat3
            .stdout
            .expect(text, PROMPTLY)
            .map_err(|err| format!("{}: {err}", self.name))?;
        self.screen.push_str(&seen);
        Ok(())
    }

    /// Types a line (the terminal echoes it, so it shows on the screen).
    pub(super) fn type_line(&mut self, line: &str) -> crate::Result {
        self.screen.push_str(line);
        self.screen.push('\n');
        self.netcat3.send(format!("{line}\n").as_bytes())
    }

    /// Waits for netcat3 to exit 0 (the server closed the connection); the rest of its output
    /// goes to the screen. Returns when its output ended.
    pub(super) fn closed(&mut self) -> crate::Result<Instant> {
        self.netcat3.expect_exit(0, PROMPTLY)?;
        let (rest, ended) = self.netcat3.stdout.finish(PROMPTLY)?;
        self.screen.push_str(&rest);
        Ok(ended)
    }

    /// Prints the whole terminal under the command that opened it.
    pub(super) fn show(&self, addr: &str, note: &str) {
        show_command(&format!(
            "netcat3 {addr}    ({}'s terminal{note})",
            self.name
        ));
        show_all(&self.screen);
    }

    /// Checks the terminal line by line: exactly these lines, nothing more.
    pub(super) fn check(&self, want: &[Shows]) -> crate::Result {
        let got: Vec<&str> = self.screen.lines().collect();
        let fits = got.len() == want.len() && got.iter().zip(want).all(|(line, w)| w.fits(line));
        check(fits, || {
            format!("{}'s terminal shows {got:?}, expected {want:?}", self.name)
        })
    }
}

/// A line a terminal should show: this exact text, or, for wordings SPEC.md leaves to the server
/// (the name prompt, a refusal, a farewell), a line containing this.
#[derive(Debug)]
pub(super) enum Shows {
    Line(&'static str),
    LineWith(&'static str),
}

impl Shows {
    pub(super) fn fits(&self, line: &str) -> bool {
        match self {
            Shows::Line(text) => line == *text,
            Shows::LineWith(part) => line.contains(part),
        }
    }
}
