//! Who wins: the fastest 2xx mirror, byte for byte, with every other request cancelled (its
//! server sees the connection close); errors and non-2xx answers never win; redirects are
//! followed.

use std::time::Duration;

use testkit::site::{Resource, Site, SiteOptions};

use crate::util::{NEVER, binary_body, expect_aborted, failing_mirror, mirror, run, won_after};

#[test]
fn the_fastest_of_three_wins_byte_for_byte_and_the_losers_are_closed() {
    let body = binary_body(300_000);
    let slow = mirror(&body, Duration::from_secs(20));
    let fast = mirror(&body, Duration::from_millis(100));
    let slower = mirror(&body, Duration::from_secs(30));
    let urls = [slow.url("/file"), fast.url("/file"), slower.url("/file")];
    let run = run(&urls);
    run.expect_code(0);
    assert!(run.stdout == body, "the body differs\n{run}");
    let ms = won_after(&run.stderr, &urls[1]).unwrap_or_else(|| panic!("no win line\n{run}"));
    assert!(
        ms >= 100,
        "won after {ms} ms, before the mirror answered\n{run}"
    );
    assert_eq!(run.stderr.lines().count(), 1, "one line on stderr\n{run}");
    // The losers were asked (every request starts at once), then cancelled: their servers saw
    // the connection close before their answer, and nobody waited for them.
    for loser in [&slow, &slower] {
        let stats = expect_aborted(loser, &run);
        assert_eq!(stats.requests, 1, "{stats:?}\n{run}");
    }
    assert!(
        run.took < Duration::from_secs(15),
        "waited for a loser\n{run}"
    );
    let stats = fast.stats();
    assert_eq!((stats.requests, stats.aborted), (1, 0), "{stats:?}");
}

#[test]
fn an_error_from_the_fastest_does_not_win() {
    let body = b"the real thing\n".to_vec();
    let broken = failing_mirror(500, Duration::ZERO);
    let missing = failing_mirror(404, Duration::ZERO);
    let good = mirror(&body, Duration::from_millis(300));
    let urls = [broken.url("/f"), missing.url("/f"), good.url("/f")];
    let run = run(&urls);
    run.expect_code(0);
    assert_eq!(run.stdout, body, "{run}");
    assert!(won_after(&run.stderr, &urls[2]).is_some(), "{run}");
    // The failures answered first, and were passed over.
    for failed in [&broken, &missing] {
        let stats = failed.stats();
        assert_eq!((stats.requests, stats.aborted), (1, 0), "{stats:?}\n{run}");
    }
}

#[test]
fn a_mirror_that_never_answers_is_cancelled() {
    let body = binary_body(1000);
    let stuck = mirror(&body, NEVER);
    let good = mirror(&body, Duration::from_millis(50));
    let urls = [stuck.url("/f"), good.url("/f")];
    let run = run(&urls);
    run.expect_code(0);
    assert_eq!(run.stdout, body, "{run}");
    assert!(won_after(&run.stderr, &urls[1]).is_some(), "{run}");
    expect_aborted(&stuck, &run);
}

#[test]
fn one_mirror_is_simply_fetched() {
    let body = binary_body(2 << 20);
    let only = mirror(&body, Duration::ZERO);
    let url = only.url("/big");
    let run = run(&[&url]);
    run.expect_code(0);
    assert!(run.stdout == body, "the body differs\n{run}");
    assert!(won_after(&run.stderr, &url).is_some(), "{run}");
}

#[test]
fn a_mirror_that_redirects_is_followed_to_its_file() {
    let body = binary_body(5000);
    // Two hops on the same server (each on a connection of its own), then the file.
    let redirecting = Site::new()
        .with("/latest", Resource::redirect("/v2/file"))
        .with("/v2/file", Resource::redirect("file.bin"))
        .with(
            "/v2/file.bin",
            Resource::ok("application/octet-stream", body.clone()),
        )
        .start("127.0.0.1:0", SiteOptions::default())
        .expect("start a mirror");
    let stuck = mirror(&body, NEVER);
    let urls = [stuck.url("/f"), redirecting.url("/latest")];
    let run = run(&urls);
    run.expect_code(0);
    assert!(run.stdout == body, "the body differs\n{run}");
    // The win is reported under the URL asked for.
    assert!(won_after(&run.stderr, &urls[1]).is_some(), "{run}");
    let stats = redirecting.stats();
    assert_eq!(stats.requests, 3, "{stats:?}");
    expect_aborted(&stuck, &run);
}
