//! Hostile tool calls through the whole agent loop: a scripted model sends
//! them, the real dispatcher answers them, and the next model request must
//! carry one clear, model-visible answer per call while the conversation
//! (and the process) carries on.

#![allow(
    clippy::unwrap_used,
    reason = "tests: a panic is a failure with a line"
)]

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
    time::Duration,
};

use forge_agent::{Agent, Conversation, StopCause};
use forge_core::{
    BoxFuture, Content, DynTool, Error, ErrorKind, EventStream, Model, ModelRequest, ModelResponse,
    StopReason, StreamEvent, Tool, ToolCall, ToolOptions, ToolResult, ToolSpec, Usage,
};
use forge_dispatch::{Dispatcher, Registry};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

/// A model that replays scripted turns and records every request.
struct Scripted {
    turns: Mutex<VecDeque<Vec<StreamEvent>>>,
    requests: Mutex<Vec<ModelRequest>>,
}

impl Scripted {
    fn new(turns: Vec<Vec<StreamEvent>>) -> Arc<Self> {
        Arc::new(Self {
            turns: Mutex::new(turns.into()),
            requests: Mutex::default(),
        })
    }

    /// The tool results the model was sent in request `index`.
    fn results_seen(&self, index: usize) -> Vec<ToolResult> {
        let requests = self.requests.lock().unwrap();
        let last = requests[index].messages.last().unwrap();
        let results = last.content.iter().filter_map(|c| match c {
            Content::ToolResult(r) => Some(r.clone()),
            _ => None,
        });
        results.collect()
    }
}

impl Model for Scripted {
    fn complete(&self, _request: ModelRequest) -> BoxFuture<'_, Result<ModelResponse, Error>> {
        unimplemented!("the agent streams")
    }

    fn stream(&self, request: ModelRequest) -> EventStream<'_> {
        self.requests.lock().unwrap().push(request);
        let events = self.turns.lock().unwrap().pop_front().unwrap();
        Box::pin(futures_util::stream::iter(events.into_iter().map(Ok)))
    }
}

fn tool_turn(calls: &[ToolCall]) -> Vec<StreamEvent> {
    let mut events = vec![StreamEvent::Start {
        id: None,
        model: None,
    }];
    for call in calls {
        events.push(StreamEvent::ToolCallStart {
            id: call.id.clone(),
            name: call.name.clone(),
        });
        events.push(StreamEvent::ToolCall(call.clone()));
    }
    events.push(StreamEvent::Usage(Usage::new(10, 5)));
    events.push(StreamEvent::Finish {
        stop_reason: StopReason::ToolUse,
    });
    events
}

fn answer_turn() -> Vec<StreamEvent> {
    vec![
        StreamEvent::Start {
            id: None,
            model: None,
        },
        StreamEvent::TextDelta {
            text: "done".into(),
            signature: None,
        },
        StreamEvent::Finish {
            stop_reason: StopReason::EndTurn,
        },
    ]
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct LookupArgs {
    query: String,
    limit: u32,
}

/// A well-behaved typed tool.
struct Lookup;

impl Tool for Lookup {
    type Args = LookupArgs;
    type Output = String;

    fn name(&self) -> &str {
        "lookup"
    }

    fn description(&self) -> &str {
        "Looks a word up."
    }

    async fn call(&self, args: LookupArgs) -> Result<String, Error> {
        Ok(format!("{}x{}", args.query, args.limit))
    }
}

#[derive(Deserialize, JsonSchema)]
struct NoArgs {}

/// Panics in its handler.
struct Boom;

impl Tool for Boom {
    type Args = NoArgs;
    type Output = u8;

    fn name(&self) -> &str {
        "boom"
    }

    fn description(&self) -> &str {
        "Panics."
    }

    async fn call(&self, _args: NoArgs) -> Result<u8, Error> {
        panic!("boom handler panicked on purpose")
    }
}

/// Never returns; its timeout is short.
struct Hang;

impl Tool for Hang {
    type Args = NoArgs;
    type Output = u8;

    fn name(&self) -> &str {
        "hang"
    }

    fn description(&self) -> &str {
        "Never returns."
    }

    fn options(&self) -> ToolOptions {
        ToolOptions::default().timeout(Duration::from_millis(200))
    }

    async fn call(&self, _args: NoArgs) -> Result<u8, Error> {
        std::future::pending().await
    }
}

/// Returns 100 MiB of JSON.
struct Huge;

impl Tool for Huge {
    type Args = NoArgs;
    type Output = String;

    fn name(&self) -> &str {
        "huge"
    }

    fn description(&self) -> &str {
        "Returns 100 MiB."
    }

    async fn call(&self, _args: NoArgs) -> Result<String, Error> {
        Ok("x".repeat(100 << 20))
    }
}

/// A dynamic tool checked by JSON Schema.
struct Echo(ToolSpec);

impl DynTool for Echo {
    fn spec(&self) -> &ToolSpec {
        &self.0
    }

    fn call(&self, args: Value) -> BoxFuture<'_, Result<Value, Error>> {
        Box::pin(async move { Ok(args["text"].clone()) })
    }
}

