//! The process's limits.
//!
//! - [`raise_descriptor_limit`]: a server (chat) and a load client (the chat bench) that hold
//!   thousands of sockets raise their soft limit to the hard one first, as Go's runtime does at
//!   start-up.
//! - [`memory_rooms`]: how much more memory the process may take before an allocation fails (the
//!   address space, the data segment, the cgroup's `memory.max`), so that a server can size
//!   what it holds to fit instead of aborting when `malloc` fails.

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
    /// The `memory.max` of the process's cgroup (v2) or an ancestor's, against its
    /// `memory.current`.
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
    let kib = |field: &str| {
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
    };
    let limits = [
        (Resource::As, kib("VmSize"), Memory::AddressSpace),
        (Resource::Data, kib("VmData"), Memory::Data),
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

/// The least room under `memory.max` of this process's cgroup v2 and its ancestors.
fn cgroup_room() -> Option<MemoryRoom> {
    let cgroups = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let path = cgroups.lines().find_map(|line| line.strip_prefix("0::"))?;
    let mut dir = std::path::PathBuf::from("/sys/fs/cgroup");
    dir.push(path.trim_start_matches('/'));
    let read = |dir: &std::path::Path, file: &str| -> Option<u64> {
        std::fs::read_to_string(dir.join(file))
            .ok()?
            .trim()
            .parse()
            .ok()
    };
    dir.ancestors()
        .take_while(|dir| dir.starts_with("/sys/fs/cgroup"))
        .filter_map(|dir| {
            let max = read(dir, "memory.max")?;
            let current = read(dir, "memory.current").unwrap_or(0);
            Some(max.saturating_sub(current))
        })
        .min()
        .map(|bytes| MemoryRoom {
            resource: Memory::Cgroup,
            bytes,
        })
}

#[cfg(test)]
mod tests {
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
}
