//! `cargo xtask compare --gopl DIR [--go PATH]`: the book's Go programs, built from the reader's
//! own checkout of gopl.io, run beside this project's release binaries on the same work in one
//! sitting, so the README's Go-versus-Rust claims can be rerun.
//!
//! 1. Build ([`build`]): `ch8/du4`, `ch8/chat`, `ch8/netcat3`, `ch8/reverb2` and `ch8/crawl3`,
//!    in GOPATH mode, to `target/gopl/`; nothing is written into DIR.
//! 2. Run, the Go program then ours, for each piece of work: du4 ([`du4`]), netcat3 with its
//!    reverb ([`netcat3`]), the crawler ([`crawl`]), chat ([`chat`], last: its load client
//!    grows this process, and a child's peak RSS includes this process's size at spawn).
//! 3. One table on stdout, also written to `target/bench/COMPARE.md`.
//!
//! The book's programs listen on and dial `localhost:8000`, so that port must be free. A
//! program that does not build (or runs wrong) gets its row with the reason; the rest runs.

mod build;
mod chat;
mod crawl;
mod du4;
mod netcat3;

use std::fmt::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};

pub use crate::bench::thousands;
use crate::bench::{Load, machine_description, target_dir};

#[derive(clap::Args)]
pub struct CompareArgs {
    /// A checkout of the book's repository (git clone https://github.com/adonovan/gopl.io).
    #[arg(long, value_name = "DIR")]
    gopl: PathBuf,
    /// The go command to build with (default: `go` on PATH).
    #[arg(long, value_name = "PATH", default_value = "go")]
    go: PathBuf,
    /// Build the Go programs, print their rows and stop (no port needed, nothing run).
    #[arg(long)]
    build_only: bool,
    /// Run one piece of work only.
    #[arg(long, value_name = "WORK", value_parser = clap::builder::PossibleValuesParser::new(WORKS))]
    only: Option<String>,
}

/// The address the book's servers listen on and its clients dial.
pub use crate::bench::chat::BOOK_ADDR;

/// A piece of work run on both: its rows.
type Work = fn(&Programs) -> crate::Result<Vec<Row>>;

/// The pieces of work, in the order they run.
const WORKS: [&str; 4] = ["du4", "netcat3", "crawler", "chat"];

/// One line of the table: the work, and what the Go original and this project did.
pub struct Row {
    pub work: String,
    pub go: String,
    pub ours: String,
}

impl Row {
    pub fn new(work: impl Into<String>, go: impl Into<String>, ours: impl Into<String>) -> Row {
        Row {
            work: work.into(),
            go: go.into(),
            ours: ours.into(),
        }
    }
}

/// The Go binaries built (or why not) and this project's, as the runs need them.
pub struct Programs {
    go: Vec<(&'static str, crate::Result<PathBuf>)>,
    /// Why this project's release build failed, if it did.
    rust: crate::Result,
    /// The reverb example, or why it is missing.
    pub reverb: crate::Result<PathBuf>,
}

impl Programs {
    /// The Go build of `name`, or why there is none.
    pub fn go(&self, name: &str) -> crate::Result<&Path> {
        match self.go.iter().find(|(built, _)| *built == name) {
            Some((_, Ok(path))) => Ok(path),
            Some((_, Err(why))) => Err(format!("{name} did not build: {why}")),
            None => Err(format!("{name} was not built")),
        }
    }

    /// This project's release binary `name`, or why there is none.
    pub fn ours(&self, name: &str) -> crate::Result<PathBuf> {
        self.rust
            .clone()
            .map(|()| crate::bench::release_binary(name))
    }
}

pub fn run(args: CompareArgs) -> crate::Result {
    if !args.gopl.join("ch8").is_dir() {
        return Err(format!(
            "{}: not a gopl.io checkout (no ch8/): git clone https://github.com/adonovan/gopl.io",
            args.gopl.display()
        ));
    }
    if !args.build_only {
        port_free()?;
    }
    let load = Load::now();
    let out = target_dir().join("gopl");
    let go_version = build::version(&args.go)?;
    let go = build::build(&args.go, &args.gopl, &out)?;
    let mut rows: Vec<Row> = go
        .iter()
        .map(|(name, built)| {
            let go = match built {
                Ok(path) => {
                    let root = crate::workspace_root();
                    format!(
                        "built: {}",
                        path.strip_prefix(&root).unwrap_or(path).display()
                    )
                }
                Err(why) => format!("did not build: {why}"),
            };
            Row::new(format!("build ch8/{name}"), go, "-")
        })
        .collect();
    let mut notes = vec![format!("go: {go_version}")];
    if !args.build_only {
        let rust = crate::bench::build_release(&["du4", "chat", "netcat3", "crawler"]);
        let reverb = crate::cargo(&["build", "--release", "-p", "netcat3", "--example", "reverb"])
            .map(|()| target_dir().join("release/examples/reverb"))
            .map_err(|err| format!("the reverb example did not build: {err}"));
        let programs = Programs { go, rust, reverb };
        let works: [Work; 4] = [du4::run, netcat3::run, crawl::run, chat::run];
        for (name, work) in WORKS.into_iter().zip(works) {
            if args.only.as_ref().is_some_and(|only| only != name) {
                continue;
            }
            eprintln!("xtask compare: {name}");
            match work(&programs) {
                Ok(mut more) => rows.append(&mut more),
                Err(why) => rows.push(Row::new(name, format!("not run: {why}"), "-")),
            }
        }
        notes.push(load.since("the programs share the cores with whatever else runs"));
    }
    let table = table(&args.gopl, &rows, &notes);
    print!("{table}");
    crate::bench::write_report("compare", "COMPARE.md", &table)
}

/// The book's programs need `localhost:8000`: fails in one line when something holds it.
fn port_free() -> crate::Result {
    match TcpListener::bind(BOOK_ADDR) {
        Ok(_) => Ok(()),
        Err(err) => Err(format!(
            "localhost:8000 is taken ({err}); the book's programs listen on and dial it: free it \
             and run again"
        )),
    }
}

/// What a child wrote to a pipe read by [`testkit::child::read_all`], once it has exited.
fn collect(pipe: Option<std::sync::mpsc::Receiver<Vec<u8>>>) -> String {
    let bytes = pipe.and_then(|pipe| pipe.recv_timeout(std::time::Duration::from_secs(1)).ok());
    String::from_utf8_lossy(&bytes.unwrap_or_default()).into_owned()
}

/// The report: one Markdown table, a line for the setting and the notes.
fn table(gopl: &Path, rows: &[Row], notes: &[String]) -> String {
    let mut out = String::from("# The Go originals beside this project\n\n");
    let _ = writeln!(out, "`cargo xtask compare --gopl {}`\n", gopl.display());
    let _ = writeln!(out, "Machine: {}\n", machine_description());
    out.push_str("| work | Go original (gopl.io) | this project |\n|---|---|---|\n");
    for row in rows {
        let cell = |text: &str| text.replace('|', "\\|").replace('\n', " ");
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            cell(&row.work),
            cell(&row.go),
            cell(&row.ours)
        );
    }
    out.push('\n');
    for note in notes {
        let _ = writeln!(out, "- {note}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cell_cannot_break_the_table() {
        let rows = [Row::new("a|b", "line\nbreak", "-")];
        let table = table(Path::new("/g"), &rows, &["note".into()]);
        assert!(table.contains("| a\\|b | line break | - |\n"), "{table}");
        assert!(table.ends_with("- note\n"));
    }
}
