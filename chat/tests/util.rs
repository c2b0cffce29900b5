//! Test helpers: an in-process server on 127.0.0.1:0, line-speaking clients with timeouts, and
//! the lock that keeps the thread-count test alone while it counts.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::done::Canceller;

/// Generous: "it happens" on a loaded 2-core CI machine.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// Every test holds this lock shared; the thread-count test holds it alone, so no other test's
/// threads come and go while it counts the process's threads.
static THREADS: RwLock<()> = RwLock::new(());

pub fn shared() -> RwLockReadGuard<'static, ()> {
    THREADS
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub fn exclusive() -> RwLockWriteGuard<'static, ()> {
    THREADS
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The defaults, with test-sized timeouts, on `engine`; the event engine's clients spread over
/// two loops (one each until both hold one), so every test crosses loops.
pub fn config(engine: chat::Engine) -> chat::Config {
    chat::Config {
        engine,
        loops: 2,
        pack: 1,
        write_timeout: Duration::from_secs(2),
        log: false,
        ..chat::Config::default()
    }
}

/// Runs each named test function (taking a [`chat::Engine`]) once per engine, as
/// `events::NAME` and `threads::NAME`.
#[macro_export]
macro_rules! on_both_engines {
    ($($name:ident),* $(,)?) => {
        mod events {
            $(#[test]
            fn $name() {
                super::$name(chat::Engine::Events)
            })*
        }
        mod threads {
            $(#[test]
            fn $name() {
                super::$name(chat::Engine::Threads)
            })*
        }
    };
}

/// A real server, in this process, on a free loopback port.
pub struct Server {
    pub addr: SocketAddr,
    canceller: Canceller,
    finished: crossbeam_channel::Receiver<std::io::Result<chat::Summary>>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    pub fn start(config: chat::Config) -> Server {
        // The binary's own listen (SOMAXCONN), not std's queue of 128.
        let listener = common::net::listen("127.0.0.1:0").expect("listen on 127.0.0.1:0");
        let addr = listener.local_addr().expect("local_addr");
        let (canceller, done) = common::done::new();
        let (tx, finished) = crossbeam_channel::bounded(1);
        let thread = std::thread::spawn(move || {
            let _ = tx.send(chat::run(listener, config, done));
        });
        Server {
            addr,
            canceller,
            finished,
            thread: Some(thread),
        }
    }

    /// Fires the done signal and waits (bounded) for `run` to return; also how long it took.
    pub fn stop(mut self) -> (chat::Summary, Duration) {
        let start = Instant::now();
        self.canceller.cancel();
        let result = self
            .finished
            .recv_timeout(PATIENCE)
            .expect("chat::run did not return within 10 s of the cancel");
        let took = start.elapsed();
        if let Some(thread) = self.thread.take() {
            thread.join().expect("server thread");
        }
        (result.expect("chat::run failed"), took)
    }

    pub fn connect(&self) -> Client {
        Client::connect(self.addr)
    }

    /// Connects, and answers the prompt with `name`; checks `You are` and returns the client
    /// and its `Current clients:` line.
    pub fn join(&self, name: &str) -> (Client, String) {
        let mut client = self.connect();
        client.expect("Enter your name:");
        client.send(name);
        client.expect(&format!("You are {name}"));
        let current = client.line();
        assert!(
            current.starts_with("Current clients: "),
            "expected the client list, got {current:?}"
        );
        (client, current)
    }

    /// `first` and `second` joined, in that order, once `first` has seen `second` arrive.
    pub fn join_two(&self, first: &str, second: &str) -> (Client, Client) {
        let (mut first_client, _) = self.join(first);
        let (second_client, _) = self.join(second);
        first_client.expect(&format!("{second} has arrived"));
        (first_client, second_client)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.canceller.cancel();
        if let Some(thread) = self.thread.take() {
            let _ = self.finished.recv_timeout(PATIENCE);
            if thread.is_finished() {
                let _ = thread.join();
            }
        }
    }
}

