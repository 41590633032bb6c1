//! `--self-test`: measures how far the gate can be trusted on this machine.
//!
//! - `aa`: compares the working tree's benches N times against a fresh,
//!   byte-identical copy of their executables; any confirmed regression is a
//!   false alarm.
//! - `slowdown`: builds a throw-away copy of the working tree (in the gate's
//!   build directory, never in the real sources) with a spin loop injected at
//!   the top of forge-dispatch's `dispatch` function, calibrates the spin to
//!   slow the fastest affected bench by the wanted percentage, and compares N
//!   times; each comparison that confirms that bench as a regression is a
//!   detection.
//!
//! The spin length comes from the `FORGE_BENCH_GATE_SPIN` environment variable
//! (read once), so one patched build serves calibration and measurement.
//! Calibration takes two points: the patch with no spin (its own overhead, a
//! call and an atomic load) and with a long spin (the cost per iteration).

use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, ensure};

use super::build::{BenchSet, Builder};
use super::decide::{Verdict, median};
use super::git::Repo;
use super::report::{Tally, format_ns};
use super::runner::{BenchResult, Comparison, Settings, Side, compare};
use super::tree::Snapshot;

/// Environment variable the injected spin reads.
pub(crate) const SPIN_ENV: &str = "FORGE_BENCH_GATE_SPIN";
/// Benches faster than this are not calibration targets when a slower one is
/// affected. An out-of-order core runs the first few dozen spin iterations in
/// the shadow of the code around them: measured here on a 137 ns bench, up to
/// 40 spins cost nothing visible and 64 spins cost 15–40 ns, so a fast target
/// jumps past the wanted slowdown. At 400 ns and above, 7 % takes well over
/// 100 spins, where each spin costs about the same.
const MIN_TARGET_NS: f64 = 400.0;
/// Calibration measurements on the target, the first estimate included, at
/// most.
const REFINE_STEPS: usize = 8;
/// Calibration stops within this fraction of the wanted slowdown (±0.7
/// points for 7 %): a looser band let it settle at 6 %, and the comparisons
/// then measured the target at 5.1–5.9 %, barely over the 5 % threshold.
const CALIBRATION_TOLERANCE: f64 = 0.1;
/// Spin iterations used to measure a spin iteration's cost.
const PROBE_SPIN: u64 = 20_000;

const SPIN_CALL: &str = "__forge_bench_gate_spin();";
const SPIN_FN: &str = r#"

// Injected by `cargo xtask bench-gate --self-test slowdown` into a throw-away copy.
#[inline(never)]
fn __forge_bench_gate_spin() {
    static SPIN: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let spins = *SPIN.get_or_init(|| {
        std::env::var("FORGE_BENCH_GATE_SPIN").ok().and_then(|v| v.parse().ok()).unwrap_or(0)
    });
    let mut acc = 0u64;
    for i in 0..spins {
        acc = std::hint::black_box(acc.wrapping_add(i));
    }
    std::hint::black_box(acc);
}
"#;

/// Self-test flavours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Mode {
    /// HEAD against a byte-identical copy of itself: counts false alarms.
    Aa,
    /// HEAD against a copy with a slowed dispatch: counts detections.
    Slowdown,
}

/// What a self-test needs besides the gate's settings.
pub(crate) struct Plan {
    /// The flavour.
    pub(crate) mode: Mode,
    /// Comparisons to run.
    pub(crate) comparisons: usize,
    /// Wanted slowdown of the target bench, as a fraction.
    pub(crate) slowdown: f64,
}

/// Runs a self-test; exit code 0 when the target (0 false alarms, or at least
/// 90 % detections) is met.
///
/// # Errors
///
/// A build fails, or the dispatch function cannot be found to patch.
pub(crate) fn run(
    repo: &Repo,
    builder: &Builder,
    plan: &Plan,
    settings: &Settings,
) -> Result<ExitCode> {
    let head_commit = repo.resolve("HEAD").context("HEAD names no commit")?;
    let clean = !repo.is_dirty()?;
    let head = builder.build_working_tree(repo, &head_commit, clean)?;
    match plan.mode {
        Mode::Aa => aa(builder, &head, plan, settings),
        Mode::Slowdown => slowdown(repo, builder, &head, plan, settings),
    }
}

