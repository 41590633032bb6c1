//! Brief §3 / §8 quirks not already pinned by the conformance suite or
//! `requests.rs`, each against a real 127.0.0.1 server serving raw bytes
//! written by hand from the brief (no adapter wire types).

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failure report"
)]

mod anthropic;
mod gemini;
mod openai;
#[path = "../support/mod.rs"]
mod support;

use anthropic::{A_START, a_finish, a_stop, ev};
use openai::o_chunk;

use std::time::Duration;

use forge_core::{
    Error, ErrorKind, Message, Model, ModelRequest, ModelResponse, ResponseBuilder, StopReason,
    StreamEvent, ToolCall, ToolResult, ToolSpec,
};
use forge_providers::{DeploymentConfig, ProviderKind};
use futures_util::StreamExt as _;
use serde_json::{Value, json};
use support::{Reply, Server};

fn deployment(kind: ProviderKind, server: &Server) -> DeploymentConfig {
    let mut d = DeploymentConfig::new(kind, "test-model");
    let base = match kind {
        ProviderKind::OpenAi => format!("http://{}/v1", server.addr),
        _ => format!("http://{}", server.addr),
    };
    d.base_url = Some(base);
    d.retry.max_retries = 0;
    d.timeouts.first_chunk = Duration::from_secs(5);
    d
}

fn model(kind: ProviderKind, server: &Server) -> std::sync::Arc<dyn Model> {
    forge_providers::connect(&deployment(kind, server)).unwrap()
}

/// A model that retries twice with a 1 ms backoff, to count what is retried.
fn retrying_model(kind: ProviderKind, server: &Server) -> std::sync::Arc<dyn Model> {
    let mut d = deployment(kind, server);
    d.retry.max_retries = 2;
    d.retry.initial_backoff = Duration::from_millis(1);
    forge_providers::connect(&d).unwrap()
}

/// Streams `request`, returning the folded answer and every event.
async fn stream(
    model: &dyn Model,
    request: ModelRequest,
) -> Result<(ModelResponse, Vec<StreamEvent>), Error> {
    let mut events = model.stream(request);
    let mut seen = Vec::new();
    let mut builder = ResponseBuilder::default();
    while let Some(event) = events.next().await {
        let event = event?;
        seen.push(event.clone());
        builder.push(event);
    }
    Ok((builder.finish().expect("a Finish event"), seen))
}

fn ask() -> ModelRequest {
    ModelRequest::new(vec![Message::user("q")])
}

fn dotted() -> ToolSpec {
    ToolSpec::new(
        "math_toolkit.sum_of_multiples",
        "Sums multiples.",
        json!({"type": "object", "properties": {"limit": {"type": "integer"}}}),
    )
}

fn calls(response: &ModelResponse) -> Vec<ToolCall> {
    response.to_message().tool_calls().cloned().collect()
}

fn args(call: &ToolCall) -> Value {
    serde_json::from_str(&call.arguments).unwrap()
}

/// The name the adapter puts on the wire for the dotted tool.
async fn wire_name(kind: ProviderKind) -> String {
    let server = Server::start(vec![Reply::json(200, "{}")]).await;
    let _ = model(kind, &server)
        .complete(ask().tools(vec![dotted()]))
        .await;
    let body = &server.seen()[0].body;
    let name = match kind {
        ProviderKind::OpenAi => &body["tools"][0]["function"]["name"],
        _ => &body["tools"][0]["name"],
    };
    let name = name.as_str().unwrap().to_owned();
    assert!(
        name.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
        "{name}"
    );
    name
}

// ----------------------------------------------------- across the dialects

#[tokio::test]
async fn an_error_body_with_http_200_is_an_error_never_an_empty_answer() {
    let openai = r#"{"error":{"message":"The server had an error while processing your request.","type":"server_error","param":null,"code":null}}"#;
    let anthropic =
        r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
    let gemini =
        r#"{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}"#;
    for (kind, body) in [
        (ProviderKind::OpenAi, openai),
        (ProviderKind::Anthropic, anthropic),
        (ProviderKind::Google, gemini),
    ] {
        let server = Server::start(vec![Reply::json(200, body)]).await;
        let result = model(kind, &server).complete(ask()).await;
        let error = result.expect_err("an error body is not an answer");
        assert_eq!(error.kind(), ErrorKind::ErrorAfterOk, "{kind:?}");
        assert!(error.is_retryable(), "{kind:?}");
    }
}

