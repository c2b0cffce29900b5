//! The book's `go echo(...)`, counted (exercise 8.4: the connection closes once they are all
//! written) and bounded (a client that floods lines gets at most `max` threads).

use std::sync::{Arc, Mutex, PoisonError};
use std::thread;

use common::done::Done;
use common::wait_group::{Member, WaitGroup};
use crossbeam_channel::{Receiver, Sender, select};

/// An echo's stack: it formats a line and sleeps.
const ECHO_STACK: usize = 128 << 10;

/// The echoes of one connection.
pub struct Echoes {
    group: WaitGroup,
    /// One message per running echo; full at `max`, so a send waits for an echo to end.
    slots: Sender<()>,
    free: Receiver<()>,
}

/// A running echo: counted in the group, holding a slot, both given back when it ends.
struct Running {
    _member: Member,
    free: Receiver<()>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.free.try_recv();
    }
}

impl Echoes {
    pub fn new(max: usize) -> Echoes {
        let (slots, free) = crossbeam_channel::bounded(max);
        Echoes {
            group: WaitGroup::new(),
            slots,
            free,
        }
    }

    /// The book's `go echo(...)`: runs `echo` on a thread of its own. With `max` echoes running
    /// it first waits for one to end (the client's next lines wait in its socket meanwhile);
    /// `false` if the done signal fired instead. When no thread can be started, `echo` runs on
    /// this one.
    pub fn go(&self, echo: impl FnOnce() + Send + 'static, done: &Done) -> bool {
        select! {
            send(self.slots, ()) -> _ => {}
            recv(done.channel()) -> _ => return false,
        }
        let running = Running {
            _member: self.group.add(),
            free: self.free.clone(),
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
