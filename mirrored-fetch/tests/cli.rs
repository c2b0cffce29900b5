//! The command line: usage errors exit 2 with clap's message, `--help` and `--version`, and a
//! closed stdout ends the program quietly.

use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::util::{
    PATIENCE, binary_body, describe, mirror, mirrored_fetch, on_thread, run, wait_deadline,
};

#[test]
fn usage_errors_exit_2() {
    for args in [
        &[][..],
        &["not a url"][..],
        &["ftp://127.0.0.1/file"][..],
        &["--timeout", "soon", "http://127.0.0.1:1/"][..],
        // No time at all: every request would fail before it starts.
        &["--timeout", "0s", "http://127.0.0.1:1/"][..],
        &["--max-size", "-1", "http://127.0.0.1:1/"][..],
        &["--max-size", "0", "http://127.0.0.1:1/"][..],
        &["--max-size", "12PiB", "http://127.0.0.1:1/"][..],
    ] {
        let run = run(args);
        run.expect_code(2);
        assert!(run.stderr.starts_with("error: "), "{run}");
        assert!(run.stdout.is_empty(), "{run}");
    }
}

#[test]
fn a_negative_timeout_says_why() {
    let run = run(&["--timeout", "-1s", "http://127.0.0.1:1/"]);
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("'--timeout <DURATION>': must be positive"),
        "{run}"
    );
}

#[test]
fn an_empty_url_says_so() {
    let run = run(&["http://127.0.0.1:1/", ""]);
    run.expect_code(2);
    assert!(run.stderr.contains("'<URL>...': the URL is empty"), "{run}");
}

#[test]
fn help_and_version() {
    let help = run(&["--help"]);
    help.expect_code(0);
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(text.contains("--timeout") && text.contains("URL"), "{help}");
    // How the winner is chosen, and where a body waits until it is complete.
    assert!(text.contains("whole body has arrived"), "{help}");
    assert!(text.contains("temporary file"), "{help}");
    let version = run(&["--version"]);
    version.expect_code(0);
    assert!(
        String::from_utf8_lossy(&version.stdout).starts_with("mirrored-fetch "),
        "{version}"
    );
}

#[test]
fn a_closed_stdout_ends_quietly() {
    let body = binary_body(16 << 20);
    let only = mirror(&body, Duration::ZERO);
    let mut command = mirrored_fetch();
    command
        .arg(only.url("/big"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let text = describe(&command);
    let mut child = command.spawn().expect("spawn");
    let mut stdout = child.stdout.take().expect("stdout");
    // Like `| head -c 10`: the reader takes the first bytes and goes away (on a thread, so that
    // a program writing nothing fails the test instead of blocking it).
    let first = on_thread(move || {
        let mut first = [0u8; 10];
        stdout.read_exact(&mut first).map(|()| first)
    });
    let first = match first.recv_timeout(PATIENCE) {
        Ok(first) => first.expect("the first bytes"),
        Err(why) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{text}: no first bytes within {PATIENCE:?} ({why})");
        }
    };
    assert_eq!(first[..], body[..10]);
    let mut stderr = child.stderr.take().expect("stderr");
    let started = Instant::now();
    let status = wait_deadline(&mut child, Duration::from_secs(60));
    let mut errors = String::new();
    let _ = stderr.read_to_string(&mut errors);
    assert_eq!(
        status.and_then(|status| status.code()),
        Some(0),
        "{text}: status {status:?} after {:?}\n{errors}",
        started.elapsed()
    );
    assert!(!errors.contains("panicked"), "{text}\n{errors}");
}
