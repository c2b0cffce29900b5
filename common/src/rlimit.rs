//! The descriptor limit: a server (chat) and a load client (the chat bench) that hold thousands
//! of sockets raise their soft limit to the hard one first, as Go's runtime does at start-up.

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

#[cfg(test)]
mod tests {
    #[test]
    fn the_soft_limit_ends_at_the_hard_one() {
        let now = super::raise_descriptor_limit();
        let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
        assert_eq!(Some(now).filter(|&n| n != u64::MAX), limit.current);
        assert_eq!(limit.current, limit.maximum);
    }
}
