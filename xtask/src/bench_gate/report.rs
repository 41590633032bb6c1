//! The Markdown report: one table row per bench, worst news first.

use std::fmt::Write as _;
use std::io::Write as _;

use anyhow::{Context, Result};

use super::decide::{AGREE_PERCENT, Verdict, median};
use super::runner::{BenchResult, Comparison};

/// What the report is about.
pub(crate) struct Meta<'a> {
    /// Base revision label.
    pub(crate) base: &'a str,
    /// Head revision label.
    pub(crate) head: &'a str,
    /// Allowed slowdown as a fraction.
    pub(crate) threshold: f64,
}

/// Counts of verdicts in one comparison.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Tally {
    /// Confirmed regressions.
    pub(crate) regressions: usize,
    /// Inconclusive benches.
    pub(crate) inconclusive: usize,
    /// Confirmed improvements.
    pub(crate) improvements: usize,
    /// Benches within the threshold.
    pub(crate) unchanged: usize,
}

impl Tally {
    /// Counts the verdicts of `comparison`.
    pub(crate) fn of(comparison: &Comparison) -> Self {
        let mut tally = Self::default();
        for result in &comparison.results {
            match result.assessment.verdict {
                Verdict::Regression => tally.regressions += 1,
                Verdict::Inconclusive => tally.inconclusive += 1,
                Verdict::Improvement => tally.improvements += 1,
                Verdict::Unchanged => tally.unchanged += 1,
            }
        }
        tally
    }
}

/// Renders the whole report.
pub(crate) fn markdown(comparison: &Comparison, meta: &Meta<'_>) -> String {
    let mut out = String::new();
    let pct = meta.threshold * 100.0;
    let _ = writeln!(
        out,
        "## Bench gate: `{}` against base `{}`\n",
        meta.head, meta.base
    );
    let _ = writeln!(
        out,
        "A bench regresses when the median over rounds of head/base exceeds {:.3} \
         and head is slower in at least {AGREE_PERCENT} % of rounds (threshold {pct} %).\n",
        1.0 + meta.threshold
    );
    if comparison.results.is_empty() {
        out.push_str("No bench was measured on both sides.\n");
    } else {
        out.push_str(&table(&comparison.results));
    }
    if !comparison.skipped.is_empty() {
        out.push_str("\nNot compared (reported, never a failure):\n\n");
        for reason in &comparison.skipped {
            let _ = writeln!(out, "- {reason}");
        }
    }
    if !comparison.results.is_empty() {
        out.push_str(&ratios_details(&comparison.results));
    }
    let tally = Tally::of(comparison);
    let _ = writeln!(
        out,
        "\n**{} regression(s), {} inconclusive, {} improvement(s), {} within the threshold.** \
         Discovery {:.1} s, measuring {:.1} s.",
        tally.regressions,
        tally.inconclusive,
        tally.improvements,
        tally.unchanged,
        comparison.discovery.as_secs_f64(),
        comparison.measuring.as_secs_f64(),
    );
    out
}

/// The results table, regressions first, then inconclusive, improvements, ok.
pub(crate) fn table(results: &[BenchResult]) -> String {
    let mut rows: Vec<&BenchResult> = results.iter().collect();
    rows.sort_by_key(|r| (rank(r.assessment.verdict), r.path.clone()));
    let mut out = String::from(
        "| bench | base | head | ratio | rounds slower | verdict |\n|---|---:|---:|---:|---:|---|\n",
    );
    for r in rows {
        let a = &r.assessment;
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {:.3} ({:+.1} %) | {}/{} | {} |",
            r.path,
            format_ns(median(&r.base_ns).unwrap_or(f64::NAN)),
            format_ns(median(&r.head_ns).unwrap_or(f64::NAN)),
            a.median_ratio,
            (a.median_ratio - 1.0) * 100.0,
            a.slower,
            a.rounds,
            a.verdict.label(),
        );
    }
    out
}

/// Every round's ratio, folded away: the evidence behind each verdict.
fn ratios_details(results: &[BenchResult]) -> String {
    let mut out =
        String::from("\n<details><summary>Per-round ratios (head/base)</summary>\n\n```text\n");
    for r in results {
        let ratios: Vec<String> = r
            .head_ns
            .iter()
            .zip(&r.base_ns)
            .map(|(h, b)| format!("{:.3}", h / b))
            .collect();
        let _ = writeln!(out, "{}: {}", r.path, ratios.join(" "));
    }
    out.push_str("```\n\n</details>\n");
    out
}

fn rank(verdict: Verdict) -> u8 {
    match verdict {
        Verdict::Regression => 0,
        Verdict::Inconclusive => 1,
        Verdict::Improvement => 2,
        Verdict::Unchanged => 3,
    }
}

/// Formats nanoseconds like divan does: four significant digits and a unit.
pub(crate) fn format_ns(ns: f64) -> String {
    let (value, unit) = match ns {
        ns if ns >= 1e9 => (ns / 1e9, "s"),
        ns if ns >= 1e6 => (ns / 1e6, "ms"),
        ns if ns >= 1e3 => (ns / 1e3, "µs"),
        ns => (ns, "ns"),
    };
    let decimals = match value {
        v if v >= 100.0 => 1,
        v if v >= 10.0 => 2,
        _ => 3,
    };
    format!("{value:.decimals$} {unit}")
}

/// Prints the report and appends it to `$GITHUB_STEP_SUMMARY` when set; on
/// GitHub Actions, also emits annotations for regressions and warnings.
///
/// # Errors
///
/// The step summary file cannot be written.
pub(crate) fn publish(report: &str, comparison: &Comparison) -> Result<()> {
    println!("{report}");
    if let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .context("opening $GITHUB_STEP_SUMMARY")?;
        writeln!(file, "{report}").context("writing $GITHUB_STEP_SUMMARY")?;
    }
    let on_actions = std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true");
    for r in &comparison.results {
        let ratio = r.assessment.median_ratio;
        match r.assessment.verdict {
            Verdict::Regression if on_actions => {
                println!(
                    "::error title=bench regression::{} is {ratio:.3}x base",
                    r.path
                );
            }
            Verdict::Inconclusive => {
                if on_actions {
                    println!(
                        "::warning title=bench inconclusive::{} ratio {ratio:.3}",
                        r.path
                    );
                }
                eprintln!(
                    "warning: {} is inconclusive: median ratio {ratio:.3} but slower in only {}/{} rounds",
                    r.path, r.assessment.slower, r.assessment.rounds
                );
            }
            _ => {}
        }
    }
    Ok(())
}
