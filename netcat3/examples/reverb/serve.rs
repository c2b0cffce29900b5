//! The book's `main` loop: accept, and a thread per connection. Here the done signal wakes the
//! blocked `accept` (the listening socket is shut down), a failing `accept` (out of descriptors)
//! is retried without spinning, and every connection's thread is waited for at the end.

use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::done::Done;
use common::wait_group::WaitGroup;

use crate::slots::Slots;

/// The pause before `accept` is tried again after it failed (out of descriptors, say).
const RETRY: Duration = Duration::from_millis(20);
/// How long the connections may take to close once the done signal has fired.
const GRACE: Duration = Duration::from_secs(5);
/// A connection's thread runs `handle_conn`: a `select!` and little else.
const CONN_STACK: usize = 128 << 10;

/// Accepts connections on `listener` until `done` fires, each served by `handle` on a thread of
/// its own; then waits for those threads (each ends promptly: the signal reaches everything it
/// waits on). With a thread budget, a connection is accepted only once two threads of it are
/// free (its own and its reader's); until then it waits in the accept queue.
pub fn serve(
    listener: TcpListener,
    threads: Option<&Slots>,
    done: &Done,
    handle: impl Fn(TcpStream) + Send + Sync + 'static,
) {
    let listener = Arc::new(listener);
    let waker = Arc::clone(&listener);
    // A blocked `accept` wakes when the listening socket is shut down (Linux).
    let _wake_accept = done.on_cancel(move || {
        let _ = socket2::SockRef::from(&*waker).shutdown(Shutdown::Both);
    });
    let handle = Arc::new(handle);
    let conns = WaitGroup::new();
    // The last `accept` error, logged once while it repeats.
    let mut failing: Option<Option<i32>> = None;
    while !done.cancelled() {
        let budget = match threads {
            None => None,
            Some(threads) => match (threads.acquire(done), threads.acquire(done)) {
                (Some(own), Some(reader)) => Some((own, reader)),
                _ => break,
            },
        };
        match listener.accept() {
            Ok((c, peer)) => {
                failing = None;
                let (handle, member) = (Arc::clone(&handle), conns.add());
                let spawned = thread::Builder::new()
                    .name("reverb-conn".into())
                    .stack_size(CONN_STACK)
                    .spawn(move || {
                        let _counted = (member, budget);
                        handle(c);
                    });
                if let Err(err) = spawned {
                    common::exit::error("reverb", format_args!("{peer}: a thread: {err}: refused"));
                }
            }
            Err(_) if done.cancelled() => break,
            Err(err) => {
                if failing != Some(err.raw_os_error()) {
                    failing = Some(err.raw_os_error());
                    common::exit::error(
                        "reverb",
                        format_args!("accept: {err} (retried every {RETRY:?})"),
                    );
                }
                done.wait_timeout(RETRY);
            }
        }
    }
    if !conns.wait_timeout(GRACE) {
        common::exit::error("reverb", "some connections did not close in time");
    }
}
