//! The command line: `--help`, `--version`, usage errors (exit 2), and a closed stdout ending
//! the crawl quietly.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use testkit::site::{Site, SiteOptions};

use crate::util::{Run, background, crawl, crawler, describe};

#[test]
fn help_and_version() {
    let run = crawl(&["--help"]);
    run.expect_code(0);
    for option in [
        "--depth",
        "--concurrency",
        "--same-host",
        "--timeout",
        "--max-body",
    ] {
        assert!(run.stdout.contains(option), "{option} missing\n{run}");
    }
    let run = crawl(&["--version"]);
    run.expect_code(0);
    assert!(run.stdout.starts_with("crawler "), "{run}");
}

#[test]
fn help_says_what_would_otherwise_surprise() {
    let run = crawl(&["--help"]);
    run.expect_code(0);
    for words in [
        "Unlimited by default",
        "cut is said on stderr",
        "< /dev/null",
    ] {
        assert!(run.stdout.contains(words), "{words:?} missing\n{run}");
    }
}

#[test]
fn usage_errors_exit_two() {
    for args in [
        &[][..],
        &["not a url"][..],
        &["ftp://127.0.0.1/"][..],
        &["relative/path"][..],
        &["--concurrency", "0", "http://127.0.0.1:1/"][..],
        &["--depth", "-1", "http://127.0.0.1:1/"][..],
        &["--timeout", "soon", "http://127.0.0.1:1/"][..],
        &["--timeout", "0s", "http://127.0.0.1:1/"][..],
    ] {
        let run = crawl(args);
        run.expect_code(2);
        assert!(run.stdout.is_empty(), "{run}");
        assert!(!run.stderr.is_empty(), "{run}");
    }
}

#[test]
fn a_refused_connection_is_one_error_line_and_exit_one() {
    // Bind then drop: a loopback port that (almost certainly) nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/");
    let run = crawl(&[&url]);
    run.expect_code(1);
    assert_eq!(run.stdout, format!("{url}\n"), "{run}");
    assert_eq!(
        run.stderr,
        format!("crawler: {url}: Connection refused (os error 111)\n"),
        "{run}"
    );
}

#[test]
fn closed_stdout_ends_the_crawl_quietly() {
    let site = Site::generated(2000)
        .start(
            "127.0.0.1:0",
            SiteOptions {
                latency: Duration::from_millis(5),
                workers: 32,
            },
        )
        .unwrap();
    let mut command = crawler();
    command
        .args(["--same-host", &site.url("/")])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let text = describe(&command);
    let mut child = command.spawn().unwrap();
    // Read one line, then close the pipe (`crawler URL | head -1`), on a thread, so that a
    // crawler printing nothing fails the test instead of blocking it.
    let stdout = child.stdout.take().unwrap();
    let first = background(move || {
        let mut first = String::new();
        BufReader::new(stdout).read_line(&mut first).map(|_| first)
    });
    let Some(first) = first.wait_for(Duration::from_secs(30)) else {
        let _ = child.kill();
        let run = Run::finish(child, text, Duration::from_secs(10));
        panic!("no line within 30 s\n{run}");
    };
    assert_eq!(first.unwrap().trim_end(), site.url("/"), "{text}");
    let run = Run::finish(child, text, Duration::from_secs(60));
    run.expect_code(0);
    assert!(run.stderr.is_empty(), "{run}");
    assert!(site.stats().requests < 2000, "{:?}", site.stats());
}

#[test]
fn bad_numbers_and_sizes_say_why() {
    let url = "http://127.0.0.1:1/";
    for (args, message) in [
        (
            &["--depth", "-1"][..],
            "'--depth <N>': must be positive or zero",
        ),
        (&["-c", "-1"], "'--concurrency <N>': must be positive"),
        (
            &["--concurrency", "0"],
            "'--concurrency <N>': must be positive",
        ),
        (
            &["--concurrency", "5000"],
            "'--concurrency <N>': must be at most 4096",
        ),
        (
            &["--timeout", "-1s"],
            "'--timeout <DURATION>': must be positive",
        ),
        (
            &["--max-body", "-1"],
            "'--max-body <BYTES>': must be positive",
        ),
        (
            &["--max-body", "0"],
            "'--max-body <BYTES>': must be at least 1 byte",
        ),
        (
            &["--max-body", "2TiB"],
            "'--max-body <BYTES>': must be at most 1TiB",
        ),
        (
            &["--timeout", "--depth", "1"],
            "\"--depth\" is not a duration",
        ),
    ] {
        let run = crawl(&[args, &[url]].concat());
        run.expect_code(2);
        assert!(
            run.stderr.contains(message),
            "{args:?}: want {message:?}\n{run}"
        );
    }
    let run = crawl(&[""]);
    run.expect_code(2);
    assert!(
        run.stderr.contains("'<URLS>...': the URL is empty"),
        "{run}"
    );
    let run = crawl(&["--max-body", "1.5MiB", url]);
    run.expect_code(2);
    assert!(run.stderr.contains("(a whole number)"), "{run}");
    // `KiB` and `TiB` are sizes: the error is then about the URL.
    for size in ["64KiB", "1TiB", "10MiB", "4096"] {
        let run = crawl(&["--max-body", size, "ftp://x/"]);
        run.expect_code(2);
        assert!(run.stderr.contains("ftp"), "--max-body {size}\n{run}");
    }
}
