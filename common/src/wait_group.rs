//! `WaitGroup`: the book's `sync.WaitGroup` (sections 8.5 and 8.8), as a channel nobody sends on.
//!
//! Each thread counted holds a [`Member`]; when the last one is dropped (the thread returned, or
//! panicked and unwound) the group's channel disconnects. That makes the wait a channel receive,
//! so it can sit in a `select!` beside the done signal or take a timeout, which Go's `Wait`
//! cannot. Go's `Add(1)` is [`WaitGroup::add`], its `Done()` is dropping the member.
//!
//! ```
//! let group = common::wait_group::WaitGroup::new();
//! for _ in 0..3 {
//!     let member = group.add();
//!     std::thread::spawn(move || drop(member));
//! }
//! assert!(group.wait_timeout(std::time::Duration::from_secs(5)));
//! ```

use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use crate::done::Never;

/// Counts members; waits until every one has been dropped.
#[derive(Debug)]
pub struct WaitGroup {
    /// The group's own sender, the source of every member's clone; dropped when waiting starts.
    own: Sender<Never>,
    all_done: Receiver<Never>,
}

/// One counted member of a [`WaitGroup`]; dropping it is Go's `wg.Done()`.
#[derive(Debug, Clone)]
pub struct Member {
    _alive: Sender<Never>,
}

impl Default for WaitGroup {
    fn default() -> Self {
        Self::new()
    }
}

impl WaitGroup {
    /// An empty group.
    pub fn new() -> Self {
        let (own, all_done) = crossbeam_channel::bounded(0);
        WaitGroup { own, all_done }
    }

    /// Counts one more member (Go's `wg.Add(1)`); move it into the thread it stands for.
    pub fn add(&self) -> Member {
        Member {
            _alive: self.own.clone(),
        }
    }

    /// Blocks until every member has been dropped (Go's `wg.Wait()`).
    pub fn wait(self) {
        let _ = self.into_channel().recv();
    }

    /// Blocks until every member has been dropped or `timeout` passes; true if they all were.
    pub fn wait_timeout(self, timeout: Duration) -> bool {
        match self.into_channel().recv_timeout(timeout) {
            Ok(never) => match never {},
            Err(RecvTimeoutError::Disconnected) => true,
            Err(RecvTimeoutError::Timeout) => false,
        }
    }

    /// The channel to wait on in `select!`: it disconnects (`recv` returns an error) once every
    /// member has been dropped. No member can be added after this.
    pub fn into_channel(self) -> Receiver<Never> {
        self.all_done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_for_every_member() {
        let group = WaitGroup::new();
        let first = group.add();
        let second = first.clone();
        let channel = group.into_channel();
        drop(first);
        assert!(matches!(
            channel.recv_timeout(Duration::from_millis(10)),
            Err(RecvTimeoutError::Timeout)
        ));
        drop(second);
        assert!(matches!(
            channel.recv_timeout(Duration::from_secs(5)),
            Err(RecvTimeoutError::Disconnected)
        ));
    }

    #[test]
    fn times_out_while_a_member_lives() {
        let group = WaitGroup::new();
        let _member = group.add();
        assert!(!group.wait_timeout(Duration::from_millis(10)));
    }

    #[test]
    fn an_empty_group_is_done_at_once() {
        assert!(WaitGroup::new().wait_timeout(Duration::ZERO));
    }
}
