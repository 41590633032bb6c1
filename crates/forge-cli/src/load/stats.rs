//! Counting and timing a load run, and the figures it reports.

use std::{
    collections::BTreeMap,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use forge_agent::RunOutput;
use forge_core::{DispatchObservation, DispatchObserver, Outcome};
use hdrhistogram::Histogram;
use serde::Serialize;

/// Everything recorded while conversations run; shared by every task.
pub(crate) struct Stats {
    inner: Mutex<Inner>,
    dispatch: Mutex<Histogram<u64>>,
    dispatches: AtomicU64,
    validation_failures: AtomicU64,
    in_flight: AtomicU64,
    peak_in_flight: AtomicU64,
}

struct Inner {
    succeeded: u64,
    failed: u64,
    model_turns: u64,
    errors: BTreeMap<&'static str, u64>,
    /// The first error of each kind, with its source chain, for the report.
    samples: BTreeMap<&'static str, String>,
    turn: Histogram<u64>,
    first_token: Histogram<u64>,
}

fn histogram() -> Histogram<u64> {
    // Microseconds (nanoseconds for dispatch) up to an hour, 3 significant digits.
    Histogram::new_with_bounds(1, 3_600_000_000_000, 3).expect("valid histogram bounds")
}

impl Stats {
    pub(crate) fn new() -> Self {
        let inner = Inner {
            succeeded: 0,
            failed: 0,
            model_turns: 0,
            errors: BTreeMap::new(),
            samples: BTreeMap::new(),
            turn: histogram(),
            first_token: histogram(),
        };
        Self {
            inner: Mutex::new(inner),
            dispatch: Mutex::new(histogram()),
            dispatches: AtomicU64::new(0),
            validation_failures: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            peak_in_flight: AtomicU64::new(0),
        }
    }

    /// A conversation starts.
    pub(crate) fn started(&self) {
        let now = self.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak_in_flight.fetch_max(now, Ordering::Relaxed);
    }

    /// A conversation ended.
    pub(crate) fn finished(&self, result: &Result<RunOutput, forge_agent::Error>) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        match result {
            Ok(output) => {
                inner.succeeded += 1;
                inner.model_turns += output.turns.len() as u64;
                for turn in &output.turns {
                    let _ = inner.turn.record(micros(turn.duration));
                    if let Some(first) = turn.time_to_first_token {
                        let _ = inner.first_token.record(micros(first));
                    }
                }
            }
            Err(error) => {
                inner.failed += 1;
                inner.model_turns += u64::from(error.steps());
                let kind = error.kind().as_str();
                *inner.errors.entry(kind).or_default() += 1;
                inner.samples.entry(kind).or_insert_with(|| chain(error));
            }
        }
    }
}

fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros())
        .unwrap_or(u64::MAX)
        .max(1)
}

impl DispatchObserver for Stats {
    fn on_dispatch(&self, observation: &DispatchObservation<'_>) {
        self.dispatches.fetch_add(1, Ordering::Relaxed);
        if let Outcome::Failure(kind) = observation.outcome {
            let invalid = forge_core::Error::new(kind, "").is_invalid_call();
            if invalid {
                self.validation_failures.fetch_add(1, Ordering::Relaxed);
            }
        }
        let nanos = u64::try_from(observation.duration.as_nanos()).unwrap_or(u64::MAX);
        let mut histogram = self.dispatch.lock().unwrap_or_else(|e| e.into_inner());
        let _ = histogram.record(nanos.max(1));
    }
}

/// Three percentiles of one latency.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct Percentiles {
    pub(crate) p50: f64,
    pub(crate) p99: f64,
    pub(crate) p999: f64,
}

impl Percentiles {
    fn of(histogram: &Histogram<u64>, unit: f64) -> Self {
        let at = |q: f64| {
            if histogram.is_empty() {
                0.0
            } else {
                histogram.value_at_quantile(q) as f64 / unit
            }
        };
        Self {
            p50: at(0.50),
            p99: at(0.99),
            p999: at(0.999),
        }
    }
}

/// What a load run measured; printed as a table and written as JSON.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Figures {
    pub(crate) provider: String,
    pub(crate) workload: String,
    pub(crate) in_process_emulator: bool,
    pub(crate) concurrency: usize,
    pub(crate) peak_in_flight: u64,
    pub(crate) conversations: u64,
    pub(crate) succeeded: u64,
    pub(crate) failed: u64,
    pub(crate) elapsed_s: f64,
    pub(crate) conversations_per_s: f64,
    pub(crate) model_turns: u64,
    pub(crate) tool_dispatches: u64,
    pub(crate) validation_failures: u64,
    /// Ground-truth calls (BFCL) that violate their own schema, as run.
    pub(crate) flagged_ground_truth_calls: u64,
    pub(crate) unexpected_validation_failures: u64,
    pub(crate) dispatch_us: Percentiles,
    pub(crate) turn_latency_ms: Percentiles,
    pub(crate) time_to_first_token_ms: Percentiles,
    pub(crate) errors: BTreeMap<String, u64>,
    /// The first error of each kind, as text.
    pub(crate) error_samples: BTreeMap<String, String>,
    pub(crate) idle_rss_mib: f64,
    pub(crate) peak_rss_mib: f64,
    pub(crate) rss_per_in_flight_conversation_kib: f64,
    pub(crate) cpu_s: f64,
    pub(crate) cpu_per_model_turn_us: f64,
    pub(crate) open_files_limit: Option<u64>,
}

