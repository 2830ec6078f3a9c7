//! Reads criterion's saved estimates (`<target>/criterion/**/new/estimates.json`) so
//! BENCHMARKS.md and the scaling plot are made from the numbers of the last bench run.

use serde::Deserialize;
use std::path::{Path, PathBuf};

/// One benchmark's mean time per iteration.
#[derive(Clone, Debug)]
pub struct Estimate {
    /// `group/function/parameter`, as criterion names it.
    pub id: String,
    pub mean_ns: f64,
    /// Elements per iteration, when the bench declared a throughput.
    pub elements: Option<u64>,
}

#[derive(Deserialize)]
struct Benchmark {
    full_id: String,
    throughput: Option<Throughput>,
}

#[derive(Deserialize)]
enum Throughput {
    Elements(u64),
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct Estimates {
    mean: Point,
}

#[derive(Deserialize)]
struct Point {
    point_estimate: f64,
}

/// Every benchmark with saved estimates under `dir`, sorted by id.
pub fn read(dir: &Path) -> Vec<Estimate> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n == "new") {
                    if let Some(e) = one(&path) {
                        out.push(e);
                    }
                } else {
                    stack.push(path);
                }
            }
        }
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

fn one(dir: &PathBuf) -> Option<Estimate> {
    let bench: Benchmark = serde_json::from_str(&std::fs::read_to_string(dir.join("benchmark.json")).ok()?).ok()?;
    let est: Estimates = serde_json::from_str(&std::fs::read_to_string(dir.join("estimates.json")).ok()?).ok()?;
    let elements = match bench.throughput {
        Some(Throughput::Elements(n)) => Some(n),
        _ => None,
    };
    Some(Estimate { id: bench.full_id, mean_ns: est.mean.point_estimate, elements })
}

/// Human units for a time in nanoseconds.
pub fn human(ns: f64) -> String {
    match ns {
        n if n >= 1e9 => format!("{:.2} s", n / 1e9),
        n if n >= 1e6 => format!("{:.2} ms", n / 1e6),
        n if n >= 1e3 => format!("{:.2} µs", n / 1e3),
        n => format!("{n:.0} ns"),
    }
}

/// A Markdown table of every estimate.
pub fn markdown(estimates: &[Estimate]) -> String {
    let mut s = String::from("| benchmark | mean time | per element |\n|---|---:|---:|\n");
    for e in estimates {
        let per = e.elements.filter(|n| *n > 0).map_or(String::new(), |n| format!("{} ({:.0}/s)", human(e.mean_ns / n as f64), n as f64 * 1e9 / e.mean_ns));
        s.push_str(&format!("| `{}` | {} | {} |\n", e.id, human(e.mean_ns), per));
    }
    s
}
