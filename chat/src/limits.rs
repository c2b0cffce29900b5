//! The process's limits, so that no limit ever ends the server (SPEC.md, chat, item 10).
//!
//! [`fit`] raises the soft descriptor limit to the hard one (as Go's runtime does), then sizes
//! the client limit and the total backlog from every limit that binds, each client at the worst
//! it can make the server hold: a thread that cannot map its signal stack, and a failed `malloc`,
//! abort the process whatever the panic strategy. [`Reserve`] keeps a descriptor back to refuse
//! a connection with when all others are taken.

use std::fs::File;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};

use crate::log::Log;
use crate::{Config, Engine};

/// Descriptors kept for the server's own (poll, wakers, reserve): an eighth of the limit, within.
const SPARE_DESCRIPTORS: (usize, usize) = (2, 64);
/// Memory maps kept for the heap, libraries and the allocator's arenas.
const SPARE_MAPS: usize = 2048;
/// Memory maps one thread costs: its stack and guard page, its signal stack and guard page.
const MAPS_PER_THREAD: usize = 4;
/// Threads kept for the server's own (broadcaster, loops, log) and the test harness's.
const SPARE_THREADS: usize = 64;
/// The stack of every thread-engine connection thread: they hold little (but for the 1 KiB read
/// buffer, on the heap), and a small stack halves spawn time and keeps clients cheap.
pub const THREAD_STACK: usize = 64 << 10;
/// The stack of a thread started without a size (std's default): event loops, the broadcaster.
const DEFAULT_STACK: usize = 2 << 20;
/// Memory kept for the server itself under a memory limit (libraries, the log, loops' buffers).
const SPARE_MEMORY: usize = 8 << 20;
/// What one glibc malloc arena reserves of the address space (`HEAP_MAX_SIZE` on 64 bits).
const ARENA: usize = 64 << 20;
/// glibc keeps up to this much of ended threads' stacks mapped, for reuse (`stack_cache_maxsize`).
const STACK_CACHE: usize = 40 << 20;
/// What a byte of backlog may cost at worst: a message of a few bytes takes a 32-byte shared
/// allocation and a 16-24-byte queue slot per queue it is in, and a writer's batch doubles.
const BACKLOG_OVERHEAD: usize = 16;
/// A connection's heap beyond its line buffer: session, queues, registration, a kept batch.
const CLIENT_HEAP: usize = 8 << 10;
/// An event loop's read buffer: the largest read it pushes into a client's session at once.
pub const EVENTS_READ: usize = 16 << 10;
/// A thread-engine connection's read buffer. Small, because every line of one read waits as a
/// message until the room takes it: 1 KiB of empty lines is 1,024 messages (about 190 KiB).
pub const THREAD_READ: usize = 1 << 10;
/// A thread-engine writer's batch stops growing at about this much, so that thousands of writers
/// blocked on full sockets hold little each (counted per client, doubled as a vector grows).
pub const THREAD_BATCH: usize = 16 << 10;
/// What one line of a read costs until the room takes it, at worst: the session's output and an
/// empty line's message (`NAME: \n`, 32 characters of 4 bytes) in a 160-byte allocation.
const LINE_COST: usize = std::mem::size_of::<crate::session::Output>() + 160;

/// What the engine of `config` costs: per client (threads, heap at worst) and for itself.
struct Costs {
    threads_per_client: usize,
    thread_stack: usize,
    heap_per_client: usize,
    engine_descriptors: usize,
    engine_memory: usize,
}

impl Costs {
    fn of(config: &Config) -> Costs {
        // A line buffer holds a partial line of up to `max_line` plus one read, in a vector
        // that may have doubled.
        let line_buffer = |read: usize| 2 * (config.max_line + read);
        // The broadcaster's queue, full of long lines.
        let queue = crate::room::EVENT_QUEUE * (config.max_line + 64);
        match config.engine {
            Engine::Threads => Costs {
                threads_per_client: 2,
                thread_stack: THREAD_STACK,
                // Each client's thread holds one read's messages while the room is behind.
                heap_per_client: CLIENT_HEAP
                    + 2 * THREAD_BATCH
                    + line_buffer(THREAD_READ)
                    + THREAD_READ * LINE_COST,
                engine_descriptors: 0,
                // The broadcaster and the log, and the queue.
                engine_memory: 2 * common::rlimit::thread_cost(DEFAULT_STACK) + queue,
            },
            Engine::Events => Costs {
                threads_per_client: 0,
                thread_stack: 0,
                heap_per_client: CLIENT_HEAP + line_buffer(EVENTS_READ),
                // Each event loop costs a poll and a waker.
                engine_descriptors: 2 * config.loops,
                // Each loop holds one read's messages while the room is behind; the queue; the
                // inboxes hold about the transit limit.
                engine_memory: (config.loops + 2) * common::rlimit::thread_cost(DEFAULT_STACK)
                    + config.loops * EVENTS_READ * LINE_COST
                    + queue
                    + crate::flow::transit_limit(config),
            },
        }
    }
}

