//! The done signal: the book's "close a channel to broadcast cancellation" (section 8.9).
//!
//! In Go, `close(done)` makes every `<-done` in every `select` ready at once. Rust's
//! `crossbeam_channel` gives the same broadcast: when the last `Sender` of a channel is dropped,
//! every cloned `Receiver` reports disconnection, and every `select!` waiting on one of them wakes.
//! The channel carries no values (its item type, [`Never`], has none); only its closing matters.
//!
//! [`new`] returns the two halves:
//! - [`Canceller`]: fires the signal, once, explicitly ([`Canceller::cancel`]). Dropping it does
//!   *not* cancel: a function that merely held a canceller never stops the program by returning.
//! - [`Done`]: observes it. Clone it freely and hand it to every thread. Watch it with
//!   `recv(done.channel())` inside `select!`, poll it with [`Done::cancelled`], block on it with
//!   [`Done::wait_timeout`], or register a hook with [`Done::on_cancel`].
//!
//! A hook is for the threads a channel cannot reach: a thread blocked in `read` or `connect` on a
//! socket only wakes when that socket is shut down, so the code that owns the socket registers
//! "shut it down" as a hook, and drops the returned guard when the socket is no longer in use.
//!
//! ```
//! use crossbeam_channel::{bounded, select};
//!
//! let (canceller, done) = common::done::new();
//! let (_tx, work) = bounded::<u32>(1);
//! let worker = std::thread::spawn(move || {
//!     select! {
//!         recv(work) -> _ => "work",
//!         recv(done.channel()) -> _ => "cancelled",
//!     }
//! });
//! canceller.cancel();
//! assert_eq!(worker.join().unwrap(), "cancelled");
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

/// The item type of the done channel: it has no values, so nothing is ever sent; the channel is
/// only ever closed.
pub enum Never {}

/// Makes a new, unfired done signal.
pub fn new() -> (Canceller, Done) {
    let (sender, receiver) = crossbeam_channel::bounded(0);
    let canceller = Canceller {
        shared: Arc::new(Shared {
            fired: AtomicBool::new(false),
            sender: Mutex::new(Some(sender)),
            receiver,
            hooks: Mutex::new(Hooks::default()),
            parent: Mutex::new(None),
        }),
    };
    let done = canceller.done();
    (canceller, done)
}

/// What both halves share.
struct Shared {
    /// Set first when the signal fires, so a poll never needs the channel.
    fired: AtomicBool,
    /// The only sender of the done channel; taken and dropped to close it.
    sender: Mutex<Option<Sender<Never>>>,
    /// Watched by every observer; only the sender keeps the channel open.
    receiver: Receiver<Never>,
    /// Work to do the moment the signal fires (shutting down sockets).
    hooks: Mutex<Hooks>,
    /// For a [`Done::child`]: its hook on the parent, unregistered when the child goes away.
    parent: Mutex<Option<OnCancel>>,
}

#[derive(Default)]
struct Hooks {
    next_id: u64,
    pending: BTreeMap<u64, Box<dyn FnOnce() + Send>>,
}

/// A hook or the sender may be poisoned only by a panicking hook; the data is still sound.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Fires the done signal. Cheap to clone (the Ctrl-C handler and the stdin watcher each hold one).
#[derive(Clone)]
pub struct Canceller {
    shared: Arc<Shared>,
}

impl Canceller {
    /// Fires the signal: every `select!` on [`Done::channel`] wakes, every poll sees it, and every
    /// registered hook runs, on this thread, before `cancel` returns. Later calls do nothing.
    pub fn cancel(&self) {
        if self.shared.fired.swap(true, Ordering::SeqCst) {
            return;
        }
        drop(lock(&self.shared.sender).take());
        let hooks = std::mem::take(&mut lock(&self.shared.hooks).pending);
        for hook in hooks.into_values() {
            hook();
        }
    }

    /// An observer of this signal.
    pub fn done(&self) -> Done {
        Done {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl fmt::Debug for Canceller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Canceller")
            .field("fired", &self.shared.fired.load(Ordering::Relaxed))
            .finish()
    }
}

/// Observes the done signal. Cheap to clone; clones observe the same signal.
#[derive(Clone)]
pub struct Done {
    shared: Arc<Shared>,
}

impl Done {
    /// The channel to watch in `select!`: `recv(done.channel()) -> _ => ...` becomes ready (with
    /// an error, as the channel is closed) the moment the signal fires. Nothing is ever received.
    pub fn channel(&self) -> &Receiver<Never> {
        &self.shared.receiver
    }

    /// True once the signal has fired: the book's `cancelled()` poll.
    pub fn cancelled(&self) -> bool {
        self.shared.fired.load(Ordering::SeqCst)
    }

    /// Blocks until the signal fires.
    pub fn wait(&self) {
        let _ = self.shared.receiver.recv();
    }

