//! chat: the chat server of *The Go Programming Language* (Donovan and Kernighan), section 8.10,
//! with exercises 8.12 (the client list for a newcomer), 8.13 (idle kick), 8.14 (names) and 8.15
//! (slow clients must not delay the others).
//!
//! Run it with `cargo run -p chat` and talk to it with `cargo run -p netcat3` from two other
//! terminals. `--help` lists the flags (`--addr`, `--idle-timeout`, `--max-backlog`,
//! `--max-backlog-total`, `--max-line`, `--max-clients`).
//!
//! The book's shape, kept visible, with Rust threads for goroutines and bounded
//! `crossbeam-channel` channels for Go channels:
//!
//! - [`run`] accepts connections and starts one [`handle_conn`] thread per client.
//! - `broadcaster` (one thread) owns the set of clients: no lock, no shared map. Joins, messages
//!   and departures reach it as [`Event`]s through one bounded channel, so they are seen in one
//!   total order, and every client receives the messages in that order.
//! - `handle_conn` reads a client's name and lines; `client_writer` (one thread per client)
//!   writes what the broadcaster queued for that client.
//!
//! Where it deliberately differs from the Go original, and why:
//!
//! - Each client's backlog is bounded in bytes (`--max-backlog`, and all of them together by
//!   `--max-backlog-total`) and the broadcaster never blocks on it ([`backlog`]): a client that
//!   reads never loses a line, one that does not has messages dropped for it alone, counted, and
//!   is told how many once it catches up (exercise 8.15). The Go original's broadcaster blocks
//!   on the slowest client, so one client that stops reading stalls the whole room.
//! - `client_writer` drains everything queued and writes it in one `write` per wake. One write
//!   per message is the original's throughput bottleneck.
//! - A client that does not take a batch within 10 s is disconnected (the socket's write
//!   timeout, shortened after each partial write so a client taking a trickle cannot dodge it).
//! - Lines are read through a bounded buffer: a line longer than `--max-line` is dropped (the
//!   sender is told) without being stored, and the connection stays. Invalid UTF-8 becomes
//!   U+FFFD instead of travelling as raw bytes.
//! - Names must be unique (exercise 8.14): a taken name, or a look-alike of one, is refused and
//!   the server asks again; so is a name that would make lines ambiguous ([`text`]).
//! - Message text is cleaned of control characters, shown visibly ([`text::clean_message`]), so
//!   no client can clear others' screens or fake another sender.
//! - At `--max-clients` a newcomer is told the server is full and closed; a failed thread spawn
//!   refuses that one connection instead of panicking.
//! - Cancellation (Ctrl-C in `main`, any [`Done`] in tests) tells every client the server is
//!   shutting down, closes every connection and returns once every thread has ended, within a
//!   second whatever the clients do: a socket still busy `2 x shutdown_grace` after the signal
//!   (a client that stopped reading) is cut.
//! - The log goes through a thread of its own ([`log`]), so a stderr nobody reads never stalls
//!   the broadcaster, and a closed stderr is no reason to panic.
//!
//! The protocol, line by line, is in the workspace's SPEC.md ("chat").

pub mod backlog;
mod limits;
mod lines;
pub mod log;
pub mod text;

pub use limits::listen;

