//! The book's `go echo(...)`, counted (exercise 8.4: the connection closes once they are all
//! written) and bounded: at most `max` threads for one connection (a client that floods lines
//! is read more slowly), and none beyond the server's thread budget (`budget`).

use std::sync::{Arc, Mutex, PoisonError};
use std::thread;

use common::done::Done;
use common::wait_group::{Member, WaitGroup};

use crate::slots::{Slot, Slots};

/// An echo's stack: it formats a line and sleeps.
const ECHO_STACK: usize = 128 << 10;

/// The echoes of one connection.
pub struct Echoes {
    group: WaitGroup,
    /// This connection's echoes running.
    running: Slots,
    /// The server's thread budget, if it has one.
    threads: Option<Arc<Slots>>,
}

/// What a running echo holds, given back when it ends: its place in the group and its slots.
struct Running {
    _member: Member,
    _slots: (Slot, Option<Slot>),
}

impl Echoes {
    pub fn new(max: usize, threads: Option<Arc<Slots>>) -> Echoes {
        Echoes {
            group: WaitGroup::new(),
            running: Slots::new(max),
            threads,
        }
    }

    /// The book's `go echo(...)`: runs `echo` on a thread of its own. With `max` echoes running
    /// it first waits for one to end (the client's next lines wait in its socket meanwhile);
    /// `false` if the done signal fired instead. When the thread budget is spent, or no thread
    /// can be started, `echo` runs on this one (the book's first reverb, one at a time).
    pub fn go(&self, echo: impl FnOnce() + Send + 'static, done: &Done) -> bool {
        let Some(slot) = self.running.acquire(done) else {
            return false;
        };
        let budget = match &self.threads {
            None => None,
            Some(threads) => match threads.try_acquire() {
                Some(thread) => Some(thread),
                None => {
                    echo();
                    return true;
                }
            },
        };
        let running = Running {
            _member: self.group.add(),
            _slots: (slot, budget),
        };
        // Shared, so that it is still here to run if the thread cannot be started.
        let job = Arc::new(Mutex::new(Some(echo)));
        let on_thread = Arc::clone(&job);
        let spawned = thread::Builder::new()
            .name("reverb-echo".into())
            .stack_size(ECHO_STACK)
            .spawn(move || {
                let _running = running;
                run(&on_thread);
            });
        if let Err(err) = spawned {
            common::exit::error(
                "reverb",
                format_args!("a thread to echo: {err}: echoing in turn"),
            );
            run(&job);
        }
        true
    }

    /// Exercise 8.4's `wg.Wait()`: returns once every echo has ended.
    pub fn wait(self) {
        self.group.wait();
    }
}

/// Runs the echo in `job` unless it has run already.
fn run(job: &Mutex<Option<impl FnOnce()>>) {
    let echo = job.lock().unwrap_or_else(PoisonError::into_inner).take();
    if let Some(echo) = echo {
        echo();
    }
}
