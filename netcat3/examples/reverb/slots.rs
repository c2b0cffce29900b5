//! A counting semaphore as a channel, the book's own (section 8.6: a buffered channel of
//! tokens, sent to acquire, received to release): the slot is given back when the [`Slot`] is
//! dropped, however its holder ends.

use common::done::Done;
use crossbeam_channel::{Receiver, Sender, select};

/// At most `n` slots taken at once.
pub struct Slots {
    take: Sender<()>,
    give: Receiver<()>,
}

/// A taken slot; dropping it gives it back.
pub struct Slot {
    give: Receiver<()>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let _ = self.give.try_recv();
    }
}

impl Slots {
    pub fn new(n: usize) -> Slots {
        let (take, give) = crossbeam_channel::bounded(n);
        Slots { take, give }
    }

    /// Waits for a free slot; `None` if the done signal fired first.
    pub fn acquire(&self, done: &Done) -> Option<Slot> {
        select! {
            send(self.take, ()) -> _ => Some(self.taken()),
            recv(done.channel()) -> _ => None,
        }
    }

    /// A free slot, if there is one now.
    pub fn try_acquire(&self) -> Option<Slot> {
        self.take.try_send(()).ok().map(|()| self.taken())
    }

    fn taken(&self) -> Slot {
        Slot {
            give: self.give.clone(),
        }
    }
}