/// What the runner measured outside [`Stats`].
pub(crate) struct RunFacts {
    pub(crate) provider: String,
    pub(crate) workload: String,
    pub(crate) in_process_emulator: bool,
    pub(crate) concurrency: usize,
    pub(crate) elapsed: Duration,
    pub(crate) cpu: Option<Duration>,
    pub(crate) idle_rss: Option<u64>,
    pub(crate) peak_rss: Option<u64>,
    pub(crate) expected_invalid: u64,
    pub(crate) open_files_limit: Option<u64>,
}

const MIB: f64 = 1024.0 * 1024.0;

impl Stats {
    pub(crate) fn figures(&self, facts: RunFacts) -> Figures {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let dispatch = self.dispatch.lock().unwrap_or_else(|e| e.into_inner());
        let conversations = inner.succeeded + inner.failed;
        let elapsed = facts.elapsed.as_secs_f64().max(1e-9);
        let peak_in_flight = self.peak_in_flight.load(Ordering::Relaxed);
        let validation_failures = self.validation_failures.load(Ordering::Relaxed);
        let idle = facts.idle_rss.unwrap_or(0) as f64;
        let peak = facts.peak_rss.unwrap_or(0) as f64;
        let cpu = facts.cpu.map_or(0.0, |c| c.as_secs_f64());
        Figures {
            provider: facts.provider,
            workload: facts.workload,
            in_process_emulator: facts.in_process_emulator,
            concurrency: facts.concurrency,
            peak_in_flight,
            conversations,
            succeeded: inner.succeeded,
            failed: inner.failed,
            elapsed_s: elapsed,
            conversations_per_s: conversations as f64 / elapsed,
            model_turns: inner.model_turns,
            tool_dispatches: self.dispatches.load(Ordering::Relaxed),
            validation_failures,
            flagged_ground_truth_calls: facts.expected_invalid,
            unexpected_validation_failures: validation_failures
                .saturating_sub(facts.expected_invalid),
            dispatch_us: Percentiles::of(&dispatch, 1_000.0),
            turn_latency_ms: Percentiles::of(&inner.turn, 1_000.0),
            time_to_first_token_ms: Percentiles::of(&inner.first_token, 1_000.0),
            errors: inner
                .errors
                .iter()
                .map(|(k, v)| ((*k).to_owned(), *v))
                .collect(),
            error_samples: inner
                .samples
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
            idle_rss_mib: idle / MIB,
            peak_rss_mib: peak / MIB,
            rss_per_in_flight_conversation_kib: (peak - idle).max(0.0)
                / 1024.0
                / peak_in_flight.max(1) as f64,
            cpu_s: cpu,
            cpu_per_model_turn_us: cpu * 1e6 / inner.model_turns.max(1) as f64,
            open_files_limit: facts.open_files_limit,
        }
    }
}

impl Figures {
    /// The summary table.
    pub(crate) fn table(&self) -> String {
        let p = |p: &Percentiles, unit: &str| {
            format!(
                "p50 {:.3} / p99 {:.3} / p99.9 {:.3} {unit}",
                p.p50, p.p99, p.p999
            )
        };
        let errors = if self.errors.is_empty() {
            "none".to_owned()
        } else {
            let parts: Vec<String> = self
                .errors
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            parts.join(", ")
        };
        let rows = [
            (
                "provider / workload",
                format!("{} / {}", self.provider, self.workload),
            ),
            (
                "conversations",
                format!(
                    "{} ({} ok, {} failed), concurrency {}, peak in flight {}",
                    self.conversations,
                    self.succeeded,
                    self.failed,
                    self.concurrency,
                    self.peak_in_flight
                ),
            ),
            (
                "conversations/s",
                format!(
                    "{:.1} over {:.2} s",
                    self.conversations_per_s, self.elapsed_s
                ),
            ),
            ("model turns", self.model_turns.to_string()),
            ("tool dispatches", self.tool_dispatches.to_string()),
            (
                "validation failures",
                format!(
                    "{} ({} on flagged ground truth, {} unexpected)",
                    self.validation_failures,
                    self.flagged_ground_truth_calls,
                    self.unexpected_validation_failures
                ),
            ),
            ("dispatch", p(&self.dispatch_us, "µs")),
            ("turn latency", p(&self.turn_latency_ms, "ms")),
            ("time to first token", p(&self.time_to_first_token_ms, "ms")),
            ("errors by kind", errors),
            (
                "peak RSS",
                format!(
                    "{:.1} MiB (idle {:.1} MiB; {:.1} KiB per in-flight conversation)",
                    self.peak_rss_mib, self.idle_rss_mib, self.rss_per_in_flight_conversation_kib
                ),
            ),
            (
                "CPU",
                format!(
                    "{:.2} s ({:.1} µs per model turn{})",
                    self.cpu_s,
                    self.cpu_per_model_turn_us,
                    if self.in_process_emulator {
                        ", emulator included"
                    } else {
                        ""
                    }
                ),
            ),
        ];
        let mut out = String::new();
        for (name, value) in rows {
            out.push_str(&format!("{name:<22} {value}\n"));
        }
        for (kind, sample) in &self.error_samples {
            out.push_str(&format!("  first {kind}: {sample}\n"));
        }
        out
    }
}
