//! One client's side of the protocol, without I/O (sans-IO, as quinn-proto and rustls do).
//!
//! A [`Session`] is fed the bytes its client sent and the time, and says in [`Output`]s what to
//! write back to the client alone and what to ask of the room: the naming dialogue (ex. 8.14),
//! the line limit, lossy UTF-8 and clean text, the idle deadline (ex. 8.13). It holds no socket,
//! so both engines drive the same session, and its tests need no network.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::Message;
use crate::lines::{Line, LineBuffer};
use crate::text;

/// The name prompt. Every line the server sends ends in `\n`, the prompt included.
pub const PROMPT: &str = "Enter your name:\n";

/// What a session asks of its engine, in order.
#[derive(Debug, PartialEq, Eq)]
pub enum Output {
    /// A line for this client alone.
    Reply(Message),
    /// Ask the room to admit this name; answer with [`Session::joined`].
    Join(Arc<str>),
    /// A line for the room (every client, the sender included), formatted.
    Say(Message),
    /// A line for the server's log.
    Log(String),
    /// The last line for this client, after everything pending and never dropped; `End` follows.
    Last(Message),
    /// The session is over: the engine closes the connection (after any `Reply` before it).
    End(End),
}

/// Why a session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// The client closed its side.
    Closed,
    /// No line for the idle timeout (ex. 8.13); the client has been told.
    Idle,
    /// The server is shutting down ([`Session::shut_down`]).
    Shutdown,
}

/// The limits a session enforces.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_line: usize,
    /// The longest message (`--max-backlog`): one that could never fit a backlog is refused.
    pub max_message: usize,
    pub idle_timeout: Duration,
}

#[derive(Debug)]
enum State {
    Naming,
    /// The room has been asked; input waits for its answer.
    Joining(Arc<str>),
    Chatting(Arc<str>),
    /// Over; the name it had, for the log lines that follow (its drops).
    Ended(Option<Arc<str>>),
}

/// One client's protocol state; see the module's docs.
pub struct Session {
    state: State,
    lines: LineBuffer,
    peer: SocketAddr,
    limits: Limits,
    deadline: Instant,
}

impl Session {
    /// A new client: the prompt is its first output.
    pub fn new(peer: SocketAddr, limits: Limits, now: Instant, out: &mut Vec<Output>) -> Session {
        out.push(Output::Reply(PROMPT.into()));
        Session {
            state: State::Naming,
            lines: LineBuffer::new(limits.max_line),
            peer,
            limits,
            deadline: now + limits.idle_timeout,
        }
    }

    /// Bytes from the client.
    pub fn received(&mut self, bytes: &[u8], now: Instant, out: &mut Vec<Output>) {
        self.lines.push(bytes);
        self.process(now, out);
    }

    /// The client closed its side: a last line without a newline still counts while chatting.
    pub fn closed(&mut self, now: Instant, out: &mut Vec<Output>) {
        self.process(now, out);
        if let State::Chatting(name) = &self.state
            && let Some(Line::Text(line)) = self.lines.finish()
        {
            out.push(Output::Say(said(name, line)));
        }
        self.end(End::Closed, out);
    }

    /// The room's answer to [`Output::Join`]: admitted, or the name was taken.
    pub fn joined(&mut self, admitted: bool, now: Instant, out: &mut Vec<Output>) {
        let State::Joining(name) = std::mem::replace(&mut self.state, State::Naming) else {
            return;
        };
        if admitted {
            self.state = State::Chatting(name);
        } else {
            let taken = format!("Name {name} is taken; choose another\n");
            out.push(Output::Reply(taken.into()));
            out.push(Output::Reply(PROMPT.into()));
        }
        self.process(now, out);
    }

    /// The clock: past the deadline, the client is told and the session ends.
    pub fn tick(&mut self, now: Instant, out: &mut Vec<Output>) {
        if now >= self.deadline && !matches!(self.state, State::Ended(_)) {
            let idle = humantime::format_duration(self.limits.idle_timeout);
            out.push(Output::Last(
                format!("Disconnected: no message for {idle}\n").into(),
            ));
            if let State::Chatting(name) = &self.state {
                out.push(Output::Log(format!("{name} idle, disconnecting")));
            }
            self.end(End::Idle, out);
        }
    }

