//! How many mirrors are asked at once: every one of them, as the book does, unless the process's
//! descriptors would run out first. The soft descriptor limit is raised to the hard one
//! (`common::rlimit`, as chat does); beyond what that allows, a mirror waits for a request
//! before it to end, instead of failing with EMFILE. Under a limit on address space (`ulimit
//! -v`), requests at once are bounded by it too: a thread that cannot get memory aborts the
//! process (measured: 500 mirrors aborted under `ulimit -v 800000`, where glibc's per-thread arenas
//! had taken most of the space; 60 ran under 200000).

use std::time::Instant;

/// Descriptors kept for the program itself: the standard streams, the Ctrl-C handler's, the
/// winner's spool file while another mirror starts, a resolver's files.
const SPARE_DESCRIPTORS: usize = 16;
/// Descriptors one request holds at most: its socket and its spool file.
const PER_REQUEST: usize = 2;
/// Requests in flight at most, whatever the descriptors allow: each holds a thread (its stack,
/// memory maps, a slot of the kernel's thread limit) and buffers.
pub(crate) const MOST_AT_ONCE: usize = 1024;
/// Address space one request may take: its thread's stack (256 KiB) and signal stack, its
/// buffers and body memory: generous, as running short aborts.
const ADDRESS_SPACE_PER_REQUEST: usize = 4 << 20;
/// Address space glibc reserves for each per-thread arena (up to 8 per core), which a new
/// thread's allocations may open.
const ADDRESS_SPACE_PER_ARENA: usize = 64 << 20;

/// How many of `mirrors` requests may be in flight at once (at least 1), and what bounds it
/// (for messages). Raises the soft descriptor limit to the hard one first.
pub(crate) fn at_once(mirrors: usize) -> (usize, &'static str) {
    let limit = usize::try_from(common::rlimit::raise_descriptor_limit()).unwrap_or(usize::MAX);
    let open = common::rlimit::open_descriptors();
    let room = limit.saturating_sub(open + SPARE_DESCRIPTORS) / PER_REQUEST;
    [
        (room, "the descriptor limit"),
        (address_space_room(), "the address-space limit"),
        (MOST_AT_ONCE, "the most mirrored-fetch asks at once"),
    ]
    .into_iter()
    .fold((mirrors, "the mirrors"), |least, (n, why)| {
        if n.max(1) < least.0 {
            (n.max(1), why)
        } else {
            least
        }
    })
}

/// Requests the address space left under `RLIMIT_AS` holds (`usize::MAX` with no limit).
fn address_space_room() -> usize {
    let limit = common::rlimit::address_space_limit();
    let Some(limit) = limit.and_then(|limit| usize::try_from(limit).ok()) else {
        return usize::MAX;
    };
    // Where /proc does not say, half the limit is taken as used.
    let used = match usize::try_from(common::rlimit::address_space_used()) {
        Ok(0) | Err(_) => limit / 2,
        Ok(bytes) => bytes,
    };
    let left = limit.saturating_sub(used);
    // The first requests may each open an arena as well; the rest share them.
    let arenas = 8 * std::thread::available_parallelism().map_or(1, usize::from);
    let with_arena = ADDRESS_SPACE_PER_ARENA + ADDRESS_SPACE_PER_REQUEST;
    match left.checked_sub(arenas * with_arena) {
        None => left / with_arena,
        Some(rest) => arenas + rest / ADDRESS_SPACE_PER_REQUEST,
    }
}

/// A mirror's turn came after `deadline`: it was never asked, as `at_once` requests (and what
/// bounds them) were in flight until then.
pub(crate) fn in_time(
    deadline: Option<Instant>,
    (at_once, bound): (usize, &str),
) -> Result<(), String> {
    if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
        return Err(format!(
            "not asked before --timeout: {bound} allows {at_once} requests at once"
        ));
    }
    Ok(())
}
