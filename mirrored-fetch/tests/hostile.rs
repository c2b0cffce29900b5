//! What an adversary's mirrors do (issue 17), each against the real binary or the library:
//! gzip-encoded files written as served, a `206` that loses, redirects to other schemes, an
//! endless body beside an honest one, `--max-size`, a nearly full `TMPDIR`, hundreds of bodies
//! at once, and a low descriptor limit. The mirrors are `testkit::hostile`'s.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::done;
use mirrored_fetch::{Config, Outcome};
use testkit::child::Proc;
use testkit::hostile::{self, Mirror};
use testkit::site::{Resource, Site, SiteOptions};
use url::Url;

use crate::util::{PATIENCE, binary_body, finish, mirror, mirrored_fetch, run, won_after};

#[test]
fn a_gzip_encoded_file_is_written_as_served_not_decoded() {
    for kind in [Mirror::GzipTarball, Mirror::GzipBomb] {
        let served = kind.resource().body;
        let site = kind.site().serve(Duration::ZERO).expect("a mirror");
        let url = site.url("/file.tar.gz");
        let run = run(&[&url]);
        run.expect_code(0);
        assert!(
            run.stdout == served,
            "{kind:?}: {} bytes written, {} served\n{run}",
            run.stdout.len(),
            served.len()
        );
        assert!(won_after(&run.stderr, &url).is_some(), "{kind:?}\n{run}");
    }
    assert!(hostile::tarball().len() < 100);
}

#[test]
fn a_partial_answer_loses_even_to_a_later_whole_one() {
    let body = binary_body(100);
    let partial = Mirror::Partial
        .site()
        .serve(Duration::ZERO)
        .expect("a mirror");
    let whole = mirror(&body, Duration::from_millis(300));
    let urls = [partial.url("/f"), whole.url("/f")];
    let run = run(&urls);
    run.expect_code(0);
    assert_eq!(run.stdout, body, "{run}");
    assert!(won_after(&run.stderr, &urls[1]).is_some(), "{run}");
    // Alone, it is a failure that says why.
    let run = crate::util::run(&urls[..1]);
    run.expect_code(1);
    assert_eq!(
        run.stderr.trim_end(),
        format!(
            "mirrored-fetch: {}: HTTP status 206, not 200 OK: not the whole file",
            urls[0]
        ),
    );
}

#[test]
fn a_redirect_to_another_scheme_is_an_error_that_names_it() {
    for (kind, scheme) in [
        (Mirror::RedirectToFile, "file"),
        (Mirror::RedirectToJavascript, "javascript"),
    ] {
        let site = kind.site().serve(Duration::ZERO).expect("a mirror");
        let url = site.url("/f");
        let run = run(&[&url]);
        run.expect_code(1);
        assert!(run.stdout.is_empty(), "{run}");
        assert_eq!(
            run.stderr.trim_end(),
            format!(
                "mirrored-fetch: {url}: a redirect to a {scheme}: URL (only http and https are followed)"
            ),
            "{run}"
        );
        // Asked once: the Location was never taken for a path on the same server.
        let stats = site.stats();
        assert_eq!(
            stats.by_path.keys().collect::<Vec<_>>(),
            ["/f"],
            "{stats:?}"
        );
    }
}

/// An honest mirror of `len` bytes that pauses 1.5 s after its first MiB.
fn slow_honest(body: &[u8]) -> testkit::site::SiteHandle {
    let resource = Resource::ok("application/octet-stream", body.to_vec());
    Site::new()
        .with_fallback(resource.paused(1 << 20, Duration::from_millis(1500)))
        .serve(Duration::ZERO)
        .expect("a mirror")
}

