//! Integration tests of the crawler: the real binary against real HTTP servers on loopback
//! (`testkit::site` and hand-made listeners), one test binary with modules by theme.

mod budget;
mod cancel;
mod cli;
mod crawl;
mod framing;
mod library;
mod redirect;
mod util;
