//! `cargo xtask site`: serves the generated site of [`testkit::site`] until Ctrl-C, for trying
//! the crawler (book section 8.6) and mirrored-fetch (section 8.4.4) by hand, offline.
//!
//! ```text
//! cargo xtask site --pages 200 --latency 50ms --addr 127.0.0.1:8000
//! cargo xtask site --mirrors 300ms,20ms,100ms
//! ```
//!
//! It prints the site's URL (and each mirror's) on stdout, one per line, then serves until
//! Ctrl-C, and prints the request statistics on stderr when it stops.

use std::time::Duration;

use testkit::site::{Site, SiteHandle, SiteOptions};

#[derive(clap::Args)]
pub struct SiteArgs {
    /// Tree pages of the generated site (`/page/0` ..), besides the index and its special cases.
    #[arg(long, default_value_t = 100)]
    pages: usize,
    /// Delay before every answer, e.g. `50ms`.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "0s")]
    latency: Duration,
    /// Where the generated site listens (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8000")]
    addr: String,
    /// Also serve one fixed body on a fresh loopback port per delay (comma-separated, e.g.
    /// `300ms,20ms,100ms`): mirrors of different speeds for mirrored-fetch.
    #[arg(long, value_delimiter = ',', value_parser = humantime::parse_duration)]
    mirrors: Vec<Duration>,
    /// Connection threads of each server: requests handled at once.
    #[arg(long, default_value_t = 64)]
    workers: usize,
}

/// The body every mirror serves.
const MIRROR_BODY: &str = "The same file, served by every mirror.\n";

pub fn run(args: SiteArgs) -> crate::Result {
    let (canceller, done) = common::done::new();
    common::cancel::on_ctrlc(canceller).map_err(|err| format!("Ctrl-C handler: {err}"))?;
    let options = SiteOptions {
        latency: args.latency,
        workers: args.workers,
    };
    let site = Site::generated(args.pages)
        .start(args.addr.as_str(), options)
        .map_err(|err| format!("{}: {err}", args.addr))?;
    println!("{}", site.url("/"));
    let mut mirrors: Vec<SiteHandle> = Vec::new();
    for latency in &args.mirrors {
        let mirror = Site::fixed("text/plain; charset=utf-8", MIRROR_BODY)
            .start(
                "127.0.0.1:0",
                SiteOptions {
                    latency: *latency,
                    workers: args.workers,
                },
            )
            .map_err(|err| format!("mirror: {err}"))?;
        println!("{}", mirror.url("/file.txt"));
        mirrors.push(mirror);
    }
    eprintln!(
        "xtask site: {} pages, latency {}; Ctrl-C stops",
        args.pages,
        humantime::format_duration(args.latency)
    );
    done.wait();
    let stats = site.stats();
    site.stop();
    eprintln!(
        "xtask site: {} requests, at most {} in flight, {} abandoned by the client",
        stats.requests, stats.max_in_flight, stats.aborted
    );
    for mirror in mirrors {
        let stats = mirror.stats();
        let url = mirror.url("/file.txt");
        mirror.stop();
        eprintln!(
            "xtask site: mirror {url}: {} requests, {} abandoned",
            stats.requests, stats.aborted
        );
    }
    Ok(())
}
