//! Running base and head interleaved, and collecting per-round ratios.
//!
//! A comparison has three phases:
//!
//! 1. Discovery: each side's executables run once with divan's own sizing
//!    (and the user's filter). This lists the benches on each side and gives a
//!    rough median used to size samples.
//! 2. Rounds: every bench runs with a fixed sample size and count, chosen from
//!    the discovery median so that a sample lasts about [`TARGET_SAMPLE_NS`].
//!    Fixed sizes make both sides do identical work; divan's auto-sizing would
//!    otherwise pick different iteration counts per run for sub-µs benches,
//!    where timer overhead and loop shape dominate. A run of one bench lasts
//!    about 10 ms (200 samples of 50 µs): measured A/A on this 2-core machine
//!    under load, 1 ms runs gave per-round ratios spread by ±10 % and more,
//!    10 ms runs mostly within ±3 %, and the rule needs most rounds to agree. Benches are grouped by
//!    their sizes, one process per group and side, selected with `--exact`.
//!    Round `r` runs base then head when `r` is even, head then base when odd
//!    (A B B A …), so neither side always runs on a warmer machine, and uses
//!    copy `r mod 4` of each side's executables (see [`stage`]).
//! 3. Extra rounds for benches the rule calls borderline, up to the maximum.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::build::BenchSet;
use super::decide::{Assessment, assess};
use super::divan::{Measurement, parse_table};

/// Wanted duration of one sample, in nanoseconds.
pub(crate) const TARGET_SAMPLE_NS: f64 = 50_000.0;
/// Samples per bench and run.
pub(crate) const SAMPLE_COUNT: u64 = 200;
/// Largest sample size (iterations per sample).
const MAX_SAMPLE_SIZE: u64 = 1 << 20;
/// Budget of one bench in one run, used to cut the count of slow benches.
const BENCH_BUDGET_NS: f64 = 100_000_000.0;
/// Fresh copies of each side's executables that rounds rotate through.
const COPIES: usize = 4;
/// Samples taken during discovery (its medians only size the real runs).
const DISCOVERY_SAMPLES: &str = "20";
/// divan settings from the environment that would override the gate's.
const DIVAN_ENV: [&str; 6] = [
    "DIVAN_SAMPLE_COUNT",
    "DIVAN_SAMPLE_SIZE",
    "DIVAN_MIN_TIME",
    "DIVAN_MAX_TIME",
    "DIVAN_THREADS",
    "DIVAN_SKIP_EXT_TIME",
];

/// One side of a comparison: executables plus extra environment.
pub(crate) struct Side<'a> {
    /// The executables.
    pub(crate) set: &'a BenchSet,
    /// Environment set for every run of this side.
    pub(crate) env: Vec<(String, String)>,
}

/// How to compare.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// Allowed slowdown as a fraction (0.05 = 5 %).
    pub(crate) threshold: f64,
    /// Rounds for every bench, and the size of each batch of extra rounds.
    pub(crate) rounds: usize,
    /// Most rounds a borderline bench gets.
    pub(crate) max_rounds: usize,
    /// divan filter (a regex over `binary::group::bench`).
    pub(crate) filter: Option<String>,
    /// Print progress to stderr.
    pub(crate) verbose: bool,
    /// Where executables are linked before running (see [`compare`]).
    pub(crate) stage_dir: PathBuf,
}

/// One bench measured on both sides.
#[derive(Debug, Clone)]
pub(crate) struct BenchResult {
    /// divan path, `binary::group::bench`.
    pub(crate) path: String,
    /// Per-round base medians (ns).
    pub(crate) base_ns: Vec<f64>,
    /// Per-round head medians (ns).
    pub(crate) head_ns: Vec<f64>,
    /// The rule applied to the ratios.
    pub(crate) assessment: Assessment,
}

/// Everything one comparison found.
#[derive(Debug, Clone, Default)]
pub(crate) struct Comparison {
    /// Benches measured on both sides.
    pub(crate) results: Vec<BenchResult>,
    /// Benches or executables that could not be compared, with the reason.
    pub(crate) skipped: Vec<String>,
    /// Wall time of the discovery phase.
    pub(crate) discovery: Duration,
    /// Wall time of all rounds.
    pub(crate) measuring: Duration,
}

struct Planned {
    binary: String,
    path: String,
    filter_path: String,
    size: u64,
    count: u64,
    base: Vec<f64>,
    head: Vec<f64>,
}

/// One process per side: a binary, fixed sizes and the benches selected.
struct Group {
    binary: String,
    size: u64,
    count: u64,
    filters: BTreeSet<String>,
    members: Vec<usize>,
}

/// Compares `head` against `base`.
///
/// # Errors
///
/// A head executable fails or prints a table the parser rejects. (A failing
/// base executable is reported as skipped.)
pub(crate) fn compare(base: &Side<'_>, head: &Side<'_>, settings: &Settings) -> Result<Comparison> {
    let base_sets = stage(base.set, &settings.stage_dir.join("base"))?;
    let head_sets = stage(head.set, &settings.stage_dir.join("head"))?;
    let base = sides(&base_sets, &base.env);
    let head = sides(&head_sets, &head.env);
    compare_staged(&base, &head, settings)
}

