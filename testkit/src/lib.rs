//! Support for the tests, the tour and the benchmarks of the chapter 8 programs; no program links
//! it (program crates take it as a dev-dependency, `xtask` as a dependency).
//!
//! - [`site`]: a generated web site served on loopback, with per-response delays, stalls and
//!   hostile answers, for the crawler and mirrored-fetch.
//! - [`child`]: running a program with every wait bounded, so a hang fails instead of stalling.

pub mod child;
pub mod site;
