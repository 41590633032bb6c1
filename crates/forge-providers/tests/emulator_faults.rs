//! Every forge-emulator fault, in every dialect, streamed and not, read by
//! the adapters. The emulator writes the wire formats independently of the
//! adapters, so this cross-checks one reading of brief §3 against another.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failure report"
)]

use std::time::Duration;

use forge_core::{
    Error, ErrorKind, Message, Model, ModelRequest, ModelResponse, ResponseBuilder, StopReason,
};
use forge_emulator::{Emulator, FaultKind, FaultSpec};
use forge_providers::{DeploymentConfig, ProviderKind};
use futures_util::StreamExt as _;

const PROVIDERS: [ProviderKind; 3] = [
    ProviderKind::Anthropic,
    ProviderKind::OpenAi,
    ProviderKind::Google,
];

async fn run(
    provider: ProviderKind,
    kind: FaultKind,
    stream: bool,
) -> Result<ModelResponse, Error> {
    let faults = FaultSpec::always(kind).with_retry_after(Duration::from_millis(40));
    let emu = Emulator::builder().faults(faults).start().await.unwrap();
    let mut d = DeploymentConfig::new(provider, "test-model");
    d.base_url = Some(match provider {
        ProviderKind::OpenAi => emu.openai_url(),
        ProviderKind::Anthropic => emu.anthropic_url(),
        _ => emu.gemini_url(),
    });
    d.retry.max_retries = 0;
    d.timeouts.first_chunk = Duration::from_millis(400);
    d.timeouts.idle = Duration::from_millis(400);
    d.timeouts.total = Some(Duration::from_secs(5));
    let model = forge_providers::connect(&d).unwrap();
    let request = ModelRequest::new(vec![Message::user("Hi")])
        .max_tokens(64)
        .conversation_id("faults");
    let result = if stream {
        collect(model.as_ref(), request).await
    } else {
        model.complete(request).await
    };
    emu.shutdown().await;
    result
}

async fn collect(model: &dyn Model, request: ModelRequest) -> Result<ModelResponse, Error> {
    let mut events = model.stream(request);
    let mut builder = ResponseBuilder::default();
    while let Some(event) = events.next().await {
        builder.push(event?);
    }
    Ok(builder
        .finish()
        .expect("a finished stream has a Finish event"))
}

/// Asserts what each fault must become.
fn check(
    provider: ProviderKind,
    kind: FaultKind,
    stream: bool,
    result: Result<ModelResponse, Error>,
) {
    let at = format!("{provider:?} {} stream={stream}", kind.as_str());
    if kind == FaultKind::ContentFiltered {
        let answer = result.unwrap_or_else(|e| panic!("{at}: {e}"));
        assert!(
            matches!(
                answer.stop_reason,
                StopReason::Refusal | StopReason::ContentFilter
            ),
            "{at}: {:?}",
            answer.stop_reason
        );
        return;
    }
    let error = match result {
        Ok(answer) => panic!("{at}: a fault became an answer: {answer:?}"),
        Err(e) => e,
    };
    let got = error.kind();
    match kind {
        FaultKind::RateLimited | FaultKind::RateLimitedDate | FaultKind::RateLimitedMs => {
            assert_eq!(got, ErrorKind::RateLimited, "{at}: {error}");
            assert!(error.retry_after().is_some(), "{at}: the wait is kept");
        }
        FaultKind::QuotaExhausted => {
            assert_eq!(got, ErrorKind::QuotaExhausted, "{at}: {error}");
            assert!(!error.is_retryable(), "{at}");
        }
        FaultKind::ServerError
        | FaultKind::Unavailable
        | FaultKind::GatewayTimeout
        | FaultKind::Overloaded => assert!(error.is_retryable(), "{at}: {error}"),
        FaultKind::Auth => assert_eq!(got, ErrorKind::Auth, "{at}: {error}"),
        FaultKind::NotFound => assert_eq!(got, ErrorKind::NotFound, "{at}: {error}"),
        FaultKind::NoResponse | FaultKind::Stall => {
            assert_eq!(got, ErrorKind::Timeout, "{at}: {error}");
        }
        FaultKind::ErrorAfterOk if stream => {
            assert_eq!(got, ErrorKind::ErrorAfterOk, "{at}: {error}");
        }
        FaultKind::StreamTruncated if stream => {
            assert_eq!(got, ErrorKind::StreamTruncated, "{at}: {error}");
        }
        FaultKind::MalformedChunk if stream => {
            assert_eq!(got, ErrorKind::MalformedResponse, "{at}: {error}");
        }
        // Cut or aborted bodies: any error, never an answer.
        _ => {}
    }
}

async fn every_fault(provider: ProviderKind) {
    for kind in FaultKind::ALL {
        if kind == FaultKind::Oversized {
            continue; // covered by tests/transport.rs with its own limits
        }
        for stream in [false, true] {
            let result = run(provider, kind, stream).await;
            check(provider, kind, stream, result);
        }
    }
}

#[tokio::test]
async fn anthropic_reads_every_emulator_fault() {
    every_fault(PROVIDERS[0]).await;
}

#[tokio::test]
async fn openai_reads_every_emulator_fault() {
    every_fault(PROVIDERS[1]).await;
}

#[tokio::test]
async fn gemini_reads_every_emulator_fault() {
    every_fault(PROVIDERS[2]).await;
}

