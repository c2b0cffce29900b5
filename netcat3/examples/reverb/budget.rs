//! How many threads reverb may run at once under an address-space limit (`ulimit -v`). A thread
//! costs its stack and signal stack in address space, and an allocation that fails aborts any
//! Rust program (as does a thread that cannot map its signal stack), so the only defence is to
//! stay inside the limit: connections wait in the accept queue, and echoes run one after the
//! other on their connection's thread, once the budget is spent. Without such a limit there is
//! no budget; a thread that cannot be started is then handled where it is spawned.

/// Address space counted per thread: a 128 KiB stack, its guard page, the signal stack and its
/// guard, with room to spare.
const PER_THREAD: u64 = 192 << 10;
/// Address space kept for the heap: a quarter of the limit, at least this.
const HEAP: u64 = 16 << 20;
/// Above this many threads a budget is no bound worth keeping (its channel would be large).
const UNBOUNDED: u64 = 100_000;
/// One connection (its thread and its reader) and one echo.
const LEAST: u64 = 3;

/// The most threads the address-space limit leaves room for, or `None` without a limit. Call
/// it first in `main`, before any thread is started: it also keeps malloc to one arena under a
/// limit (glibc reserves 64 MiB of address space for each arena a new thread may get).
pub fn thread_budget() -> Option<usize> {
    let limit = common::rlimit::address_space_limit()?;
    common::rlimit::cap_malloc_arenas(1);
    let room = limit
        .saturating_sub(common::rlimit::address_space_used())
        .saturating_sub(HEAP.max(limit / 4));
    let threads = (room / PER_THREAD).max(LEAST);
    (threads < UNBOUNDED).then(|| usize::try_from(threads).unwrap_or(usize::MAX))
}