/// One chat client over a real socket; every read has a timeout.
pub struct Client {
    pub reader: BufReader<TcpStream>,
    pub stream: TcpStream,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect_timeout(&addr, PATIENCE).expect("connect");
        testkit::net::patient(&stream, PATIENCE);
        Client {
            reader: BufReader::new(stream.try_clone().expect("clone")),
            stream,
        }
    }

    pub fn send(&mut self, line: &str) {
        self.stream
            .write_all(format!("{line}\n").as_bytes())
            .expect("send a line");
    }

    pub fn send_bytes(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send bytes");
    }

    /// The next line (without `\n`); panics (failing the test) on timeout or end of stream.
    pub fn line(&mut self) -> String {
        self.try_line()
            .unwrap_or_else(|why| panic!("expected a line from the server: {why}"))
    }

    /// The next line, or why there is none ("end of stream" or the read error).
    pub fn try_line(&mut self) -> Result<String, String> {
        let mut bytes = Vec::new();
        match self.reader.read_until(b'\n', &mut bytes) {
            Ok(0) => Err("end of stream".into()),
            Ok(_) if bytes.ends_with(b"\n") => {
                bytes.pop();
                Ok(String::from_utf8(bytes).map_err(|err| format!("not UTF-8: {err}"))?)
            }
            Ok(_) => Err(format!(
                "end of stream after a partial line {:?}",
                String::from_utf8_lossy(&bytes)
            )),
            Err(err) => Err(format!("read: {err}")),
        }
    }

    pub fn expect(&mut self, want: &str) {
        let got = self.line();
        assert_eq!(got, want, "unexpected line from the server");
    }

    /// Reads until the server closes; fails if it does not within the read timeout. Returns the
    /// lines read on the way.
    pub fn expect_closed(&mut self) -> Vec<String> {
        let mut lines = Vec::new();
        for _ in 0..10_000 {
            match self.try_line() {
                Ok(line) => lines.push(line),
                Err(why) if why == "end of stream" => return lines,
                Err(why) => panic!("expected the server to close, got {why}; lines: {lines:?}"),
            }
        }
        panic!("the server kept talking: {lines:?}");
    }
}

/// A socket connected to `addr` with a 4 KiB receive buffer: a client that stops reading fills
/// up quickly.
pub fn small_receive_buffer(addr: SocketAddr) -> TcpStream {
    let socket =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    socket
        .connect_timeout(&addr.into(), PATIENCE)
        .expect("connect");
    socket.into()
}

/// The number of threads of this process (`Threads:` in /proc/self/status).
pub fn thread_count() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("a Threads: line")
}

/// The descriptors this process has open.
pub fn descriptor_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

/// The threads of this process that serve chat connections (`handle_conn` and `client_writer`
/// by name, from `/proc/self/task/*/comm`): the test harness's own threads come and go, these
/// only with clients.
pub fn connection_threads() -> usize {
    ["handle_conn", "client_writer"]
        .map(|name| testkit::threads::named(name).len())
        .iter()
        .sum()
}

/// Polls `condition` every 10 ms until it holds or `PATIENCE` passes; true if it held.
pub fn eventually(mut condition: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < PATIENCE {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    condition()
}

/// The workspace's real `netcat3` binary, beside this test's own (`target/PROFILE/`); built
/// with `cargo build -p netcat3` first if it is not there (`CARGO_BIN_EXE_*` only names a
/// binary of the package under test).
pub fn netcat3() -> std::path::PathBuf {
    static BUILT: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let exe = std::env::current_exe().expect("the test's own path");
            let dir = exe
                .parent()
                .and_then(|deps| deps.parent())
                .expect("target/PROFILE");
            let path = dir.join("netcat3");
            let mut cargo = std::process::Command::new(env!("CARGO"));
            cargo.args(["build", "-q", "-p", "netcat3"]);
            if dir.file_name().is_some_and(|name| name == "release") {
                cargo.arg("--release");
            }
            let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml");
            cargo.args(["--manifest-path", manifest]);
            let run = testkit::child::Run::of(&mut cargo, Duration::from_secs(300));
            run.expect_code(0);
            assert!(path.exists(), "no {}", path.display());
            path
        })
        .clone()
}

/// Sets the child's soft and hard `resource` limit (`libc::RLIMIT_*`) to `value`, between fork
/// and exec.
pub fn limit(command: &mut std::process::Command, resource: libc::__rlimit_resource_t, value: u64) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the child between fork and exec and only calls setrlimit(2),
    // which is async-signal-safe, on a struct on its own stack.
    unsafe {
        command.pre_exec(move || {
            let limit = libc::rlimit {
                rlim_cur: value,
                rlim_max: value,
            };
            if libc::setrlimit(resource, &limit) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
}
