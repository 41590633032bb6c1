//! The provider fault matrix, through the agent loop, for each dialect: the
//! emulator injects one fault kind by script on real loopback sockets, and
//! the conversation must end as the expected row says.
//!
//! Each kind runs three times. **Persistent**: every attempt of the first
//! turn fails, which shows the classified kind and how many attempts the
//! adapter made (1 = not retried; `1 + MAX_RETRIES` = retried to the limit).
//! **Midway once** and **early once**: only the first attempt fails (the
//! mid-stream kinds striking after content, or before the first frame),
//! which shows the conversation's end state: `answer` (the turn was retried,
//! the tool ran, its result went back, the model answered) or the error kind.
//!
//! Then the same kinds through a router with a fallback deployment, and the
//! circuit breaker's open / half-open / closed cycle, counted in requests
//! per emulator. `docs/reliability.md` §1 has the same tables.

#![allow(
    clippy::unwrap_used,
    reason = "tests: a panic is a failure with a line"
)]

use std::{sync::Arc, time::Duration};

use forge_agent::{Agent, Conversation, StopCause};
use forge_core::{Error, Tool};
use forge_dispatch::{Dispatcher, Registry};
use forge_emulator::{Emulator, FaultKind, FaultSpec, Script, ScriptTurn};
use forge_providers::{
    DeploymentConfig, ProviderKind,
    router::{BreakerConfig, BreakerState, Router},
};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

const MAX_RETRIES: u32 = 2;

#[derive(Deserialize, JsonSchema)]
struct AddArgs {
    a: i64,
    b: i64,
}

struct Add;

impl Tool for Add {
    type Args = AddArgs;
    type Output = i64;

    fn name(&self) -> &str {
        "add"
    }

    fn description(&self) -> &str {
        "Adds two integers."
    }

    async fn call(&self, args: AddArgs) -> Result<i64, Error> {
        Ok(args.a + args.b)
    }
}

fn deployment(kind: ProviderKind, base_url: String) -> DeploymentConfig {
    let mut d = DeploymentConfig::new(kind, "emulated");
    d.base_url = Some(base_url);
    d.retry.max_retries = MAX_RETRIES;
    d.retry.initial_backoff = Duration::from_millis(5);
    d.retry.max_backoff = Duration::from_millis(20);
    d.retry.max_retry_after = Duration::from_secs(3);
    d.timeouts.first_chunk = Duration::from_millis(400);
    d.timeouts.idle = Duration::from_millis(400);
    d.timeouts.total = Some(Duration::from_secs(20));
    d.http.max_event_bytes = 64 << 10;
    d.http.max_body_bytes = 128 << 10;
    d
}

/// An emulator whose conversation `c` fails its first turn `failures` times
/// with `fault` (mid-stream kinds striking at frame `at`, or midway), then
/// calls `add` and answers.
async fn emulator(
    fault: FaultKind,
    failures: usize,
    at: Option<usize>,
) -> forge_emulator::EmulatorHandle {
    let mut turn = ScriptTurn::new()
        .text("Let me add those numbers for you now.")
        .call("add", json!({"a": 2, "b": 3}));
    for _ in 0..failures {
        turn = turn.fault(fault);
    }
    let mut script = Script::new();
    script.push("c", turn);
    script.push("c", ScriptTurn::new().text("The sum is 5."));
    let mut faults = FaultSpec::none()
        .with_retry_after(Duration::from_millis(200))
        .with_oversize(256 << 10);
    if let Some(at) = at {
        faults = faults.with_at(at);
    }
    Emulator::builder()
        .script(script)
        .faults(faults)
        .start()
        .await
        .unwrap()
}

fn dialect(provider: ProviderKind) -> forge_emulator::Dialect {
    match provider {
        ProviderKind::Anthropic => forge_emulator::Dialect::Anthropic,
        ProviderKind::OpenAi => forge_emulator::Dialect::OpenAi,
        _ => forge_emulator::Dialect::Gemini,
    }
}

/// The real adapter for `provider` at `emulator`, with the matrix settings.
fn adapter(
    provider: ProviderKind,
    emulator: &forge_emulator::EmulatorHandle,
) -> Arc<dyn forge_core::Model> {
    let url = emulator.base_url(dialect(provider));
    forge_providers::connect(&deployment(provider, url)).unwrap()
}

fn agent(model: Arc<dyn forge_core::Model>) -> Agent {
    let registry = Registry::builder().tool(Add).build().unwrap();
    Agent::builder(model, Dispatcher::builder(registry).build()).build()
}

