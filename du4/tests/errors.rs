//! Errors: an unreadable directory (made real for root by dropping root with `setpriv`), a
//! missing root and a bind-mount loop (made with `unshare`) are reported in one line each, the
//! walk goes on, and the exit status is 1; so is a failed write of the totals (stdout on
//! `/dev/full`).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

use crate::util::{Run, bytes_line, du4_run, run, run_unprivileged};

fn chmod(path: &std::path::Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// Asserts that du4 exited 1 having printed `total`, and `error` as its only error line.
fn expect_total_and_error(out: &Run, total: String, error: String) {
    out.expect_code(1);
    assert_eq!(out.stdout_lines(), [total], "\n{out}");
    assert_eq!(out.stderr_lines(), [error], "\n{out}");
}

#[test]
fn an_unreadable_directory_is_reported_and_the_walk_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("tree");
    fs::create_dir_all(root.join("ok/deeper")).unwrap();
    fs::write(root.join("ok/f"), b"12345").unwrap();
    fs::write(root.join("ok/deeper/g"), b"123").unwrap();
    fs::create_dir(root.join("locked")).unwrap();
    fs::write(root.join("locked/secret"), b"1234567").unwrap();
    chmod(&root.join("locked"), 0o000);
    for dir in [&root, &root.join("ok"), &root.join("ok/deeper")] {
        chmod(dir, 0o755);
    }
    let out = run_unprivileged(tmp.path(), &["-b".as_ref(), root.as_os_str()]);
    chmod(&root.join("locked"), 0o755); // so the temp dir can be removed
    let expected = format!(
        "du4: {}: Permission denied (os error 13)",
        root.join("locked").display()
    );
    expect_total_and_error(&out, bytes_line(2, 8), expected);
}

#[test]
fn a_missing_root_is_reported_and_the_others_counted() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("f"), b"123").unwrap();
    let missing = tmp.path().join("missing");
    let out = du4_run([
        "--per-root".as_ref(),
        "-b".as_ref(),
        missing.as_os_str(),
        tmp.path().as_os_str(),
    ]);
    out.expect_code(1);
    assert_eq!(
        out.stderr,
        format!(
            "du4: {}: No such file or directory (os error 2)\n",
            missing.display()
        ),
        "\n{out}"
    );
    assert_eq!(
        out.stdout_lines(),
        [
            format!("{}  {}", bytes_line(0, 0), missing.display()),
            format!("{}  {}", bytes_line(1, 3), tmp.path().display()),
            format!("{}  total", bytes_line(1, 3)),
        ],
        "\n{out}"
    );
}

#[test]
fn a_failed_write_of_the_totals_is_one_line_and_status_one() {
    let tmp = tempfile::tempdir().unwrap();
    let full = fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let mut command = crate::util::du4();
    command
        .arg(tmp.path())
        .stdin(Stdio::null())
        .stderr(Stdio::piped());
    let text = crate::util::describe(&command);
    let child = command.stdout(full).spawn().unwrap();
    let ended = testkit::child::finish(child, crate::util::DEADLINE);
    let (status, stderr) = (ended.status, String::from_utf8_lossy(&ended.stderr));
    let report = format!("command: {text} > /dev/full\nstatus: {status:?}\nstderr: {stderr}");
    assert_eq!(status.and_then(|s| s.code()), Some(1), "{report}");
    assert_eq!(
        stderr, "du4: writing the totals: No space left on device (os error 28)\n",
        "{report}"
    );
}

#[test]
fn a_bind_mount_loop_is_reported_once_and_not_entered() {
    // A directory mounted onto its own subdirectory, in a private mount namespace (`unshare`,
    // util-linux; `--map-root-user` lets a non-root user do it too): `x/sub` is `x` again.
    let tmp = tempfile::tempdir().unwrap();
    let x = tmp.path().join("x");
    fs::create_dir_all(x.join("sub")).unwrap();
    fs::write(x.join("f"), b"abc").unwrap();
    let out = run(Command::new("unshare")
        .args(["--mount", "--map-root-user", "sh", "-c"])
        .arg(r#"mount --bind "$1" "$1/sub" && exec "$2" -b "$1""#)
        .arg("sh")
        .arg(&x)
        .arg(env!("CARGO_BIN_EXE_du4"))
        .stdin(Stdio::null()));
    let expected = format!(
        "du4: {}: not entered: the same directory as one of its ancestors (a loop)",
        x.join("sub").display()
    );
    expect_total_and_error(&out, bytes_line(1, 3), expected);
}
