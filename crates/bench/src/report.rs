//! Ratios between benchmarks, from the estimates criterion wrote in this run.
//!
//! Criterion reports each benchmark alone; the figures drydock tracks are ratios against a
//! baseline measured in the same process. After its benchmarks ran, a bench binary makes a
//! [`Report`] and prints each ratio from criterion's `estimates.json` files. Estimates older
//! than the report's start (left over from an earlier run, e.g. when a filter skipped a
//! benchmark this time) are not used.

use std::path::PathBuf;
use std::time::SystemTime;

/// Criterion's estimate of one benchmark, in nanoseconds per iteration.
#[derive(Clone, Copy, Debug)]
pub struct Estimate {
    /// What criterion prints as `time:`: the slope of a linear-sampled benchmark, else the mean.
    pub typical: f64,
    pub median: f64,
}

/// Reads criterion's estimates of benchmarks run since [`Report::start`].
pub struct Report {
    started: SystemTime,
    home: PathBuf,
}

impl Report {
    /// Call before the benchmarks run.
    pub fn start() -> Self {
        // The directory criterion writes to: $CRITERION_HOME, else $CARGO_TARGET_DIR/criterion,
        // else the workspace's target/criterion (criterion asks `cargo metadata`, which gives
        // the same unless the target directory is configured elsewhere).
        let home = std::env::var_os("CRITERION_HOME")
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("CARGO_TARGET_DIR").map(|d| PathBuf::from(d).join("criterion"))
            })
            .unwrap_or_else(|| crate::workspace_target().join("criterion"));
        Report {
            started: SystemTime::now(),
            home,
        }
    }

    /// The estimate of `id` (`group/function/parameter`, as criterion names its directories),
    /// if it was measured in this run.
    pub fn estimate(&self, id: &str) -> Option<Estimate> {
        let path = self.home.join(id).join("new/estimates.json");
        let modified = std::fs::metadata(&path).and_then(|m| m.modified()).ok()?;
        if modified < self.started {
            return None;
        }
        let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).ok()?).ok()?;
        let point = |name: &str| json.get(name)?.get("point_estimate")?.as_f64();
        Some(Estimate {
            typical: point("slope").or_else(|| point("mean"))?,
            median: point("median")?,
        })
    }

    /// Prints one line per `(label, measured, baseline)`: both times and measured / baseline.
    #[allow(clippy::print_stdout, reason = "a bench binary's report is its output")]
    pub fn print_ratios(&self, title: &str, rows: &[(&str, &str, &str)]) {
        println!("\n== {title}");
        for (label, measured, baseline) in rows {
            match (self.estimate(measured), self.estimate(baseline)) {
                (Some(m), Some(b)) => println!(
                    "{label}: {} / {} = {:.1}x   (medians {} / {} = {:.1}x)",
                    human(m.typical),
                    human(b.typical),
                    m.typical / b.typical,
                    human(m.median),
                    human(b.median),
                    m.median / b.median,
                ),
                _ => println!("{label}: not measured in this run ({measured} vs {baseline}; use `cargo bench`, unfiltered)"),
            }
        }
    }
}

/// Nanoseconds, for people.
pub fn human(ns: f64) -> String {
    if ns >= 1e9 {
        format!("{:.3} s", ns / 1e9)
    } else if ns >= 1e6 {
        format!("{:.3} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.1} ns")
    }
}
