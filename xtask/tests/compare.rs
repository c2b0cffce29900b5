//! `cargo xtask compare`'s plumbing, without Go (CI has none) and without the book's code: a
//! stand-in `go` (a shell script given with `--go`) records how it was run and writes stand-in
//! binaries, or fails for chat as a syntax error would and for crawl3 as a missing
//! golang.org/x/net would; a stand-in checkout is a directory with an empty `ch8/`. Checked: the build step (GOPATH mode, the checkout linked,
//! nothing written into it), the row of a program that does not build, the table on stdout and
//! in COMPARE.md, the one-line refusal when localhost:8000 is taken.

use std::fs;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use testkit::child::Run;

/// Every run here builds stand-ins only: seconds, however loaded the machine.
const LIMIT: Duration = Duration::from_secs(60);

/// The stand-in go: `version`; `env GOPATH`; `build -o OUT gopl.io/ch8/NAME`, recorded in
/// `$LOG` with the environment that matters and where the checkout's link points; crawl3 fails
/// as it does without x/net.
const FAKE_GO: &str = r#"#!/bin/sh
case "$1" in
version) echo "go version stand-in"; exit 0;;
env) echo /nonexistent/gopath; exit 0;;
build) ;;
*) echo "unexpected: $*" >&2; exit 2;;
esac
first=${GOPATH%%:*}
echo "args=$*" >> "$LOG"
echo "GO111MODULE=$GO111MODULE" >> "$LOG"
echo "GOPATH=$GOPATH" >> "$LOG"
echo "link=$(readlink "$first/src/gopl.io")" >> "$LOG"
echo "pwd=$(pwd)" >> "$LOG"
case "$4" in
*chat) echo '# gopl.io/ch8/chat' >&2; echo 'chat.go:9:1: syntax error: non-declaration statement outside function body' >&2; exit 1;;
*crawl3) echo 'ch5/links/links.go:14:2: cannot find package "golang.org/x/net/html" in any of:' >&2
         echo '	/usr/lib/go/src/golang.org/x/net/html (from $GOROOT)' >&2; exit 1;;
esac
printf '#!/bin/sh\necho stand-in\n' > "$3"
chmod +x "$3"
"#;

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("temp dir");
        fs::create_dir_all(dir.path().join("gopl/ch8")).expect("stand-in checkout");
        let go = dir.path().join("go");
        fs::write(&go, FAKE_GO).expect("stand-in go");
        fs::set_permissions(&go, fs::Permissions::from_mode(0o755)).expect("chmod");
        Fixture { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn log(&self) -> String {
        fs::read_to_string(self.path("go.log")).unwrap_or_default()
    }

    /// `xtask compare --gopl gopl --go go ARGS`, its target directory in the fixture.
    fn compare(&self, gopl: &Path, args: &[&str]) -> Run {
        let mut command = Command::new(env!("CARGO_BIN_EXE_xtask"));
        command
            .arg("compare")
            .arg("--gopl")
            .arg(gopl)
            .arg("--go")
            .arg(self.path("go"))
            .args(args)
            .env("CARGO_TARGET_DIR", self.path("target"))
            .env("LOG", self.path("go.log"))
            .stdin(Stdio::null());
        Run::of(&mut command, LIMIT)
    }
}

#[test]
fn the_build_runs_go_in_gopath_mode_and_a_failed_build_gets_its_row() {
    let fixture = Fixture::new();
    let gopl = fixture.path("gopl");
    let out = fixture.compare(&gopl, &["--build-only"]);
    let stdout = &out.stdout;
    assert!(out.status.success(), "{out}");

    let built = fixture.path("target/gopl");
    for name in ["du4", "netcat3", "reverb2"] {
        let binary = built.join(name);
        assert!(binary.is_file(), "{} missing", binary.display());
        let row = format!("| build ch8/{name} | built: {} | - |", binary.display());
        assert!(stdout.contains(&row), "no row {row:?} in\n{stdout}");
    }
    assert!(!built.join("crawl3").exists() && !built.join("chat").exists());
    let row = "| build ch8/chat | did not build: chat.go:9:1: syntax error: non-declaration statement outside function body | - |";
    assert!(stdout.contains(row), "no row {row:?} in\n{stdout}");
    let row = "| build ch8/crawl3 | did not build: ch5/links/links.go:14:2: cannot find package \"golang.org/x/net/html\" in any of: | - |";
    assert!(stdout.contains(row), "no row {row:?} in\n{stdout}");
    assert!(stdout.contains("| work | Go original (gopl.io) | this project |\n|---|---|---|\n"));
    assert!(stdout.contains("- go: go version stand-in"));
    let report = fs::read_to_string(fixture.path("target/bench/COMPARE.md")).expect("COMPARE.md");
    assert_eq!(&report, stdout);

    let log = fixture.log();
    let canonical = gopl.canonicalize().unwrap();
    for name in ["du4", "chat", "netcat3", "reverb2", "crawl3"] {
        let args = format!(
            "args=build -o {} gopl.io/ch8/{name}",
            built.join(name).display()
        );
        assert!(log.contains(&args), "no {args:?} in\n{log}");
    }
    assert_eq!(log.matches("GO111MODULE=off\n").count(), 5, "{log}");
    assert_eq!(
        log.matches(&format!("link={}\n", canonical.display()))
            .count(),
        5,
        "{log}"
    );
    let gopath = built.join("gopath");
    assert!(
        log.contains(&format!("GOPATH={}", gopath.display())),
        "{log}"
    );
    assert!(log.contains(&format!("pwd={}\n", built.display())), "{log}");
    // Nothing written into the checkout; the build's GOPATH is gone.
    let entries: Vec<_> = fs::read_dir(&gopl).unwrap().flatten().collect();
    assert_eq!(entries.len(), 1);
    assert_eq!(fs::read_dir(gopl.join("ch8")).unwrap().count(), 0);
    assert!(!gopath.exists());
}

#[test]
fn a_taken_port_is_said_in_one_line_before_anything_is_built() {
    let fixture = Fixture::new();
    // Held here, or already held by something else: taken either way.
    let _holder = TcpListener::bind("127.0.0.1:8000");
    let out = fixture.compare(&fixture.path("gopl"), &[]);
    let stderr = &out.stderr;
    assert_eq!(out.code(), Some(1), "{out}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("xtask: localhost:8000 is taken"),
        "{stderr}"
    );
    assert_eq!(fixture.log(), "", "go ran although the port was taken");
    assert!(out.stdout.is_empty());
}

#[test]
fn a_directory_that_is_no_checkout_and_a_missing_go_are_one_line_each() {
    let fixture = Fixture::new();
    let out = fixture.compare(fixture.dir.path(), &["--build-only"]);
    let stderr = &out.stderr;
    assert_eq!(out.code(), Some(1), "{out}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("not a gopl.io checkout"), "{stderr}");

    let mut command = Command::new(env!("CARGO_BIN_EXE_xtask"));
    command
        .args([
            "compare",
            "--build-only",
            "--go",
            "/nonexistent/go",
            "--gopl",
        ])
        .arg(fixture.path("gopl"))
        .env("CARGO_TARGET_DIR", fixture.path("target"))
        .stdin(Stdio::null());
    let run = Run::of(&mut command, LIMIT);
    let stderr = &run.stderr;
    assert_eq!(run.code(), Some(1), "{run}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("/nonexistent/go") && stderr.contains("apt-get install golang-go"));
}
