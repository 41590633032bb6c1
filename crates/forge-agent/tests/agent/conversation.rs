//! The agent loop against a scripted model double (no sockets).

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use crate::support::{Add, Done, PolicyModel, ScriptedModel, Slow, Turn, answer, calls};
use forge_agent::{Agent, AgentEvent, Conversation, StopCause};
use forge_core::{Content, Error as CoreError, ErrorKind, Message, Role, ToolOutcome};
use forge_dispatch::{Dispatcher, Registry};

fn agent(model: Arc<ScriptedModel>) -> forge_agent::AgentBuilder {
    let registry = Registry::builder().tool(Add).tool(Done).build().unwrap();
    Agent::builder(model, Dispatcher::builder(registry).build())
}

fn tool_results(message: &Message) -> Vec<(String, ToolOutcome)> {
    message
        .content
        .iter()
        .filter_map(|c| match c {
            Content::ToolResult(r) => Some((r.call_id.clone(), r.outcome.clone())),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn parallel_calls_are_answered_before_the_next_model_call() {
    let model = ScriptedModel::new(vec![
        calls(&[
            ("c1", "add", r#"{"a":1,"b":2}"#),
            ("c2", "add", r#"{"a":40,"b":2}"#),
        ]),
        answer("3 and 42"),
    ]);
    let output = agent(model.clone())
        .build()
        .run(Conversation::new("add"))
        .await
        .unwrap();

    assert_eq!(output.stop, StopCause::FinalAnswer);
    assert_eq!(output.text, "3 and 42");
    assert_eq!(output.turns.len(), 2);
    assert_eq!(output.tool_calls, 2);
    let second = model.request(1);
    let last = second.messages.last().unwrap();
    assert_eq!(last.role, Role::Tool);
    let results = tool_results(last);
    assert_eq!(results.len(), 2);
    assert_eq!(
        results[0],
        ("c1".into(), ToolOutcome::Success { output: "3".into() })
    );
    assert_eq!(
        results[1],
        (
            "c2".into(),
            ToolOutcome::Success {
                output: "42".into()
            }
        )
    );
    assert_eq!(output.usage.total(), 30);
}

#[tokio::test]
async fn wrong_typed_argument_reaches_the_model_as_an_error_naming_the_field() {
    let model = ScriptedModel::new(vec![
        calls(&[("c1", "add", r#"{"a":"one","b":2}"#)]),
        calls(&[("c2", "add", r#"{"a":1,"b":2}"#)]),
        answer("3"),
    ]);
    let output = agent(model.clone())
        .build()
        .run(Conversation::new("add"))
        .await
        .unwrap();

    let retry = model.request(1);
    let results = tool_results(retry.messages.last().unwrap());
    let ToolOutcome::Failure { kind, message } = &results[0].1 else {
        panic!("expected a failure, got {:?}", results[0]);
    };
    assert_eq!(*kind, ErrorKind::InvalidArguments);
    assert!(
        message.contains('a'),
        "the message names the field: {message}"
    );
    assert_eq!(output.invalid_calls, 1);
    assert_eq!(output.stop, StopCause::FinalAnswer);
}

#[tokio::test]
async fn per_call_retry_budget_ends_the_run() {
    let bad = r#"{"a":"x","b":2}"#;
    let model = ScriptedModel::new(vec![
        calls(&[("c1", "add", bad)]),
        calls(&[("c2", "add", bad)]),
        answer("unreachable"),
    ]);
    let agent = agent(model.clone()).invalid_retries_per_call(1).build();
    let error = agent.run(Conversation::new("add")).await.unwrap_err();

    assert_eq!(error.kind(), ErrorKind::InvalidArguments);
    assert!(error.is_retry_budget_exhausted());
    assert_eq!(error.steps(), 2);
    assert_eq!(model.requests.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn unknown_tools_count_against_the_run_budget() {
    let model = ScriptedModel::new(vec![
        calls(&[("c1", "nope", "{}"), ("c2", "nada", "{}")]),
        answer("unreachable"),
    ]);
    let agent = agent(model).invalid_retries_per_run(1).build();
    let error = agent.run(Conversation::new("x")).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::UnknownTool);
}

#[tokio::test]
async fn step_limit_answers_the_last_calls_without_running_them() {
    let model = ScriptedModel::new(vec![
        calls(&[("c1", "add", r#"{"a":1,"b":1}"#)]),
        calls(&[("c2", "add", r#"{"a":2,"b":2}"#)]),
    ]);
    let output = agent(model)
        .max_steps(2)
        .build()
        .run(Conversation::new("x"))
        .await
        .unwrap();

    assert_eq!(output.stop, StopCause::StepLimit);
    let last = tool_results(output.messages.last().unwrap());
    assert!(matches!(
        &last[0],
        (id, ToolOutcome::Failure { kind: ErrorKind::Cancelled, .. }) if id == "c2"
    ));
}

#[tokio::test]
async fn a_stop_tool_ends_the_run_with_its_result() {
    let model = ScriptedModel::new(vec![calls(&[
        ("c1", "add", r#"{"a":1,"b":1}"#),
        ("c2", "done", "{}"),
    ])]);
    let output = agent(model)
        .stop_on_tool("done")
        .build()
        .run(Conversation::new("x"))
        .await
        .unwrap();

    let StopCause::StopTool(result) = &output.stop else {
        panic!("expected a stop tool, got {:?}", output.stop);
    };
    assert_eq!(result.content(), "\"finished\"");
    assert_eq!(tool_results(output.messages.last().unwrap()).len(), 2);
}

#[tokio::test]
async fn token_budget_stops_the_run() {
    let model = ScriptedModel::new(vec![calls(&[("c1", "add", r#"{"a":1,"b":1}"#)])]);
    let output = agent(model)
        .token_budget(15)
        .build()
        .run(Conversation::new("x"))
        .await
        .unwrap();
    assert_eq!(output.stop, StopCause::TokenBudget);
    assert_eq!(output.turns.len(), 1);
}

#[tokio::test]
async fn model_failures_keep_their_kind() {
    let error = CoreError::new(ErrorKind::RateLimited, "slow down");
    let model = ScriptedModel::new(vec![Turn::Fail(error)]);
    let error = agent(model)
        .build()
        .run(Conversation::new("x"))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::RateLimited);
    assert!(error.is_model());
    assert!(std::error::Error::source(&error).is_some());
}

#[tokio::test]
async fn a_stream_without_finish_is_truncated() {
    let text = forge_core::StreamEvent::TextDelta {
        text: "par".into(),
        signature: None,
    };
    let model = ScriptedModel::new(vec![Turn::Events(vec![text])]);
    let error = agent(model)
        .build()
        .run(Conversation::new("x"))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::StreamTruncated);
}

#[tokio::test]
async fn events_arrive_in_order() {
    let model = ScriptedModel::new(vec![
        calls(&[
            ("c1", "add", r#"{"a":1,"b":2}"#),
            ("c2", "add", r#"{"a":3,"b":4}"#),
        ]),
        answer("done"),
    ]);
    let seen = Mutex::new(Vec::new());
    let sink = |event: &AgentEvent<'_>| {
        let name = match event {
            AgentEvent::TurnStarted { step } => format!("turn {step}"),
            AgentEvent::TextDelta(text) => format!("text {text}"),
            AgentEvent::ToolCallStarted { id, .. } => format!("start {id}"),
            AgentEvent::ToolDispatched(call) => format!("dispatch {}", call.id),
            AgentEvent::ToolResult(result) => format!("result {}", result.call_id),
            AgentEvent::TurnFinished(report) => format!("finished {}", report.step),
            _ => "other".into(),
        };
        seen.lock().unwrap().push(name);
    };
    let agent = agent(model).build();
    agent
        .run_with_events(Conversation::new("x").with_id("conv-1"), &sink)
        .await
        .unwrap();

    let expected = [
        "turn 1",
        "start c1",
        "start c2",
        "finished 1",
        "dispatch c1",
        "dispatch c2",
        "result c1",
        "result c2",
        "turn 2",
        "text done",
        "finished 2",
    ];
    assert_eq!(*seen.lock().unwrap(), expected);
}

#[tokio::test]
async fn requests_carry_the_conversation_settings() {
    let model = ScriptedModel::new(vec![answer("hi")]);
    let agent = agent(model.clone())
        .system("be brief")
        .max_tokens(64)
        .build();
    agent
        .run(Conversation::new("x").with_id("conv-7"))
        .await
        .unwrap();

    let request = model.request(0);
    assert_eq!(request.conversation_id.as_deref(), Some("conv-7"));
    assert_eq!(request.system.as_deref(), Some("be brief"));
    assert_eq!(request.max_tokens, Some(64));
    assert_eq!(request.tools.len(), 2);
}

#[tokio::test(start_paused = true)]
async fn dropping_a_conversation_cancels_its_tool_calls() {
    let dropped = Arc::new(AtomicBool::new(false));
    let registry = Registry::builder()
        .tool(Slow {
            dropped: dropped.clone(),
        })
        .build()
        .unwrap();
    let model = ScriptedModel::new(vec![calls(&[("c1", "slow", "{}")]), answer("late")]);
    let agent = Agent::builder(model, Dispatcher::builder(registry).build()).build();

    let run = agent.run(Conversation::new("x"));
    let outcome = tokio::time::timeout(Duration::from_secs(1), run).await;

    assert!(outcome.is_err(), "the run was still waiting on its tool");
    assert!(
        dropped.load(Ordering::SeqCst),
        "the tool's future was dropped"
    );
}

#[test]
fn a_thousand_conversations_run_concurrently_on_two_threads() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    let model = Arc::new(PolicyModel::default());
    let registry = Registry::builder().tool(Add).build().unwrap();
    let agent = Agent::builder(model.clone(), Dispatcher::builder(registry).build()).build();
    let answers = runtime.block_on(async move {
        let tasks: Vec<_> = (0..1000)
            .map(|i| {
                let agent = agent.clone();
                tokio::spawn(async move {
                    let conversation = Conversation::new(format!("{i}")).with_id(format!("c{i}"));
                    agent.run(conversation).await.map(|output| output.text)
                })
            })
            .collect();
        let mut answers = Vec::new();
        for task in tasks {
            answers.push(task.await.unwrap().unwrap());
        }
        answers
    });
    for (i, text) in answers.iter().enumerate() {
        assert_eq!(
            *text,
            format!("{}", i + 1),
            "conversation {i} got its own result"
        );
    }
    assert_eq!(model.calls.load(Ordering::SeqCst), 2000);
}
