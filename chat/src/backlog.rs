//! A thread-engine client's backlog, bounded in bytes (exercise 8.15; SPEC.md, chat, item 8).
//!
//! The broadcaster [`Backlog::offer`]s each message to a client's unbounded queue, counting its
//! bytes; the client's writer [`Drain::written`]s them off once the socket took them. A message
//! that would take the client past `--max-backlog`, or the whole server past
//! `--max-backlog-total` while this client holds more than its share, is dropped for this client
//! alone and counted. The count is told to the client once, at the gap: before the next message
//! it is given, or as soon as its writer finds the queue empty, whichever comes first.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crossbeam_channel::{Receiver, Sender};

use crate::Message;
use crate::log::Log;
use crate::room::Fanout;

/// One client's share of the accounting, held by the broadcaster and the client's writer.
#[derive(Default)]
pub struct Counts {
    /// Bytes queued for the client and not yet written.
    bytes: AtomicUsize,
    /// Messages dropped since the client was last told.
    untold: AtomicU64,
}

/// The broadcaster's end of one client's queue.
#[derive(Clone)]
pub struct Backlog {
    queue: Sender<Message>,
    counts: Arc<Counts>,
    /// Every client's queued bytes together.
    total: Arc<AtomicUsize>,
}

/// The limits, and the number of clients the total is shared by.
#[derive(Clone, Copy)]
pub struct Bounds {
    pub per_client: usize,
    pub total: usize,
    pub clients: usize,
}

impl Backlog {
    pub fn new(queue: Sender<Message>, counts: Arc<Counts>, total: Arc<AtomicUsize>) -> Backlog {
        Backlog {
            queue,
            counts,
            total,
        }
    }

    /// Queues `message`, or drops and counts it; true if queued.
    pub fn offer(&self, message: &Message, bounds: Bounds) -> bool {
        let held = self.counts.bytes.load(Ordering::Relaxed);
        let total = self.total.load(Ordering::Relaxed);
        let share = bounds.total / bounds.clients.max(1);
        if held + message.len() > bounds.per_client
            || (total + message.len() > bounds.total && held > share)
        {
            self.counts.untold.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        let untold = self.counts.untold.swap(0, Ordering::Relaxed);
        if untold > 0 {
            self.push(dropped_notice(untold));
        }
        self.push(Arc::clone(message));
        true
    }

    fn push(&self, message: Message) {
        let len = message.len();
        self.counts.bytes.fetch_add(len, Ordering::Relaxed);
        self.total.fetch_add(len, Ordering::Relaxed);
        if self.queue.send(message).is_err() {
            // The writer has gone (a failed write); its reader says Leave soon.
            self.counts.bytes.fetch_sub(len, Ordering::Relaxed);
            self.total.fetch_sub(len, Ordering::Relaxed);
        }
    }
}

/// The writer's end of the accounting.
pub struct Drain {
    counts: Arc<Counts>,
    total: Arc<AtomicUsize>,
}

impl Drain {
    pub fn new(counts: Arc<Counts>, total: Arc<AtomicUsize>) -> Drain {
        Drain { counts, total }
    }

    /// `bytes` of the queue went out (or were given up with the connection).
    pub fn written(&self, bytes: usize) {
        self.counts.bytes.fetch_sub(bytes, Ordering::Relaxed);
        self.total.fetch_sub(bytes, Ordering::Relaxed);
    }

    /// The queue is empty: the notice of drops not yet told, if any.
    pub fn caught_up(&self) -> Option<Message> {
        match self.counts.untold.swap(0, Ordering::Relaxed) {
            0 => None,
            untold => Some(dropped_notice(untold)),
        }
    }
}

/// The one line that tells a client how many messages it missed.
pub fn dropped_notice(count: u64) -> Message {
    format!("*** {count} messages dropped: you were not reading ***\n").into()
}

/// The broadcaster's answer to a thread-engine join whose name was free: the client's queue,
/// and the two ends of its accounting (the writer's, and one for the client's own lines).
pub struct Joined {
    pub queue: Receiver<Message>,
    pub drain: Drain,
    pub own: Backlog,
}

/// How a thread-engine join reaches its client: the reply `None` means "name taken".
pub type Member = Sender<Option<Joined>>;

/// The thread engine's [`Fanout`]: a backlog per client, all in the broadcaster's hands.
pub struct Clients {
    clients: HashMap<u64, Client>,
    total: Arc<AtomicUsize>,
    per_client: usize,
    max_total: usize,
    log: Log,
    /// Messages dropped for full backlogs, summed over clients.
    dropped: u64,
}

struct Client {
    backlog: Backlog,
    name: Arc<str>,
    dropped: u64,
}

impl Clients {
    pub fn new(per_client: usize, max_total: usize, log: Log) -> Clients {
        Clients {
            clients: HashMap::new(),
            total: Arc::default(),
            per_client,
            max_total,
            log,
            dropped: 0,
        }
    }

    /// The bounds for a client's own lines (the notice of a long line).
    pub fn own_bounds(per_client: usize, total: usize) -> Bounds {
        Bounds {
            per_client,
            total,
            clients: 1,
        }
    }

    fn bounds(&self) -> Bounds {
        Bounds {
            per_client: self.per_client,
            total: self.max_total,
            clients: self.clients.len(),
        }
    }
}

impl Fanout for Clients {
    type Member = Member;

    fn admit(&mut self, id: u64, name: &Arc<str>, member: Member, welcome: Message) {
        let (queue_tx, queue_rx) = crossbeam_channel::unbounded();
        let counts = Arc::new(Counts::default());
        let backlog = Backlog::new(queue_tx, Arc::clone(&counts), Arc::clone(&self.total));
        backlog.offer(&welcome, self.bounds());
        let joined = Joined {
            queue: queue_rx,
            drain: Drain::new(counts, Arc::clone(&self.total)),
            own: backlog.clone(),
        };
        let _ = member.send(Some(joined));
        let client = Client {
            backlog,
            name: Arc::clone(name),
            dropped: 0,
        };
        self.clients.insert(id, client);
    }

    fn refuse(&mut self, _id: u64, member: Member) {
        let _ = member.send(None);
    }

    fn broadcast(&mut self, message: &Message) {
        let bounds = self.bounds();
        for client in self.clients.values_mut() {
            if !client.backlog.offer(message, bounds) {
                if client.dropped == 0 {
                    let name = &client.name;
                    self.log
                        .line(format_args!("{name}: backlog full, dropping messages"));
                }
                client.dropped += 1;
                self.dropped += 1;
            }
        }
    }

    fn dropped(&self) -> u64 {
        self.dropped
    }

    fn remove(&mut self, id: u64) {
        if let Some(gone) = self.clients.remove(&id)
            && gone.dropped > 0
        {
            let (name, dropped) = (&gone.name, gone.dropped);
            self.log
                .line(format_args!("{name}: {dropped} messages dropped"));
        }
    }
}