use std::collections::HashMap;
use std::io::{self, ErrorKind, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use common::done::Done;
use crossbeam_channel::{Receiver, Sender, bounded, select};

use crate::backlog::{Backlog, Bounds, Counts, Drain};
use crate::limits::Reserve;
use crate::lines::{Line, LineReader};
use crate::log::Log;

/// The stack of every connection thread: they hold little (their buffers are on the heap), and a
/// small stack halves spawn time and keeps thousands of clients cheap (FIELD-NOTES.md).
const STACK_SIZE: usize = 64 << 10;
/// Capacity of the broadcaster's event channel: readers wait when it is full (backpressure on
/// senders), the broadcaster never does.
const EVENT_QUEUE: usize = 1024;
/// A writer's batch stops growing here, so one wake writes at most about this much.
const MAX_BATCH: usize = 256 << 10;
/// A writer keeps a batch buffer of up to this capacity between wakes; a larger one (a burst, or
/// the long `Current clients:` line of a crowded room) is given back.
const BATCH_KEPT: usize = 4 << 10;
/// The name prompt. Every line the server sends ends in `\n`, the prompt included.
const PROMPT: &str = "Enter your name:\n";

/// How the server behaves; [`Config::default`] is the command line's defaults.
#[derive(Clone, Debug)]
pub struct Config {
    /// A client that completes no line for this long is told so and disconnected (ex. 8.13). At
    /// most a year.
    pub idle_timeout: Duration,
    /// Bytes held for one client beyond what its socket took; more are dropped for that client
    /// (ex. 8.15), and it is told how many once it catches up.
    pub max_backlog: usize,
    /// Bytes held for all clients together; past it, the largest backlogs drop first.
    pub max_backlog_total: usize,
    /// The longest line, in bytes, that is broadcast; longer ones are dropped.
    pub max_line: usize,
    /// Connections (named or still naming) served at once; more are refused. Never more than
    /// the process's limits allow (the default, `usize::MAX`, means just that).
    pub max_clients: usize,
    /// A client whose socket accepts nothing for this long is disconnected (10 s).
    pub write_timeout: Duration,
    /// At shutdown, how long a writer may take to deliver what is queued before its connection
    /// is cut; any connection still busy after twice this is cut too (so shutdown finishes
    /// within a second even with stalled clients). At most 10 s.
    pub shutdown_grace: Duration,
    /// Write the log (arrivals, departures, drops, errors) to stderr, one `chat: ...` line each.
    /// The binary does; the in-process tests turn it off to keep the test run's output tidy
    /// (the test harness does not capture a thread's direct writes to stderr), and the tests of
    /// the binary read it.
    pub log: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            idle_timeout: Duration::from_secs(300),
            max_backlog: 1 << 20,
            max_backlog_total: 256 << 20,
            max_line: 8192,
            max_clients: usize::MAX,
            write_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_millis(300),
            log: true,
        }
    }
}

/// What a finished server reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Connections accepted (refused ones included).
    pub connections: u64,
    /// Messages dropped because a client's backlog was full, summed over clients.
    pub dropped: u64,
}

/// One message on its way to clients: formatted once, shared by every queue it sits in.
pub type Message = Arc<str>;

/// What connection threads tell the broadcaster (the book's `entering`, `messages` and
/// `leaving` channels, merged into one so that all three share one order).
pub enum Event {
    /// A client asks to join under `name`; the broadcaster answers on `reply`: `true` if the name
    /// was free and the client is now in, `false` if the name is taken.
    Join {
        id: u64,
        name: Arc<str>,
        reply: Sender<Option<Joined>>,
    },
    /// A line to broadcast to everyone, the sender included, already formatted.
    Say(Message),
    /// A client has gone.
    Leave { id: u64 },
}

/// The broadcaster's answer to a join whose name was free: the client's queue, and its two
/// ends of the backlog's accounting.
pub struct Joined {
    queue: Receiver<Message>,
    drain: Drain,
    own: Backlog,
}

