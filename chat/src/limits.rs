//! The process's limits, so that no limit ever ends the server (SPEC.md, chat, item 10).
//!
//! - [`listen`]: binds with the kernel's largest accept queue (SOMAXCONN, as Go does); std's
//!   `TcpListener::bind` asks for 128, which a burst of connects overflows (each dropped SYN
//!   costs its client a one-second retransmit).
//! - `common::rlimit::raise_descriptor_limit` (called by [`capacity`]): the soft descriptor
//!   limit up to the hard one, as Go's runtime does at start-up.
//! - [`capacity`]: how many clients this process can hold, from descriptors and, for a thread
//!   per connection, threads and memory maps. A thread whose start-up cannot map its signal
//!   stack panics inside std's `extern "C"` thread entry, which aborts whatever the panic
//!   strategy: the only safe course is never to get near that limit.
//! - [`Reserve`]: a descriptor held back, so that a connection arriving when every descriptor is
//!   taken can still be accepted, told the server is full and closed (instead of `accept`
//!   failing with EMFILE forever while the connection waits in the queue).

use std::fs::File;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};

use socket2::{Domain, Socket, Type};

/// Descriptors kept for the server itself (poll, wakers, reserve, ...) beyond those open at
/// start-up: an eighth of the limit, within these bounds.
const SPARE_DESCRIPTORS: (usize, usize) = (8, 64);
/// Memory maps kept for the heap, libraries and the allocator's arenas.
const SPARE_MAPS: usize = 2048;
/// Memory maps one thread costs: its stack and guard page, its signal stack and guard page.
const MAPS_PER_THREAD: usize = 4;
/// Threads kept for the server's own (broadcaster, loops, log) and the test harness's.
const SPARE_THREADS: usize = 64;

/// Binds `addr` (the first of its resolved addresses that binds) and listens with the kernel's
/// maximum accept queue.
pub fn listen(addr: &str) -> io::Result<TcpListener> {
    let mut last = io::Error::new(io::ErrorKind::InvalidInput, "no address to bind");
    for addr in addr.to_socket_addrs()? {
        match listen_on(addr) {
            Ok(listener) => return Ok(listener),
            Err(err) => last = err,
        }
    }
    Err(last)
}

fn listen_on(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(somaxconn())?;
    Ok(socket.into())
}

/// The kernel's cap on a listen backlog (a larger request is cut to it), as Go reads it.
fn somaxconn() -> i32 {
    std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(libc::SOMAXCONN)
        .max(libc::SOMAXCONN)
}

/// How many clients this process can hold at once, and which limit says so.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capacity {
    pub clients: usize,
    pub bound_by: &'static str,
}

/// The clients this process can serve: one descriptor each (beyond `engine_descriptors` the
/// engine is yet to open), and with `threads_per_client` > 0 that many threads (and their
/// memory maps) each too.
pub fn capacity(threads_per_client: usize, engine_descriptors: usize) -> Capacity {
    let limit = usize::try_from(common::rlimit::raise_descriptor_limit()).unwrap_or(usize::MAX);
    let spare = (limit / 8).clamp(SPARE_DESCRIPTORS.0, SPARE_DESCRIPTORS.1) + engine_descriptors;
    let descriptors = limit
        .saturating_sub(count_entries("/proc/self/fd"))
        .saturating_sub(spare);
    let mut capacity = Capacity {
        clients: descriptors.max(1),
        bound_by: "descriptors",
    };
    for (threads, bound_by) in [
        (thread_limit(), "threads"),
        (map_limit() / MAPS_PER_THREAD, "memory maps"),
    ] {
        let Some(clients) = threads
            .saturating_sub(SPARE_THREADS)
            .checked_div(threads_per_client)
        else {
            break;
        };
        if clients.max(1) < capacity.clients {
            capacity = Capacity {
                clients: clients.max(1),
                bound_by,
            };
        }
    }
    capacity
}

/// Threads this process may still start: RLIMIT_NPROC (per user), threads-max, pid_max.
fn thread_limit() -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit with a valid resource and a pointer to a live rlimit.
    let nproc = if unsafe { libc::getrlimit(libc::RLIMIT_NPROC, &mut limit) } == 0
        && limit.rlim_cur != libc::RLIM_INFINITY
    {
        usize::try_from(limit.rlim_cur).unwrap_or(usize::MAX)
    } else {
        usize::MAX
    };
    let kernel = read_number("/proc/sys/kernel/threads-max")
        .min(read_number("/proc/sys/kernel/pid_max"))
        .min(nproc);
    kernel.saturating_sub(count_entries("/proc/self/task"))
}

/// Memory maps this process may still create (vm.max_map_count less those in use).
fn map_limit() -> usize {
    let in_use = std::fs::read("/proc/self/maps")
        .map(|maps| maps.iter().filter(|&&b| b == b'\n').count())
        .unwrap_or(0);
    read_number("/proc/sys/vm/max_map_count")
        .saturating_sub(in_use)
        .saturating_sub(SPARE_MAPS)
}

fn read_number(path: &str) -> usize {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(usize::MAX)
}

fn count_entries(dir: &str) -> usize {
    std::fs::read_dir(dir).map(Iterator::count).unwrap_or(0)
}

/// One descriptor held back for the moment all others are taken.
pub struct Reserve(Option<File>);

impl Reserve {
    pub fn new() -> Reserve {
        Reserve(File::open("/dev/null").ok())
    }

    /// Out of descriptors: frees the reserve, accepts one waiting connection with it (`accept`
    /// is the caller's, blocking or not), tells it `why` and closes it, then takes the reserve
    /// back. Returns the refused peer, if a connection was waiting.
    pub fn refuse_one(
        &mut self,
        accept: impl FnOnce() -> io::Result<(TcpStream, SocketAddr)>,
        why: &str,
    ) -> Option<SocketAddr> {
        self.0 = None;
        let refused = accept().ok().map(|(conn, peer)| {
            refuse(&conn, why);
            peer
        });
        *self = Reserve::new();
        refused
    }
}

impl Default for Reserve {
    fn default() -> Reserve {
        Reserve::new()
    }
}

/// True for the errors `accept` gives when the process or the system is out of descriptors.
pub fn out_of_descriptors(err: &io::Error) -> bool {
    matches!(err.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

/// Tells a refused connection why in one line, without ever blocking, and closes it.
pub fn refuse(conn: &TcpStream, why: &str) {
    use std::io::Write;
    let _ = conn.set_nonblocking(true);
    let _ = (&*conn).write(why.as_bytes());
    let _ = conn.shutdown(std::net::Shutdown::Both);
}
