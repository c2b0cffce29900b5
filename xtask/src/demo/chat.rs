//! The tour's chat step (book 8.4.1 and 8.10, ex. 8.12-8.14): alice and bob talk through two
//! netcat3 clients, then carol stays silent on a second server and is disconnected.

use std::time::{Duration, Instant};

use testkit::child::Proc;

use super::terminal::{Shows, Terminal};
use super::{Bins, PROMPTLY, check, remark, show_all, show_command, start_server};

/// Checks that a chat server's log (after its `listening on` line) has lines containing these,
/// in this order; other lines may come between.
fn check_log(log: &str, want: &[&str]) -> crate::Result {
    let mut lines = log.lines();
    for part in want {
        check(
            lines.any(|line| line.starts_with("chat: ") && line.contains(part)),
            || format!("the server's log has no line with {part:?} where expected: {log:?}"),
        )?;
    }
    Ok(())
}

/// Starts a chat server on a free loopback port; returns it and the address it listens on.
fn start_chat(bins: &Bins, idle_timeout: &str) -> crate::Result<(Proc, String)> {
    let args = ["--addr", "127.0.0.1:0", "--idle-timeout", idle_timeout];
    start_server(&bins.path("chat"), &args, "chat")
}

pub(super) fn chat(bins: &Bins) -> crate::Result {
    two_clients(bins)?;
    idle_kick(bins)
}

/// The book's session: alice and bob join, talk, bob leaves, the server is stopped.
fn two_clients(bins: &Bins) -> crate::Result {
    use Shows::{Line, LineWith};
    let (mut server, addr) = start_chat(bins, "1m")?;

    let mut alice = Terminal::open(bins, &addr, "alice")?;
    alice.expect("name")?;
    alice.expect("\n")?;
    alice.type_line("alice")?;
    alice.expect("You are alice\n")?;
    alice.expect("Current clients: none\n")?;

    let mut bob = Terminal::open(bins, &addr, "bob")?;
    bob.expect("name")?;
    bob.expect("\n")?;
    // A name in use is refused and asked again (ex. 8.14).
    bob.type_line("alice")?;
    bob.expect("name")?;
    bob.expect("\n")?;
    bob.type_line("bob")?;
    bob.expect("You are bob\n")?;
    bob.expect("Current clients: alice\n")?;
    alice.expect("bob has arrived\n")?;

    alice.type_line("Hi bob!")?;
    alice.expect("alice: Hi bob!\n")?;
    bob.expect("alice: Hi bob!\n")?;
    bob.type_line("Hello alice.")?;
    bob.expect("bob: Hello alice.\n")?;
    alice.expect("bob: Hello alice.\n")?;

    // Bob presses Ctrl-D: netcat3 half-closes, the server says goodbye by closing, netcat3 ends.
    bob.netcat3.close_stdin();
    bob.closed()?;
    alice.expect("bob has left\n")?;

    // Ctrl-C to the server: it tells everyone and closes; alice's netcat3 ends by itself
    // although its stdin is still open (the Go original would wait for her to type).
    let interrupted = Instant::now();
    server.interrupt()?;
    alice.closed()?;
    server.expect_exit(0, PROMPTLY)?;
    let shutdown_ms = interrupted.elapsed().as_millis();
    let (log, _) = server.stderr.finish(PROMPTLY)?;

    show_command("chat --addr 127.0.0.1:0 --idle-timeout 1m    (the server's log, stderr)");
    show_all(&format!("chat: listening on {addr}\n{log}"));
    alice.show(&addr, "");
    bob.show(&addr, "");
    check_log(
        &log,
        &["alice has arrived", "bob has arrived", "bob has left"],
    )?;
    alice.check(&[
        LineWith("name"),
        Line("alice"),
        Line("You are alice"),
        Line("Current clients: none"),
        Line("bob has arrived"),
        Line("Hi bob!"),
        Line("alice: Hi bob!"),
        Line("bob: Hello alice."),
        Line("bob has left"),
        LineWith("shutting down"),
    ])?;
    bob.check(&[
        LineWith("name"),
        Line("alice"),
        LineWith("taken"),
        LineWith("name"),
        Line("bob"),
        Line("You are bob"),
        Line("Current clients: alice"),
        Line("alice: Hi bob!"),
        Line("Hello alice."),
        Line("bob: Hello alice."),
    ])?;
    remark(&format!(
        "bob typed Ctrl-D (netcat3 half-closed and left); the server got Ctrl-C and everyone was \
         told and disconnected within {shutdown_ms} ms"
    ));
    Ok(())
}

/// Ex. 8.13 on a server of its own, so that alice and bob's script never races a short timeout:
/// carol names herself and then types nothing.
fn idle_kick(bins: &Bins) -> crate::Result {
    use Shows::{Line, LineWith};
    const IDLE: Duration = Duration::from_secs(1);
    let (mut server, addr) = start_chat(bins, "1s")?;

    let mut carol = Terminal::open(bins, &addr, "carol")?;
    carol.expect("name")?;
    carol.expect("\n")?;
    carol.type_line("carol")?;
    // The server's idle clock restarts when it reads her name, which is after this.
    let named = Instant::now();
    carol.expect("You are carol\n")?;
    carol.expect("Current clients: none\n")?;
    let kicked = carol.closed()?;
    let silent = kicked.saturating_duration_since(named);

    server.interrupt()?;
    server.expect_exit(0, PROMPTLY)?;
    let (log, _) = server.stderr.finish(PROMPTLY)?;

    show_command("chat --addr 127.0.0.1:0 --idle-timeout 1s    (a second server's log, stderr)");
    show_all(&format!("chat: listening on {addr}\n{log}"));
    carol.show(&addr, ", silent once named");
    check_log(&log, &["carol has arrived", "carol idle", "carol has left"])?;
    carol.check(&[
        LineWith("name"),
        Line("carol"),
        Line("You are carol"),
        Line("Current clients: none"),
        LineWith("no message for 1s"),
    ])?;
    check(silent >= IDLE, || {
        format!("carol was disconnected {silent:?} after naming herself, before the 1s timeout")
    })?;
    remark(&format!(
        "carol was told why and disconnected {} ms after she named herself (the idle timeout is \
         1 s), and her netcat3 exited 0 by itself",
        silent.as_millis()
    ));
    Ok(())
}
