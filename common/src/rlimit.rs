//! The process's limits.
//!
//! - [`raise_descriptor_limit`]: a server (chat) and a load client (the chat bench) that hold
//!   thousands of sockets raise their soft limit to the hard one first, as Go's runtime does at
//!   start-up.
//! - [`memory_rooms`]: how much more memory the process may take before an allocation fails (the
//!   address space, the data segment, the cgroup's `memory.max`), so that a server can size
//!   what it holds to fit instead of aborting when `malloc` fails.
//! - [`address_space_limit`], [`address_space_used`], [`cap_malloc_arenas`]: what a program
//!   that budgets its threads under `ulimit -v` reads and sets (chat, the reverb example).
//! - [`open_descriptors`], [`threads_left`], [`maps_left`], [`thread_cost`]: what else a server
//!   that sizes its client limit counts (chat, mirrored-fetch).

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// Raises the soft limit on open descriptors to the hard limit; returns the soft limit now in
/// force (`u64::MAX` for no limit). A refused raise leaves the old limit, which is returned.
pub fn raise_descriptor_limit() -> u64 {
    let limit = getrlimit(Resource::Nofile);
    let raised = Rlimit {
        current: limit.maximum,
        maximum: limit.maximum,
    };
    let now = if limit.current != limit.maximum && setrlimit(Resource::Nofile, raised).is_ok() {
        limit.maximum
    } else {
        limit.current
    };
    now.unwrap_or(u64::MAX)
}

/// A limit on the process's memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Memory {
    /// RLIMIT_AS (`ulimit -v`), against the mapped size (`VmSize`).
    AddressSpace,
    /// RLIMIT_DATA (`ulimit -d`), against the private writable size (`VmData`).
    Data,
    /// The `memory.max` of the process's cgroup (v2; v1's `memory.limit_in_bytes`) or an
    /// ancestor's, against its `memory.current` (`memory.usage_in_bytes`).
    Cgroup,
}

impl Memory {
    /// The limit's name, for a log line ("the limit of this process's ...").
    pub fn name(self) -> &'static str {
        match self {
            Memory::AddressSpace => "address space (ulimit -v)",
            Memory::Data => "data size (ulimit -d)",
            Memory::Cgroup => "cgroup's memory.max",
        }
    }
}

/// The room a memory limit leaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryRoom {
    pub resource: Memory,
    pub bytes: u64,
}

/// The room left under each memory limit that is set (none: an empty list).
pub fn memory_rooms() -> Vec<MemoryRoom> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let limits = [
        (
            Resource::As,
            status_bytes(&status, "VmSize"),
            Memory::AddressSpace,
        ),
        (
            Resource::Data,
            status_bytes(&status, "VmData"),
            Memory::Data,
        ),
    ];
    let rlimits = limits.into_iter().filter_map(|(resource, used, memory)| {
        let limit = getrlimit(resource).current?;
        Some(MemoryRoom {
            resource: memory,
            bytes: limit.saturating_sub(used),
        })
    });
    rlimits.chain(cgroup_room()).collect()
}

/// The soft address-space limit (`ulimit -v`) in bytes; `None` when there is none.
pub fn address_space_limit() -> Option<u64> {
    getrlimit(Resource::As).current
}

/// This process's address space so far (`VmSize` in /proc/self/status), in bytes; 0 where
/// /proc does not say.
pub fn address_space_used() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status_bytes(&status, "VmSize")
}

/// A size field of /proc/self/status (`VmSize:  1234 kB`), in bytes; 0 when it is missing.
fn status_bytes(status: &str, field: &str) -> u64 {
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map_or(0, |kib| kib * 1024)
}

/// Descriptors this process has open (3 where /proc does not say).
pub fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(3, Iterator::count)
}

/// Threads this process may still start: the least of RLIMIT_NPROC (per user), the kernel's
/// threads-max and pid_max, less the threads it has.
pub fn threads_left() -> usize {
    let nproc = getrlimit(Resource::Nproc).current.unwrap_or(u64::MAX);
    let kernel = read_number("/proc/sys/kernel/threads-max")
        .min(read_number("/proc/sys/kernel/pid_max"))
        .min(usize::try_from(nproc).unwrap_or(usize::MAX));
    let threads = std::fs::read_dir("/proc/self/task").map_or(1, Iterator::count);
    kernel.saturating_sub(threads)
}

/// Memory maps this process may still create: vm.max_map_count less those in use.
pub fn maps_left() -> usize {
    let in_use = std::fs::read("/proc/self/maps")
        .map(|maps| maps.iter().filter(|&&b| b == b'\n').count())
        .unwrap_or(0);
    read_number("/proc/sys/vm/max_map_count").saturating_sub(in_use)
}

/// The number in a /proc file; `usize::MAX` (no limit) where there is none.
fn read_number(path: &str) -> usize {
    crate::proc_number(path).unwrap_or(usize::MAX)
}

/// The address space a thread started with a `stack`-byte stack maps: the stack and its guard
/// page (glibc puts its thread descriptor and TLS at the stack's top, a page more), and the
/// signal stack std maps for each thread (to report stack overflows) with its own guard page.
pub fn thread_cost(stack: usize) -> usize {
    // SAFETY: sysconf with a valid name has no preconditions.
    let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) });
    let page = page.ok().filter(|&page| page > 0).unwrap_or(4096);
    // SAFETY: getauxval reads the auxiliary vector and has no preconditions.
    let min_signal_stack = unsafe { libc::getauxval(libc::AT_MINSIGSTKSZ) } as usize;
    let signal_stack = libc::SIGSTKSZ.max(min_signal_stack);
    stack.next_multiple_of(page) + 2 * page + signal_stack.next_multiple_of(page) + page
}

