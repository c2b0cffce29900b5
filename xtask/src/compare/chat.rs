//! chat beside the book's chat, under the chat bench's load client (which speaks either
//! protocol): the closed loop's deliveries per second and p99 at 100 and 1,000 clients over a
//! fixed window; what the room delivers in the windows after one client stops reading (ex.
//! 8.15); and 10,000 clients that stop reading: memory per client, time to greet them all, time
//! to exit after SIGINT (every wait capped).

use std::path::Path;
use std::time::Duration;

use super::{Programs, Row, thousands};
use crate::bench::chat::{ChatSetup, room, window};

/// The measured window of each closed loop, after a second of warm-up.
const WINDOW: Duration = Duration::from_secs(10);
/// Windows measured after a client stops reading.
const STALLED_WINDOWS: usize = 2;
/// Clients that stop reading; the thread engine (two threads each) sits that one out.
const SILENT: usize = 10_000;

/// The servers: the book's chat, then this project's two engines.
const SERVERS: [Option<&str>; 3] = [None, Some("events"), Some("threads")];

pub fn run(programs: &Programs) -> crate::Result<Vec<Row>> {
    let hard = common::rlimit::raise_descriptor_limit();
    let go = programs.go("chat").map(Path::to_path_buf);
    let ours = programs.ours("chat");
    let path = |engine: Option<&str>| match engine {
        None => go.clone(),
        Some(_) => ours.clone(),
    };
    let mut rows = Vec::new();
    for (n, stalled) in [(100, false), (1_000, false), (100, true)] {
        let cells = SERVERS.map(|engine| {
            enough(hard, n + 1)?;
            let path = path(engine)?;
            let setup = ChatSetup {
                path: &path,
                engine,
                fds: hard,
            };
            let windows = if stalled { STALLED_WINDOWS } else { 1 };
            let (rates, p99) = window(&setup, n, stalled, WINDOW, windows)?;
            let rates: Vec<String> = rates.into_iter().map(rate_text).collect();
            Ok(match stalled {
                false => format!("{} deliveries/s, p99 {}", rates.join(", "), ms_text(p99)),
                true => format!("{} deliveries/s", rates.join(", then ")),
            })
        });
        let work = match stalled {
            false => format!(
                "chat, {} clients, 10 senders, closed loop: deliveries/s over {} s, p99 of \
                 what arrived",
                thousands(n),
                WINDOW.as_secs()
            ),
            true => format!(
                "chat, {n} clients and 1 more that stops reading (ex. 8.15), once what the \
                 kernel may buffer toward it was sent: what the room delivers in each of the \
                 next {STALLED_WINDOWS} windows of {} s",
                WINDOW.as_secs()
            ),
        };
        rows.push(row(work, cells));
    }
    let cells = SERVERS.map(|engine| {
        if engine == Some("threads") {
            return Err("not run (two threads a client)".to_string());
        }
        enough(hard, SILENT)?;
        let path = path(engine)?;
        let setup = ChatSetup {
            path: &path,
            engine,
            fds: hard,
        };
        let cells = room(&setup, SILENT, false)?;
        let [greeted, trouble, rss, exit] = cells.as_slice() else {
            return Err(format!("unexpected cells {cells:?}"));
        };
        Ok(format!(
            "{rss} each; all greeted in {greeted} ({trouble}); SIGINT to exit: {exit}"
        ))
    });
    rows.push(row(
        format!(
            "chat, {} clients that stop reading: RSS per client, greeting, exit",
            thousands(SILENT)
        ),
        cells,
    ));
    Ok(rows)
}

/// Whether `hard` descriptors hold `clients` (the load client's end in this process, the
/// server's in its own, and some to spare).
fn enough(hard: u64, clients: usize) -> crate::Result {
    let need = clients as u64 + 64;
    match hard >= need {
        true => Ok(()),
        false => Err(format!(
            "not run: raise the hard descriptor limit to {need}"
        )),
    }
}

/// The row: the book's chat in one column, the two engines in the other.
fn row(work: String, cells: [crate::Result<String>; 3]) -> Row {
    let [go, events, threads] = cells.map(|cell| cell.unwrap_or_else(|why| why));
    Row::new(work, go, format!("events: {events}; threads: {threads}"))
}

fn rate_text(rate: f64) -> String {
    match rate {
        r if r >= 1e6 => format!("{:.2} M", r / 1e6),
        r if r >= 1e3 => format!("{:.1} k", r / 1e3),
        r => format!("{r:.0}"),
    }
}

fn ms_text(ms: f64) -> String {
    match ms {
        ms if ms.is_nan() => "none arrived".into(),
        ms if ms >= 1000.0 => format!("{:.1} s", ms / 1000.0),
        ms => format!("{ms:.1} ms"),
    }
}
