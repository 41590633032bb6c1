//! `cargo xtask bench-gate`: fails a change that makes a benchmark slower.
//!
//! Implementation overview (see `docs/bench-gate.md` for the user's view):
//!
//! - [`git`] picks the base revision: `--base`, else `benches/BASELINE` when
//!   `CI` is set, else the merge-base of HEAD with the default branch.
//! - [`build`] builds forge-bench's divan executables for the base and for
//!   the working tree, each written into the same build directory by
//!   [`tree`], with one toolchain and one target directory, and caches copies
//!   by revision.
//! - [`runner`] runs both sides interleaved in rounds with fixed sample sizes
//!   and parses each run with [`divan`].
//! - [`decide`] turns per-round ratios into verdicts; [`report`] prints them.
//! - [`selftest`] measures false alarms and detections on this machine.
//!
//! Exit status: 0 = no confirmed regression (including everything skipped),
//! 1 = at least one confirmed regression, 2 = the gate itself could not run
//! (head does not build, its benches crash, divan printed an unknown row).

mod build;
mod decide;
mod divan;
mod git;
mod report;
mod runner;
mod selftest;
mod tree;

#[cfg(test)]
mod tests;

use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, ensure};

use build::{Builder, short};
use git::Repo;
use report::{Meta, Tally};
use runner::{Comparison, Settings, Side};

/// File naming the last accepted revision, used as the base in CI.
const BASELINE_FILE: &str = "benches/BASELINE";

/// Options of `cargo xtask bench-gate`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Base revision [default: `benches/BASELINE` when `CI` is set, else the
    /// merge-base of HEAD with the default branch].
    #[arg(long, value_name = "REV", conflicts_with = "baseline")]
    base: Option<String>,
    /// Use the revision named in `benches/BASELINE` as the base (the default
    /// when the `CI` environment variable is set).
    #[arg(long)]
    baseline: bool,
    /// Allowed slowdown in percent.
    #[arg(long, value_name = "PCT", default_value_t = 5.0)]
    threshold: f64,
    /// Rounds per bench; borderline benches get up to three times as many.
    #[arg(long, value_name = "N", default_value_t = 10)]
    rounds: usize,
    /// Only benches whose divan path (`binary::group::bench`) matches.
    #[arg(long, value_name = "REGEX")]
    filter: Option<String>,
    /// Measure the gate instead: `aa` (false alarms) or `slowdown` (detections).
    #[arg(long, value_enum, value_name = "MODE")]
    self_test: Option<selftest::Mode>,
    /// Comparisons per self-test.
    #[arg(long, value_name = "N", default_value_t = 10)]
    comparisons: usize,
    /// Slowdown the self-test injects into the dispatch hot path, in percent.
    #[arg(long, value_name = "PCT", default_value_t = 7.0)]
    slowdown: f64,
}

/// Runs the gate (or a self-test) and maps the outcome to an exit status.
pub(crate) fn main(args: Args) -> ExitCode {
    match run(&args) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("bench-gate: error: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &Args) -> Result<ExitCode> {
    ensure!(
        args.threshold > 0.0 && args.threshold < 100.0,
        "--threshold must be in (0, 100)"
    );
    ensure!(args.rounds >= 1, "--rounds must be at least 1");
    let repo = Repo::discover()?;
    let builder = Builder::new(&repo)?;
    let settings = Settings {
        threshold: args.threshold / 100.0,
        rounds: args.rounds,
        max_rounds: args.rounds * 3,
        filter: args.filter.clone(),
        verbose: args.self_test.is_none(),
        stage_dir: builder.gate_dir().join("run"),
    };
    if let Some(mode) = args.self_test {
        let plan = selftest::Plan {
            mode,
            comparisons: args.comparisons,
            slowdown: args.slowdown / 100.0,
        };
        return selftest::run(&repo, &builder, &plan, &settings);
    }
    gate(args, &repo, &builder, &settings)
}

fn gate(args: &Args, repo: &Repo, builder: &Builder, settings: &Settings) -> Result<ExitCode> {
    let started = Instant::now();
    let head_commit = repo.resolve("HEAD").context("HEAD names no commit")?;
    let dirty = repo.is_dirty()?;
    let base = match choose_base(args.base.as_deref(), args.baseline, repo) {
        Ok(base) => base,
        Err(reason) => return skip_all(&reason, settings),
    };

    let build_started = Instant::now();
    let head = builder.build_working_tree(repo, &head_commit, !dirty)?;
    let head_build = build_started.elapsed();
    let build_started = Instant::now();
    let base_set = match builder.build_commit(repo, &base) {
        Ok(set) => set,
        Err(error) => {
            return skip_all(
                &format!("base {} does not build: {error:#}", short(&base)),
                settings,
            );
        }
    };
    let base_build = build_started.elapsed();

    let cmp = runner::compare(
        &Side {
            set: &base_set,
            env: Vec::new(),
        },
        &Side {
            set: &head,
            env: Vec::new(),
        },
        settings,
    )?;
    let meta = Meta {
        base: &base_set.label,
        head: &head.label,
        threshold: settings.threshold,
    };
    let mut text = report::markdown(&cmp, &meta);
    text.push_str(&format!(
        "Builds: head {:.0} s, base {:.0} s; whole gate {:.0} s.\n",
        head_build.as_secs_f64(),
        base_build.as_secs_f64(),
        started.elapsed().as_secs_f64()
    ));
    report::publish(&text, &cmp)?;
    Ok(if Tally::of(&cmp).regressions > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// The base commit, or why there is none (reported, never a failure).
fn choose_base(
    explicit: Option<&str>,
    baseline: bool,
    repo: &Repo,
) -> std::result::Result<String, String> {
    let shallow = if repo.is_shallow() {
        " (shallow clone: fetch full history)"
    } else {
        ""
    };
    if let Some(rev) = explicit {
        let found = repo.resolve(rev);
        return found.ok_or_else(|| format!("base revision `{rev}` not found{shallow}"));
    }
    let in_ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false");
    if baseline || in_ci {
        let path = repo.root().join(BASELINE_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{BASELINE_FILE}: {e}"))?;
        let rev =
            baseline_rev(&text).ok_or_else(|| format!("{BASELINE_FILE} names no revision"))?;
        let found = repo.resolve(rev);
        return found.ok_or_else(|| format!("{BASELINE_FILE} names `{rev}`, not found{shallow}"));
    }
    let branch = repo
        .default_branch()
        .ok_or("no default branch (main/master) to compare with")?;
    let found = repo.merge_base("HEAD", &branch);
    found.ok_or_else(|| format!("HEAD shares no history with `{branch}`{shallow}"))
}

/// The revision in a `benches/BASELINE` file: the first line that is not
/// blank or a `#` comment.
fn baseline_rev(text: &str) -> Option<&str> {
    text.lines()
        .map(str::trim)
        .find(|line| !line.is_empty() && !line.starts_with('#'))
}

fn skip_all(reason: &str, settings: &Settings) -> Result<ExitCode> {
    let cmp = Comparison {
        skipped: vec![reason.to_owned()],
        ..Comparison::default()
    };
    let meta = Meta {
        base: "(none)",
        head: "HEAD",
        threshold: settings.threshold,
    };
    report::publish(&report::markdown(&cmp, &meta), &cmp)?;
    eprintln!("bench-gate: skipped: {reason}");
    Ok(ExitCode::SUCCESS)
}