fn echo() -> Arc<dyn DynTool> {
    let schema = json!({
        "type": "object",
        "properties": { "text": { "type": "string" } },
        "required": ["text"],
        "additionalProperties": false
    });
    Arc::new(Echo(ToolSpec::new("echo", "Repeats text.", schema)))
}

fn agent(model: Arc<Scripted>) -> Agent {
    let registry = Registry::builder()
        .tool(Lookup)
        .tool(Boom)
        .tool(Hang)
        .tool(Huge)
        .dyn_tool(echo())
        .build()
        .unwrap();
    let dispatcher = Dispatcher::builder(registry).build();
    Agent::builder(model, dispatcher)
        .invalid_retries_per_call(1000)
        .invalid_retries_per_run(1000)
        .build()
}

/// One hostile call: its arguments, the kind it must fail with (`None` =
/// success) and words its model-visible message must contain.
struct Case {
    name: &'static str,
    call: ToolCall,
    kind: Option<ErrorKind>,
    needles: &'static [&'static str],
}

fn case(
    name: &'static str,
    tool: &str,
    args: String,
    kind: Option<ErrorKind>,
    needles: &'static [&'static str],
) -> Case {
    Case {
        name,
        call: ToolCall::new(name, tool, args),
        kind,
        needles,
    }
}