fn sides<'a>(sets: &'a [BenchSet], env: &[(String, String)]) -> Vec<Side<'a>> {
    sets.iter()
        .map(|set| Side {
            set,
            env: env.to_vec(),
        })
        .collect()
}

/// Copies `set`'s executables into [`COPIES`] directories under `dir`.
///
/// Both sides run from paths of equal length (`…/run/base/N/x`,
/// `…/run/head/N/x`): the kernel copies the executable's path onto the new
/// process's stack, and a different length shifts the alignment of
/// everything below it, which can move a nanosecond bench by several percent
/// on its own.
///
/// Each copy is a new file, never a hard link, and rounds rotate through the
/// copies: two byte-identical files measured up to 6 % apart here in every
/// round (where their pages sit in memory stays fixed while they are cached),
/// so a bias tied to one file would otherwise look like a consistent
/// regression. Rotating turns it into noise that the 80 % rule absorbs.
fn stage(set: &BenchSet, dir: &Path) -> Result<Vec<BenchSet>> {
    (0..COPIES)
        .map(|copy| {
            let dir = dir.join(copy.to_string());
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            let mut bins = BTreeMap::new();
            for (name, exe) in &set.bins {
                let staged = dir.join(name);
                let _ = std::fs::remove_file(&staged);
                std::fs::copy(exe, &staged)
                    .with_context(|| format!("copying {}", exe.display()))?;
                bins.insert(name.clone(), staged);
            }
            Ok(BenchSet {
                label: set.label.clone(),
                bins,
            })
        })
        .collect()
}

