//! Entries that vanish mid-walk: a thread keeps creating and deleting files and directories in
//! the tree while du4 walks it. Every vanished entry must be one `du4: PATH: ...` line (no panic,
//! no hang), the walk goes on, and the exit status is 1 when something vanished, 0 otherwise.

use std::fs;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use crate::util::{du4, run};

/// Runs of du4 against the churning tree; the test needs one that saw an entry vanish.
const ATTEMPTS: usize = 30;

#[test]
fn vanishing_entries_are_reported_and_the_walk_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    for d in 0..8 {
        fs::create_dir(root.join(format!("d{d}"))).unwrap();
        fs::write(root.join(format!("d{d}/stays")), b"1234").unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let churner = {
        let (root, stop) = (root.clone(), Arc::clone(&stop));
        thread::spawn(move || {
            let mut rounds = 0u64;
            while !stop.load(Ordering::Relaxed) && rounds < 10_000_000 {
                let dir = root.join(format!("d{}", rounds % 8));
                let sub = dir.join("sub");
                let _ = fs::create_dir(&sub);
                for f in 0..16 {
                    let _ = fs::write(sub.join(format!("f{f}")), b"x");
                    let _ = fs::write(dir.join(format!("g{f}")), b"x");
                }
                for f in 0..16 {
                    let _ = fs::remove_file(dir.join(format!("g{f}")));
                }
                let _ = fs::remove_dir_all(&sub);
                rounds += 1;
            }
        })
    };
    // Stops the churner however the test ends (a failed assertion included).
    struct StopOnDrop(Arc<AtomicBool>);
    impl Drop for StopOnDrop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
        }
    }
    let guard = StopOnDrop(Arc::clone(&stop));
    let mut saw_vanish = None;
    for _ in 0..ATTEMPTS {
        let out = run(du4()
            .arg("-b")
            .args(std::iter::repeat_n(&root, 20))
            .stdin(Stdio::null()));
        let lines = out.stdout_lines();
        assert_eq!(lines.len(), 1, "\n{out}");
        assert!(lines[0].ends_with(" bytes"), "\n{out}");
        // The files that never move are always there: 8 per copy of the root.
        let files: u64 = lines[0].split(' ').next().unwrap().parse().unwrap();
        assert!(files >= 8 * 20, "\n{out}");
        let errors: Vec<&str> = out.stderr.lines().collect();
        for line in &errors {
            let prefix = format!("du4: {}/", root.display());
            assert!(
                line.starts_with(&prefix)
                    && line.ends_with("No such file or directory (os error 2)"),
                "unexpected error line {line:?}\n{out}"
            );
        }
        out.expect_code(if errors.is_empty() { 0 } else { 1 });
        if !errors.is_empty() {
            saw_vanish = Some(out);
            break;
        }
    }
    drop(guard);
    churner.join().unwrap();
    assert!(
        saw_vanish.is_some(),
        "no entry vanished during {ATTEMPTS} walks of a churning tree"
    );
}