/// Runs one conversation whose first turn fails `failures` times with
/// `fault` (mid-stream kinds striking at frame `at`, or midway); returns the
/// end state, the number of requests made and the time taken.
async fn run(
    provider: ProviderKind,
    fault: FaultKind,
    failures: usize,
    at: Option<usize>,
) -> (String, u64, Duration) {
    let emulator = emulator(fault, failures, at).await;
    let agent = agent(adapter(provider, &emulator));
    let started = std::time::Instant::now();
    let outcome = agent
        .run(Conversation::new("Add 2 and 3.").with_id("c"))
        .await;
    let elapsed = started.elapsed();
    let requests = emulator.requests();
    emulator.shutdown().await;
    (end_state(outcome), requests, elapsed)
}

fn end_state(outcome: Result<forge_agent::RunOutput, forge_agent::Error>) -> String {
    match outcome {
        Ok(output) => {
            let answered = output.messages.iter().any(|m| {
                m.content
                    .iter()
                    .any(|c| matches!(c, forge_core::Content::ToolResult(r) if r.content() == "5"))
            });
            match output.stop {
                StopCause::FinalAnswer if answered && output.text == "The sum is 5." => {
                    "answer".into()
                }
                StopCause::FinalAnswer => {
                    let stop = output.turns.last().map(|t| t.stop_reason.clone());
                    format!("final({:?}, {stop:?})", output.text)
                }
                other => format!("{other:?}"),
            }
        }
        Err(error) => error.kind().as_str().to_owned(),
    }
}

/// One row: the fault, its classified kind and attempts when it persists,
/// the end state with the attempts when it strikes once midway, and the same
/// when it strikes once before the first frame.
async fn row(provider: ProviderKind, fault: FaultKind) -> String {
    let persistent = run(provider, fault, 8, None).await;
    let transient = run(provider, fault, 1, None).await;
    let early = run(provider, fault, 1, Some(0)).await;
    if fault == FaultKind::RateLimitedMs || fault == FaultKind::RateLimited {
        // The announced wait (200 ms) is honoured before the retry.
        assert!(
            transient.2 >= Duration::from_millis(200),
            "{fault}: {:?}",
            transient.2
        );
    }
    format!(
        "{fault} | {} x{} | {} x{} | {} x{}",
        persistent.0, persistent.1, transient.0, transient.1, early.0, early.1
    )
}

async fn matrix(provider: ProviderKind) -> Vec<String> {
    let rows = FaultKind::ALL.iter().map(|&fault| row(provider, fault));
    futures_util::future::join_all(rows).await
}

/// The expected rows; `gateway` and `overloaded` are the dialect's
/// classification of 504 and of "overloaded", `filtered` its stop reason for
/// a blocked answer.
fn expected(gateway: &str, overloaded: &str, filtered: &str) -> Vec<String> {
    let retried = |kind: &str| format!("{kind} x3 | answer x3 | answer x3");
    let refused = |kind: &str| format!("{kind} x1 | {kind} x1 | {kind} x1");
    // Mid-stream: after content it is final; before the first frame retried.
    let midway = |kind: &str| format!("{kind} x1 | {kind} x1 | answer x3");
    let final_empty = format!("final(\"\", Some({filtered}))");
    let rows = [
        ("rate_limited", retried("rate_limited")),
        ("rate_limited_date", retried("rate_limited")),
        ("rate_limited_ms", retried("rate_limited")),
        ("quota_exhausted", refused("quota_exhausted")),
        ("server_error", retried("server_error")),
        ("unavailable", retried("server_error")),
        ("gateway_timeout", retried(gateway)),
        ("overloaded", retried(overloaded)),
        ("auth", refused("auth")),
        ("not_found", refused("not_found")),
        ("error_after_ok", midway("error_after_ok")),
        ("stream_truncated", midway("stream_truncated")),
        ("connection_reset", midway("stream_truncated")),
        ("no_response", retried("timeout")),
        ("stall", midway("timeout")),
        ("malformed_chunk", refused("malformed_response")),
        ("oversized", refused("response_too_large")),
        ("content_filtered", refused(&final_empty)),
    ];
    rows.into_iter()
        .map(|(fault, rest)| format!("{fault} | {rest}"))
        .collect()
}