/// Serves chat clients on `listener` until `done` fires, then tells every client the server is
/// shutting down, closes every connection, and returns once every thread it started has ended.
/// An error means the server could not start (its first threads could not be spawned).
pub fn run(listener: TcpListener, config: Config, done: Done) -> io::Result<Summary> {
    // Out-of-range values are brought into range rather than trusted: a deadline far in the
    // future would overflow the clock's arithmetic.
    const YEAR: Duration = Duration::from_secs(365 * 24 * 3600);
    let config = Arc::new(Config {
        idle_timeout: config.idle_timeout.min(YEAR),
        max_line: config.max_line.max(1),
        write_timeout: config.write_timeout.min(YEAR),
        shutdown_grace: config.shutdown_grace.min(Duration::from_secs(10)),
        ..config
    });
    let (log, logger) = if config.log {
        let (log, logger) = Log::start()?;
        (log, Some(logger))
    } else {
        (Log::discard(), None)
    };
    let (events_tx, events_rx) = bounded::<Event>(EVENT_QUEUE);
    let broadcaster = {
        let (done, log) = (done.clone(), log.clone());
        thread::Builder::new().name("broadcaster".into()).spawn({
            let config = Arc::clone(&config);
            move || broadcaster(events_rx, &config, done, log)
        })?
    };
    // A blocked `accept` wakes when the listening socket is shut down (Linux), from the hook.
    let wake = listener.try_clone()?;
    let _wake_accept = done.on_cancel(move || {
        let _ = socket2::SockRef::from(&wake).shutdown(Shutdown::Both);
    });
    let max_clients = client_limit(&config, &log);
    let live = Arc::new(AtomicUsize::new(0));
    // Each connection thread holds a clone of `alive_tx` until it returns; all gone disconnects
    // `alive_rx` (how the shutdown waits for them with a deadline).
    let (alive_tx, alive_rx) = bounded::<()>(0);
    // Each connection thread says its id here as it ends, so that it is joined and forgotten
    // soon; its socket is only held weakly, so it closes the moment the connection ends.
    let (ended_tx, ended_rx) = crossbeam_channel::unbounded::<u64>();
    let mut conns: HashMap<u64, (JoinHandle<()>, Weak<TcpStream>)> = HashMap::new();
    let mut reserve = Reserve::new();
    let mut connections = 0u64;
    let mut next_id = 0u64;
    while !done.cancelled() {
        for id in ended_rx.try_iter() {
            if let Some((handle, _)) = conns.remove(&id) {
                let _ = handle.join();
            }
        }
        let (conn, peer) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(_) if done.cancelled() => break,
            Err(err) if limits::out_of_descriptors(&err) => {
                // Accept the waiting connection with the reserve descriptor and refuse it, so
                // the queue moves instead of `accept` failing forever.
                connections += 1;
                match reserve.refuse_one(|| listener.accept(), FULL) {
                    Some(peer) => log.line(format_args!("{peer} refused: {err}")),
                    None => {
                        done.wait_timeout(Duration::from_millis(20));
                    }
                }
                continue;
            }
            Err(err) => {
                // A connection reset before accept, or worse: log, wait a little, and go on
                // (a tight loop on a persistent error would spin).
                log.line(format_args!("accept: {err}"));
                done.wait_timeout(Duration::from_millis(20));
                continue;
            }
        };
        connections += 1;
        if live.load(Ordering::SeqCst) >= max_clients {
            log.line(format_args!("{peer} refused: server full"));
            limits::refuse(
                &conn,
                &format!("Server full ({max_clients} clients); try again later\n"),
            );
            continue;
        }
        next_id += 1;
        let conn = Arc::new(conn);
        let spawned = {
            let (conn, events, config, done, live, log, alive, ended) = (
                Arc::clone(&conn),
                events_tx.clone(),
                Arc::clone(&config),
                done.clone(),
                Arc::clone(&live),
                log.clone(),
                alive_tx.clone(),
                ended_tx.clone(),
            );
            live.fetch_add(1, Ordering::SeqCst);
            let id = next_id;
            thread::Builder::new()
                .name("handle_conn".into())
                .stack_size(STACK_SIZE)
                .spawn(move || {
                    let _alive = alive;
                    handle_conn(&conn, peer, id, &events, &config, &done, &log);
                    drop(conn);
                    live.fetch_sub(1, Ordering::SeqCst);
                    let _ = ended.send(id);
                })
        };
        match spawned {
            Ok(handle) => {
                conns.insert(next_id, (handle, Arc::downgrade(&conn)));
            }
            Err(err) => {
                live.fetch_sub(1, Ordering::SeqCst);
                log.line(format_args!("{peer} refused: spawn: {err}"));
                limits::refuse(&conn, "Server busy; try again later\n");
            }
        }
    }
    drop(events_tx);
    // Each connection thread delivers its farewell line and ends on its own, normally within
    // `shutdown_grace`. Past twice that, a thread is blocked writing to a client that stopped
    // reading (a prompt, a queued batch): cutting its socket fails the write and frees it.
    drop(alive_tx);
    let cut_at = Instant::now() + config.shutdown_grace * 2;
    if alive_rx
        .recv_deadline(cut_at)
        .is_err_and(|err| err.is_timeout())
    {
        for (handle, conn) in conns.values() {
            if let Some(conn) = conn.upgrade().filter(|_| !handle.is_finished()) {
                let _ = conn.shutdown(Shutdown::Both);
            }
        }
    }
    for (_, (handle, _)) in conns {
        let _ = handle.join();
    }
    let dropped = broadcaster.join().unwrap_or(0);
    if dropped > 0 {
        log.line(format_args!("{dropped} messages dropped for slow clients"));
    }
    log.line("shut down");
    drop(log);
    if let Some(logger) = logger {
        logger.finish(config.shutdown_grace);
    }
    Ok(Summary {
        connections,
        dropped,
    })
}

