//! `forge load`: many conversations at once, then a summary of what they cost.

mod bfcl;
mod stats;
mod workload;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use forge_agent::Agent;
use indicatif::{ProgressBar, ProgressStyle};
use tokio::sync::Semaphore;

use crate::{cli::LoadArgs, model, sys};
use stats::{RunFacts, Stats};
use workload::Workload;

/// How many conversations to start, and for how long.
struct Plan {
    count: Option<u64>,
    until: Option<Instant>,
    concurrency: usize,
}

pub(crate) async fn load(args: LoadArgs, open_files_limit: Option<u64>) -> anyhow::Result<()> {
    anyhow::ensure!(args.concurrency > 0, "--concurrency must be at least 1");
    let workload = Workload::read(args.workload.as_deref())?;
    report_flagged(&workload);
    if let Some(path) = &args.write_script {
        workload.write_script(path)?;
        eprintln!("-- wrote the emulator script to {}", path.display());
    }
    let pacing = forge_emulator::Latency::none();
    let backend = model::backend(&args.model, workload.script(), pacing).await?;
    let stats = Arc::new(Stats::new());
    let agents = workload.agents(&backend, stats.clone())?;

    let count = match (args.conversations, args.duration) {
        (Some(n), _) => Some(n),
        (None, Some(_)) => None,
        (None, None) => Some(workload.len() as u64),
    };
    let bar = progress(count, args.quiet);
    let idle_rss = sys::rss().map(|(now, _)| now);
    sys::reset_peak_rss();
    let cpu_before = sys::cpu_time();
    let started = Instant::now();
    let plan = Plan {
        count,
        until: args.duration.map(|s| started + Duration::from_secs_f64(s)),
        concurrency: args.concurrency,
    };
    let expected_invalid = drive(&plan, &workload, &agents, &stats, &bar).await?;
    let elapsed = started.elapsed();
    let cpu = cpu_before
        .zip(sys::cpu_time())
        .map(|(a, b)| b.saturating_sub(a));
    let peak_rss = sys::rss().map(|(_, peak)| peak);
    bar.finish_and_clear();

    let figures = stats.figures(RunFacts {
        provider: backend.provider.to_owned(),
        workload: workload.describe(),
        in_process_emulator: backend.emulator.is_some(),
        concurrency: args.concurrency,
        elapsed,
        cpu,
        idle_rss,
        peak_rss,
        expected_invalid,
        open_files_limit,
    });
    drop(agents);
    backend.shutdown().await;
    print!("{}", figures.table());
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&figures)?;
        std::fs::write(path, json).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// Starts conversations as permits free up; returns the validation failures
/// the flagged ground truth should cause.
async fn drive(
    plan: &Plan,
    workload: &Workload,
    agents: &[Agent],
    stats: &Arc<Stats>,
    bar: &ProgressBar,
) -> anyhow::Result<u64> {
    let limit = u32::try_from(plan.concurrency).context("--concurrency is too large")?;
    let permits = Arc::new(Semaphore::new(plan.concurrency));
    let mut expected_invalid = 0;
    let mut n = 0;
    while plan.count.is_none_or(|count| n < count) {
        let permit = permits.clone().acquire_owned().await?;
        if plan.until.is_some_and(|until| Instant::now() >= until) {
            break;
        }
        let (agent, conversation) = workload.conversation(n, agents);
        expected_invalid += workload.expected_invalid(n);
        let (agent, stats, bar) = (agent.clone(), stats.clone(), bar.clone());
        stats.started();
        tokio::spawn(async move {
            let result = agent.run(conversation).await;
            stats.finished(&result);
            bar.inc(1);
            drop(permit);
        });
        n += 1;
    }
    // Every task holds a permit until it ends: taking them all waits for the last.
    let _all = permits.acquire_many(limit).await?;
    Ok(expected_invalid)
}

fn progress(count: Option<u64>, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = match count {
        Some(count) => ProgressBar::new(count),
        None => ProgressBar::new_spinner(),
    };
    let style = ProgressStyle::with_template(
        "{spinner} {elapsed_precise} [{bar:40}] {pos}/{len} conversations ({per_sec})",
    )
    .map(|s| s.progress_chars("=> "));
    if let Ok(style) = style {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

fn report_flagged(workload: &Workload) {
    let flagged = workload.flagged();
    if flagged.is_empty() {
        return;
    }
    eprintln!(
        "-- {} ground-truth call(s) violate their own schema; they will fail validation:",
        flagged.len()
    );
    for (tool, why) in flagged {
        eprintln!("   {tool}: {why}");
    }
}
