//! The chat server's integration tests: real TCP sockets on 127.0.0.1, the server in this
//! process through `chat::run` (stopped by an injected done signal) and the real binary.

mod binary;
mod flow;
mod lifecycle;
mod limits;
mod memory;
mod names;
mod protocol;
mod util;