    /// Blocks until the signal fires or `timeout` passes; true if it fired. A cancellable sleep.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        match self.shared.receiver.recv_timeout(timeout) {
            Err(RecvTimeoutError::Timeout) => self.cancelled(),
            Ok(never) => match never {},
            Err(RecvTimeoutError::Disconnected) => true,
        }
    }

    /// Runs `hook` the moment the signal fires (on the cancelling thread, in the order the hooks
    /// were registered), or at once, on this thread, if it has fired already. Dropping the returned guard unregisters the hook; keep it
    /// exactly as long as the thing the hook acts on is in use.
    #[must_use = "the hook is unregistered when the guard is dropped"]
    pub fn on_cancel(&self, hook: impl FnOnce() + Send + 'static) -> OnCancel {
        let mut hooks = lock(&self.shared.hooks);
        // Checked under the lock `cancel` takes after setting the flag: a hook is either run by
        // `cancel` or seen to be late here, never lost in between.
        if self.cancelled() {
            drop(hooks);
            hook();
            return OnCancel {
                id: None,
                shared: Arc::clone(&self.shared),
            };
        }
        let id = hooks.next_id;
        hooks.next_id += 1;
        hooks.pending.insert(id, Box::new(hook));
        OnCancel {
            id: Some(id),
            shared: Arc::clone(&self.shared),
        }
    }
    /// A new signal that fires when this one does, and that its own [`Canceller`] can also fire
    /// without touching this one: Go's `context.WithCancel(parent)`. How a function that stops
    /// for its caller's reason *or* its own (a winner found, the work finished) makes the one
    /// signal its threads watch.
    ///
    /// The parent holds only a weak link to the child, and the link is unregistered when the
    /// child's last handle is dropped, so making many children leaks nothing.
    pub fn child(&self) -> (Canceller, Done) {
        let (canceller, done) = new();
        let weak: Weak<Shared> = Arc::downgrade(&canceller.shared);
        let link = self.on_cancel(move || {
            if let Some(shared) = weak.upgrade() {
                Canceller { shared }.cancel();
            }
        });
        *lock(&canceller.shared.parent) = Some(link);
        (canceller, done)
    }
}

impl fmt::Debug for Done {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Done")
            .field("cancelled", &self.cancelled())
            .finish()
    }
}

/// Keeps a hook registered with [`Done::on_cancel`]; dropping it unregisters the hook.
#[derive(Debug)]
pub struct OnCancel {
    id: Option<u64>,
    shared: Arc<Shared>,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Shared")
    }
}

impl Drop for OnCancel {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            lock(&self.shared.hooks).pending.remove(&id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossbeam_channel::select;
    use std::sync::atomic::AtomicUsize;
    use std::time::Instant;

    #[test]
    fn cancel_wakes_every_select_and_poll() {
        let (canceller, done) = new();
        assert!(!done.cancelled());
        let waiters: Vec<_> = (0..4)
            .map(|_| {
                let done = done.clone();
                std::thread::spawn(move || {
                    select! {
                        recv(done.channel()) -> msg => msg.is_err(),
                        recv(crossbeam_channel::after(Duration::from_secs(10))) -> _ => false,
                    }
                })
            })
            .collect();
        canceller.cancel();
        for waiter in waiters {
            assert!(waiter.join().unwrap(), "a select did not see the cancel");
        }
        assert!(done.cancelled());
        assert!(done.wait_timeout(Duration::from_secs(5)));
    }

    #[test]
    fn wait_timeout_times_out_when_not_cancelled() {
        let (_canceller, done) = new();
        let start = Instant::now();
        assert!(!done.wait_timeout(Duration::from_millis(20)));
        assert!(start.elapsed() >= Duration::from_millis(20));
    }

    #[test]
    fn dropping_the_canceller_does_not_cancel() {
        let (canceller, done) = new();
        drop(canceller);
        assert!(!done.cancelled());
        assert!(!done.wait_timeout(Duration::from_millis(10)));
    }

    #[test]
    fn hooks_run_in_the_order_they_were_registered() {
        let (canceller, done) = new();
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let _hooks: Vec<_> = (0..100)
            .map(|i| {
                let order = Arc::clone(&order);
                done.on_cancel(move || order.lock().unwrap().push(i))
            })
            .collect();
        canceller.cancel();
        assert_eq!(*order.lock().unwrap(), (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn hooks_run_once_and_unregister_on_drop() {
        let (canceller, done) = new();
        let runs = Arc::new(AtomicUsize::new(0));
        let counter = |runs: &Arc<AtomicUsize>| {
            let runs = Arc::clone(runs);
            move || {
                runs.fetch_add(1, Ordering::SeqCst);
            }
        };
        let kept = done.on_cancel(counter(&runs));
        drop(done.on_cancel(counter(&runs)));
        canceller.cancel();
        canceller.cancel();
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        drop(kept);
        // A hook registered after the cancel runs at once.
        let _late = done.on_cancel(counter(&runs));
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn canceller_made_observers_see_the_cancel() {
        let (canceller, done) = new();
        let other = done.clone();
        canceller.cancel();
        assert!(other.wait_timeout(Duration::from_secs(5)));
    }

    #[test]
    fn a_child_fires_with_its_parent_or_alone() {
        let (parent, parent_done) = new();
        let (own, child) = parent_done.child();
        let (_, other) = parent_done.child();
        own.cancel();
        assert!(child.cancelled());
        assert!(!parent_done.cancelled() && !other.cancelled());
        parent.cancel();
        assert!(other.wait_timeout(Duration::from_secs(5)));
        // A child of a fired parent is born fired.
        assert!(parent_done.child().1.cancelled());
    }

    #[test]
    fn dropped_children_leave_no_hook_behind() {
        let (_parent, parent_done) = new();
        for _ in 0..100 {
            drop(parent_done.child());
        }
        assert!(lock(&parent_done.shared.hooks).pending.is_empty());
    }
}