/// What a newcomer is told when no descriptor is left for it.
const FULL: &str = "Server full; try again later\n";

/// The most clients served at once: `--max-clients`, but never more than the process's limits
/// allow (a thread that cannot start must never take the server down). Logged at start-up.
fn client_limit(config: &Config, log: &Log) -> usize {
    let capacity = limits::capacity(2);
    if config.max_clients <= capacity.clients {
        log.line(format_args!(
            "serving at most {} clients (--max-clients)",
            config.max_clients
        ));
        config.max_clients
    } else {
        log.line(format_args!(
            "serving at most {} clients (the limit of this process's {})",
            capacity.clients, capacity.bound_by
        ));
        capacity.clients
    }
}

/// A client as the broadcaster sees it.
struct Client {
    id: u64,
    name: Arc<str>,
    /// What names are compared by ([`text::name_key`]): no two clients share one.
    key: String,
    /// The client's outgoing queue, bounded in bytes; the broadcaster never blocks on it.
    backlog: Backlog,
    /// Messages dropped for this client because its backlog was full.
    dropped: u64,
}

impl Client {
    /// Queues `message` for this client or, if its backlog is full, drops and counts it. Logs
    /// the first drop only (a stalled client would otherwise flood the log); the total is logged
    /// when the client leaves.
    fn offer(&mut self, message: &Message, bounds: Bounds, log: &Log) -> bool {
        if self.backlog.offer(message, bounds) {
            return true;
        }
        if self.dropped == 0 {
            log.line(format_args!(
                "{}: backlog full, dropping messages",
                self.name
            ));
        }
        self.dropped += 1;
        false
    }
}

/// Owns the set of clients (in arrival order) and relays every event to it: the book's
/// `broadcaster`. Returns the number of messages dropped for full queues when `done` fires or
/// every connection thread (and `run`) has gone.
fn broadcaster(events: Receiver<Event>, config: &Config, done: Done, log: Log) -> u64 {
    let mut clients: Vec<Client> = Vec::new();
    let mut dropped = 0u64;
    let total = Arc::new(AtomicUsize::new(0));
    loop {
        let bounds = Bounds {
            per_client: config.max_backlog,
            total: config.max_backlog_total,
            clients: clients.len(),
        };
        let event = select! {
            recv(events) -> event => match event {
                Ok(event) => event,
                Err(_) => break,
            },
            recv(done.channel()) -> _ => break,
        };
        match event {
            Event::Say(message) => {
                for client in &mut clients {
                    if !client.offer(&message, bounds, &log) {
                        dropped += 1;
                    }
                }
            }
            Event::Join { id, name, reply } => {
                let key = text::name_key(&name);
                if clients.iter().any(|client| client.key == key) {
                    let _ = reply.send(None);
                    continue;
                }
                let others = text::client_list(clients.iter().map(|client| &*client.name));
                // One queue item, so the two lines arrive together and before anything else.
                let welcome: Message =
                    format!("You are {name}\nCurrent clients: {others}\n").into();
                let arrival: Message = format!("{name} has arrived\n").into();
                for client in &mut clients {
                    if !client.offer(&arrival, bounds, &log) {
                        dropped += 1;
                    }
                }
                let (queue_tx, queue_rx) = crossbeam_channel::unbounded();
                let counts = Arc::new(Counts::default());
                let backlog = Backlog::new(queue_tx, Arc::clone(&counts), Arc::clone(&total));
                let joined = Joined {
                    queue: queue_rx,
                    drain: Drain::new(counts, Arc::clone(&total)),
                    own: backlog.clone(),
                };
                let mut client = Client {
                    id,
                    name,
                    key,
                    backlog,
                    dropped: 0,
                };
                client.offer(&welcome, bounds, &log);
                log.line(format_args!("{} has arrived", client.name));
                clients.push(client);
                let _ = reply.send(Some(joined));
            }
            Event::Leave { id } => {
                let Some(index) = clients.iter().position(|client| client.id == id) else {
                    continue;
                };
                let gone = clients.remove(index);
                if gone.dropped > 0 {
                    log.line(format_args!(
                        "{}: {} messages dropped",
                        gone.name, gone.dropped
                    ));
                }
                log.line(format_args!("{} has left", gone.name));
                let departure: Message = format!("{} has left\n", gone.name).into();
                for client in &mut clients {
                    if !client.offer(&departure, bounds, &log) {
                        dropped += 1;
                    }
                }
            }
        }
    }
    dropped
}

