//! This process's threads, by name, as `/proc/self/task/*/comm` lists them: how a test checks
//! that no thread the code under test started outlives it (`comm` keeps a name's first 15 bytes).

use std::time::{Duration, Instant};

/// The names of this process's threads that start with `prefix`.
pub fn named(prefix: &str) -> Vec<String> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    tasks
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|name| name.trim_end().to_owned())
        .filter(|name| name.starts_with(prefix))
        .collect()
}

/// The threads named with `prefix` still listed after up to `limit` for them to leave. A thread
/// joined through a scope may stay listed for a moment: the join returns once its closure has
/// returned, before the kernel has ended the thread. A thread still running stays listed.
pub fn left_after(prefix: &str, limit: Duration) -> Vec<String> {
    let deadline = Instant::now() + limit;
    loop {
        let left = named(prefix);
        if left.is_empty() || Instant::now() >= deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_named_thread_is_listed_until_it_ends() {
        let (started, running) = std::sync::mpsc::channel::<()>();
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("testkit-probe".into())
            .spawn(move || {
                // The thread names itself as it starts: say so only once it runs.
                let _ = started.send(());
                let _ = stopped.recv();
            })
            .unwrap();
        running.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(named("testkit-probe"), ["testkit-probe"]);
        drop(stop);
        thread.join().unwrap();
        assert!(left_after("testkit-probe", Duration::from_secs(2)).is_empty());
    }
}
