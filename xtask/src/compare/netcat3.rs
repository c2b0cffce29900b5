//! netcat3 with its reverb, Go with Go (the book's reverb2) and Rust with Rust (the reverb
//! example): `printf 'Hello?\n' | netcat3`, whose stdin closes at once. Exercise 8.3: what
//! echoes still arrive after stdin closed.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::du4::status;
use testkit::child::{Proc, read_all};

use super::{BOOK_ADDR, Programs, Row, collect};
use crate::bench::{spawn, wait_limited};

/// No netcat3 may run longer (three echoes a second apart take about three seconds).
const CAP: Duration = Duration::from_secs(15);

pub fn run(programs: &Programs) -> crate::Result<Vec<Row>> {
    let go = match (programs.go("reverb2"), programs.go("netcat3")) {
        (Ok(reverb), Ok(netcat3)) => pair(&[reverb.into()], netcat3, &[]),
        (Err(why), _) | (_, Err(why)) => Err(why),
    };
    let ours = match (&programs.reverb, programs.ours("netcat3")) {
        (Ok(reverb), Ok(netcat3)) => {
            let reverb = [reverb.clone(), "--addr".into(), BOOK_ADDR.into()];
            pair(&reverb, &netcat3, &[BOOK_ADDR])
        }
        (Err(why), _) => Err(why.clone()),
        (_, Err(why)) => Err(why),
    };
    let cell = |result: crate::Result<String>| result.unwrap_or_else(|why| why);
    Ok(vec![Row::new(
        "`printf 'Hello?\\n' | netcat3` against its reverb (ex. 8.3): what it prints",
        cell(go),
        cell(ours),
    )])
}

/// Starts the reverb (`argv`), waits until it listens, runs netcat3 (`args`) with one line on
/// a stdin that then closes: what it printed, how it ended, when.
fn pair(argv: &[PathBuf], netcat3: &Path, args: &[&str]) -> crate::Result<String> {
    let mut command = Command::new(&argv[0]);
    command.args(&argv[1..]);
    // Killed when dropped.
    let reverb = Proc::start(&mut command, Stdio::null(), Some("reverb"))?;
    listening(
        BOOK_ADDR
            .parse()
            .map_err(|err| format!("{BOOK_ADDR}: {err}"))?,
    )?;
    let mut command = Command::new(netcat3);
    command
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let start = Instant::now();
    let mut child = spawn(&mut command)?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(b"Hello?\n");
    }
    let stdout = child.stdout.take().map(read_all);
    let measured = wait_limited(child, start, CAP)?;
    let text = collect(stdout);
    drop(reverb);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let printed = match lines.len() {
        0 => "nothing".to_string(),
        1 => format!("1 echo: `{}`", lines[0]),
        n => format!("{n} echoes: `{}`", lines.join("`, `")),
    };
    Ok(format!(
        "{printed}; {} after {:.2} s",
        status(measured.status),
        measured.wall.as_secs_f64()
    ))
}

/// Waits (bounded) until something accepts connections at `addr`.
pub fn listening(addr: SocketAddr) -> crate::Result {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(format!("nothing listened on {addr} within 10 s"))
}
