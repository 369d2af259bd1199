//! CPU time and peak memory of processes, read from `/proc` (Linux only).
//!
//! CPU is utime + stime of every thread of a process (the process line of `/proc/PID/stat`
//! sums its threads), plus its live descendants and the reaped children it waited for, so a
//! server that forks workers is measured whole.

use std::fs;

use anyhow::Context;

/// Clock ticks per second of the times in `/proc/PID/stat` (`USER_HZ`, 100 on every Linux
/// architecture Tributary runs on).
const TICKS_PER_SECOND: f64 = 100.0;

/// The fields of `/proc/PID/stat` after the command name, which may hold spaces and parens.
fn stat_fields(pid: &str) -> anyhow::Result<Vec<u64>> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("read /proc/{pid}/stat"))?;
    let after_name = stat
        .rfind(')')
        .map(|i| &stat[i + 1..])
        .with_context(|| format!("unexpected /proc/{pid}/stat"))?;
    // Field 3 (state) is a letter; keep positions by mapping it to 0.
    Ok(after_name
        .split_whitespace()
        .map(|field| field.parse().unwrap_or(0))
        .collect())
}

// Indices into `stat_fields` (field number in proc(5) minus 3).
const PPID: usize = 1;
const UTIME: usize = 11;
const STIME: usize = 12;
const CUTIME: usize = 13;
const CSTIME: usize = 14;

/// CPU seconds used so far by `pid` (all threads), its live descendants, and its reaped children.
pub(crate) fn tree_cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let root = stat_fields(&pid.to_string())?;
    let mut ticks = root[UTIME] + root[STIME] + root[CUTIME] + root[CSTIME];
    for child in descendants(pid) {
        // A descendant may exit between listing and reading; its time then shows in cutime.
        if let Ok(fields) = stat_fields(&child.to_string()) {
            ticks += fields[UTIME] + fields[STIME];
        }
    }
    Ok(ticks as f64 / TICKS_PER_SECOND)
}

/// CPU seconds used so far by this process (all threads).
pub(crate) fn own_cpu_seconds() -> anyhow::Result<f64> {
    let fields = stat_fields("self")?;
    Ok((fields[UTIME] + fields[STIME]) as f64 / TICKS_PER_SECOND)
}

/// Every live process below `pid`.
fn descendants(pid: u32) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut parents = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(child) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        if let Ok(fields) = stat_fields(&child.to_string()) {
            parents.push((child, fields[PPID] as u32));
        }
    }
    let mut found = vec![pid];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            parents
                .iter()
                .filter(|(_, p)| *p == parent)
                .map(|(c, _)| *c),
        );
        i += 1;
    }
    found.remove(0);
    found
}

/// Peak resident set size (VmHWM) of `pid` plus its live descendants, in bytes.
pub(crate) fn tree_peak_rss_bytes(pid: u32) -> anyhow::Result<u64> {
    let mut total = peak_rss_bytes(pid)?;
    for child in descendants(pid) {
        total += peak_rss_bytes(child).unwrap_or(0);
    }
    Ok(total)
}

fn peak_rss_bytes(pid: u32) -> anyhow::Result<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("read /proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|line| line.starts_with("VmHWM:"))
        .with_context(|| format!("no VmHWM in /proc/{pid}/status"))?;
    let kib: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .with_context(|| format!("unexpected line {line:?}"))?;
    Ok(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let pid = std::process::id();
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(tree_cpu_seconds(pid).expect("cpu") >= 0.0);
        assert!(own_cpu_seconds().expect("cpu") >= 0.0);
        assert!(tree_peak_rss_bytes(pid).expect("rss") > 1024 * 1024);
    }
}