/// Why a connection ended.
enum End {
    /// The client closed (or reset) its connection.
    Closed,
    /// No line for the idle timeout (ex. 8.13).
    Idle,
    /// The server is shutting down.
    Shutdown,
    /// A read failed for another reason.
    Failed(io::Error),
}

/// Serves one client: asks for its name, joins it to the room, reads its lines until it leaves,
/// and tears down (leave event, writer joined, farewell line, socket closed). The book's
/// `handleConn`. Returns only when the client's writer thread has ended too.
pub fn handle_conn(
    conn: &Arc<TcpStream>,
    peer: SocketAddr,
    id: u64,
    events: &Sender<Event>,
    config: &Config,
    done: &Done,
    log: &Log,
) {
    // Cancellation wakes a blocked read by shutting the read side down (writes still work, for
    // the farewell line). The hook is unregistered when this function returns.
    let _wake = {
        let conn = Arc::clone(conn);
        done.on_cancel(move || {
            let _ = conn.shutdown(Shutdown::Read);
        })
    };
    let _ = conn.set_nodelay(true);
    let _ = conn.set_write_timeout(Some(config.write_timeout));
    let mut reader = LineReader::new(config.max_line);
    let mut deadline = Instant::now() + config.idle_timeout;

    // Naming (ex. 8.14): no writer thread yet; this thread writes the prompts itself.
    let joined = loop {
        if write_line(conn, PROMPT).is_err() {
            break None;
        }
        let name = match reader.next_line(conn, deadline) {
            Ok(Some(Line::Text(bytes))) => text::clean_name(bytes, peer),
            Ok(Some(Line::TooLong)) => {
                deadline = Instant::now() + config.idle_timeout;
                let _ = write_line(conn, "Name too long; try a shorter one\n");
                continue;
            }
            Ok(None) => {
                if done.cancelled() {
                    farewell(conn, &End::Shutdown, config);
                }
                break None;
            }
            Err(err) => {
                let end = classify(err, done);
                farewell(conn, &end, config);
                break None;
            }
        };
        deadline = Instant::now() + config.idle_timeout;
        if let Some(why) = text::name_problem(&name, peer) {
            let _ = write_line(
                conn,
                &format!("Name {name} refused: {why}; choose another\n"),
            );
            continue;
        }
        let (reply_tx, reply_rx) = bounded::<Option<Joined>>(1);
        let name: Arc<str> = name.into();
        let join = Event::Join {
            id,
            name: Arc::clone(&name),
            reply: reply_tx,
        };
        if events.send(join).is_err() {
            // The broadcaster has stopped: the server is shutting down.
            farewell(conn, &End::Shutdown, config);
            break None;
        }
        // The broadcaster always answers unless it has stopped for the shutdown (a Join left in
        // its channel then never gets an answer, so watch `done` as well).
        let reply = select! {
            recv(reply_rx) -> reply => reply.ok(),
            recv(done.channel()) -> _ => None,
        };
        match reply {
            Some(Some(joined)) => break Some((name, joined)),
            Some(None) => {
                let _ = write_line(conn, &format!("Name {name} is taken; choose another\n"));
            }
            None => {
                farewell(conn, &End::Shutdown, config);
                break None;
            }
        }
    };
    let Some((name, Joined { queue, drain, own })) = joined else {
        let _ = conn.shutdown(Shutdown::Both);
        return;
    };

    // The writer holds `finished` until it returns: its disconnection says "writer done".
    let (finished_tx, finished_rx) = bounded::<()>(0);
    let writer = {
        let conn = Arc::clone(conn);
        let name = Arc::clone(&name);
        let log = log.clone();
        let write_timeout = config.write_timeout;
        thread::Builder::new()
            .name("client_writer".into())
            .stack_size(STACK_SIZE)
            .spawn(move || {
                let _finished = finished_tx;
                if let Err(err) = client_writer(&conn, queue, &drain, write_timeout) {
                    log.line(format_args!("{name}: write failed, disconnecting: {err}"));
                    // Wakes this client's reader, which then says Leave.
                    let _ = conn.shutdown(Shutdown::Both);
                }
            })
    };
    let writer = match writer {
        Ok(writer) => writer,
        Err(err) => {
            log.line(format_args!("{name}: spawn writer: {err}"));
            let _ = events.send(Event::Leave { id });
            let _ = write_line(conn, "Server busy; try again later\n");
            let _ = conn.shutdown(Shutdown::Both);
            return;
        }
    };

    let own_bounds = Bounds {
        per_client: config.max_backlog,
        total: config.max_backlog_total,
        clients: 1,
    };
    let too_long: Message =
        format!("Line too long (over {} bytes); dropped\n", config.max_line).into();
    let end = loop {
        match reader.next_line(conn, deadline) {
            Ok(Some(Line::Text(bytes))) => {
                deadline = Instant::now() + config.idle_timeout;
                let text = text::clean_message(bytes);
                let message: Message = format!("{name}: {text}\n").into();
                if events.send(Event::Say(message)).is_err() {
                    break End::Shutdown;
                }
            }
            Ok(Some(Line::TooLong)) => {
                // A dropped line is still a line: the client is active (as while naming).
                deadline = Instant::now() + config.idle_timeout;
                log.line(format_args!(
                    "{name}: line over {} bytes dropped",
                    config.max_line
                ));
                // Like any message, the notice is dropped if the client's backlog is full (it
                // is then not reading anyway); the log line above is the record.
                own.offer(&too_long, own_bounds);
            }
            Ok(None) if done.cancelled() => break End::Shutdown,
            Ok(None) => break End::Closed,
            Err(err) => break classify(err, done),
        }
    };
    match &end {
        End::Idle => log.line(format_args!("{name} idle, disconnecting")),
        End::Failed(err) => log.line(format_args!("{name}: read failed: {err}")),
        End::Closed | End::Shutdown => {}
    }
    if !matches!(end, End::Shutdown) {
        // (At shutdown nobody needs to hear who left: everyone is told the server is stopping.)
        let _ = events.send(Event::Leave { id });
    }
    drop(own);
    // Wait for the writer to deliver what is queued (at most the 10 s stall limit). If the server
    // shuts down meanwhile, or already has, the writer gets `shutdown_grace` more; one still
    // blocked on a stalled client is then cut loose so shutdown stays prompt.
    let writer_stuck = select! {
        recv(finished_rx) -> _ => false,
        recv(done.channel()) -> _ => finished_rx
            .recv_timeout(config.shutdown_grace)
            .is_err_and(|err| err.is_timeout()),
    };
    if writer_stuck {
        let _ = conn.shutdown(Shutdown::Both);
    }
    let _ = writer.join();
    farewell(conn, &end, config);
    let _ = conn.shutdown(Shutdown::Both);
}