#[test]
fn an_endless_body_loses_at_the_length_an_honest_mirror_declared() {
    let body = binary_body(4 << 20);
    // Socket buffers on both sides and the moment before the honest head is read: what the
    // endless mirror may write beyond the honest length (it would write gigabytes in 1.5 s).
    let margin = 64 << 20;
    for declared in [None, Some(1u64 << 40)] {
        let endless = hostile::endless(declared, PATIENCE).expect("a mirror");
        let honest = slow_honest(&body);
        let urls = [format!("http://{}/f", endless.addr), honest.url("/f")];
        let run = run(&urls);
        run.expect_code(0);
        assert!(run.stdout == body, "{declared:?}: the body differs\n{run}");
        assert!(
            won_after(&run.stderr, &urls[1]).is_some(),
            "{declared:?}\n{run}"
        );
        let sent = endless.join(false, PATIENCE).expect("the endless mirror");
        assert!(
            sent <= body.len() as u64 + margin,
            "{declared:?}: the endless mirror wrote {sent} bytes\n{run}"
        );
    }
}

#[test]
fn max_size_cuts_a_mirror_and_says_so_at_once() {
    // Alone: it fails, said once.
    let big = mirror(&binary_body(1 << 20), Duration::ZERO);
    let url = big.url("/f");
    let run = run(&["--max-size", "1000", &url]);
    run.expect_code(1);
    assert_eq!(
        run.stderr.trim_end(),
        format!(
            "mirrored-fetch: {url}: the body would pass --max-size (1048576 bytes declared, 1000 allowed)"
        ),
    );
    // An endless one beside a small honest one: its loss is said, then the honest one wins.
    let body = binary_body(500);
    let endless = hostile::endless(None, PATIENCE).expect("a mirror");
    let honest = mirror(&body, Duration::from_millis(300));
    let urls = [format!("http://{}/f", endless.addr), honest.url("/f")];
    let run = crate::util::run(&["--max-size", "100KiB", &urls[0], &urls[1]]);
    run.expect_code(0);
    assert_eq!(run.stdout, body, "{run}");
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{run}");
    assert_eq!(
        lines[0],
        format!(
            "mirrored-fetch: {}: the body passes --max-size (102400 bytes)",
            urls[0]
        )
    );
    assert!(won_after(lines[1], &urls[1]).is_some(), "{run}");
    let sent = endless.join(false, PATIENCE).expect("the endless mirror");
    assert!(
        sent < 64 << 20,
        "the endless mirror wrote {sent} bytes\n{run}"
    );
}

#[test]
fn a_body_that_would_leave_tmpdir_nearly_full_loses_and_is_said() {
    // Past the memory all bodies share, so it goes to a file; no file system keeps u64::MAX.
    let body = binary_body(mirrored_fetch::spool::MEMORY + (1 << 20));
    let only = mirror(&body, Duration::ZERO);
    let url = Url::parse(&only.url("/f")).expect("url");
    let config = Config {
        keep_free: Some(u64::MAX),
        ..Config::new(vec![url.clone()])
    };
    let (_canceller, done) = done::new();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let outcome = mirrored_fetch::run(&config, &done, &mut out, &mut err).expect("run");
    assert!(matches!(outcome, Outcome::AllFailed), "{outcome:?}");
    assert!(out.is_empty());
    let err = String::from_utf8_lossy(&err);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!("mirrored-fetch: {url}: TMPDIR ("))
            && err.contains("is nearly full"),
        "{err}"
    );
}

/// The spool files `pid` holds open in `dir` (unnamed: they show as deleted).
fn spool_files(pid: u32, dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return 0;
    };
    entries
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .filter(|target| target.starts_with(dir))
        .count()
}

#[test]
fn many_stalled_bodies_share_the_memory_and_wait_on_disk() {
    const MIRRORS: usize = 24;
    let dir = tempfile::tempdir().expect("a TMPDIR");
    let body = binary_body(2 << 20);
    let stalls =
        Resource::ok("application/octet-stream", body).paused(1 << 20, Duration::from_secs(3600));
    let site = Site::new()
        .with_fallback(stalls)
        .start(
            "127.0.0.1:0",
            SiteOptions {
                workers: MIRRORS + 4,
                ..SiteOptions::default()
            },
        )
        .expect("a mirror");
    let mut command = mirrored_fetch();
    command
        .env("TMPDIR", dir.path())
        .args((0..MIRRORS).map(|i| site.url(&format!("/{i}"))));
    let proc = Proc::start(&mut command, Stdio::null(), None).expect("spawn mirrored-fetch");
    // 24 MiB arrived, `MEMORY` (4 MiB) for all: at least 20 bodies are on disk.
    let on_disk = MIRRORS - mirrored_fetch::spool::MEMORY / (1 << 20);
    let deadline = std::time::Instant::now() + PATIENCE;
    let mut seen = 0;
    while std::time::Instant::now() < deadline && seen < on_disk {
        seen = spool_files(proc.pid(), dir.path());
        std::thread::sleep(Duration::from_millis(20));
    }
    let sent = std::time::Instant::now();
    assert_eq!(proc.interrupt(), Ok(()));
    let run = finish(proc, sent);
    run.expect_code(130);
    assert!(
        seen >= on_disk,
        "{seen} bodies on disk, not {on_disk}\n{run}"
    );
}

