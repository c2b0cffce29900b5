//! `cargo xtask bench netcat3`: 1 GiB through loopback, netcat3 against OpenBSD `nc -N` (both
//! half-close at end of input and wait for the server to close), runs alternated, medians and
//! ratios of throughput. Sending (stdin to a sink server) from two feeds: a pipe this process
//! writes into (netcat3 `splice`s it into the socket) and a cached 1 GiB file (netcat3
//! `sendfile`s it); receiving (a source
//! server to stdout) into a pipe this process drains. Also measured: how long after the server
//! closes each tool exits while its stdin stays open (the book's netcat3 and `nc` wait for
//! stdin). The targets are docs/SPEC.md's (netcat3).

use std::fs::File;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use testkit::net::ServeOne;

use super::{
    Load, Section, alternate, bench_dir, find_tool, median, ratio, release_binary, spawn,
    wait_limited, wait_measured,
};

/// Bytes sent per run.
const TOTAL: u64 = 1 << 30;
/// Runs per tool and row, alternated between the tools.
const RUNS: usize = 5;
/// How long a tool may take to exit after the server closed, in the exit-latency runs.
const EXIT_LIMIT: Duration = Duration::from_secs(2);

/// How long a server may take to finish once its client has exited.
const SERVER_LIMIT: Duration = Duration::from_secs(30);

/// A client under test: its name and how to start it against `addr`.
struct Tool {
    name: &'static str,
    program: PathBuf,
    args: fn(SocketAddr) -> Vec<String>,
}

/// What one throughput run moves, and through which descriptors.
#[derive(Clone, Copy)]
enum Run {
    /// Stdin to a sink server, stdin a pipe this process writes 1 GiB into, 1 MiB at a time.
    SendPipe,
    /// Stdin to a sink server, stdin the cached 1 GiB file.
    SendFile,
    /// A source server's 1 GiB to stdout, a pipe this process drains; stdin is `/dev/null`.
    ReceivePipe,
}

pub fn run() -> crate::Result<Section> {
    let mut section = Section::new(
        "netcat3 (8.4.1): 1 GiB through loopback, netcat3 vs OpenBSD nc",
        "cargo xtask bench netcat3",
        &["run", "netcat3", "nc -N", "netcat3 / nc"],
    );
    let tools = tools(&mut section);
    let file = input_file()?;
    let load = Load::now();
    for (run, label) in [
        (Run::SendPipe, "send 1 GiB, stdin a pipe (MiB/s)"),
        (Run::SendFile, "send 1 GiB, stdin a cached file (MiB/s)"),
        (Run::ReceivePipe, "receive 1 GiB, stdout a pipe (MiB/s)"),
    ] {
        let rates = alternate(tools.len(), RUNS, false, |index| {
            throughput(&tools[index], run, &file)
        })?;
        let ours = median(&rates[0]);
        let theirs = rates.get(1).map(|samples| median(samples));
        section.row(vec![
            label.into(),
            format!("{ours:.0}"),
            theirs.map_or("n/a".into(), |t| format!("{t:.0}")),
            ratio(ours, theirs),
        ]);
    }
    let latencies = tools
        .iter()
        .map(exit_latencies)
        .collect::<crate::Result<Vec<String>>>()?;
    section.row(vec![
        "exit after the server closes, stdin open (median)".into(),
        latencies[0].clone(),
        latencies.get(1).cloned().unwrap_or_else(|| "n/a".into()),
        String::new(),
    ]);
    notes(&mut section, &load);
    Ok(section)
}

