//! Integration tests of du4: the real binary over real trees in temp dirs (one test binary,
//! modules by theme).

mod cancel;
mod cli;
mod deep;
mod errors;
mod names;
mod totals;
mod util;
mod vanishing;
