//! Support for the tests, the tour and the benchmarks of the chapter 8 programs; no program links
//! it (program crates take it as a dev-dependency, `xtask` as a dependency).
//!
//! - [`site`]: a generated web site served on loopback, with per-response delays, stalls and
//!   hostile answers, for the crawler and mirrored-fetch.
//! - [`hostile`]: pages an adversary serves a crawler (a gzip bomb, deep nesting, endless
//!   attributes, a giant comment), each on a site of its own.
//! - [`child`]: running a program with every wait bounded, so a hang fails instead of stalling.
//! - [`net`]: a one-connection loopback server, socket timeouts and a request-head reader, for
//!   hand-made servers.

pub mod child;
pub mod hostile;
pub mod net;
pub mod site;
pub mod threads;
