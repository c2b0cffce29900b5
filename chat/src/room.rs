//! The room: who is in it, under which names, and the one order every message takes. The
//! book's `broadcaster`, with the delivery left to each engine ([`Fanout`]). One thread runs it
//! and owns the [`Room`] (no lock); joins, messages and departures reach it through one channel
//! of [`Event`]s, so they share one total order.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::done::Done;
use crossbeam_channel::{Receiver, select};

use crate::config::Message;
use crate::flow::Gate;
use crate::log::Log;
use crate::text;

/// What connections tell the broadcaster: the book's `entering`, `messages` and `leaving` as one
/// channel, so that all three share one order (`M`: how the engine reaches the client).
pub enum Event<M> {
    /// A client asks to join under `name`.
    Join { id: u64, name: Arc<str>, member: M },
    /// A line for everyone, the sender included, already formatted.
    Say(Message),
    /// A client has gone (whether or not it was admitted).
    Leave { id: u64 },
}

/// How an engine delivers what the room decides.
pub trait Fanout {
    /// What a join carries so that the engine can reach the client.
    type Member;
    /// The room's answer to a join: the welcome (the client's first lines, before any message
    /// after this point), or `None` if the name was taken.
    fn answer(&mut self, id: u64, name: &Arc<str>, member: Self::Member, welcome: Option<Message>);
    /// `message` to every admitted client.
    fn broadcast(&mut self, message: &Message);
    /// The client has left the room.
    fn remove(&mut self, id: u64);
    /// The clock, at least every [`TICK`].
    fn tick(&mut self) {}
}

/// Capacity of the broadcaster's event channel, for both engines: a connection's reader waits
/// when it is full (backpressure on senders); the broadcaster never waits for a client.
pub const EVENT_QUEUE: usize = 1024;

/// How often the broadcaster ticks its [`Fanout`], events or not.
pub const TICK: Duration = Duration::from_millis(50);

/// The clients in the room, in arrival order, and the names they hold.
#[derive(Default)]
pub struct Room {
    /// By arrival number.
    members: BTreeMap<u64, Arc<str>>,
    /// Client id to arrival number and name key (kept: the key is costly to compute again).
    arrivals: HashMap<u64, (u64, String)>,
    /// Name key ([`text::name_key`]) to client id: no two clients share one.
    keys: HashMap<String, u64>,
    next_arrival: u64,
}

/// What a join produces: the newcomer's welcome and everyone else's notice.
pub struct Welcome {
    pub welcome: Message,
    pub arrival: Message,
}

impl Room {
    /// Admits `name`, unless a name too like it is in use.
    pub fn join(&mut self, id: u64, name: &Arc<str>) -> Option<Welcome> {
        let key = text::name_key(name);
        if self.keys.contains_key(&key) || self.arrivals.contains_key(&id) {
            return None;
        }
        let others = text::client_list(self.members.values().map(|name| &**name));
        let welcome = format!("You are {name}\nCurrent clients: {others}\n").into();
        let arrival = format!("{name} has arrived\n").into();
        self.keys.insert(key.clone(), id);
        self.arrivals.insert(id, (self.next_arrival, key));
        self.members.insert(self.next_arrival, Arc::clone(name));
        self.next_arrival += 1;
        Some(Welcome { welcome, arrival })
    }

    /// Removes a client; its name, if it was in.
    pub fn leave(&mut self, id: u64) -> Option<Arc<str>> {
        let (arrival, key) = self.arrivals.remove(&id)?;
        let name = self.members.remove(&arrival)?;
        self.keys.remove(&key);
        Some(name)
    }
}

/// Owns the room and relays every event to it until `done` fires or every sender has gone:
/// the book's `broadcaster`. A line a client said leaves `gate`'s count once it is handed on.
pub fn broadcaster<F: Fanout>(
    events: Receiver<Event<F::Member>>,
    mut fanout: F,
    gate: &Gate,
    done: Done,
    log: Log,
) {
    let mut room = Room::default();
    let mut next_tick = Instant::now() + TICK;
    loop {
        let now = Instant::now();
        if now >= next_tick {
            fanout.tick();
            next_tick = now + TICK;
        }
        let event = select! {
            recv(events) -> event => match event {
                Ok(event) => event,
                Err(_) => break,
            },
            recv(done.channel()) -> _ => break,
            default(next_tick.saturating_duration_since(now)) => continue,
        };
        match event {
            Event::Say(message) => {
                fanout.broadcast(&message);
                gate.arrived(&message);
            }
            Event::Join { id, name, member } => match room.join(id, &name) {
                Some(Welcome { welcome, arrival }) => {
                    fanout.broadcast(&arrival);
                    fanout.answer(id, &name, member, Some(welcome));
                    log.line(format_args!("{name} has arrived"));
                }
                None => fanout.answer(id, &name, member, None),
            },
            Event::Leave { id } => {
                let Some(name) = room.leave(id) else { continue };
                fanout.remove(id);
                log.line(format_args!("{name} has left"));
                fanout.broadcast(&format!("{name} has left\n").into());
            }
        }
    }
}

#[cfg(test)]
#[path = "../tests/unit/room.rs"]
mod tests;