fn hostile_cases() -> Vec<Case> {
    use ErrorKind::*;
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let ten_mib = format!(r#"{{"query":"{}","limit":1}}"#, "a".repeat(10 << 20));
    let s = |t: &str| t.to_owned();
    vec![
        case(
            "good_before",
            "lookup",
            s(r#"{"query":"a","limit":2}"#),
            None,
            &["ax2"],
        ),
        case(
            "invalid_json",
            "lookup",
            s(r#"{"query":"a","#),
            Some(InvalidArguments),
            &["not valid JSON"],
        ),
        case(
            "wrong_type",
            "lookup",
            s(r#"{"query":7,"limit":1}"#),
            Some(InvalidArguments),
            &["/query"],
        ),
        case(
            "wrong_type_dyn",
            "echo",
            s(r#"{"text":7}"#),
            Some(InvalidArguments),
            &["/text"],
        ),
        case(
            "missing_field",
            "lookup",
            s(r#"{"query":"a"}"#),
            Some(InvalidArguments),
            &["limit"],
        ),
        case(
            "unknown_field",
            "lookup",
            s(r#"{"query":"a","limit":1,"evil":1}"#),
            Some(InvalidArguments),
            &["evil"],
        ),
        case(
            "unknown_field_dyn",
            "echo",
            s(r#"{"text":"a","evil":1}"#),
            Some(InvalidArguments),
            &["evil"],
        ),
        case(
            "ten_mib",
            "lookup",
            ten_mib,
            Some(ArgumentsTooLarge),
            &["over the limit"],
        ),
        case(
            "deep_nesting",
            "echo",
            format!(r#"{{"text":{deep}}}"#),
            Some(ArgumentsTooLarge),
            &["nested deeper"],
        ),
        case(
            "lone_surrogate",
            "lookup",
            s(r#"{"query":"\ud800","limit":1}"#),
            Some(InvalidArguments),
            &["escape"],
        ),
        case(
            "unknown_tool",
            "rm_rf",
            s("{}"),
            Some(UnknownTool),
            &["rm_rf", "lookup"],
        ),
        case("panics", "boom", s("{}"), Some(ToolPanicked), &["panic"]),
        case("never_returns", "hang", s("{}"), Some(Timeout), &["200ms"]),
        case(
            "returns_100_mib",
            "huge",
            s("{}"),
            Some(ResultTooLarge),
            &["over the limit"],
        ),
        case("good_after", "echo", s(r#"{"text":"hi"}"#), None, &["hi"]),
    ]
}

#[track_caller]
fn check(case: &Case, result: &ToolResult) {
    assert_eq!(result.call_id, case.call.id);
    assert_eq!(
        result.error_kind(),
        case.kind,
        "{}: {}",
        case.name,
        preview(result)
    );
    for needle in case.needles {
        assert!(
            result.content().contains(needle),
            "{}: {:?} lacks {needle:?}",
            case.name,
            preview(result)
        );
    }
    // Bounded: nothing near the hostile sizes goes back to the model.
    assert!(
        result.content().len() < 4096,
        "{}: {} bytes",
        case.name,
        result.content().len()
    );
}

fn preview(result: &ToolResult) -> &str {
    let content = result.content();
    &content[..content.floor_char_boundary(300)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_hostile_call_in_one_turn_is_answered_and_siblings_kept() {
    let cases = hostile_cases();
    let calls: Vec<ToolCall> = cases.iter().map(|c| c.call.clone()).collect();
    let model = Scripted::new(vec![tool_turn(&calls), answer_turn()]);
    let output = agent(model.clone())
        .run(Conversation::new("go"))
        .await
        .unwrap();

    assert!(matches!(output.stop, StopCause::FinalAnswer));
    assert_eq!(output.text, "done");
    let seen = model.results_seen(1);
    assert_eq!(seen.len(), cases.len(), "every call id answered once");
    for (case, result) in cases.iter().zip(&seen) {
        check(case, result);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_hostile_call_alone_is_answered() {
    // One turn per case, so a failure in one stage cannot hide behind another.
    for case in hostile_cases() {
        let model = Scripted::new(vec![
            tool_turn(std::slice::from_ref(&case.call)),
            answer_turn(),
        ]);
        let output = agent(model.clone())
            .run(Conversation::new("go"))
            .await
            .unwrap();
        assert!(
            matches!(output.stop, StopCause::FinalAnswer),
            "{}",
            case.name
        );
        let seen = model.results_seen(1);
        assert_eq!(seen.len(), 1, "{}", case.name);
        check(&case, &seen[0]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_call_ids_are_each_answered() {
    let calls = [
        ToolCall::new("dup", "lookup", r#"{"query":"a","limit":1}"#),
        ToolCall::new("other", "lookup", r#"{"query":"b","limit":1}"#),
        ToolCall::new("dup", "lookup", r#"{"query":"c","limit":1}"#),
    ];
    let model = Scripted::new(vec![tool_turn(&calls), answer_turn()]);
    agent(model.clone())
        .run(Conversation::new("go"))
        .await
        .unwrap();
    let seen = model.results_seen(1);
    let ids: Vec<&str> = seen.iter().map(|r| r.call_id.as_str()).collect();
    assert_eq!(ids, ["dup", "other", "dup"]);
    assert_eq!(seen[0].content(), r#""ax1""#);
    assert_eq!(seen[1].content(), r#""bx1""#);
    assert_eq!(seen[2].error_kind(), Some(ErrorKind::DuplicateCallId));
    assert!(seen[2].content().contains("`dup`"), "{}", seen[2].content());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_call_is_answered_not_run() {
    let call = ToolCall::new("t", "lookup", r#"{"query":"a","li"#).into_truncated();
    let model = Scripted::new(vec![tool_turn(&[call]), answer_turn()]);
    agent(model.clone())
        .run(Conversation::new("go"))
        .await
        .unwrap();
    let seen = model.results_seen(1);
    assert_eq!(seen[0].error_kind(), Some(ErrorKind::TruncatedCall));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_hostile_turns_end_in_a_typed_error_with_every_id_answered() {
    // The default budget (2 per tool in a row, 4 per run) ends a model that
    // keeps sending garbage; the transcript up to then answers every id.
    let bad = |id: &str| ToolCall::new(id, "lookup", "{not json");
    let turns = (0..8)
        .map(|i| tool_turn(&[bad(&format!("b{i}"))]))
        .collect();
    let model = Scripted::new(turns);
    let registry = Registry::builder().tool(Lookup).build().unwrap();
    let agent = Agent::builder(model.clone(), Dispatcher::builder(registry).build()).build();
    let error = agent.run(Conversation::new("go")).await.unwrap_err();
    assert!(error.is_retry_budget_exhausted(), "{error}");
    assert_eq!(error.kind(), ErrorKind::InvalidArguments);
    let requests = model.requests.lock().unwrap().len();
    for index in 1..requests {
        assert_eq!(model.results_seen(index).len(), 1);
    }
}

/// 10 MiB of arguments through a real adapter and socket: the emulator
/// streams the call, and whichever limit comes first (the adapter's SSE
/// event limit, or the dispatcher's argument limit) ends it with a clear,
/// typed outcome; nothing hangs or panics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_mib_arguments_over_a_real_stream_hit_a_limit() {
    use forge_emulator::{Emulator, Script, ScriptTurn};

    let args = format!(r#"{{"query":"{}","limit":1}}"#, "a".repeat(10 << 20));
    let mut script = Script::new();
    script.push("big", ScriptTurn::new().raw_call("lookup", args));
    script.push("big", ScriptTurn::new().text("ok"));
    let emulator = Emulator::builder().script(script).start().await.unwrap();
    for kind in [
        forge_providers::ProviderKind::Anthropic,
        forge_providers::ProviderKind::OpenAi,
        forge_providers::ProviderKind::Google,
    ] {
        let dialect = match kind {
            forge_providers::ProviderKind::Anthropic => forge_emulator::Dialect::Anthropic,
            forge_providers::ProviderKind::OpenAi => forge_emulator::Dialect::OpenAi,
            _ => forge_emulator::Dialect::Gemini,
        };
        let mut deployment = forge_providers::DeploymentConfig::new(kind, "emulated");
        deployment.base_url = Some(emulator.base_url(dialect));
        deployment.retry.max_retries = 0;
        let model = forge_providers::connect(&deployment).unwrap();
        let registry = Registry::builder().tool(Lookup).build().unwrap();
        let agent = Agent::builder(model, Dispatcher::builder(registry).build()).build();
        let outcome = agent.run(Conversation::new("go").with_id("big")).await;
        match outcome {
            Err(error) => assert_eq!(
                error.kind(),
                ErrorKind::ResponseTooLarge,
                "{kind:?}: {error}"
            ),
            Ok(output) => {
                let result =
                    output
                        .messages
                        .iter()
                        .flat_map(|m| &m.content)
                        .find_map(|c| match c {
                            Content::ToolResult(r) => Some(r.clone()),
                            _ => None,
                        });
                let result = result.expect("the call was answered");
                assert_eq!(
                    result.error_kind(),
                    Some(ErrorKind::ArgumentsTooLarge),
                    "{kind:?}"
                );
            }
        }
    }
    emulator.shutdown().await;
}
