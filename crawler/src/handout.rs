//! Handing unseen links to idle workers: the book's `unseenLinks <- link`, which here also
//! watches the done signal, prints each URL once a worker has taken it, and counts the links
//! handed out and not yet reported, which tells when the crawl is over.

use std::io::{self, Write};

use common::done::Done;
use crossbeam_channel::{Sender, select};

use crate::Task;

/// The sending end of `unseen_links`, and the count of what went through it.
pub(crate) struct Handout<'a> {
    to_unseen_links: Sender<Task>,
    done: &'a Done,
    out: &'a mut dyn Write,
    pending: usize,
    handed_out: usize,
}

impl<'a> Handout<'a> {
    pub(crate) fn new(
        to_unseen_links: Sender<Task>,
        done: &'a Done,
        out: &'a mut dyn Write,
    ) -> Handout<'a> {
        Handout {
            to_unseen_links,
            done,
            out,
            pending: 0,
            handed_out: 0,
        }
    }

    /// Hands each task to the next idle worker, printing its URL once taken, as the book prints
    /// it when its fetch starts. False if the done signal fired first.
    pub(crate) fn all(&mut self, tasks: impl IntoIterator<Item = Task>) -> io::Result<bool> {
        for task in tasks {
            if self.done.cancelled() {
                return Ok(false);
            }
            let line = task.url.to_string();
            select! {
                send(self.to_unseen_links, task) -> sent => if sent.is_err() {
                    return Err(io::Error::other("every worker stopped"));
                },
                recv(self.done.channel()) -> _ => return Ok(false),
            }
            self.pending += 1;
            self.handed_out += 1;
            writeln!(self.out, "{line}")?;
        }
        Ok(true)
    }

    /// One task handed out has been reported.
    pub(crate) fn reported(&mut self) {
        self.pending -= 1;
    }

    /// Tasks handed out and not yet reported.
    pub(crate) fn pending(&self) -> usize {
        self.pending
    }

    /// Tasks handed out in all: the URLs printed.
    pub(crate) fn handed_out(&self) -> usize {
        self.handed_out
    }

    pub(crate) fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
