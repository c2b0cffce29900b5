//! The pending frontier: the tasks queued and not yet handed to a worker, first in first out.
//! Up to [`MEMORY`] bytes of them wait in memory; beyond it, later tasks wait in an unnamed
//! temporary file (`tempfile`, in `TMPDIR`, gone when the crawl ends however it ends) and are
//! read back in order, a slice at a time, when the ones in memory have been handed out. So a
//! page of 60,000 links of 4 KB each costs the crawler a file, not 240 MB of memory.

use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use common::exit::context;
use url::Url;

use crate::Task;

/// Bytes of tasks kept in memory before the rest waits on disk.
pub(crate) const MEMORY: usize = 256 << 10;
/// Bytes written to the file at once, and read back at once.
const SLICE: usize = 64 << 10;

/// See the module docs.
pub(crate) struct Frontier {
    memory: VecDeque<Task>,
    /// What the tasks in `memory` cost, as [`cost`] counts it.
    bytes: usize,
    /// The tasks after those in memory, encoded; `None` until the first spill.
    spill: Option<Spill>,
}

/// The unnamed file, and the encoded tasks not yet written to it.
struct Spill {
    file: File,
    /// Encoded tasks after the file's, written when [`SLICE`] bytes have gathered.
    unwritten: Vec<u8>,
    /// Where the next read starts, and where the file's data ends.
    read: u64,
    written: u64,
}

impl Frontier {
    pub(crate) fn new() -> Frontier {
        Frontier {
            memory: VecDeque::new(),
            bytes: 0,
            spill: None,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.memory.is_empty() && self.spill.as_ref().is_none_or(Spill::is_empty)
    }

    /// Queues `task` last: in memory while there is room and nothing waits on disk.
    pub(crate) fn push(&mut self, task: Task) -> io::Result<()> {
        let on_disk = self.spill.as_ref().is_some_and(|spill| !spill.is_empty());
        if !on_disk && self.bytes + cost(&task) <= MEMORY {
            self.bytes += cost(&task);
            self.memory.push_back(task);
            return Ok(());
        }
        let spill = match &mut self.spill {
            Some(spill) => spill,
            None => self.spill.insert(Spill {
                file: tempfile::tempfile().map_err(|err| {
                    let dir = std::env::temp_dir();
                    context(format!("a file for the frontier in {}", dir.display()), err)
                })?,
                unwritten: Vec::new(),
                read: 0,
                written: 0,
            }),
        };
        encode(&task, &mut spill.unwritten);
        if spill.unwritten.len() >= SLICE {
            spill
                .write()
                .map_err(|err| context("the frontier's file", err))?;
        }
        Ok(())
    }

    /// The task to hand out next, if any (read back from disk when memory has none).
    pub(crate) fn front(&mut self) -> io::Result<Option<&Task>> {
        if self.memory.is_empty()
            && let Some(spill) = &mut self.spill
            && !spill.is_empty()
        {
            let tasks = spill.read_slice();
            for task in tasks.map_err(|err| context("the frontier's file", err))? {
                self.bytes += cost(&task);
                self.memory.push_back(task);
            }
        }
        Ok(self.memory.front())
    }

    /// Takes the task [`Frontier::front`] returned.
    pub(crate) fn pop(&mut self) -> Option<Task> {
        let task = self.memory.pop_front()?;
        self.bytes -= cost(&task);
        Some(task)
    }
}

impl Spill {
    fn is_empty(&self) -> bool {
        self.read == self.written && self.unwritten.is_empty()
    }

    fn write(&mut self) -> io::Result<()> {
        self.file.write_all_at(&self.unwritten, self.written)?;
        self.written += self.unwritten.len() as u64;
        self.unwritten.clear();
        Ok(())
    }

