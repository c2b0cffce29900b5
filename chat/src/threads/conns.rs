//! The connection threads of the `threads` engine: started without ever aborting, joined as
//! they end, their sockets closed the moment a connection ends, and all of them ended within a
//! second of the done signal.

use std::io;
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use common::wait_group::WaitGroup;

use crate::limits;

/// Starts a named thread with the connection threads' stack size.
pub fn spawn<T: Send + 'static>(
    name: &str,
    body: impl FnOnce() -> T + Send + 'static,
) -> io::Result<JoinHandle<T>> {
    thread::Builder::new()
        .name(name.into())
        .stack_size(limits::THREAD_STACK)
        .spawn(body)
}

/// The running connection threads.
pub struct Conns {
    /// Each thread and, weakly, its socket: the thread's own reference is the only strong one,
    /// so the socket closes when the connection ends, not when the thread is reaped.
    threads: Vec<(JoinHandle<()>, Weak<TcpStream>)>,
    /// Each thread holds a member until it returns.
    alive: WaitGroup,
    live: Arc<AtomicUsize>,
}

impl Conns {
    /// `live` counts the connections being served; each thread counts itself down.
    pub fn new(live: Arc<AtomicUsize>) -> Conns {
        Conns {
            threads: Vec::new(),
            alive: WaitGroup::new(),
            live,
        }
    }

    /// Starts `serve` on a thread of its own for `conn`; a thread that cannot start refuses the
    /// connection with one line (and the error is returned for the log).
    pub fn start(
        &mut self,
        conn: TcpStream,
        serve: impl FnOnce(&Arc<TcpStream>) + Send + 'static,
    ) -> io::Result<()> {
        self.reap();
        let conn = Arc::new(conn);
        let weak = Arc::downgrade(&conn);
        let (alive, live) = (self.alive.add(), self.live.clone());
        let spawned = spawn("handle_conn", {
            let conn = Arc::clone(&conn);
            move || {
                let _alive = alive;
                serve(&conn);
                drop(conn);
                live.fetch_sub(1, Ordering::SeqCst);
            }
        });
        let handle = spawned.map_err(|err| {
            limits::refuse(&conn, &crate::session::full(None));
            common::exit::context("spawn", err)
        })?;
        self.threads.push((handle, weak));
        Ok(())
    }

    /// Joins the threads that have ended.
    fn reap(&mut self) {
        for (handle, _) in self
            .threads
            .extract_if(.., |(handle, _)| handle.is_finished())
        {
            let _ = handle.join();
        }
    }

    /// After the done signal each thread delivers its farewell and ends, normally within `grace`;
    /// past twice that, cutting its socket frees one blocked in a write. Then all are joined.
    pub fn shut_down(self, grace: Duration) {
        let Conns { threads, alive, .. } = self;
        if !alive.wait_timeout(grace * 2) {
            for (handle, conn) in &threads {
                if let Some(conn) = conn.upgrade().filter(|_| !handle.is_finished()) {
                    let _ = conn.shutdown(Shutdown::Both);
                }
            }
        }
        for (handle, _) in threads {
            let _ = handle.join();
        }
    }
}