/// Decides what a failed read means: shutdown, idle, or a real error.
fn classify(err: io::Error, done: &Done) -> End {
    if done.cancelled() {
        End::Shutdown
    } else if err.kind() == ErrorKind::TimedOut {
        End::Idle
    } else if matches!(
        err.kind(),
        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe
    ) {
        End::Closed
    } else {
        End::Failed(err)
    }
}

/// The one line a client is told when the server ends the connection.
fn farewell(conn: &TcpStream, end: &End, config: &Config) {
    let line = match end {
        End::Idle => format!(
            "Disconnected: no message for {}\n",
            humantime::format_duration(config.idle_timeout)
        ),
        End::Shutdown => "Server shutting down\n".to_string(),
        End::Closed | End::Failed(_) => return,
    };
    if matches!(end, End::Shutdown) {
        let _ = conn.set_write_timeout(Some(config.shutdown_grace));
    }
    let _ = write_line(conn, &line);
}

fn write_line(mut conn: &TcpStream, line: &str) -> io::Result<()> {
    conn.write_all(line.as_bytes())
}

/// Writes everything queued for one client: the book's `clientWriter`, batched. Each wake drains
/// the whole queue into one buffer and writes it with one `write` (more only if the socket takes
/// part of it), so a burst of N messages costs one system call instead of N. Once the queue is
/// empty, a client that missed messages is told how many. Returns when the queue is disconnected
/// (the client left and the broadcaster dropped it) or a write fails; a batch the client does
/// not take within `stall` fails with `TimedOut` (exercise 8.15).
pub fn client_writer(
    conn: &TcpStream,
    queue: Receiver<Message>,
    drain: &Drain,
    stall: Duration,
) -> io::Result<()> {
    let mut batch: Vec<u8> = Vec::with_capacity(BATCH_KEPT);
    while let Ok(first) = queue.recv() {
        batch.clear();
        batch.extend_from_slice(first.as_bytes());
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(next) => batch.extend_from_slice(next.as_bytes()),
                Err(_) => break,
            }
        }
        let written = write_batch(conn, &batch, stall);
        drain.written(batch.len());
        written?;
        // Drops happen while a write waits on a full socket: told once the queue is empty.
        if queue.is_empty()
            && let Some(notice) = drain.caught_up()
        {
            write_batch(conn, notice.as_bytes(), stall)?;
        }
        if batch.capacity() > BATCH_KEPT {
            // Give back a burst's (or a long welcome's) buffer: idle clients stay cheap.
            batch = Vec::with_capacity(BATCH_KEPT);
        }
    }
    Ok(())
}