#[tokio::test]
async fn openai_history_calls_and_results_use_the_mapped_name() {
    let call = ToolCall::new("call_1", "math_toolkit.sum_of_multiples", "");
    let request = ModelRequest::new(vec![
        Message::user("q"),
        Message::assistant(vec![forge_core::Content::ToolCall(call.clone())]),
        Message::tool_results([ToolResult::success(&call, "30")]),
    ])
    .tools(vec![dotted()]);
    let server = Server::start(vec![Reply::json(200, "{}")]).await;
    let _ = model(ProviderKind::OpenAi, &server).complete(request).await;
    let body = &server.seen()[0].body;
    let wire = body["tools"][0]["function"]["name"].as_str().unwrap();
    assert_ne!(wire, "math_toolkit.sum_of_multiples");
    let assistant = &body["messages"][1];
    assert_eq!(assistant["tool_calls"][0]["function"]["name"], wire);
    assert_eq!(assistant["tool_calls"][0]["function"]["arguments"], "{}");
    assert_eq!(body["messages"][2]["tool_call_id"], "call_1");
}

#[tokio::test]
async fn anthropic_unknown_event_types_are_ignored_whatever_their_fields() {
    // A future event whose fields clash in shape with known ones.
    let body = ev("message_start", A_START)
        + &ev(
            "future_event",
            r#"{"type":"future_event","message":"a string","index":"x","delta":[1],"usage":7}"#,
        )
        + &ev(
            "content_block_start",
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
        )
        + &ev(
            "content_block_delta",
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"ok"}}"#,
        )
        + &a_stop(0)
        + &a_finish("end_turn");
    let server = Server::start(vec![Reply::sse(&[&body])]).await;
    let (answer, _) = stream(model(ProviderKind::Anthropic, &server).as_ref(), ask())
        .await
        .unwrap();
    assert_eq!(answer.to_message().text(), "ok");
}

#[tokio::test]
async fn a_silent_server_times_out_a_non_streamed_call_too() {
    let server = Server::start(vec![Reply::silent()]).await;
    let mut d = deployment(ProviderKind::OpenAi, &server);
    d.timeouts.first_chunk = Duration::from_millis(150);
    d.timeouts.total = None;
    let started = std::time::Instant::now();
    let error = forge_providers::connect(&d)
        .unwrap()
        .complete(ask())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Timeout);
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn a_body_that_stalls_after_the_headers_hits_the_idle_timeout() {
    let ok = r#"{"id":"c","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"x"},"finish_reason":"stop"}]}"#;
    let (a, b) = ok.split_at(20);
    let mut reply = Reply::json(200, a);
    reply
        .pieces
        .push((Duration::from_secs(30), bytes::Bytes::from(b.to_owned())));
    let server = Server::start(vec![reply]).await;
    let mut d = deployment(ProviderKind::OpenAi, &server);
    d.timeouts.idle = Duration::from_millis(150);
    d.timeouts.total = None;
    let error = forge_providers::connect(&d)
        .unwrap()
        .complete(ask())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Timeout);
}

#[tokio::test]
async fn openai_empty_finish_reason_throughout_still_ends_a_tool_turn() {
    let body = o_chunk(
        r#"{"role":"assistant","tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get_time","arguments":"{}"}}]}"#,
        r#""""#,
    ) + &o_chunk("{}", r#""""#)
        + "data: [DONE]\n\n";
    let server = Server::start(vec![Reply::sse(&[&body])]).await;
    let (answer, _) = stream(model(ProviderKind::OpenAi, &server).as_ref(), ask())
        .await
        .unwrap();
    assert_eq!(calls(&answer).len(), 1);
    assert_eq!(answer.stop_reason, StopReason::ToolUse);
}