/// Caps glibc's malloc arenas at `arenas`: each reserves 64 MiB of address space, up to eight
/// per core by default, so under `ulimit -v` they alone can use up the limit. Elsewhere, nothing.
pub fn cap_malloc_arenas(arenas: usize) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes the allocator's tuning; glibc reads M_ARENA_MAX when it next
    // needs an arena, so arenas already made stay and fewer new ones are made.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, i32::try_from(arenas).unwrap_or(i32::MAX));
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let _ = arenas;
}

/// The least room under the memory limit of this process's cgroup and its ancestors: v2's
/// `memory.max` against `memory.current`, or v1's `memory.limit_in_bytes` against
/// `memory.usage_in_bytes` (a hybrid system mounts the memory controller as v1).
fn cgroup_room() -> Option<MemoryRoom> {
    let cgroups = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let v2 = cgroups.lines().find_map(|line| line.strip_prefix("0::"));
    let v1 = cgroups.lines().find_map(|line| {
        let (_, rest) = line.split_once(':')?;
        let (controllers, path) = rest.split_once(':')?;
        controllers
            .split(',')
            .any(|c| c == "memory")
            .then_some(path)
    });
    let rooms = [
        v2.map(|path| ("/sys/fs/cgroup", path, "memory.max", "memory.current")),
        v1.map(|path| {
            let files = ("memory.limit_in_bytes", "memory.usage_in_bytes");
            ("/sys/fs/cgroup/memory", path, files.0, files.1)
        }),
    ];
    rooms
        .into_iter()
        .flatten()
        .filter_map(|(root, path, max, current)| room_under(root, path, max, current))
        .min()
        .map(|bytes| MemoryRoom {
            resource: Memory::Cgroup,
            bytes,
        })
}

/// The least `max - current` over the cgroup at `path` below `root` and its ancestors; a
/// limit of `max` (v2) or near `i64::MAX` (v1) is none.
fn room_under(root: &str, path: &str, max: &str, current: &str) -> Option<u64> {
    let read = |dir: &std::path::Path, file: &str| -> Option<u64> {
        std::fs::read_to_string(dir.join(file))
            .ok()?
            .trim()
            .parse()
            .ok()
    };
    let dir = std::path::Path::new(root).join(path.trim_start_matches('/'));
    dir.ancestors()
        .take_while(|dir| dir.starts_with(root))
        .filter_map(|dir| {
            let limit = read(dir, max).filter(|&limit| limit < 1 << 62)?;
            Some(limit.saturating_sub(read(dir, current).unwrap_or(0)))
        })
        .min()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_thread_costs_its_stack_its_signal_stack_and_their_guard_pages() {
        // SAFETY: as in `thread_cost`.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
        let cost = super::thread_cost(64 << 10);
        assert!(cost >= (64 << 10) + 3 * page + libc::SIGSTKSZ, "{cost}");
        assert_eq!(cost % page, 0);
    }

    #[test]
    fn a_process_has_descriptors_threads_and_maps_and_may_make_more() {
        assert!(super::open_descriptors() >= 3);
        assert!(super::threads_left() > 0);
        assert!(super::maps_left() > 0);
    }

    #[test]
    fn the_soft_limit_ends_at_the_hard_one() {
        let now = super::raise_descriptor_limit();
        let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
        assert_eq!(Some(now).filter(|&n| n != u64::MAX), limit.current);
        assert_eq!(limit.current, limit.maximum);
    }

    #[test]
    fn the_memory_room_follows_the_address_space_limit() {
        use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
        // Only lowered, never raised: this test process keeps the smaller limit, which is far
        // above what the tests map.
        let before = getrlimit(Resource::As);
        let limit = before.current.unwrap_or(u64::MAX).min(64 << 30);
        setrlimit(
            Resource::As,
            Rlimit {
                current: Some(limit),
                maximum: before.maximum,
            },
        )
        .expect("lower RLIMIT_AS");
        let rooms = super::memory_rooms();
        let room = rooms
            .iter()
            .find(|room| room.resource == super::Memory::AddressSpace)
            .expect("the address space is limited");
        assert!(room.bytes < limit, "{room:?}");
        assert!(room.bytes > 0, "{room:?}");
    }

    #[test]
    fn a_cgroups_room_is_the_least_over_it_and_its_ancestors() {
        let root = tempfile::tempdir().expect("tempdir");
        let write = |dir: &str, file: &str, text: &str| {
            let dir = root.path().join(dir);
            std::fs::create_dir_all(&dir).expect("mkdir");
            std::fs::write(dir.join(file), text).expect("write");
        };
        write("a", "memory.max", "1000\n");
        write("a", "memory.current", "100\n");
        write("a/b", "memory.max", "max\n");
        write("a/b", "memory.current", "50\n");
        write("c", "memory.limit_in_bytes", "9223372036854771712\n");
        let root_text = root.path().to_str().expect("UTF-8 temp path");
        let room = |path| super::room_under(root_text, path, "memory.max", "memory.current");
        assert_eq!(room("/a/b"), Some(900));
        assert_eq!(room("/a"), Some(900));
        let v1 = super::room_under(
            root_text,
            "/c",
            "memory.limit_in_bytes",
            "memory.usage_in_bytes",
        );
        assert_eq!(v1, None, "v1's 'no limit' is a huge number");
    }
}