/// The most clients served at once (never more than the limits allow), with the backlogs lowered
/// to what memory and a feed hold, each logged; an error if the limits leave room for no client.
pub fn fit(config: &mut Config, log: &Log) -> io::Result<usize> {
    let (capacity, bound_by, backlog) = capacity(config);
    if capacity == 0 {
        return Err(io::Error::other(format!(
            "the limit of this process's {bound_by} leaves no room for a client"
        )));
    }
    if let Some((backlog, bound_by)) = backlog
        && backlog < config.max_backlog_total
    {
        log.line(format_args!(
            "holding at most {} of backlog for all clients together (the limit of this \
             process's {bound_by})",
            common::size::format(backlog as u64)
        ));
        config.max_backlog_total = backlog;
    }
    // A client that holds the room can be twice the high-water mark behind, which its feed keeps
    // past its cap: that must fit the feed's share of the memory.
    let feeds = match config.engine {
        Engine::Threads => 1,
        Engine::Events => config.loops,
    };
    let share = (config.max_backlog_total / feeds / 2).max(1);
    if config.max_backlog > share {
        log.line(format_args!(
            "holding at most {} for one client (half a feed's share of the backlog for all)",
            common::size::format(share as u64)
        ));
        config.max_backlog = share;
    }
    let limit = format!("the limit of this process's {bound_by}");
    let (served, why) = match config.max_clients {
        asked if asked <= capacity => (asked, "--max-clients".to_string()),
        usize::MAX => (capacity, limit),
        asked => (capacity, format!("{limit}; --max-clients {asked} is more")),
    };
    log.line(format_args!("serving at most {} ({why})", clients(served)));
    Ok(served)
}

/// "1 client", "2 clients".
pub fn clients(count: usize) -> String {
    format!("{count} client{}", if count == 1 { "" } else { "s" })
}

/// The clients this process can serve with `config`'s engine, and the limit that says so: one
/// descriptor each (beyond those the engine is yet to open), the engine's threads and their
/// memory maps, and what the memory limits leave once the engine and the backlog have their
/// share. Then the backlog bytes (all clients together) memory allows, and its limit, if any.
fn capacity(config: &Config) -> (usize, &'static str, Option<(usize, &'static str)>) {
    let costs = Costs::of(config);
    let limit = usize::try_from(common::rlimit::raise_descriptor_limit()).unwrap_or(usize::MAX);
    let spare =
        (limit / 8).clamp(SPARE_DESCRIPTORS.0, SPARE_DESCRIPTORS.1) + costs.engine_descriptors;
    let descriptors = limit
        .saturating_sub(common::rlimit::open_descriptors())
        .saturating_sub(spare);
    let (mut capacity, mut bound_by, mut backlog_room) = (descriptors, "descriptors", None);
    let mut bind = |clients: usize, by| {
        if clients < capacity {
            (capacity, bound_by) = (clients, by);
        }
    };
    let threads = common::rlimit::threads_left().saturating_sub(SPARE_THREADS);
    if let Some(clients) = threads.checked_div(costs.threads_per_client) {
        bind(clients, "threads");
    }
    let maps = common::rlimit::maps_left().saturating_sub(SPARE_MAPS);
    if let Some(clients) = (maps / MAPS_PER_THREAD).checked_div(costs.threads_per_client) {
        bind(clients, "memory maps");
    }
    let rooms = common::rlimit::memory_rooms();
    let arenas = rooms
        .iter()
        .find(|room| room.resource == common::rlimit::Memory::AddressSpace)
        .map_or(1, |room| cap_malloc_arenas(room.bytes));
    if let Some(room) = rooms.iter().min_by_key(|room| room.bytes) {
        let room_bytes = usize::try_from(room.bytes).unwrap_or(usize::MAX);
        let room_bytes = room_bytes
            .saturating_sub(SPARE_MEMORY + costs.engine_memory + arenas.saturating_sub(1) * ARENA);
        // A quarter for the backlogs (through their overhead), the rest for the clients.
        // In whole KiB, as the log says it.
        let backlog = (room_bytes / 4 / BACKLOG_OVERHEAD / 1024 * 1024).max(1);
        backlog_room = Some((backlog, room.resource.name()));
        let held = backlog.min(config.max_backlog_total) * BACKLOG_OVERHEAD;
        let stacks = costs.threads_per_client * common::rlimit::thread_cost(costs.thread_stack);
        let room_bytes = room_bytes.saturating_sub(held);
        // glibc keeps ended threads' stacks for reuse, up to its cache's size: at most as many
        // as have run.
        let clients = (room_bytes / (2 * stacks + costs.heap_per_client))
            .max(room_bytes.saturating_sub(STACK_CACHE) / (stacks + costs.heap_per_client));
        bind(clients, room.resource.name());
    }
    (capacity, bound_by, backlog_room)
}

/// Under an address-space limit, caps glibc's malloc arenas (64 MiB each, eight per core by
/// default) at an eighth of the room; returns the arenas there may be.
fn cap_malloc_arenas(room: u64) -> usize {
    let room = usize::try_from(room).unwrap_or(usize::MAX);
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let arenas = (room / 8 / ARENA + 1).min(8 * cores);
    common::rlimit::cap_malloc_arenas(arenas);
    arenas
}

/// One descriptor held back for the moment all others are taken.
pub struct Reserve(Option<File>);

impl Reserve {
    pub fn new() -> Reserve {
        Reserve(File::open("/dev/null").ok())
    }

    /// Out of descriptors: frees the reserve, accepts one waiting connection with it, tells it
    /// `why` and closes it, then takes the reserve back. Returns the refused peer, if any.
    pub fn refuse_one(&mut self, listener: &TcpListener, why: &str) -> Option<SocketAddr> {
        self.0 = None;
        let refused = listener.accept().ok().map(|(conn, peer)| {
            refuse(&conn, why);
            peer
        });
        *self = Reserve::new();
        refused
    }
}

/// Tells a refused connection why in one line, without ever blocking, and closes it.
pub fn refuse(conn: &TcpStream, why: &str) {
    use std::io::Write;
    let _ = conn.set_nonblocking(true);
    let _ = (&*conn).write(why.as_bytes());
    let _ = conn.shutdown(std::net::Shutdown::Both);
}

#[cfg(test)]
#[path = "../tests/unit/limits.rs"]
mod tests;
