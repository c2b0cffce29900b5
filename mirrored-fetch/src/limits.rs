//! How many mirrors are asked at once: every one of them, as the book does, unless the process's
//! descriptors would run out first. The soft descriptor limit is raised to the hard one
//! (`common::rlimit`, as chat does); beyond what that allows, a mirror waits for a request
//! before it to end, instead of failing with EMFILE.

use std::time::Instant;

/// Descriptors kept for the program itself: the standard streams, the Ctrl-C handler's, the
/// winner's spool file while another mirror starts, a resolver's files.
const SPARE_DESCRIPTORS: usize = 16;
/// Descriptors one request holds at most: its socket and its spool file.
const PER_REQUEST: usize = 2;
/// Requests in flight at most, whatever the descriptors allow: each holds a thread (its stack,
/// memory maps, a slot of the kernel's thread limit) and buffers.
pub(crate) const MOST_AT_ONCE: usize = 1024;

/// How many of `mirrors` requests may be in flight at once (at least 1). Raises the soft
/// descriptor limit to the hard one first.
pub(crate) fn at_once(mirrors: usize) -> usize {
    let limit = usize::try_from(common::rlimit::raise_descriptor_limit()).unwrap_or(usize::MAX);
    let open = std::fs::read_dir("/proc/self/fd").map_or(3, Iterator::count);
    let room = limit.saturating_sub(open + SPARE_DESCRIPTORS) / PER_REQUEST;
    mirrors.min(room.max(1)).min(MOST_AT_ONCE)
}

/// A mirror's turn came after `deadline`: it was never asked, as `at_once` requests were in
/// flight until then.
pub(crate) fn in_time(deadline: Option<Instant>, at_once: usize) -> Result<(), String> {
    if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
        return Err(format!(
            "not asked before --timeout: the descriptor limit allows {at_once} requests at once"
        ));
    }
    Ok(())
}