/// Writes all of `batch`, failing with `TimedOut` if that takes longer than `stall`. The socket's
/// write timeout alone would not do: it bounds each `write` call, and a client that takes a few
/// bytes now and then (a full receive buffer the kernel keeps compacting) would never time out.
/// The socket's timeout is `stall` on entry and is left so on return.
fn write_batch(mut conn: &TcpStream, batch: &[u8], stall: Duration) -> io::Result<()> {
    let deadline = Instant::now() + stall;
    let mut rest = batch;
    let mut shortened = false;
    let result = loop {
        match conn.write(rest) {
            Ok(0) => break Err(ErrorKind::WriteZero.into()),
            Ok(n) if n == rest.len() => break Ok(()),
            Ok(n) => rest = &rest[n..],
            Err(err) if err.kind() == ErrorKind::Interrupted => continue,
            Err(err) if err.kind() == ErrorKind::WouldBlock => {
                break Err(ErrorKind::TimedOut.into());
            }
            Err(err) => break Err(err),
        }
        // Part of the batch went out: what is left has only the rest of the deadline.
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break Err(ErrorKind::TimedOut.into());
        }
        shortened = true;
        if let Err(err) = conn.set_write_timeout(Some(left)) {
            break Err(err);
        }
    };
    if shortened && result.is_ok() {
        conn.set_write_timeout(Some(stall))?;
    }
    result
}