#[track_caller]
fn check(observed: &[String], expected: &[String]) {
    let joined = observed.join("\n");
    assert_eq!(observed, expected, "observed:\n{joined}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_fault_matrix() {
    let observed = matrix(ProviderKind::Anthropic).await;
    check(&observed, &expected("timeout", "overloaded", "Refusal"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_fault_matrix() {
    let observed = matrix(ProviderKind::OpenAi).await;
    check(
        &observed,
        &expected("server_error", "server_error", "ContentFilter"),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn google_fault_matrix() {
    let observed = matrix(ProviderKind::Google).await;
    check(
        &observed,
        &expected("timeout", "server_error", "ContentFilter"),
    );
}

/// Records every tool call id dispatched and every id answered.
#[derive(Default)]
struct Ledger {
    dispatched: std::sync::Mutex<Vec<String>>,
    answered: std::sync::Mutex<Vec<String>>,
}

impl forge_agent::EventSink for Ledger {
    fn on_event(&self, event: &forge_agent::AgentEvent<'_>) {
        match event {
            forge_agent::AgentEvent::ToolDispatched(call) => {
                self.dispatched.lock().unwrap().push(call.id.clone());
            }
            forge_agent::AgentEvent::ToolResult(result) => {
                self.answered.lock().unwrap().push(result.call_id.clone());
            }
            _ => {}
        }
    }
}

/// 200 conversations, 100 at a time, against 5 % mixed transient faults:
/// every conversation ends, and every dispatched call id is answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_faults_under_load_lose_no_tool_result() {
    use futures_util::StreamExt as _;

    let mut script = Script::new();
    for i in 0..200 {
        let id = format!("c{i}");
        let calls = ScriptTurn::new()
            .text("Adding.")
            .call("add", json!({"a": i, "b": 1}))
            .call("add", json!({"a": i, "b": 2}));
        script.push(id.clone(), calls);
        script.push(id, ScriptTurn::new().text("Done."));
    }
    let spec = "rate=0.05,retry_after=50ms,kinds=rate_limited|server_error|overloaded|\
                error_after_ok|stream_truncated|connection_reset|malformed_chunk";
    let emulator = Emulator::builder()
        .seed(3)
        .script(script)
        .faults(spec.parse().unwrap())
        .start()
        .await
        .unwrap();
    let url = emulator.base_url(forge_emulator::Dialect::Anthropic);
    let model = forge_providers::connect(&deployment(ProviderKind::Anthropic, url)).unwrap();
    let registry = Registry::builder().tool(Add).build().unwrap();
    let agent = Agent::builder(model, Dispatcher::builder(registry).build()).build();
    let ledger = Ledger::default();

    let runs = (0..200).map(|i| {
        let conversation = Conversation::new("Add.").with_id(format!("c{i}"));
        agent.run_with_events(conversation, &ledger)
    });
    let outcomes: Vec<_> = futures_util::stream::iter(runs)
        .buffer_unordered(100)
        .collect()
        .await;
    emulator.shutdown().await;

    let failed = outcomes.iter().filter(|o| o.is_err()).count();
    assert!(failed > 0 && failed < 100, "{failed} of 200 failed");
    for outcome in outcomes.iter().flatten() {
        assert!(matches!(outcome.stop, StopCause::FinalAnswer));
        assert_eq!(outcome.tool_calls, 2);
    }
    let mut dispatched = ledger.dispatched.into_inner().unwrap();
    let mut answered = ledger.answered.into_inner().unwrap();
    assert!(
        dispatched.len() >= 2 * (200 - failed),
        "{}",
        dispatched.len()
    );
    dispatched.sort();
    answered.sort();
    assert_eq!(dispatched, answered, "a dispatched call went unanswered");
}

// --- Fallback and the circuit breaker, through the agent ---------------
//
// A router over two real adapters: deployment `a` (tried first) and `b`
// (its fallback), each on its own emulator. The router's documented policy
// (`forge_providers::router`): a retryable failure, an exhausted quota or a
// full queue falls back to the next deployment; anything else (auth, not
// found, invalid request, a malformed answer) is returned at once; a stream
// falls back only before its first content event. The breaker opens after
// `failure_threshold` consecutive retryable failures or at once on an
// exhausted quota, and after the cooldown lets one probe through.

fn breaker_name(state: Option<BreakerState>) -> &'static str {
    match state {
        Some(BreakerState::Closed) => "closed",
        Some(BreakerState::Open { .. }) => "open",
        Some(BreakerState::HalfOpen) => "half_open",
        _ => "unknown",
    }
}

fn two_way_router(
    a: Arc<dyn forge_core::Model>,
    b: Arc<dyn forge_core::Model>,
    breaker: BreakerConfig,
) -> Arc<Router> {
    let router = Router::builder()
        .deployment("a", a)
        .deployment("b", b)
        .fallback(["b"])
        .breaker(breaker)
        .build()
        .unwrap();
    Arc::new(router)
}

/// One conversation where `a` fails every attempt of the first turn with
/// `fault` (striking at frame `at`, or midway) and `b` is healthy: the end
/// state, the requests each emulator got, and `a`'s breaker afterwards. The
/// threshold is out of reach, so only an exhausted quota opens the breaker.
async fn fallback_case(provider: ProviderKind, fault: FaultKind, at: Option<usize>) -> String {
    let a = emulator(fault, 8, at).await;
    let b = emulator(fault, 0, None).await;
    let breaker = BreakerConfig::new().failure_threshold(100);
    let router = two_way_router(adapter(provider, &a), adapter(provider, &b), breaker);
    let outcome = agent(router.clone())
        .run(Conversation::new("Add 2 and 3.").with_id("c"))
        .await;
    let (a_requests, b_requests) = (a.requests(), b.requests());
    a.shutdown().await;
    b.shutdown().await;
    let breaker = breaker_name(router.breaker_state("a"));
    format!(
        "{} a{a_requests} b{b_requests} {breaker}",
        end_state(outcome)
    )
}

/// One row: the fault striking midway (after the first content for the
/// mid-stream kinds), then striking before the first frame.
async fn fallback_row(provider: ProviderKind, fault: FaultKind) -> String {
    let midway = fallback_case(provider, fault, None).await;
    let early = fallback_case(provider, fault, Some(0)).await;
    format!("{fault} | {midway} | {early}")
}

async fn fallback_matrix(provider: ProviderKind) -> Vec<String> {
    let rows = FaultKind::ALL
        .iter()
        .map(|&fault| fallback_row(provider, fault));
    futures_util::future::join_all(rows).await
}

/// The rows the router's documented policy predicts.
///
/// `fell back`: `a` made its 3 attempts (1 + 2 adapter retries), `b`
/// answered the first turn, and the second turn went back to `a` (its
/// breaker is closed) — `a4 b1`. An exhausted quota is not retried, falls
/// back, and opens `a`'s breaker at once, so `b` serves both turns — `a1
/// b2`. A refused failure (and a failure after content) never reaches `b`.
fn fallback_expected(filtered: &str) -> Vec<String> {
    let fell_back = "answer a4 b1 closed".to_owned();
    let both = |cell: &str| format!("{cell} | {cell}");
    let refused = |kind: &str| both(&format!("{kind} a1 b0 closed"));
    // Mid-stream: after content the failure is passed on; before the first
    // frame it is retried, then falls back.
    let midway = |kind: &str| format!("{kind} a1 b0 closed | {fell_back}");
    let final_empty = format!("final(\"\", Some({filtered})) a1 b0 closed");
    let rows = [
        ("rate_limited", both(&fell_back)),
        ("rate_limited_date", both(&fell_back)),
        ("rate_limited_ms", both(&fell_back)),
        ("quota_exhausted", both("answer a1 b2 open")),
        ("server_error", both(&fell_back)),
        ("unavailable", both(&fell_back)),
        ("gateway_timeout", both(&fell_back)),
        ("overloaded", both(&fell_back)),
        ("auth", refused("auth")),
        ("not_found", refused("not_found")),
        ("error_after_ok", midway("error_after_ok")),
        ("stream_truncated", midway("stream_truncated")),
        ("connection_reset", midway("stream_truncated")),
        ("no_response", both(&fell_back)),
        ("stall", midway("timeout")),
        ("malformed_chunk", refused("malformed_response")),
        ("oversized", refused("response_too_large")),
        ("content_filtered", both(&final_empty)),
    ];
    rows.into_iter()
        .map(|(fault, rest)| format!("{fault} | {rest}"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_fallback_matrix() {
    let observed = fallback_matrix(ProviderKind::Anthropic).await;
    check(&observed, &fallback_expected("Refusal"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_fallback_matrix() {
    let observed = fallback_matrix(ProviderKind::OpenAi).await;
    check(&observed, &fallback_expected("ContentFilter"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn google_fallback_matrix() {
    let observed = fallback_matrix(ProviderKind::Google).await;
    check(&observed, &fallback_expected("ContentFilter"));
}

/// An emulator whose conversations in `failing` fail every attempt of every
/// turn with a 500; the others call `add` (with some text first) and answer.
async fn breaker_emulator(failing: &[&str]) -> forge_emulator::EmulatorHandle {
    let mut script = Script::new();
    for id in ["c1", "c2", "c3", "c4", "c5"] {
        let mut first = ScriptTurn::new()
            .text("Adding.")
            .call("add", json!({"a": 2, "b": 3}));
        let mut second = ScriptTurn::new().text("The sum is 5.");
        if failing.contains(&id) {
            for _ in 0..8 {
                first = first.fault(FaultKind::ServerError);
                second = second.fault(FaultKind::ServerError);
            }
        }
        script.push(id, first);
        script.push(id, second);
    }
    Emulator::builder().script(script).start().await.unwrap()
}

/// Records `a`'s breaker state whenever answer text reaches the agent, i.e.
/// while the deployment serving that turn is streaming; consecutive repeats
/// within a turn are dropped.
struct BreakerWatch {
    router: Arc<Router>,
    seen: std::sync::Mutex<Vec<String>>,
}

impl forge_agent::EventSink for BreakerWatch {
    fn on_event(&self, event: &forge_agent::AgentEvent<'_>) {
        let mut seen = self.seen.lock().unwrap();
        match event {
            forge_agent::AgentEvent::TurnStarted { step } => seen.push(format!("turn{step}")),
            forge_agent::AgentEvent::TextDelta(_) => {
                let state = breaker_name(self.router.breaker_state("a")).to_owned();
                if seen.last() != Some(&state) {
                    seen.push(state);
                }
            }
            _ => {}
        }
    }
}

/// The breaker's whole cycle through the agent, with real durations: a
/// threshold of 2 and a cooldown of `COOLDOWN`, waited out by sleeping a
/// little longer (the test asserts counts and states, never times).
///
/// - `c1`: `a` fails turn 1 (2 requests: 1 + 1 retry) → `b`; turn 2 goes to
///   `a` again (1 failure < 2), fails → `a` opens, `b` answers.
/// - `c2`: `a` is open: skipped, not one request; `b` serves both turns.
/// - after the cooldown, `c3`: `a` gets the probe (half-open), which fails →
///   open again; `b` serves both turns.
/// - after the cooldown, `c4`: `a`'s probe succeeds (half-open while it
///   streams) → closed; `a` serves turn 2.
/// - `c5`: closed, `a` serves both turns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn breaker_opens_probes_and_closes_through_the_agent() {
    const COOLDOWN: Duration = Duration::from_millis(1500);
    let a = breaker_emulator(&["c1", "c3"]).await;
    let b = breaker_emulator(&[]).await;
    let mut a_deployment = deployment(ProviderKind::Anthropic, a.anthropic_url());
    a_deployment.retry.max_retries = 1;
    let a_model = forge_providers::connect(&a_deployment).unwrap();
    let breaker = BreakerConfig::new().failure_threshold(2).cooldown(COOLDOWN);
    let router = two_way_router(a_model, adapter(ProviderKind::Anthropic, &b), breaker);
    let agent = agent(router.clone());

    let mut seen = Vec::new();
    for id in ["c1", "c2", "c3", "c4", "c5"] {
        if id == "c3" || id == "c4" {
            tokio::time::sleep(COOLDOWN + Duration::from_millis(200)).await;
        }
        let watch = BreakerWatch {
            router: router.clone(),
            seen: std::sync::Mutex::new(Vec::new()),
        };
        let conversation = Conversation::new("Add 2 and 3.").with_id(id);
        let outcome = agent.run_with_events(conversation, &watch).await;
        let during = watch.seen.into_inner().unwrap().join(" ");
        let after = breaker_name(router.breaker_state("a"));
        seen.push(format!(
            "{id} {} a{} b{} [{during}] {after}",
            end_state(outcome),
            a.requests(),
            b.requests()
        ));
    }
    a.shutdown().await;
    b.shutdown().await;
    let expected = [
        "c1 answer a4 b2 [turn1 closed turn2 open] open",
        "c2 answer a4 b4 [turn1 open turn2 open] open",
        "c3 answer a6 b6 [turn1 open turn2 open] open",
        "c4 answer a8 b6 [turn1 half_open turn2 closed] closed",
        "c5 answer a10 b6 [turn1 closed turn2 closed] closed",
    ];
    check(&seen, &expected.map(String::from));
}