fn compare_staged(
    bases: &[Side<'_>],
    heads: &[Side<'_>],
    settings: &Settings,
) -> Result<Comparison> {
    let (base, head) = (&bases[0], &heads[0]);
    let started = Instant::now();
    let mut out = Comparison::default();
    let mut planned = Vec::new();
    for name in base.set.bins.keys() {
        if head.set.bins.contains_key(name) {
            discover(name, base, head, settings, &mut planned, &mut out.skipped)?;
        } else {
            out.skipped
                .push(format!("bench executable `{name}` exists only in base"));
        }
    }
    for name in head
        .set
        .bins
        .keys()
        .filter(|name| !base.set.bins.contains_key(*name))
    {
        out.skipped.push(format!(
            "bench executable `{name}` exists only in head (new)"
        ));
    }
    out.discovery = started.elapsed();

    let started = Instant::now();
    let all: Vec<usize> = (0..planned.len()).collect();
    let mut done = 0;
    let mut todo = all;
    while !todo.is_empty() && done < settings.max_rounds {
        let batch = settings.rounds.min(settings.max_rounds - done);
        let groups = group(&planned, &todo);
        for round in done..done + batch {
            if settings.verbose {
                eprintln!(
                    "bench-gate: round {}/{} ({} benches)",
                    round + 1,
                    done + batch,
                    todo.len()
                );
            }
            let copy = round % bases.len().min(heads.len());
            run_round(round, &groups, &bases[copy], &heads[copy], &mut planned)?;
        }
        done += batch;
        todo = borderline(&planned, settings.threshold);
    }
    out.measuring = started.elapsed();
    out.results = planned
        .into_iter()
        .map(|p| finish(p, settings.threshold))
        .collect();
    Ok(out)
}

fn finish(planned: Planned, threshold: f64) -> BenchResult {
    let assessment = assess(&ratios(&planned), threshold);
    BenchResult {
        path: planned.path,
        base_ns: planned.base,
        head_ns: planned.head,
        assessment,
    }
}

fn ratios(planned: &Planned) -> Vec<f64> {
    planned
        .head
        .iter()
        .zip(&planned.base)
        .map(|(head, base)| head / base)
        .collect()
}

fn borderline(planned: &[Planned], threshold: f64) -> Vec<usize> {
    (0..planned.len())
        .filter(|&i| assess(&ratios(&planned[i]), threshold).borderline)
        .collect()
}

/// Lists one executable's benches on both sides and plans their runs.
fn discover(
    name: &str,
    base: &Side<'_>,
    head: &Side<'_>,
    settings: &Settings,
    planned: &mut Vec<Planned>,
    skipped: &mut Vec<String>,
) -> Result<()> {
    let mut args = vec!["--sample-count", DISCOVERY_SAMPLES];
    args.extend(settings.filter.as_deref());
    let base_list = match run_divan(&base.set.bins[name], &args, &base.env) {
        Ok(list) => list,
        Err(error) => {
            skipped.push(format!(
                "bench executable `{name}` fails at base: {error:#}"
            ));
            return Ok(());
        }
    };
    let head_list = run_divan(&head.set.bins[name], &args, &head.env)
        .with_context(|| format!("running head's `{name}`"))?;
    let head_by_path: BTreeMap<&str, &Measurement> =
        head_list.iter().map(|m| (m.path.as_str(), m)).collect();
    // One plan per selectable bench: `t=N` rows run together, sized by the slowest.
    let mut slowest: BTreeMap<&str, f64> = BTreeMap::new();
    for m in base_list.iter().chain(&head_list) {
        let entry = slowest.entry(m.filter_path.as_str()).or_insert(0.0);
        *entry = entry.max(m.median_ns);
    }

    for b in &base_list {
        if !head_by_path.contains_key(b.path.as_str()) {
            skipped.push(format!("`{}` exists only in base", b.path));
            continue;
        }
        let (size, count) = sample_plan(slowest[b.filter_path.as_str()]);
        planned.push(Planned {
            binary: name.to_owned(),
            path: b.path.clone(),
            filter_path: b.filter_path.clone(),
            size,
            count,
            base: Vec::new(),
            head: Vec::new(),
        });
    }
    let in_base: BTreeSet<&str> = base_list.iter().map(|m| m.path.as_str()).collect();
    for h in head_list
        .iter()
        .filter(|h| !in_base.contains(h.path.as_str()))
    {
        skipped.push(format!("`{}` exists only in head (new)", h.path));
    }
    Ok(())
}

/// Fixed sample size and count for a bench whose median is `median_ns`.
pub(crate) fn sample_plan(median_ns: f64) -> (u64, u64) {
    let median_ns = median_ns.max(1e-3);
    if median_ns >= TARGET_SAMPLE_NS {
        let fits = (BENCH_BUDGET_NS / median_ns).floor() as u64;
        return (1, fits.clamp(10, SAMPLE_COUNT));
    }
    let wanted = (TARGET_SAMPLE_NS / median_ns).ceil() as u64;
    (
        wanted.next_power_of_two().min(MAX_SAMPLE_SIZE),
        SAMPLE_COUNT,
    )
}

/// Groups planned benches that can share one process per side.
fn group(planned: &[Planned], members: &[usize]) -> Vec<Group> {
    let mut groups: BTreeMap<(&str, u64, u64), Group> = BTreeMap::new();
    for &i in members {
        let p = &planned[i];
        let group = groups
            .entry((&p.binary, p.size, p.count))
            .or_insert_with(|| Group {
                binary: p.binary.clone(),
                size: p.size,
                count: p.count,
                filters: BTreeSet::new(),
                members: Vec::new(),
            });
        group.filters.insert(p.filter_path.clone());
        group.members.push(i);
    }
    groups.into_values().collect()
}

fn run_round(
    round: usize,
    groups: &[Group],
    base: &Side<'_>,
    head: &Side<'_>,
    planned: &mut [Planned],
) -> Result<()> {
    for group in groups {
        let (size, count) = (group.size.to_string(), group.count.to_string());
        let mut args = vec!["--exact", "--sample-size", &size, "--sample-count", &count];
        args.extend(group.filters.iter().map(String::as_str));
        let base_first = round.is_multiple_of(2);
        for is_base in [base_first, !base_first] {
            let side = if is_base { base } else { head };
            let list = run_divan(&side.set.bins[&group.binary], &args, &side.env)?;
            if std::env::var_os("BENCH_GATE_TRACE").is_some() {
                let medians: Vec<String> = list
                    .iter()
                    .map(|m| format!("{}={:.2}", m.path, m.median_ns))
                    .collect();
                eprintln!("trace round={round} base={is_base} {}", medians.join(" "));
            }
            record(&list, &group.members, planned, is_base)?;
        }
    }
    Ok(())
}

fn record(
    list: &[Measurement],
    members: &[usize],
    planned: &mut [Planned],
    is_base: bool,
) -> Result<()> {
    for &i in members {
        let p = &mut planned[i];
        let Some(m) = list.iter().find(|m| m.path == p.path) else {
            bail!("`{}` is missing from divan's output", p.path);
        };
        let median = m.median_ns.max(1e-6);
        if is_base {
            p.base.push(median)
        } else {
            p.head.push(median)
        }
    }
    Ok(())
}

/// Runs one divan executable and parses its table.
///
/// # Errors
///
/// The process cannot start, exits unsuccessfully, or prints an unparsable row.
pub(crate) fn run_divan(
    exe: &Path,
    args: &[&str],
    env: &[(String, String)],
) -> Result<Vec<Measurement>> {
    let mut command = Command::new(exe);
    command.args(["--bench", "--color", "never"]).args(args);
    for var in DIVAN_ENV {
        command.env_remove(var);
    }
    command.envs(env.iter().map(|(k, v)| (k, v)));
    let out = command
        .output()
        .with_context(|| format!("could not run {}", exe.display()))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let mut tail: Vec<&str> = stderr.lines().rev().take(5).collect();
        tail.reverse();
        bail!(
            "{} exited with {}: {}",
            exe.display(),
            out.status,
            tail.join(" / ")
        );
    }
    let stdout = String::from_utf8(out.stdout).context("divan printed non-UTF-8")?;
    parse_table(&stdout).with_context(|| format!("parsing the output of {}", exe.display()))
}
