//! The `threads` engine's side of the one flow ([`crate::flow`]): the room's feed and every
//! client's backlog behind one lock, which the broadcaster appends to and each `client_writer`
//! waits on, instead of a channel per client.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use crossbeam_channel::Sender;

use crate::config::{Config, Message};
use crate::flow::{Backlog, Flow, Gate};
use crate::log::Log;
use crate::room::Fanout;

/// The feed and the backlogs; see the module's docs.
pub struct Outbox {
    state: Mutex<State>,
    /// Writers wait here for something to write.
    wake: Condvar,
    /// Shut while a client that holds the room is behind: readers wait at it.
    pub gate: Arc<Gate>,
}

struct State {
    flow: Flow,
    clients: HashMap<u64, (Arc<str>, Backlog)>,
    /// The feed's size when every client was last reviewed, and how much it may grow before the
    /// next review (a writer blocked on a full socket reviews no one, and a tick is 50 ms).
    reviewed_at: u64,
    review_every: u64,
}

impl Outbox {
    pub fn new(config: &Config, log: &Log) -> Outbox {
        let gate = Arc::new(Gate::new(config));
        let state = State {
            flow: Flow::new(config.max_backlog_total, config, gate.clone(), log.clone()),
            clients: HashMap::new(),
            reviewed_at: 0,
            review_every: (config.max_backlog as u64 / 16).max(1),
        };
        Outbox {
            state: Mutex::new(state),
            wake: Condvar::new(),
            gate,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Does `change` to client `id`'s backlog (if it is still there), then wakes the writers if
    /// it says it gave it something to write (each wake wakes every waiting writer).
    fn with(&self, id: u64, change: impl FnOnce(&mut Backlog, &mut Flow) -> bool) {
        let mut state = self.lock();
        let State { flow, clients, .. } = &mut *state;
        if clients
            .get_mut(&id)
            .is_some_and(|(_, backlog)| change(backlog, flow))
        {
            self.wake.notify_all();
        }
    }

    /// A line for client `id` alone.
    pub fn reply(&self, id: u64, line: Message) {
        self.with(id, |backlog, flow| backlog.reply(line, flow.feed()));
    }

    /// Client `id`'s session is over, with `last` its last line; until [`left`](Outbox::left),
    /// what the room sends is still written.
    pub fn leaving(&self, id: u64, last: Option<Message>) {
        if let Some((_, backlog)) = self.lock().clients.get_mut(&id) {
            backlog.leaving(last);
        }
    }

    /// The room has heard of client `id`'s leave (or never will): what is pending and its last
    /// line are written, nothing later; its writer then returns.
    pub fn left(&self, id: u64) {
        self.with(id, |backlog, flow| backlog.left(flow.feed()));
    }

    /// The server is stopping: every session is over with `farewell` its last line, and the room
    /// hears of no more leaves.
    pub fn shut_down(&self, farewell: &Message) {
        let mut state = self.lock();
        let State { flow, clients, .. } = &mut *state;
        for (_, backlog) in clients.values_mut() {
            backlog.leaving(Some(Arc::clone(farewell)));
            backlog.left(flow.feed());
        }
        self.wake.notify_all();
    }

    /// Client `id` has gone (its writer has returned).
    pub fn remove(&self, id: u64) {
        let mut state = self.lock();
        if let Some((name, mut backlog)) = state.clients.remove(&id) {
            state.flow.remove(&mut backlog, &name);
        }
    }

    /// Waits for something to write to client `id` and takes it (about `max` bytes at most) into
    /// `batch`, which counts as taken; false once its session is over and all has gone out.
    pub fn next_batch(&self, id: u64, batch: &mut Vec<u8>, max: usize) -> bool {
        let mut state = self.lock();
        loop {
            let State { flow, clients, .. } = &mut *state;
            let Some((name, backlog)) = clients.get_mut(&id) else {
                return false;
            };
            flow.review(backlog, name, Instant::now());
            backlog.fill(flow.feed(), batch, max);
            if !batch.is_empty() {
                backlog.consume(flow.feed(), batch.len(), Instant::now());
                return true;
            }
            if backlog.finished(flow.feed()) {
                return false;
            }
            state = self
                .wake
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Messages dropped so far, summed over clients.
    pub fn dropped(&self) -> u64 {
        self.lock().flow.dropped()
    }
}

/// The broadcaster's end: a join is answered on the client's channel (`false`: name taken).
impl Fanout for Arc<Outbox> {
    type Member = Sender<bool>;

    fn answer(&mut self, id: u64, name: &Arc<str>, member: Sender<bool>, welcome: Option<Message>) {
        if let Some(welcome) = &welcome {
            let mut state = self.lock();
            let mut backlog = Backlog::default();
            state.flow.admit(&mut backlog, Arc::clone(welcome));
            state.clients.insert(id, (Arc::clone(name), backlog));
        }
        let _ = member.send(welcome.is_some());
    }

    fn broadcast(&mut self, message: &Message) {
        let mut state = self.lock();
        state.flow.push(Arc::clone(message));
        if state.flow.feed().bytes() - state.reviewed_at >= state.review_every {
            state.review(Instant::now());
        }
        self.wake.notify_all();
    }

    /// The client's own thread removes its backlog once its writer is done.
    fn remove(&mut self, id: u64) {
        self.left(id);
    }

    /// The policy for every client, also those whose writer waits in a `write`.
    fn tick(&mut self) {
        let mut state = self.lock();
        state.review(Instant::now());
        self.wake.notify_all();
    }
}

impl State {
    /// The policy for every client now, and the feed let go behind them ([`Flow::passed`]).
    fn review(&mut self, now: Instant) {
        self.reviewed_at = self.flow.feed().bytes();
        for (name, backlog) in self.clients.values_mut() {
            self.flow.review(backlog, name, now);
        }
        self.flow.passed();
    }
}
