//! The command line: `--help`, `--version`, usage errors exit 2.

use crate::util::du4_run;

#[test]
fn help_and_version_exit_zero() {
    let out = du4_run(["--help"]);
    out.expect_code(0);
    for option in [
        "--bytes",
        "--verbose",
        "--per-root",
        "--dedup-links",
        "--threads",
    ] {
        assert!(out.stdout.contains(option), "--help lacks {option}\n{out}");
    }
    // A byte on stdin cancels: said, with the way out for a shell loop.
    assert!(
        out.stdout.contains("A byte on stdin cancels") && out.stdout.contains("< /dev/null"),
        "\n{out}"
    );
    let out = du4_run(["--version"]);
    out.expect_code(0);
    assert!(out.stdout.starts_with("du4 "), "\n{out}");
}

#[test]
fn usage_errors_exit_two() {
    for args in [&["--no-such-option"][..], &["-j", "0"], &["-j", "many"]] {
        let out = du4_run(args);
        out.expect_code(2);
        assert!(out.stdout.is_empty(), "\n{out}");
        assert!(!out.stderr.is_empty(), "\n{out}");
    }
}

#[test]
fn bad_arguments_say_what_is_wrong() {
    for (args, message) in [
        (
            &["-j", "-1"][..],
            "invalid value '-1' for '--threads <N>': must be positive",
        ),
        (
            &["--threads=-5"],
            "invalid value '-5' for '--threads <N>': must be positive",
        ),
        (
            &["-j", "0"],
            "invalid value '0' for '--threads <N>': must be positive",
        ),
        (
            &["-j", "1025"],
            "invalid value '1025' for '--threads <N>': must be at most 1024",
        ),
        (&["-j", "99999999999999999999999"], "must be at most 1024"),
        (&[""], "invalid value '' for '[ROOT]...': the path is empty"),
        (&["a", ""], "the path is empty"),
    ] {
        let out = du4_run(args);
        out.expect_code(2);
        assert!(out.stdout.is_empty(), "\n{out}");
        assert!(
            out.stderr.contains(message),
            "{args:?}: want {message:?}\n{out}"
        );
    }
}
