//! netcat3's integration tests: the real binary against real servers on 127.0.0.1:0 (`cli`),
//! and the library's session with an injected done signal (`session`).

mod cli;
mod reverb;
mod session;
mod util;