#[tokio::test]
async fn a_clean_emulator_answers_in_every_dialect() {
    for provider in PROVIDERS {
        for stream in [false, true] {
            let emu = Emulator::builder().seed(7).start().await.unwrap();
            let mut d = DeploymentConfig::new(provider, "test-model");
            d.base_url = Some(match provider {
                ProviderKind::OpenAi => emu.openai_url(),
                ProviderKind::Anthropic => emu.anthropic_url(),
                _ => emu.gemini_url(),
            });
            d.retry.max_retries = 0;
            let model = forge_providers::connect(&d).unwrap();
            let request = ModelRequest::new(vec![Message::user("Hi")]).max_tokens(64);
            let answer = if stream {
                collect(model.as_ref(), request).await
            } else {
                model.complete(request).await
            }
            .unwrap_or_else(|e| panic!("{provider:?} stream={stream}: {e}"));
            assert!(
                !answer.to_message().text().is_empty(),
                "{provider:?} stream={stream}"
            );
            emu.shutdown().await;
        }
    }
}

fn scripted(
    provider: ProviderKind,
    emu: &forge_emulator::EmulatorHandle,
) -> std::sync::Arc<dyn Model> {
    let mut d = DeploymentConfig::new(provider, "test-model");
    d.base_url = Some(match provider {
        ProviderKind::OpenAi => emu.openai_url(),
        ProviderKind::Anthropic => emu.anthropic_url(),
        _ => emu.gemini_url(),
    });
    d.retry.max_retries = 0;
    forge_providers::connect(&d).unwrap()
}

fn tools() -> Vec<forge_core::ToolSpec> {
    let object =
        |props: serde_json::Value| serde_json::json!({"type": "object", "properties": props});
    vec![
        forge_core::ToolSpec::new(
            "get_weather",
            "Weather",
            object(serde_json::json!({"city": {"type": "string"}})),
        ),
        forge_core::ToolSpec::new("list_files", "Files", object(serde_json::json!({}))),
    ]
}

#[tokio::test]
async fn emulator_parallel_calls_thinking_and_results_round_trip() {
    use forge_emulator::{Script, ScriptTurn};
    use serde_json::json;
    for provider in PROVIDERS {
        for stream in [false, true] {
            let mut script = Script::new();
            script.push(
                "c",
                ScriptTurn::new()
                    .thinking("Two lookups.")
                    .text("Checking.")
                    .call("get_weather", json!({"city": "Paris"}))
                    .call("list_files", json!({})),
            );
            script.push("c", ScriptTurn::new().text("All done."));
            let emu = Emulator::builder().script(script).start().await.unwrap();
            let model = scripted(provider, &emu);
            let at = format!("{provider:?} stream={stream}");
            let request = ModelRequest::new(vec![Message::user("Go")])
                .tools(tools())
                .max_tokens(256)
                .conversation_id("c");
            let first = if stream {
                collect(model.as_ref(), request.clone()).await
            } else {
                model.complete(request.clone()).await
            }
            .unwrap_or_else(|e| panic!("{at}: {e}"));
            let calls: Vec<_> = first.to_message().tool_calls().cloned().collect();
            assert_eq!(calls.len(), 2, "{at}: {calls:?}");
            assert_eq!(calls[0].name, "get_weather", "{at}");
            assert_eq!(
                serde_json::from_str::<serde_json::Value>(&calls[0].arguments).unwrap(),
                json!({"city": "Paris"}),
                "{at}"
            );
            assert_eq!(
                serde_json::from_str::<serde_json::Value>(&calls[1].arguments).unwrap(),
                json!({}),
                "{at}"
            );
            assert_ne!(calls[0].id, calls[1].id, "{at}");
            assert_eq!(first.stop_reason, StopReason::ToolUse, "{at}");
            let mut turn = request;
            turn.messages.push(first.to_message());
            turn.messages.push(Message::tool_results([
                forge_core::ToolResult::success(&calls[0], r#"{"temp_c":21}"#),
                forge_core::ToolResult::success(&calls[1], "a.txt"),
            ]));
            let second = if stream {
                collect(model.as_ref(), turn).await
            } else {
                model.complete(turn).await
            }
            .unwrap_or_else(|e| panic!("{at} second turn: {e}"));
            assert_eq!(second.to_message().text(), "All done.", "{at}");
            emu.shutdown().await;
        }
    }
}

#[tokio::test]
async fn emulator_max_tokens_inside_a_call_is_marked_truncated() {
    use forge_emulator::{Script, ScriptTurn};
    use serde_json::json;
    for provider in PROVIDERS {
        for stream in [false, true] {
            let mut script = Script::new();
            script.push(
                "m",
                ScriptTurn::new()
                    .call(
                        "get_weather",
                        json!({"city": "Paris, the capital of France"}),
                    )
                    .stop_at_max_tokens(),
            );
            let emu = Emulator::builder().script(script).start().await.unwrap();
            let model = scripted(provider, &emu);
            let at = format!("{provider:?} stream={stream}");
            let request = ModelRequest::new(vec![Message::user("Go")])
                .tools(tools())
                .max_tokens(256)
                .conversation_id("m");
            let answer = if stream {
                collect(model.as_ref(), request).await
            } else {
                model.complete(request).await
            }
            .unwrap_or_else(|e| panic!("{at}: {e}"));
            assert_eq!(answer.stop_reason, StopReason::MaxTokens, "{at}");
            for call in answer.to_message().tool_calls() {
                assert!(call.truncated, "{at}: {call:?}");
                if stream {
                    // A whole Anthropic answer can only carry an object
                    // (`{}`); the truncated flag is what stops it running.
                    assert_ne!(call.arguments, "{}", "{at}");
                }
            }
            emu.shutdown().await;
        }
    }
}
