//! Test helpers: start mirrors (one body, several loopback ports, a delay each) and hostile
//! one-connection mirrors, and run the real `mirrored-fetch` binary with a deadline (a
//! `testkit::child::Finished` describes the run when an assertion fails).

use std::fmt;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use testkit::child::Proc;
use testkit::net::{ServeOne, read_head};
use testkit::site::{Resource, Site, SiteHandle, SiteOptions, SiteStats};

/// The most any single run may take in a test before it counts as hung.
pub const DEADLINE: Duration = Duration::from_secs(60);
/// How long a server-side observation ("the connection was closed") may take to show up.
/// Generous for a loaded CI machine; the benchmark measures the real figure.
pub const PATIENCE: Duration = Duration::from_secs(10);
/// A delay no test waits out: a mirror that never answers.
pub const NEVER: Duration = Duration::from_secs(3600);
/// The longest request head a [`canned`] mirror reads.
const MAX_HEAD: usize = 16 << 10;

pub fn mirrored_fetch() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mirrored-fetch"))
}

/// A binary body every byte value appears in, `len` bytes long.
pub fn binary_body(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + i / 256) as u8).collect()
}

/// A mirror serving `body` with status 200 after `delay`.
pub fn mirror(body: &[u8], delay: Duration) -> SiteHandle {
    serve(
        Site::fixed("application/octet-stream", body.to_vec()),
        delay,
    )
}

/// A mirror answering every request with `status` after `delay`.
pub fn failing_mirror(status: u16, delay: Duration) -> SiteHandle {
    serve(
        Site::new().with_fallback(Resource::new(status, "text/plain", b"no\n".to_vec())),
        delay,
    )
}

fn serve(site: Site, latency: Duration) -> SiteHandle {
    site.start(
        "127.0.0.1:0",
        SiteOptions {
            latency,
            ..SiteOptions::default()
        },
    )
    .expect("start a mirror on 127.0.0.1:0")
}

/// Waits until `mirror`'s client closed its connection before the answer (the cancel seen from
/// the server), and returns the stats.
pub fn expect_aborted(mirror: &SiteHandle, run: &Finished) -> SiteStats {
    expect_aborted_by(mirror, run)
}

/// [`expect_aborted`], describing the run that should have closed it with `context`.
pub fn expect_aborted_by(mirror: &SiteHandle, context: impl fmt::Display) -> SiteStats {
    let (stats, ok) = mirror.wait_stats(PATIENCE, |stats| stats.aborted == 1);
    assert!(
        ok,
        "mirror {} did not see its connection closed: {stats:?}\n{context}",
        mirror.addr()
    );
    stats
}

/// The `won after` line for `url`, with its milliseconds.
pub fn won_after(stderr: &str, url: &str) -> Option<u64> {
    let prefix = format!("mirrored-fetch: {url} won after ");
    stderr.lines().find_map(|line| {
        line.strip_prefix(&prefix)?
            .strip_suffix(" ms")?
            .parse()
            .ok()
    })
}

pub use testkit::child::{Finished, describe, on_thread, wait_deadline};

/// Runs mirrored-fetch with `args` (stdin at /dev/null) to completion within [`DEADLINE`].
pub fn run<S: AsRef<str>>(args: &[S]) -> Finished {
    let mut command = mirrored_fetch();
    command.args(args.iter().map(AsRef::as_ref));
    let proc = Proc::start(&mut command, Stdio::null(), None).expect("spawn mirrored-fetch");
    let started = proc.started;
    finish(proc, started)
}

/// Waits for a started run and collects its output, killing it (and failing) after
/// [`DEADLINE`]; `took` counts from `since`.
pub fn finish(proc: Proc, since: Instant) -> Finished {
    Finished::of(proc, DEADLINE, since)
}

/// What a [`canned`] server does once it has written its bytes.
#[derive(Clone, Copy, Debug)]
pub enum Then {
    /// Closes the connection cleanly.
    Close,
    /// Resets it (an RST: `SO_LINGER` 0, then close).
    Reset,
    /// Holds it open, sending nothing more, until the client closes it (or [`PATIENCE`] ends).
    Stall,
    /// Waits this long, then sends these bytes too and closes cleanly (a body that trickles).
    Finish(Duration, &'static [u8]),
}

/// A hostile mirror: a one-connection server on 127.0.0.1:0 that reads the request head, writes
/// `bytes` as they are (status line, headers, body, whatever they hold), then does `then`. Returns
/// its URL and the server, whose report (joined within [`PATIENCE`]) is: for [`Then::Stall`],
/// whether the client closed the connection within [`PATIENCE`]; otherwise whether it was asked
/// at all.
pub fn canned(bytes: &[u8], then: Then) -> (String, ServeOne<bool>) {
    let bytes = bytes.to_vec();
    let server = ServeOne::start(Some(PATIENCE), move |mut stream| {
        if read_head(&mut stream, MAX_HEAD).is_none() || stream.write_all(&bytes).is_err() {
            return false;
        }
        match then {
            Then::Close => true,
            Then::Reset => {
                let socket = socket2::Socket::from(stream);
                socket.set_linger(Some(Duration::ZERO)).expect("linger");
                true
            }
            Then::Stall => closed_by_client(&mut stream),
            Then::Finish(pause, rest) => {
                std::thread::sleep(pause);
                stream.write_all(rest).is_ok()
            }
        }
    })
    .expect("a mirror on 127.0.0.1:0");
    (format!("http://{}/f", server.addr), server)
}

/// Waits (up to the read timeout) for the client to close: true at end of file or a reset.
fn closed_by_client(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(why) => return why.kind() == std::io::ErrorKind::ConnectionReset,
        }
    }
}