/// The hard descriptor limit of a shell started now.
fn hard_descriptor_limit() -> usize {
    let output = Command::new("sh")
        .args(["-c", "ulimit -Hn"])
        .output()
        .expect("sh");
    let text = String::from_utf8_lossy(&output.stdout);
    text.trim().parse().unwrap_or(usize::MAX)
}

/// mirrored-fetch run by `sh` after `limit` (a `ulimit` command).
fn under_limit(limit: &str, args: &[String]) -> crate::util::Finished {
    let mut command = Command::new("sh");
    command
        .args(["-c", &format!("{limit} && exec \"$0\" \"$@\"")])
        .arg(env!("CARGO_BIN_EXE_mirrored-fetch"))
        .args(args);
    let proc = Proc::start(&mut command, Stdio::null(), None).expect("spawn sh");
    let started = proc.started;
    finish(proc, started)
}

#[test]
fn a_soft_descriptor_limit_of_128_does_not_fail_the_good_mirror_behind_1000_stalled_ones() {
    // Never accepted: each request holds its socket until the win.
    let stalled = TcpListener::bind("127.0.0.1:0").expect("bind");
    let stalled = format!("http://{}/f", stalled.local_addr().expect("addr"));
    // Fewer if the hard limit is low, so that every mirror is asked at once.
    let count = 1000.min(hard_descriptor_limit().saturating_sub(100) / 2);
    let body = binary_body(1000);
    let good = mirror(&body, Duration::ZERO);
    let mut args = vec!["--timeout".to_string(), "20s".into()];
    args.extend(std::iter::repeat_n(stalled, count));
    args.push(good.url("/f"));
    let run = under_limit("ulimit -Sn 128", &args);
    run.expect_code(0);
    assert!(count > 128, "the hard limit is too low to test this");
    assert_eq!(run.stdout, body, "{run}");
    assert!(won_after(&run.stderr, &good.url("/f")).is_some(), "{run}");
}

/// `count` mirrors that refuse at once (a port just freed: nothing listens there), then a good
/// one answering after 100 ms: the arguments, the body and the good mirror.
fn refused_then_good(count: usize) -> (Vec<String>, Vec<u8>, testkit::site::SiteHandle) {
    let refused = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("bind");
    let body = binary_body(1000);
    let good = mirror(&body, Duration::from_millis(100));
    let mut args: Vec<String> = std::iter::repeat_n(format!("http://{refused}/f"), count).collect();
    args.push(good.url("/f"));
    (args, body, good)
}

#[test]
fn a_hard_descriptor_limit_of_64_makes_mirrors_wait_their_turn_not_fail() {
    let (args, body, _good) = refused_then_good(300);
    let run = under_limit("ulimit -n 64", &args);
    run.expect_code(0);
    assert_eq!(run.stdout, body, "{run}");
    assert!(!run.stderr.contains("Too many open files"), "{run}");
}

#[test]
fn a_limit_on_address_space_bounds_the_requests_at_once_instead_of_aborting() {
    let (args, body, _good) = refused_then_good(500);
    // A thread per mirror here would have glibc's arenas and 500 stacks pass it: an abort.
    let run = under_limit("ulimit -v 800000", &args);
    run.expect_code(0);
    assert_eq!(run.stdout, body, "{run}");
}
