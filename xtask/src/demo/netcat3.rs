//! The tour's netcat3 step (book 8.3-8.4.1, ex. 8.3, 8.4, 8.8): netcat3 against its partner,
//! the reverb example, with a short `--delay`. netcat3's stdin ends at once, and the echoes
//! still arrive after its half-close; then a client that stays silent is disconnected.

use std::time::{Duration, Instant};

use testkit::child::Proc;

use super::terminal::{Shows, Terminal};
use super::{Bins, PROMPTLY, check, remark, show_all, show_command, start_server};
use crate::workspace_root;

/// reverb's pause between a line's echoes in this step.
const DELAY: Duration = Duration::from_millis(100);
/// reverb's idle timeout in this step.
const IDLE: Duration = Duration::from_millis(500);

pub(super) fn netcat3(bins: &Bins) -> crate::Result {
    let (mut server, addr) = start_reverb(bins)?;
    half_close(bins, &addr)?;
    idle_cut(bins, &addr)?;
    server.interrupt()?;
    server.expect_exit(0, PROMPTLY)?;
    let (log, _) = server.stderr.finish(PROMPTLY)?;
    show_command("reverb --addr 127.0.0.1:0 --delay 100ms --idle-timeout 500ms    (its log)");
    show_all(&format!("reverb: listening on {addr}\n{log}"));
    check(log.contains(": idle for 500ms: disconnected"), || {
        format!("reverb's log does not say it cut the idle client: {log:?}")
    })?;
    check(log.ends_with("reverb: shut down\n"), || {
        format!("reverb's log does not end with its shutdown: {log:?}")
    })
}

/// Starts the reverb example on a free loopback port (never the book's fixed 8000, which
/// something else may hold); returns it and the address it listens on.
fn start_reverb(bins: &Bins) -> crate::Result<(Proc, String)> {
    let args = [
        "--addr",
        "127.0.0.1:0",
        "--delay",
        "100ms",
        "--idle-timeout",
        "500ms",
    ];
    start_server(&bins.example("reverb"), &args, "reverb")
}

/// `printf 'Hello?\nAnyone?\n' | netcat3 ADDR`: stdin ends at once, netcat3 half-closes
/// (ex. 8.3), and reverb writes every echo still due before it closes (ex. 8.4).
fn half_close(bins: &Bins, addr: &str) -> crate::Result {
    let echoes = [
        "\t HELLO?\n",
        "\t ANYONE?\n",
        "\t Hello?\n",
        "\t Anyone?\n",
        "\t hello?\n",
        "\t anyone?\n",
    ];
    let mut netcat3 = Proc::spawn(&bins.path("netcat3"), &[addr], &workspace_root(), "netcat3")?;
    netcat3.send(b"Hello?\nAnyone?\n")?;
    netcat3.close_stdin();
    let closed = Instant::now();
    // The echoes in order of their round (within a round, the two lines' echo threads race).
    let mut screen = String::new();
    for round in echoes.chunks(2) {
        let mut seen = String::new();
        for _ in round {
            seen.push_str(&netcat3.stdout.expect("\n", PROMPTLY)?);
        }
        check(round.iter().all(|echo| seen.contains(echo)), || {
            format!("expected {round:?}, netcat3 printed {seen:?}")
        })?;
        screen.push_str(&seen);
    }
    let last = closed.elapsed();
    netcat3.expect_exit(0, PROMPTLY)?;
    let (rest, ended) = netcat3.stdout.finish(PROMPTLY)?;
    check(rest.is_empty(), || {
        format!("netcat3 printed more: {rest:?}")
    })?;
    show_command(&format!("printf 'Hello?\\nAnyone?\\n' | netcat3 {addr}"));
    show_all(&screen);
    check(last >= 2 * DELAY, || {
        format!("the last echo came {last:?} after the half-close, before two delays")
    })?;
    remark(&format!(
        "netcat3's stdin ended at once and it half-closed; the echoes kept coming, the last {} ms \
         later, and netcat3 exited 0 {} ms after the half-close, when reverb closed",
        last.as_millis(),
        ended.saturating_duration_since(closed).as_millis()
    ));
    remark(
        "the book's netcat3 closes the whole connection at the end of stdin, so it would have lost \
         every echo that came after it (all six here); the book's reverb2, which closes without \
         waiting, would have sent at most the first two",
    );
    Ok(())
}

/// Ex. 8.8: a client that types one line and then nothing is disconnected after the idle
/// timeout; its netcat3 exits 0 by itself, its stdin still open.
fn idle_cut(bins: &Bins, addr: &str) -> crate::Result {
    use Shows::Line;
    let mut dave = Terminal::open(bins, addr, "dave")?;
    dave.type_line("Echo?")?;
    let typed = Instant::now();
    dave.expect("\t echo?\n")?;
    let cut = dave.closed()?.saturating_duration_since(typed);
    dave.show(addr, ", silent after one line");
    dave.check(&[
        Line("Echo?"),
        Line("\t ECHO?"),
        Line("\t Echo?"),
        Line("\t echo?"),
    ])?;
    check(cut >= IDLE, || {
        format!("dave was disconnected {cut:?} after his line, before the 500 ms timeout")
    })?;
    remark(&format!(
        "dave typed nothing after his line and was disconnected {} ms later (the idle timeout is \
         500 ms); his netcat3 exited 0 by itself",
        cut.as_millis()
    ));
    Ok(())
}