    /// The server is shutting down: the client is told, and the session ends.
    pub fn shut_down(&mut self, out: &mut Vec<Output>) {
        if !matches!(self.state, State::Ended(_)) {
            out.push(Output::Last(FAREWELL.into()));
            self.end(End::Shutdown, out);
        }
    }

    /// When [`tick`](Session::tick) ends an idle session.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// False while the room decides on a name (no input is read until then) and once it is over.
    pub fn wants_input(&self) -> bool {
        matches!(self.state, State::Naming | State::Chatting(_))
    }

    /// The name the room has been asked for, kept once the session is over (for the log).
    pub fn name(&self) -> Option<&Arc<str>> {
        match &self.state {
            State::Joining(name) | State::Chatting(name) | State::Ended(Some(name)) => Some(name),
            State::Naming | State::Ended(None) => None,
        }
    }

    fn end(&mut self, end: End, out: &mut Vec<Output>) {
        self.state = State::Ended(self.name().cloned());
        out.push(Output::End(end));
    }

    /// Takes complete lines while the state can use them.
    fn process(&mut self, now: Instant, out: &mut Vec<Output>) {
        while self.wants_input() {
            let Some(line) = self.lines.next_line() else {
                return;
            };
            // Any line, even one too long to use, shows the client is there.
            self.deadline = now + self.limits.idle_timeout;
            match (&self.state, line) {
                (State::Naming, Line::TooLong) => {
                    out.push(Output::Reply("Name too long; try a shorter one\n".into()));
                    out.push(Output::Reply(PROMPT.into()));
                }
                (State::Naming, Line::Text(line)) => {
                    let name = text::clean_name(line, self.peer);
                    if let Some(why) = text::name_problem(&name, self.peer) {
                        let refused = format!("Name {name} refused: {why}; choose another\n");
                        out.push(Output::Reply(refused.into()));
                        out.push(Output::Reply(PROMPT.into()));
                    } else {
                        let name: Arc<str> = name.into();
                        out.push(Output::Join(Arc::clone(&name)));
                        self.state = State::Joining(name);
                    }
                }
                (State::Chatting(name), Line::TooLong) => too_long(name, self.limits.max_line, out),
                (State::Chatting(name), Line::Text(line)) => {
                    let said = said(name, line);
                    if said.len() > self.limits.max_message {
                        too_long(name, self.limits.max_message, out);
                    } else {
                        out.push(Output::Say(said));
                    }
                }
                (State::Joining(_) | State::Ended(_), _) => unreachable!("wants_input"),
            }
        }
    }
}

/// A line over `max` bytes: logged, the sender told, nothing broadcast.
fn too_long(name: &str, max: usize, out: &mut Vec<Output>) {
    out.push(Output::Log(format!(
        "{name}: line over {max} bytes dropped"
    )));
    let notice = format!("Line too long (over {max} bytes); dropped\n");
    out.push(Output::Reply(notice.into()));
}

/// The farewell every client gets when the server shuts down.
pub const FAREWELL: &str = "Server shutting down\n";

/// What a newcomer is told when the server is full: at `--max-clients` (`Some`), or its limits.
pub fn full(max_clients: Option<usize>) -> String {
    let max = max_clients.map(|max| format!(" ({})", crate::limits::clients(max)));
    format!("Server full{}; try again later\n", max.unwrap_or_default())
}

/// The one line that tells a client how many messages it missed (SPEC.md, chat, item 8).
pub fn dropped_notice(count: u64) -> Message {
    format!("*** {count} messages dropped: you were not reading ***\n").into()
}

/// A client's line as the room hears it: `name: text`, the text made safe.
fn said(name: &str, line: &[u8]) -> Message {
    format!("{name}: {}\n", text::clean_message(line)).into()
}

#[cfg(test)]
#[path = "../tests/unit/session.rs"]
mod tests;