/// netcat3, and OpenBSD nc if it is here or can be installed (a note says when it is not).
fn tools(section: &mut Section) -> Vec<Tool> {
    let mut tools = vec![Tool {
        name: "netcat3",
        program: release_binary("netcat3"),
        args: |addr| vec![addr.to_string()],
    }];
    match find_tool("nc", "apt-get install -y -qq netcat-openbsd") {
        Some(nc) if is_openbsd_nc(&nc) => tools.push(Tool {
            name: "nc",
            program: nc,
            args: |addr| vec!["-N".into(), addr.ip().to_string(), addr.port().to_string()],
        }),
        Some(nc) => section.note(format!(
            "{} is not OpenBSD netcat (no `-N`): left out",
            nc.display()
        )),
        None => section.note("OpenBSD nc not found and not installable: netcat3 alone"),
    }
    tools
}

fn notes(section: &mut Section, load: &Load) {
    section.note(format!(
        "{RUNS} runs per tool and row, alternated; throughput = 1024 MiB / wall time from \
         spawn to exit (connect, transfer, half-close, the server's close)."
    ));
    section.note(
        "Sink: one thread reading into a 256 KiB buffer; source: one thread writing 1 MiB \
         blocks. Pipes are the default 64 KiB; this process writes 1 MiB blocks into stdin and \
         reads stdout into a 256 KiB buffer. netcat3 splices a stdin pipe into the socket and \
         sendfiles a regular file; it receives with read/write through a 128 KiB buffer (a blocking splice into the stdout \
         pipe can hold data back from its reader: the netcat3 section of docs/benchmarks.md). nc reads and writes \
         through its 16 KiB buffer.",
    );
    load.note(
        section,
        "both tools share the machine with whatever else runs, so compare the ratio more than the absolute figures",
    );
    section.note("targets: docs/SPEC.md (netcat3)");
}

/// True when `nc` is the OpenBSD variant (the one with `-N`), which says so in its help.
fn is_openbsd_nc(nc: &Path) -> bool {
    Command::new(nc)
        .arg("-h")
        .stdin(Stdio::null())
        .output()
        .map(|out| {
            let text = [out.stdout, out.stderr].concat();
            String::from_utf8_lossy(&text).contains("OpenBSD netcat")
        })
        .unwrap_or(false)
}

/// The 1 GiB input file, made once and kept under `target/bench`.
fn input_file() -> crate::Result<PathBuf> {
    let dir = bench_dir();
    std::fs::create_dir_all(&dir).map_err(|err| format!("{}: {err}", dir.display()))?;
    let path = dir.join("netcat3-1GiB.bin");
    if std::fs::metadata(&path).is_ok_and(|meta| meta.len() == TOTAL) {
        return Ok(path);
    }
    let mut out = File::create(&path).map_err(|err| format!("{}: {err}", path.display()))?;
    let block = pattern_block();
    for _ in 0..TOTAL / block.len() as u64 {
        out.write_all(&block)
            .map_err(|err| format!("{}: {err}", path.display()))?;
    }
    Ok(path)
}

/// 1 MiB of every byte value, so nothing along the way could take a shortcut on zeros.
fn pattern_block() -> Vec<u8> {
    (0..1usize << 20)
        .map(|i| (i as u8).wrapping_mul(31) ^ (i >> 8) as u8)
        .collect()
}

