//! Counting and timing a load run, and the figures it reports.

use std::{
    collections::BTreeMap,
    sync::{
        Mutex, OnceLock,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use forge_agent::{Agent, AgentEvent, Conversation, EventSink, RunOutput};
use forge_core::{Content, DispatchObservation, DispatchObserver, Message, Outcome, Role};
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
    ledger: Totals,
    warm_up: OnceLock<WarmUp>,
    warm_up_rss: OnceLock<Option<u64>>,
}

/// The tool-call ledger summed over every conversation.
#[derive(Default)]
struct Totals {
    dispatched: AtomicU64,
    answered: AtomicU64,
    lost: AtomicU64,
    unanswered_in_transcript: AtomicU64,
}

impl Totals {
    /// Adds one ended conversation's ledger, and checks its transcript if
    /// it succeeded.
    fn add(&self, ledger: &LedgerState, transcript: Option<&[Message]>) {
        let open = ledger.open.len() as u64;
        self.dispatched
            .fetch_add(ledger.dispatched, Ordering::Relaxed);
        self.answered.fetch_add(ledger.answered, Ordering::Relaxed);
        self.lost.fetch_add(open, Ordering::Relaxed);
        if let Some(messages) = transcript {
            let unanswered = unanswered_in(messages);
            self.unanswered_in_transcript
                .fetch_add(unanswered, Ordering::Relaxed);
        }
    }
}

/// When the run counts as warmed up, and its RSS is sampled: once the first
/// 10 % of the conversations have finished (`--conversations`), or at the
/// first conversation to finish once 10 % of `--duration` has passed.
#[derive(Debug, Clone, Copy)]
pub(crate) enum WarmUp {
    /// After this many conversations finished.
    Finished(u64),
    /// At the first conversation to finish at or after this instant.
    At(Instant),
}

impl WarmUp {
    /// The warm-up point of a run of `count` conversations or of `duration`
    /// seconds, started at `started`.
    pub(crate) fn of(count: Option<u64>, duration: Option<f64>, started: Instant) -> Self {
        match (count, duration) {
            (Some(count), _) => Self::Finished(count.div_ceil(10).max(1)),
            (None, Some(secs)) => Self::At(started + Duration::from_secs_f64(secs / 10.0)),
            (None, None) => Self::Finished(1),
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Self::Finished(_) => "after the first 10 % of the conversations finished",
            Self::At(_) => "at the first conversation to finish after 10 % of the duration",
        }
    }
}

/// One conversation's tool calls: ids dispatched and not yet answered.
///
/// Results of calls that were never dispatched (answered as not run at a
/// step or token limit) are not counted: nothing was run, nothing can be lost.
#[derive(Default)]
struct Ledger {
    state: Mutex<LedgerState>,
}

#[derive(Default)]
struct LedgerState {
    open: Vec<String>,
    dispatched: u64,
    answered: u64,
}

impl EventSink for Ledger {
    fn on_event(&self, event: &AgentEvent<'_>) {
        let mut ledger = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match event {
            AgentEvent::ToolDispatched(call) => {
                ledger.dispatched += 1;
                ledger.open.push(call.id.clone());
            }
            AgentEvent::ToolResult(result) => {
                if let Some(at) = ledger.open.iter().position(|id| *id == result.call_id) {
                    ledger.open.swap_remove(at);
                    ledger.answered += 1;
                }
            }
            _ => {}
        }
    }
}

/// Tool calls of a transcript with no result in the message that follows
/// their assistant turn.
fn unanswered_in(messages: &[Message]) -> u64 {
    let mut unanswered = 0;
    for (index, message) in messages.iter().enumerate() {
        if message.role != Role::Assistant {
            continue;
        }
        let mut open: Vec<&str> = message.tool_calls().map(|c| c.id.as_str()).collect();
        if let Some(next) = messages.get(index + 1) {
            for part in &next.content {
                if let Content::ToolResult(result) = part
                    && let Some(at) = open.iter().position(|id| *id == result.call_id)
                {
                    open.swap_remove(at);
                }
            }
        }
        unanswered += open.len() as u64;
    }
    unanswered
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
            ledger: Totals::default(),
            warm_up: OnceLock::new(),
            warm_up_rss: OnceLock::new(),
        }
    }

    /// Sets when the run counts as warmed up; the first call wins.
    pub(crate) fn set_warm_up(&self, warm_up: WarmUp) {
        let _ = self.warm_up.set(warm_up);
    }

    /// Runs one conversation on `agent`, keeping its tool-call ledger.
    pub(crate) async fn run(&self, agent: &Agent, conversation: Conversation) {
        let ledger = Ledger::default();
        let result = agent.run_with_events(conversation, &ledger).await;
        let ledger = ledger.state.into_inner().unwrap_or_else(|e| e.into_inner());
        let transcript = result.as_ref().ok().map(|output| &output.messages[..]);
        self.ledger.add(&ledger, transcript);
        self.finished(&result);
    }

    /// Samples the RSS once, when the warm-up point is reached.
    fn check_warm_up(&self, finished: u64) {
        let Some(warm_up) = self.warm_up.get() else {
            return;
        };
        if self.warm_up_rss.get().is_some() {
            return;
        }
        let reached = match *warm_up {
            WarmUp::Finished(n) => finished >= n,
            WarmUp::At(at) => Instant::now() >= at,
        };
        if reached {
            let _ = self.warm_up_rss.set(crate::sys::rss().map(|(now, _)| now));
        }
    }

    /// A conversation starts.
    pub(crate) fn started(&self) {
        let now = self.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak_in_flight.fetch_max(now, Ordering::Relaxed);
    }

    /// A conversation ended.
    fn finished(&self, result: &Result<RunOutput, forge_agent::Error>) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        let finished = self.record(result);
        self.check_warm_up(finished);
    }

    /// Counts an ended conversation; returns how many have ended.
    fn record(&self, result: &Result<RunOutput, forge_agent::Error>) -> u64 {
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
        inner.succeeded + inner.failed
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
    /// Tool calls the agents announced as dispatched (`ToolDispatched`).
    pub(crate) tool_calls_dispatched: u64,
    /// Of those, the ones answered (`ToolResult` with the same id).
    pub(crate) tool_results_returned: u64,
    /// Dispatched calls whose conversation ended with no result for them.
    pub(crate) lost_tool_results: u64,
    /// Calls in successful transcripts with no result in the next message.
    pub(crate) unanswered_calls_in_transcripts: u64,
    /// Ground-truth calls (BFCL) that violate their own schema, as run.
    pub(crate) flagged_ground_truth_calls: u64,
    pub(crate) unexpected_validation_failures: u64,
    pub(crate) dispatch_us: Percentiles,
    pub(crate) turn_latency_ms: Percentiles,
    pub(crate) time_to_first_token_ms: Percentiles,
    pub(crate) errors: BTreeMap<String, u64>,
    /// The first error of each kind, as text.
    pub(crate) error_samples: BTreeMap<String, String>,
    /// The runtime's alive tasks before the model was built.
    pub(crate) idle_alive_tasks: u64,
    /// The runtime's alive tasks after every conversation ended and the
    /// model (and in-process emulator) shut down, after a bounded settle.
    pub(crate) end_alive_tasks: u64,
    /// `end_alive_tasks - idle_alive_tasks`.
    pub(crate) leaked_tasks: i64,
    pub(crate) idle_rss_mib: f64,
    /// When `warm_up_rss_mib` was sampled.
    pub(crate) warm_up: &'static str,
    pub(crate) warm_up_rss_mib: Option<f64>,
    /// RSS after everything shut down.
    pub(crate) end_rss_mib: Option<f64>,
    /// `end_rss_mib / warm_up_rss_mib`.
    pub(crate) end_over_warm_up_rss: Option<f64>,
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
    pub(crate) end_rss: Option<u64>,
    pub(crate) idle_tasks: usize,
    pub(crate) end_tasks: usize,
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
        let warm_up_rss = self.warm_up_rss.get().copied().flatten();
        let ledger = &self.ledger;
        let (idle_tasks, end_tasks) = (facts.idle_tasks as u64, facts.end_tasks as u64);
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
            tool_calls_dispatched: ledger.dispatched.load(Ordering::Relaxed),
            tool_results_returned: ledger.answered.load(Ordering::Relaxed),
            lost_tool_results: ledger.lost.load(Ordering::Relaxed),
            unanswered_calls_in_transcripts: ledger
                .unanswered_in_transcript
                .load(Ordering::Relaxed),
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
            idle_alive_tasks: idle_tasks,
            end_alive_tasks: end_tasks,
            leaked_tasks: i64::try_from(end_tasks).unwrap_or(i64::MAX)
                - i64::try_from(idle_tasks).unwrap_or(i64::MAX),
            idle_rss_mib: idle / MIB,
            warm_up: self.warm_up.get().map_or("never", |w| w.describe()),
            warm_up_rss_mib: warm_up_rss.map(|r| r as f64 / MIB),
            end_rss_mib: facts.end_rss.map(|r| r as f64 / MIB),
            end_over_warm_up_rss: warm_up_rss
                .zip(facts.end_rss)
                .map(|(w, e)| e as f64 / w.max(1) as f64),
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
            (
                "tool results",
                format!(
                    "{} dispatched, {} returned, {} lost, {} unanswered in transcripts",
                    self.tool_calls_dispatched,
                    self.tool_results_returned,
                    self.lost_tool_results,
                    self.unanswered_calls_in_transcripts
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
            ("RSS warm-up → end", self.rss_drift()),
            (
                "alive tasks",
                format!(
                    "idle {}, end {} ({} leaked)",
                    self.idle_alive_tasks, self.end_alive_tasks, self.leaked_tasks
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

    fn rss_drift(&self) -> String {
        let mib = |v: Option<f64>| v.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.1} MiB"));
        let ratio = self
            .end_over_warm_up_rss
            .map_or_else(|| "n/a".to_owned(), |r| format!("{r:.3}"));
        format!(
            "{} → {} (ratio {ratio}; warm-up {})",
            mib(self.warm_up_rss_mib),
            mib(self.end_rss_mib),
            self.warm_up
        )
    }
}

#[cfg(test)]
mod tests {
    use forge_core::{ToolCall, ToolResult};

    use super::*;

    #[test]
    fn the_ledger_counts_a_dispatched_call_without_result_as_lost() {
        let (a, b) = (ToolCall::new("a", "t", "{}"), ToolCall::new("b", "t", "{}"));
        let not_run = ToolCall::new("c", "t", "{}");
        let ledger = Ledger::default();
        ledger.on_event(&AgentEvent::ToolDispatched(&a));
        ledger.on_event(&AgentEvent::ToolDispatched(&b));
        ledger.on_event(&AgentEvent::ToolResult(&ToolResult::success(&b, "1")));
        // A call answered as not run was never dispatched: not counted.
        let cancelled = ToolResult::failure(&not_run, forge_core::ErrorKind::Cancelled, "no");
        ledger.on_event(&AgentEvent::ToolResult(&cancelled));
        let state = ledger.state.into_inner().unwrap();
        assert_eq!((state.dispatched, state.answered), (2, 1));
        assert_eq!(state.open, ["a"]);
    }

    #[test]
    fn a_transcript_call_without_result_in_the_next_message_is_unanswered() {
        let (a, b) = (ToolCall::new("a", "t", "{}"), ToolCall::new("b", "t", "{}"));
        let calls = Message::assistant(vec![Content::ToolCall(a.clone()), Content::ToolCall(b)]);
        let answer = Message::assistant(vec![Content::text("done")]);
        let only_a = Message::tool_results([ToolResult::success(&a, "1")]);
        let no_results = [Message::user("hi"), calls.clone(), answer.clone()];
        assert_eq!(unanswered_in(&no_results), 2);
        let partial = [Message::user("hi"), calls, only_a, answer];
        assert_eq!(unanswered_in(&partial), 1);
        assert_eq!(unanswered_in(&[Message::user("hi")]), 0);
    }

    #[test]
    fn warm_up_is_ten_percent_of_the_run() {
        let now = Instant::now();
        assert!(matches!(
            WarmUp::of(Some(200), None, now),
            WarmUp::Finished(20)
        ));
        assert!(matches!(
            WarmUp::of(Some(5), None, now),
            WarmUp::Finished(1)
        ));
        let WarmUp::At(at) = WarmUp::of(None, Some(60.0), now) else {
            panic!("a duration warms up at a time");
        };
        assert_eq!(at - now, Duration::from_secs(6));
    }
}