fn aa(builder: &Builder, head: &BenchSet, plan: &Plan, settings: &Settings) -> Result<ExitCode> {
    let base = Side {
        set: head,
        env: Vec::new(),
    };
    let copy_dir = builder.gate_dir().join("bins").join("selftest-copy");
    let mut false_alarms = 0;
    for i in 1..=plan.comparisons {
        let started = Instant::now();
        let copy = fresh_copy(head, &copy_dir)?;
        let other = Side {
            set: &copy,
            env: Vec::new(),
        };
        let cmp = compare(&base, &other, settings)?;
        let tally = Tally::of(&cmp);
        false_alarms += usize::from(tally.regressions > 0);
        let secs = started.elapsed().as_secs_f64();
        println!("A/A {i}: {} ({secs:.0} s)", describe(&cmp, &tally));
    }
    let n = plan.comparisons;
    println!("A/A: {false_alarms} false alarm(s) in {n} comparisons (target 0)");
    Ok(if false_alarms == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Byte-identical copies of `set`'s executables in `dir`, made anew.
///
/// The A/A comparison runs one side from these: a new file gets new pages in
/// the page cache, and identical bytes in two files have measured a few
/// percent apart, consistently, on this machine (see `docs/bench-gate.md`).
/// A real gate run always compares two files, so the A/A test does too.
fn fresh_copy(set: &BenchSet, dir: &std::path::Path) -> Result<BenchSet> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut bins = std::collections::BTreeMap::new();
    for (name, exe) in &set.bins {
        let copy = dir.join(name);
        std::fs::copy(exe, &copy).with_context(|| format!("copying {}", exe.display()))?;
        bins.insert(name.clone(), copy);
    }
    Ok(BenchSet {
        label: format!("copy of {}", set.label),
        bins,
    })
}

fn slowdown(
    repo: &Repo,
    builder: &Builder,
    head: &BenchSet,
    plan: &Plan,
    settings: &Settings,
) -> Result<ExitCode> {
    let mut snapshot = Snapshot::from_working_tree(repo)?;
    let file = snapshot
        .find("crates/forge-dispatch/src", |text| {
            find_dispatch_fn(text).is_some()
        })
        .context("no `fn dispatch` in crates/forge-dispatch/src: update the self-test patch")?;
    snapshot.edit(&file, inject_spin)?;
    println!(
        "self-test: spin injected into {} (throw-away copy)",
        file.display()
    );
    let dest = builder.gate_dir().join("bins").join("selftest-patched");
    let patched = builder.build_snapshot(&snapshot, &dest, "patched copy")?;

    let (target, spins) = calibrate(head, &patched, plan.slowdown, settings)?;
    let mut detections = 0;
    for i in 1..=plan.comparisons {
        let started = Instant::now();
        let cmp = against_spin(head, &patched, spins, settings)?;
        let hit = cmp.results.iter().find(|r| r.path == target);
        let detected = hit.is_some_and(|r| r.assessment.verdict == Verdict::Regression);
        detections += usize::from(detected);
        let ratio = hit.map_or(f64::NAN, |r| r.assessment.median_ratio);
        let word = if detected { "DETECTED" } else { "missed" };
        let secs = started.elapsed().as_secs_f64();
        println!(
            "A/B {i}: target {ratio:.3} {word}; {} ({secs:.0} s)",
            describe(&cmp, &Tally::of(&cmp))
        );
    }
    let needed = (plan.comparisons * 9).div_ceil(10);
    println!(
        "slowdown: {detections}/{} detected (target ≥ {needed})",
        plan.comparisons
    );
    Ok(if detections >= needed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn spin_env(spins: u64) -> Vec<(String, String)> {
    vec![(SPIN_ENV.to_owned(), spins.to_string())]
}

/// The base side's environment: the same variable with a value of the same
/// length, so both processes start with equally sized environments (their
/// size shifts the initial stack, see `runner::stage`).
fn base_env(spins: u64) -> Vec<(String, String)> {
    vec![(SPIN_ENV.to_owned(), "0".repeat(spins.to_string().len()))]
}

fn describe(cmp: &Comparison, tally: &Tally) -> String {
    let flagged: Vec<String> = cmp
        .results
        .iter()
        .filter(|r| r.assessment.verdict == Verdict::Regression)
        .map(|r| format!("{} {:.3}", r.path, r.assessment.median_ratio))
        .collect();
    format!(
        "{} regression(s) [{}], {} inconclusive, {} improvement(s), {} ok",
        tally.regressions,
        flagged.join(", "),
        tally.inconclusive,
        tally.improvements,
        tally.unchanged
    )
}

/// Compares `head` (as base) with `patched` spinning `spins` times.
fn against_spin(
    head: &BenchSet,
    patched: &BenchSet,
    spins: u64,
    settings: &Settings,
) -> Result<Comparison> {
    let base = Side {
        set: head,
        env: base_env(spins),
    };
    let slow = Side {
        set: patched,
        env: spin_env(spins),
    };
    compare(&base, &slow, settings)
}

/// Picks the fastest bench a long spin clearly slows (it calls `dispatch`),
/// then finds the spin count that slows it by `slowdown`.
fn calibrate(
    head: &BenchSet,
    patched: &BenchSet,
    slowdown: f64,
    settings: &Settings,
) -> Result<(String, u64)> {
    let probe = Settings {
        rounds: 3,
        max_rounds: 3,
        verbose: false,
        ..settings.clone()
    };
    let long = against_spin(head, patched, PROBE_SPIN, &probe)?;
    let target = pick_target(&long.results)
        .context("no bench slowed down by the injected spin: does a bench call `dispatch`?")?;
    let r_long = target.assessment.median_ratio;

    let filter = Some(exact_regex(&target.path));
    // Ten rounds per step: with five, two neighbouring spin counts measured
    // 1.087x (189 spins) and 1.130x (161 spins) under load.
    let only = Settings {
        rounds: 10,
        max_rounds: 10,
        filter,
        ..probe
    };
    let ratio_at = |spins| -> Result<f64> {
        let cmp = against_spin(head, patched, spins, &only)?;
        Ok(cmp
            .results
            .first()
            .map_or(f64::NAN, |r| r.assessment.median_ratio))
    };
    let r_zero = ratio_at(0)?;
    let bounds = ((0.0, r_zero), (PROBE_SPIN as f64, r_long));
    let (spins, ratio) = refine(
        ratio_at,
        bounds,
        1.0 + slowdown,
        slowdown * CALIBRATION_TOLERANCE,
    )?;
    if spins == 0 {
        eprintln!("warning: the patch alone slows the target by {r_zero:.3}x");
    }
    let ns = format_ns(base_median(target));
    println!(
        "self-test: target `{}` ({ns}): patch alone {r_zero:.3}x, {PROBE_SPIN} spins \
         {r_long:.2}x, {SPIN_ENV}={spins} -> {ratio:.3}x",
        target.path,
    );
    Ok((target.path.clone(), spins))
}

/// Finds the spin count whose measured ratio is within `tolerance` of `want`.
///
/// A spin's cost per iteration is not constant (call, loop set-up, overlap
/// with the surrounding code), so the straight line through the two probes is
/// only a first guess, refined on the target itself with the Illinois variant
/// of regula falsi (at most [`REFINE_STEPS`] measurements): when one end of the
/// bracket survives twice, its distance from `want` is halved, so one noisy
/// measurement kept as an end cannot stall the search. Returns the measured
/// count and ratio closest to `want`.
pub(crate) fn refine(
    mut ratio_at: impl FnMut(u64) -> Result<f64>,
    (mut low, mut high): ((f64, f64), (f64, f64)),
    want: f64,
    tolerance: f64,
) -> Result<(u64, f64)> {
    let mut best: Option<(u64, f64)> = None;
    let mut last_moved: Option<bool> = None;
    for _ in 0..REFINE_STEPS {
        let spins = secant(low, high, want);
        let ratio = ratio_at(spins)?;
        println!("self-test: calibrating: {SPIN_ENV}={spins} gives {ratio:.3}x");
        if best.is_none_or(|(_, b)| (ratio - want).abs() < (b - want).abs()) {
            best = Some((spins, ratio));
        }
        if (ratio - want).abs() < tolerance {
            break;
        }
        let moved_low = ratio < want;
        let point = (spins as f64, ratio);
        if moved_low {
            low = point;
        } else {
            high = point;
        }
        if last_moved == Some(moved_low) {
            // The other end survived twice: pull it towards `want`.
            let kept = if moved_low { &mut high } else { &mut low };
            kept.1 = want + (kept.1 - want) / 2.0;
        }
        last_moved = Some(moved_low);
    }
    best.context("calibration measured nothing")
}

/// The spin count where the line through `low` and `high` (spins, ratio)
/// reaches `want`.
pub(crate) fn secant(low: (f64, f64), high: (f64, f64), want: f64) -> u64 {
    let slope = (high.1 - low.1) / (high.0 - low.0);
    let spins = low.0 + (want - low.1) / slope;
    if spins.is_finite() {
        spins.round().max(0.0) as u64
    } else {
        0
    }
}

/// The fastest bench the long spin slowed at least twofold, preferring one
/// of at least [`MIN_TARGET_NS`]. Thread rows (`…::t=N`) are left out: with
/// two threads on two shared cores their rounds rarely agree.
fn pick_target(results: &[BenchResult]) -> Option<&BenchResult> {
    let affected = || {
        results
            .iter()
            .filter(|r| r.assessment.median_ratio > 2.0 && !r.path.contains("::t="))
    };
    let fastest = |min_ns: f64| {
        affected()
            .filter(|r| base_median(r) >= min_ns)
            .min_by(|a, b| base_median(a).total_cmp(&base_median(b)))
    };
    fastest(MIN_TARGET_NS).or_else(|| fastest(0.0))
}

fn base_median(result: &BenchResult) -> f64 {
    median(&result.base_ns).unwrap_or(f64::NAN)
}

/// A divan filter regex matching exactly `path`.
pub(crate) fn exact_regex(path: &str) -> String {
    let mut out = String::from("^");
    for c in path.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('$');
    out
}

/// Byte offset of the `fn dispatch` signature in `source`.
fn find_dispatch_fn(source: &str) -> Option<usize> {
    ["fn dispatch(", "fn dispatch<"]
        .iter()
        .filter_map(|pat| source.find(pat))
        .min()
}

/// Inserts a call to the spin at the top of `fn dispatch`'s body and appends
/// the spin function to the file.
///
/// # Errors
///
/// The file has no `fn dispatch` with a body.
pub(crate) fn inject_spin(source: &str) -> Result<String> {
    let start = find_dispatch_fn(source).context("no `fn dispatch` to patch")?;
    let open = source[start..]
        .find('{')
        .context("`fn dispatch` has no body")?
        + start;
    ensure!(
        !source[start..open].contains(';'),
        "`fn dispatch` has no body"
    );
    let mut out = String::with_capacity(source.len() + SPIN_FN.len() + SPIN_CALL.len() + 1);
    out.push_str(&source[..=open]);
    out.push(' ');
    out.push_str(SPIN_CALL);
    out.push_str(&source[open + 1..]);
    out.push_str(SPIN_FN);
    Ok(out)
}