/// One run of `tool`; returns MiB/s, after checking that all the bytes arrived.
fn throughput(tool: &Tool, run: Run, file: &Path) -> crate::Result<f64> {
    let receiving = matches!(run, Run::ReceivePipe);
    // The server: a sink counting what it reads, or a source sending TOTAL bytes and closing.
    let server = ServeOne::start(None, move |mut stream| {
        if receiving {
            return send_total(&mut stream);
        }
        drain(&mut stream)
    })
    .map_err(|err| format!("server: {err}"))?;
    let (stdin, stdout) = stdio(run, file)?;
    let start = Instant::now();
    let mut child = spawn(
        Command::new(&tool.program)
            .args((tool.args)(server.addr))
            .stdin(stdin)
            .stdout(stdout)
            .stderr(Stdio::inherit()),
    )?;
    let feeder = child
        .stdin
        .take()
        .map(|mut stdin| thread::spawn(move || send_total(&mut stdin)));
    let drainer = child
        .stdout
        .take()
        .map(|mut stdout| thread::spawn(move || drain(&mut stdout)));
    let measured = wait_measured(child, start)?;
    let joined = |thread: Option<thread::JoinHandle<std::io::Result<u64>>>, what: &str| {
        // The tool has exited, so its stdin and stdout are closed: these joins are prompt.
        thread
            .map(|thread| thread.join().map_err(|_| format!("the {what} panicked")))
            .transpose()?
            .transpose()
            .map_err(|err| format!("{}: {what}: {err}", tool.name))
    };
    joined(feeder, "stdin feeder")?;
    let printed = joined(drainer, "stdout reader")?;
    if !measured.status.success() {
        let _ = server.join(true, SERVER_LIMIT);
        return Err(format!("{} failed: {}", tool.name, measured.status));
    }
    let served = server
        .join(false, SERVER_LIMIT)?
        .map_err(|err| format!("server: {err}"))?;
    let arrived = printed.unwrap_or(served);
    if arrived != TOTAL {
        return Err(format!(
            "{}: {arrived} bytes arrived, not {TOTAL}",
            tool.name
        ));
    }
    Ok(TOTAL as f64 / (1 << 20) as f64 / measured.wall.as_secs_f64())
}

/// The tool's stdin and stdout for `run`.
fn stdio(run: Run, file: &Path) -> crate::Result<(Stdio, Stdio)> {
    Ok(match run {
        Run::SendPipe => (Stdio::piped(), Stdio::null()),
        Run::SendFile => {
            let file = File::open(file).map_err(|err| format!("{}: {err}", file.display()))?;
            (file.into(), Stdio::null())
        }
        Run::ReceivePipe => (Stdio::null(), Stdio::piped()),
    })
}

/// Writes the 1 GiB of [`pattern_block`]s; returns the byte count.
fn send_total(writer: &mut impl Write) -> std::io::Result<u64> {
    let block = pattern_block();
    for _ in 0..TOTAL / block.len() as u64 {
        writer.write_all(&block)?;
    }
    Ok(TOTAL)
}

/// Reads `reader` to its end through a 256 KiB buffer; returns the byte count.
fn drain(reader: &mut impl Read) -> std::io::Result<u64> {
    let mut buf = vec![0u8; 256 << 10];
    let mut total = 0u64;
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => total += n as u64,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
}

/// The median exit latency of `tool` over [`RUNS`] runs, or that it was still running.
fn exit_latencies(tool: &Tool) -> crate::Result<String> {
    let samples: Vec<Option<f64>> = (0..RUNS)
        .map(|_| exit_latency(tool))
        .collect::<crate::Result<_>>()?;
    let exited: Vec<f64> = samples.iter().flatten().copied().collect();
    Ok(if exited.len() == samples.len() {
        format!("{:.2} ms", median(&exited))
    } else {
        format!("still running after {EXIT_LIMIT:?} (killed)")
    })
}

/// One run: a server that accepts and closes at once while the tool's stdin stays open. Returns
/// the milliseconds from the close to the tool's exit, or `None` if it was still running after
/// [`EXIT_LIMIT`] (it is then killed).
fn exit_latency(tool: &Tool) -> crate::Result<Option<f64>> {
    let server = ServeOne::start(None, |stream| {
        drop(stream);
        Instant::now()
    })
    .map_err(|err| format!("server: {err}"))?;
    let start = Instant::now();
    let mut child = spawn(
        Command::new(&tool.program)
            .args((tool.args)(server.addr))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )?;
    // Held open for the whole run: the tool never sees end of input.
    let stdin = child.stdin.take();
    let measured = wait_limited(child, start, EXIT_LIMIT)?;
    drop(stdin);
    let closed = server.join(measured.killed, SERVER_LIMIT)?;
    let latency = (start + measured.wall).saturating_duration_since(closed);
    Ok((latency < EXIT_LIMIT && measured.status.code().is_some())
        .then_some(latency.as_secs_f64() * 1000.0))
}
