//! Integration tests of mirrored-fetch: the real binary against real local HTTP mirrors started
//! by the tests (`testkit::site`, each with its own per-response delay). One test binary, modules
//! by theme.

mod cli;
mod complete;
mod fail;
mod hostile;
mod library;
mod util;
mod win;
