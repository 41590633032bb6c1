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
use forge_core::DispatchObserver;
use indicatif::{ProgressBar, ProgressStyle};
use tokio::sync::Semaphore;

use crate::{cli::LoadArgs, model, sys, telemetry};
use stats::{RunFacts, Stats};
use workload::Workload;

/// The longest wait, after the run, for its tasks to end.
const TASK_SETTLE: Duration = Duration::from_secs(2);

/// How many conversations to start, and for how long.
struct Plan {
    count: Option<u64>,
    until: Option<Instant>,
    concurrency: usize,
}

pub(crate) async fn load(
    args: LoadArgs,
    open_files_limit: Option<u64>,
    observer: Option<Arc<dyn DispatchObserver>>,
) -> anyhow::Result<()> {
    anyhow::ensure!(args.concurrency > 0, "--concurrency must be at least 1");
    let workload = Workload::read(args.workload.as_deref())?;
    report_flagged(&workload);
    if let Some(path) = &args.write_script {
        workload.write_script(path)?;
        eprintln!("-- wrote the emulator script to {}", path.display());
    }
    let idle_tasks = sys::alive_tasks();
    let pacing = forge_emulator::Latency::none();
    let backend = model::backend(&args.model, workload.script(), pacing).await?;
    let stats = Arc::new(Stats::new());
    let agents = workload.agents(&backend, telemetry::observe_both(stats.clone(), observer))?;

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
    stats.set_warm_up(stats::WarmUp::of(count, args.duration, started));
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

    let (provider, in_process_emulator) = (backend.provider, backend.emulator.is_some());
    drop(agents);
    backend.shutdown().await;
    // The pooled client outlives the models: release it so its pool's tasks
    // end and the alive-task count can return to idle.
    forge_providers::release_shared_clients();
    let end_tasks = sys::settle_tasks(idle_tasks, TASK_SETTLE).await;
    let end_rss = sys::rss().map(|(now, _)| now);
    let figures = stats.figures(RunFacts {
        provider: provider.to_owned(),
        workload: workload.describe(),
        in_process_emulator,
        concurrency: args.concurrency,
        elapsed,
        cpu,
        idle_rss,
        peak_rss,
        end_rss,
        idle_tasks,
        end_tasks,
        expected_invalid,
        open_files_limit,
    });
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
            stats.run(&agent, conversation).await;
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
