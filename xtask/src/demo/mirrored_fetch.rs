//! The tour's mirrored-fetch step (book 8.4.4, ex. 8.11): three local mirrors of different
//! speeds; the fastest wins and the others see their requests abandoned.

use std::time::Duration;

use testkit::child::Proc;
use testkit::site::{Site, SiteHandle};

use super::{Bins, PROMPTLY, check, remark, show_command, show_output};
use crate::workspace_root;

pub(super) fn mirrored_fetch(bins: &Bins) -> crate::Result {
    const BODY: &str = "The same file, served by three mirrors.\n";
    let start_mirror = |latency_ms: u64| -> crate::Result<SiteHandle> {
        Site::fixed("text/plain; charset=utf-8", BODY)
            .serve(Duration::from_millis(latency_ms))
            .map_err(|err| format!("starting a mirror: {err}"))
    };
    let slow = start_mirror(900)?;
    let fast = start_mirror(150)?;
    let medium = start_mirror(450)?;
    let urls = [
        slow.url("/file.txt"),
        fast.url("/file.txt"),
        medium.url("/file.txt"),
    ];
    remark("three mirrors answer after 900 ms, 150 ms and 450 ms");

    show_command(&format!("mirrored-fetch {}", urls.join(" ")));
    let mut fetch = Proc::spawn(
        &bins.path("mirrored-fetch"),
        &urls,
        &workspace_root(),
        "mirrored-fetch",
    )?;
    fetch.close_stdin();
    fetch.expect_exit(0, PROMPTLY)?;
    let (stdout, _) = fetch.stdout.finish(PROMPTLY)?;
    let (stderr, _) = fetch.stderr.finish(PROMPTLY)?;
    show_output(&stdout);
    show_output(&stderr);
    check(stdout == BODY, || {
        format!("stdout {stdout:?} is not the mirrors' body")
    })?;
    check(stderr.contains(&format!("{} won after", urls[1])), || {
        format!("the fastest mirror, {}, did not win", urls[1])
    })?;
    for loser in [&slow, &medium] {
        let (stats, closed) = loser.wait_stats(PROMPTLY, |stats| {
            stats.requests == 1 && stats.in_flight == 0 && stats.aborted == 1
        });
        check(closed, || {
            format!(
                "the mirror at {} did not see its request abandoned: {stats:?}",
                loser.addr()
            )
        })?;
    }
    remark("both slower mirrors saw their connection closed before they could answer");
    for mirror in [slow, fast, medium] {
        mirror.stop();
    }
    Ok(())
}
