//! Handing unseen links to idle workers: the book's `unseenLinks <- link`, which here waits for
//! a report at the same time (so a worker never waits on a full worklist while this waits on
//! an idle worker), watches the done signal, prints each URL once a worker has taken it, and
//! counts the tasks handed out and not yet reported, which tells when the crawl is over. The
//! tasks not yet handed out wait in the [`Frontier`].

use std::io::{self, Write};

use common::done::Done;
use crossbeam_channel::{Receiver, Select, Sender};

use crate::frontier::Frontier;
use crate::{Report, Task};

/// The sending end of `unseen_links`, the frontier, and the count of what went through it.
pub(crate) struct Handout<'a> {
    to_unseen_links: Sender<Task>,
    frontier: Frontier,
    done: &'a Done,
    out: &'a mut dyn Write,
    pending: usize,
    printed: usize,
}

impl<'a> Handout<'a> {
    pub(crate) fn new(
        to_unseen_links: Sender<Task>,
        frontier: Frontier,
        done: &'a Done,
        out: &'a mut dyn Write,
    ) -> Handout<'a> {
        Handout {
            to_unseen_links,
            frontier,
            done,
            out,
            pending: 0,
            printed: 0,
        }
    }

    /// Queues tasks to be handed out, in order.
    pub(crate) fn queue(&mut self, tasks: impl IntoIterator<Item = Task>) -> io::Result<()> {
        tasks
            .into_iter()
            .try_for_each(|task| self.frontier.push(task))
    }

    /// Hands queued tasks to idle workers until a report comes, which is returned (`None` if the
    /// done signal fired first). Each URL is printed once taken, as the book prints it when its
    /// fetch starts (a task that fetches a page again for a shorter depth is not printed).
    pub(crate) fn next_report(
        &mut self,
        worklist: &Receiver<Report>,
    ) -> io::Result<Option<Report>> {
        loop {
            if self.done.cancelled() {
                return Ok(None);
            }
            let mut select = Select::new();
            let report = select.recv(worklist);
            let done = select.recv(self.done.channel());
            let has_task = self.frontier.front()?.is_some();
            let send = has_task.then(|| select.send(&self.to_unseen_links));
            let operation = select.select();
            match operation.index() {
                index if index == report => {
                    return match operation.recv(worklist) {
                        Ok(report) => Ok(Some(report)),
                        Err(_) => Err(io::Error::other("every worker stopped")),
                    };
                }
                index if index == done => {
                    let _ = operation.recv(self.done.channel());
                    return Ok(None);
                }
                _ => {
                    let Some(task) = self.frontier.pop() else {
                        return Err(io::Error::other("the frontier lost a task"));
                    };
                    debug_assert!(send.is_some());
                    let (print, line) = (task.print, task.url.to_string());
                    if operation.send(&self.to_unseen_links, task).is_err() {
                        return Err(io::Error::other("every worker stopped"));
                    }
                    self.pending += 1;
                    if print {
                        self.printed += 1;
                        writeln!(self.out, "{line}")?;
                    }
                }
            }
        }
    }

    /// One task handed out has been reported.
    pub(crate) fn reported(&mut self) {
        self.pending -= 1;
    }

    /// True while a task handed out is still to be reported, or one waits to be handed out.
    pub(crate) fn busy(&self) -> bool {
        self.pending > 0 || !self.frontier.is_empty()
    }

    /// The URLs printed.
    pub(crate) fn printed(&self) -> usize {
        self.printed
    }

    pub(crate) fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