    /// The next tasks in order, about [`SLICE`] bytes of them (at least one).
    fn read_slice(&mut self) -> io::Result<Vec<Task>> {
        if !self.unwritten.is_empty() {
            self.write()?;
        }
        let left = self.written - self.read;
        let mut buffer = vec![0; usize::try_from(left).map_or(SLICE, |left| left.min(SLICE))];
        self.file.read_exact_at(&mut buffer, self.read)?;
        let mut tasks = Vec::new();
        let mut at = 0;
        while let Some((task, used)) = decode(&buffer[at..])? {
            tasks.push(task);
            at += used;
        }
        if tasks.is_empty() {
            // One task longer than a slice: read exactly it.
            let need = record_len(&buffer).ok_or_else(corrupt)?;
            buffer.resize(need, 0);
            self.file.read_exact_at(&mut buffer, self.read)?;
            let (task, used) = decode(&buffer)?.ok_or_else(corrupt)?;
            tasks.push(task);
            at = used;
        }
        self.read += at as u64;
        if self.read == self.written {
            // Drained: the file starts over, so its size is what waits, not all that waited.
            self.file.set_len(0)?;
            (self.read, self.written) = (0, 0);
        }
        Ok(tasks)
    }
}

/// What a task holds in memory, roughly: its URLs' text and the structs around them.
fn cost(task: &Task) -> usize {
    let urls = std::iter::once(&task.url).chain(&task.redirected_from);
    std::mem::size_of::<Task>()
        + urls
            .map(|url| url.as_str().len() + std::mem::size_of::<Url>())
            .sum::<usize>()
}

// A record: its length (u32, the whole record), the depth (u64), whether it is printed (u8),
// then the URL and those it was redirected from, each its length (u32) and text.

fn encode(task: &Task, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&(task.depth as u64).to_le_bytes());
    out.push(u8::from(task.print));
    for url in std::iter::once(&task.url).chain(&task.redirected_from) {
        let text = url.as_str().as_bytes();
        out.extend_from_slice(&(text.len() as u32).to_le_bytes());
        out.extend_from_slice(text);
    }
    let len = (out.len() - start) as u32;
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
}

fn record_len(bytes: &[u8]) -> Option<usize> {
    let len = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?);
    usize::try_from(len).ok()
}

/// The task at the start of `bytes` and the bytes it took; `None` if it is not all there.
fn decode(bytes: &[u8]) -> io::Result<Option<(Task, usize)>> {
    let Some(len) = record_len(bytes) else {
        return Ok(None);
    };
    let Some(record) = bytes.get(..len) else {
        return Ok(None);
    };
    let depth = record.get(4..12).ok_or_else(corrupt)?;
    let depth = u64::from_le_bytes(depth.try_into().map_err(|_| corrupt())?);
    let print = record.get(12).ok_or_else(corrupt)? == &1;
    let mut urls = Vec::new();
    let mut rest = record.get(13..).ok_or_else(corrupt)?;
    while !rest.is_empty() {
        let n = record_len(rest).ok_or_else(corrupt)?;
        let text = rest.get(4..4 + n).ok_or_else(corrupt)?;
        let text = std::str::from_utf8(text).map_err(|_| corrupt())?;
        urls.push(Url::parse(text).map_err(|_| corrupt())?);
        rest = &rest[4 + n..];
    }
    if urls.is_empty() {
        return Err(corrupt());
    }
    let url = urls.remove(0);
    let task = Task {
        url,
        depth: usize::try_from(depth).map_err(|_| corrupt())?,
        print,
        redirected_from: urls,
    };
    Ok(Some((task, len)))
}

fn corrupt() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        "the frontier's file was changed",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_come_back_in_order_from_memory_and_disk() {
        let mut frontier = Frontier::new();
        let long = "x".repeat(8000);
        let count = 3 * MEMORY / 8000;
        for i in 0..count {
            let url = Url::parse(&format!("http://h.test/{i}?{long}")).unwrap();
            let from = Url::parse("http://h.test/from").unwrap();
            frontier
                .push(Task {
                    url,
                    depth: i,
                    print: i % 2 == 0,
                    redirected_from: vec![from; i % 3],
                })
                .unwrap();
        }
        assert!(frontier.bytes <= MEMORY);
        assert!(frontier.spill.is_some());
        for i in 0..count {
            let task = frontier.front().unwrap().unwrap();
            assert_eq!(task.depth, i);
            assert!(task.url.path().ends_with(&format!("/{i}")));
            let task = frontier.pop().unwrap();
            assert_eq!(
                (task.print, task.redirected_from.len()),
                (i % 2 == 0, i % 3)
            );
        }
        assert!(frontier.front().unwrap().is_none() && frontier.is_empty());
    }
}
