//! The `du4` command: parses the arguments, makes the done signal (a byte on stdin, Ctrl-C), runs
//! [`du4::run`] and maps its outcome to the exit status (0, 1 when some entry could not be read,
//! 2 for usage, 130 when cancelled). See the library docs for the design.

use std::ffi::OsString;
use std::io;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use clap::builder::TypedValueParser;
use common::exit::{self, Ending};

/// Disk usage of directory trees, walked in parallel (The Go Programming Language, 8.8-8.9).
///
/// Prints `{files} files  {size} GB` for the files below the roots (apparent sizes, symlinks not
/// followed). Ctrl-C cancels.
///
/// A byte on stdin cancels too, as in the book, so in a loop that reads stdin (`... | while read d;
/// do du4 "$d"; done`) du4 swallows the rest of the list: give it `< /dev/null` there.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Directories (or files) to measure.
    #[arg(default_value = ".", value_name = "ROOT",
          value_parser = clap::builder::OsStringValueParser::new().try_map(root))]
    roots: Vec<PathBuf>,
    /// Print exact bytes instead of GB.
    #[arg(short, long)]
    bytes: bool,
    /// Print the running totals every 500 ms while walking.
    #[arg(short, long)]
    verbose: bool,
    /// One line per root, in argument order, then a total line (exercise 8.9).
    #[arg(long)]
    per_root: bool,
    /// Count a file with several hard links once (by device and inode), like GNU du. With several
    /// roots, as GNU du: they are walked in order, and what an earlier root counted counts zero
    /// in a later one.
    #[arg(long)]
    dedup_links: bool,
    /// Walker threads (1 to 1024).
    #[arg(short = 'j', long, value_name = "N", default_value_t = du4::DEFAULT_THREADS,
          allow_negative_numbers = true, value_parser = common::number::in_range::<usize>(1..=1024))]
    threads: usize,
}

/// A root as given, any bytes, unless empty: clap's own path parser says "none was supplied".
fn root(arg: OsString) -> Result<PathBuf, &'static str> {
    if arg.is_empty() {
        Err("the path is empty")
    } else {
        Ok(PathBuf::from(arg))
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let config = du4::Config {
        roots: args.roots,
        bytes: args.bytes,
        verbose: args.verbose,
        per_root: args.per_root,
        dedup_links: args.dedup_links,
        threads: args.threads,
    };
    let done = common::cancel::main_done("du4", true);
    let outcome = du4::run(
        &config,
        &done,
        &mut io::stdout().lock(),
        &mut io::stderr().lock(),
    );
    exit::status("du4", outcome.map(Ending::from))
}
