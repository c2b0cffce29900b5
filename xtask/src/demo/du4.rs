//! The tour's du4 step (book 8.8-8.9, ex. 8.9): `du4 -v .` with its running totals, and
//! `du4 --per-root -b` over the crates, each line checked against an independent count.

use std::path::Path;
use std::time::{Duration, Instant};

use testkit::child::output;

use super::{Bins, check, remark, show_command, show_output};
use crate::workspace_root;

/// How often `du4 -v` prints its running totals (`du4::TICK`, the book's 500 ms ticker).
const DU4_TICK: Duration = Duration::from_millis(500);

pub(super) fn du4(bins: &Bins) -> crate::Result {
    let du4 = bins.path("du4");
    du4_running_totals(&du4)?;
    du4_per_root(&du4)
}

/// `du4 -v .`: the running totals, one per 500 ms tick, then the final one.
fn du4_running_totals(du4: &Path) -> crate::Result {
    let root = workspace_root();
    show_command("du4 -v .");
    let began = Instant::now();
    let (code, stdout, stderr) = output(du4, &["-v", "."], &root, Duration::from_secs(120))?;
    let ran_ms = began.elapsed().as_millis();
    show_output(&stdout);
    show_output(&stderr);
    // Exit 1 means some entry could not be read (a build running beside us can remove files
    // under target/): reported, as GNU du does, and not a misbehaviour.
    check(code == 0 || code == 1, || {
        format!("du4 exited with {code}: {stderr}")
    })?;
    // Every line is a total in the book's `N files  X.Y GB`: the running ones (one per tick of
    // the 500 ms ticker) and then the final one; the file counts only grow.
    let mut file_counts = Vec::new();
    for line in stdout.lines() {
        let (files, _) = parse_total(line, "GB")
            .ok_or_else(|| format!("the line {line:?} is not the book's `N files  X.Y GB`"))?;
        file_counts.push(files);
    }
    check(!file_counts.is_empty(), || "du4 printed nothing".into())?;
    check(file_counts.is_sorted(), || {
        format!("the running file counts went down: {file_counts:?}")
    })?;
    // The ticker lives inside the process, so it cannot tick more often than every 500 ms of
    // the process's whole run (measured here, from its start to its exit).
    let running = file_counts.len() - 1;
    let ticks = ran_ms / DU4_TICK.as_millis();
    check(running as u128 <= ticks, || {
        format!("{running} running totals in {ran_ms} ms: more than one per 500 ms tick")
    })?;
    if running == 0 {
        remark(&format!(
            "du4 ran {ran_ms} ms from start to exit: the walk ended before the first 500 ms tick, \
             so -v printed no running total, only the final one"
        ));
    } else {
        remark(&format!(
            "du4 ran {ran_ms} ms from start to exit: -v printed {running} running total(s), one \
             per 500 ms tick, then the final one"
        ));
    }
    Ok(())
}

/// `du4 --per-root -b` over the crates, each line checked against an independent count.
fn du4_per_root(du4: &Path) -> crate::Result {
    let root = workspace_root();
    let roots = [
        "common",
        "testkit",
        "du4",
        "chat",
        "netcat3",
        "crawler",
        "mirrored-fetch",
        "xtask",
    ];
    let mut args = vec!["--per-root", "-b"];
    args.extend(roots);
    show_command(&format!("du4 {}", args.join(" ")));
    let (code, stdout, stderr) = output(du4, &args, &root, Duration::from_secs(60))?;
    show_output(&stdout);
    check(code == 0, || format!("du4 exited with {code}: {stderr}"))?;
    let lines: Vec<&str> = stdout.lines().collect();
    check(lines.len() == roots.len() + 1, || {
        format!("expected one line per root and a total, got {lines:?}")
    })?;
    let (mut all_files, mut all_bytes) = (0, 0);
    for (line, root_name) in lines.iter().zip(roots) {
        let expected = count_tree(&root.join(root_name));
        let got = parse_total(line, "bytes");
        check(
            got == Some(expected) && line.ends_with(&format!("  {root_name}")),
            || format!("{line:?}: an independent count of {root_name} gives {expected:?}"),
        )?;
        all_files += expected.0;
        all_bytes += expected.1;
    }
    let total = lines.last().copied().unwrap_or_default();
    check(
        parse_total(total, "bytes") == Some((all_files, all_bytes)) && total.ends_with("  total"),
        || format!("the total line {total:?} is not the sum {all_files} files, {all_bytes} bytes"),
    )?;
    remark("each per-root line equals an independent count of that folder; the total is their sum");
    Ok(())
}

/// Parses `{files} files  {amount} {unit}` (anything after is ignored) into (files, amount as an
/// integer: bytes, or tenths of a GB).
fn parse_total(line: &str, unit: &str) -> Option<(u64, u64)> {
    let mut words = line.split("  ");
    let files = words.next()?.strip_suffix(" files")?.parse().ok()?;
    let amount = words.next()?.strip_suffix(&format!(" {unit}"))?;
    let amount = if unit == "GB" {
        let (whole, tenth) = amount.split_once('.')?;
        whole.parse::<u64>().ok()? * 10 + tenth.parse::<u64>().ok()?
    } else {
        amount.parse().ok()?
    };
    Some((files, amount))
}

/// Files and apparent bytes below `dir`, counted as du4 counts them (every non-directory entry,
/// its own size, symlinks not followed).
fn count_tree(dir: &Path) -> (u64, u64) {
    let (mut files, mut bytes) = (0, 0);
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.path().symlink_metadata() else {
                continue;
            };
            if meta.is_dir() {
                pending.push(entry.path());
            } else {
                files += 1;
                bytes += meta.len();
            }
        }
    }
    (files, bytes)
}
