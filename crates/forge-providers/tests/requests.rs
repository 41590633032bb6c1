//! What each adapter puts on the wire, and dialect quirks not shared by the
//! conformance suite: signatures round-tripped, tool names mapped both
//! ways, every call answered, schemas converted, gateway variants accepted.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failure report"
)]

#[path = "support/mod.rs"]
mod support;

use std::time::Duration;

use forge_core::{
    Content, ErrorKind, Message, Model, ModelRequest, ModelResponse, ResponseBuilder, Thinking,
    ToolCall, ToolResult, ToolSpec,
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

async fn complete(d: &DeploymentConfig, request: ModelRequest) -> ModelResponse {
    forge_providers::connect(d)
        .unwrap()
        .complete(request)
        .await
        .unwrap()
}

async fn stream(model: &dyn Model, request: ModelRequest) -> ModelResponse {
    let mut events = model.stream(request);
    let mut builder = ResponseBuilder::default();
    while let Some(event) = events.next().await {
        builder.push(event.unwrap());
    }
    builder.finish().unwrap()
}

fn dotted_tool() -> ToolSpec {
    ToolSpec::new(
        "math_toolkit.sum_of_multiples",
        "Sums multiples.",
        json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {
                "limit": {"type": "integer"},
                "factors": {"type": "array", "items": {"$ref": "#/$defs/Factor"}},
                "note": {"type": ["string", "null"]}
            },
            "required": ["limit", "factors"],
            "$defs": {"Factor": {"type": "integer", "minimum": 1}}
        }),
    )
}

/// A history with thinking, a signed call, a failed result and a call
/// whose result was lost.
fn history() -> Vec<Message> {
    let thinking = Thinking::new("Let me think.", Some("sig-think".into()));
    let call = ToolCall::new(
        "call_1",
        "math_toolkit.sum_of_multiples",
        r#"{"limit":10,"factors":[3,5]}"#,
    )
    .with_signature(Some("sig-call".into()));
    let lost = ToolCall::new("call_2", "math_toolkit.sum_of_multiples", "");
    vec![
        Message::user("Sum the multiples of 3 and 5 below 10."),
        Message::assistant(vec![
            Content::Thinking(thinking),
            Content::ToolCall(call.clone()),
            Content::ToolCall(lost),
        ]),
        Message::tool_results([ToolResult::failure(&call, ErrorKind::ToolFailed, "boom")]),
    ]
}

fn request() -> ModelRequest {
    ModelRequest::new(history())
        .system("Be exact.")
        .tools(vec![dotted_tool()])
        .max_tokens(100)
}

const ANTHROPIC_CALL: &str = r#"{"id":"msg","type":"message","role":"assistant","model":"m","content":[{"type":"tool_use","id":"toolu_9","name":"math_toolkit_sum_of_multiples_NAME","input":{"limit":5,"factors":[2]}}],"stop_reason":"tool_use","usage":{"input_tokens":1,"output_tokens":1}}"#;

#[tokio::test]
async fn anthropic_maps_names_signatures_and_results() {
    let server = Server::start(vec![Reply::json(200, "{}")]).await;
    let d = deployment(ProviderKind::Anthropic, &server);
    let model = forge_providers::connect(&d).unwrap();
    let _ = model.complete(request()).await;
    let body = &server.seen()[0].body;
    assert_eq!(body["max_tokens"], 100);
    assert_eq!(body["system"], "Be exact.");
    let wire_name = body["tools"][0]["name"].as_str().unwrap().to_owned();
    assert!(
        wire_name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    );
    assert_eq!(
        body["tools"][0]["input_schema"]["required"],
        json!(["limit", "factors"])
    );
    assert!(body["tools"][0]["input_schema"].get("$schema").is_none());
    let assistant = &body["messages"][1]["content"];
    assert_eq!(
        assistant[0],
        json!({"type": "thinking", "thinking": "Let me think.", "signature": "sig-think"})
    );
    assert_eq!(assistant[1]["name"], wire_name.as_str());
    assert_eq!(
        assistant[1]["input"],
        json!({"limit": 10, "factors": [3, 5]})
    );
    assert_eq!(
        assistant[2]["input"],
        json!({}),
        "empty arguments are sent as {{}}"
    );
    let results = &body["messages"][2]["content"];
    assert_eq!(results[0]["tool_use_id"], "call_1");
    assert_eq!(results[0]["is_error"], true);
    assert_eq!(
        results[1]["tool_use_id"], "call_2",
        "a lost result is answered"
    );
    assert_eq!(results[1]["is_error"], true);

    // The dialect name maps back to the forge name on the way in.
    let reply = ANTHROPIC_CALL.replace("math_toolkit_sum_of_multiples_NAME", &wire_name);
    let server = Server::start(vec![Reply::json(200, &reply)]).await;
    let answer = complete(&deployment(ProviderKind::Anthropic, &server), request()).await;
    let call = answer.to_message().tool_calls().next().unwrap().clone();
    assert_eq!(call.name, "math_toolkit.sum_of_multiples");
    assert_eq!(call.id, "toolu_9");
}

#[tokio::test]
async fn anthropic_stream_keeps_thinking_and_its_signature() {
    let frames = [
        r#"{"type":"message_start","message":{"id":"m1","model":"c","usage":{"input_tokens":3,"output_tokens":0}}}"#,
        r#"{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}"#,
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Hmm, "}}"#,
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"yes."}}"#,
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQBCgIYAh=="}}"#,
        r#"{"type":"content_block_stop","index":0}"#,
        r#"{"type":"content_block_start","index":1,"content_block":{"type":"redacted_thinking","data":"ENCRYPTED"}}"#,
        r#"{"type":"content_block_stop","index":1}"#,
        r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":9}}"#,
        r#"{"type":"message_stop"}"#,
    ];
    let body: String = frames
        .iter()
        .map(|f| format!("event: x\r\ndata: {f}\r\n\r\n"))
        .collect();
    let server = Server::start(vec![Reply::sse(&[&body])]).await;
    let model = forge_providers::connect(&deployment(ProviderKind::Anthropic, &server)).unwrap();
    let answer = stream(model.as_ref(), ModelRequest::new(vec![Message::user("q")])).await;
    assert_eq!(
        answer.content,
        vec![
            Content::Thinking(Thinking::new("Hmm, yes.", Some("EqQBCgIYAh==".into()))),
            Content::Thinking(Thinking::redacted("ENCRYPTED")),
        ]
    );
    assert_eq!(answer.usage.output_tokens, 9);
}

#[tokio::test]
async fn openai_sends_tool_messages_and_strict_schemas() {
    let server = Server::start(vec![Reply::json(200, "{}")]).await;
    let mut d = deployment(ProviderKind::OpenAi, &server);
    d.strict_tools = true;
    let _ = forge_providers::connect(&d)
        .unwrap()
        .complete(request())
        .await;
    let body = &server.seen()[0].body;
    assert_eq!(
        body["messages"][0],
        json!({"role": "system", "content": "Be exact."})
    );
    let assistant = &body["messages"][2];
    assert_eq!(
        assistant["tool_calls"][0]["function"]["arguments"],
        r#"{"limit":10,"factors":[3,5]}"#
    );
    assert_eq!(assistant["tool_calls"][1]["function"]["arguments"], "{}");
    assert_eq!(
        body["messages"][3],
        json!({"role": "tool", "tool_call_id": "call_1", "content": "boom"})
    );
    assert_eq!(
        body["messages"][4]["tool_call_id"], "call_2",
        "every call id is answered"
    );
    let function = &body["tools"][0]["function"];
    assert_eq!(function["strict"], true);
    assert_eq!(function["parameters"]["additionalProperties"], false);
    let mut required: Vec<&str> = function["parameters"]["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    required.sort_unstable();
    assert_eq!(
        required,
        ["factors", "limit", "note"],
        "strict mode requires every property"
    );
    assert_eq!(
        function["parameters"]["properties"]["note"]["type"],
        json!(["string", "null"])
    );
}

#[tokio::test]
async fn openai_accepts_object_arguments_and_index_free_parallel_calls() {
    let chunk = |delta: &str| {
        format!(
            r#"data: {{"id":"c","choices":[{{"index":0,"delta":{delta},"finish_reason":null}}]}}"#
        ) + "\n\n"
    };
    let body = chunk(r#"{"tool_calls":[{"id":"a","function":{"name":"f","arguments":{"x":1}}}]}"#)
        + &chunk(r#"{"tool_calls":[{"id":"b","function":{"name":"g","arguments":"{\"y\""}}]}"#)
        + &chunk(r#"{"tool_calls":[{"id":"b","function":{"arguments":":2}"}}]}"#)
        + "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n"
        + "data: [DONE]\n\n";
    let server = Server::start(vec![Reply::sse(&[&body])]).await;
    let model = forge_providers::connect(&deployment(ProviderKind::OpenAi, &server)).unwrap();
    let answer = stream(model.as_ref(), ModelRequest::new(vec![Message::user("q")])).await;
    let calls: Vec<_> = answer.to_message().tool_calls().cloned().collect();
    assert_eq!(calls.len(), 2);
    assert_eq!((calls[0].id.as_str(), calls[0].name.as_str()), ("a", "f"));
    assert_eq!(
        serde_json::from_str::<Value>(&calls[0].arguments).unwrap(),
        json!({"x": 1})
    );
    assert_eq!(
        serde_json::from_str::<Value>(&calls[1].arguments).unwrap(),
        json!({"y": 2})
    );
}

#[tokio::test]
async fn gemini_round_trips_signatures_and_wraps_results() {
    let server = Server::start(vec![Reply::json(200, "{}")]).await;
    let _ = forge_providers::connect(&deployment(ProviderKind::Google, &server))
        .unwrap()
        .complete(request())
        .await;
    let seen = &server.seen()[0];
    assert_eq!(seen.path, "/v1beta/models/test-model:generateContent");
    let body = &seen.body;
    assert_eq!(body["systemInstruction"]["parts"][0]["text"], "Be exact.");
    assert_eq!(body["generationConfig"]["maxOutputTokens"], 100);
    let model_turn = &body["contents"][1];
    assert_eq!(model_turn["role"], "model");
    assert_eq!(
        model_turn["parts"][0],
        json!({"text": "Let me think.", "thought": true, "thoughtSignature": "sig-think"})
    );
    let call = &model_turn["parts"][1];
    assert_eq!(call["thoughtSignature"], "sig-call");
    assert_eq!(
        call["functionCall"]["name"], "math_toolkit.sum_of_multiples",
        "dots are allowed"
    );
    assert_eq!(
        call["functionCall"]["args"],
        json!({"limit": 10, "factors": [3, 5]})
    );
    let results = &body["contents"][2];
    assert_eq!(results["role"], "user");
    assert_eq!(results["parts"][0]["functionResponse"]["id"], "call_1");
    assert_eq!(
        results["parts"][0]["functionResponse"]["response"],
        json!({"error": "boom"})
    );
    assert_eq!(results["parts"][1]["functionResponse"]["id"], "call_2");
    let params = &body["tools"][0]["functionDeclarations"][0]["parameters"];
    assert_eq!(
        params["properties"]["factors"]["items"],
        json!({"type": "integer", "minimum": 1})
    );
    assert_eq!(
        params["properties"]["note"],
        json!({"type": "string", "nullable": true})
    );
    assert!(params.get("$defs").is_none() && params.get("$schema").is_none());
}

#[tokio::test]
async fn gemini_can_send_the_json_schema_whole_and_keeps_its_own_ids() {
    let reply = r#"{"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"id":"g-7","name":"f","args":{}}},{"text":"","thoughtSignature":"end-sig"}]},"finishReason":"STOP"}]}"#;
    let server = Server::start(vec![Reply::json(200, reply)]).await;
    let mut d = deployment(ProviderKind::Google, &server);
    d.json_schema_parameters = true;
    let answer = complete(&d, request()).await;
    let declaration = &server.seen()[0].body["tools"][0]["functionDeclarations"][0];
    assert!(declaration.get("parameters").is_none());
    assert_eq!(
        declaration["parametersJsonSchema"]["$defs"]["Factor"]["minimum"],
        1
    );
    let call = answer.to_message().tool_calls().next().unwrap().clone();
    assert_eq!(call.id, "g-7", "Gemini's own id is kept");
    assert_eq!(answer.stop_reason, forge_core::StopReason::ToolUse);
    assert!(
        answer
            .content
            .iter()
            .any(|c| matches!(c, Content::Text(t) if t.signature.as_deref() == Some("end-sig")))
    );
}

#[tokio::test]
async fn a_malformed_chunk_is_an_error_never_skipped() {
    let body =
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\ndata: {not json\n\n";
    let server = Server::start(vec![Reply::sse(&[body])]).await;
    let model = forge_providers::connect(&deployment(ProviderKind::OpenAi, &server)).unwrap();
    let mut events = model.stream(ModelRequest::new(vec![Message::user("q")]));
    let mut last = None;
    while let Some(event) = events.next().await {
        last = Some(event);
    }
    assert_eq!(
        last.unwrap().unwrap_err().kind(),
        ErrorKind::MalformedResponse
    );
}

#[tokio::test]
async fn rate_limit_reset_headers_give_the_wait_when_retry_after_is_absent() {
    // OpenAI: Go durations; the exhausted budget's reset is the wait.
    let openai = Reply::json(
        429,
        r#"{"error":{"message":"slow down","type":"requests","code":"rate_limit_exceeded"}}"#,
    )
    .header("x-ratelimit-remaining-requests", "0")
    .header("x-ratelimit-reset-requests", "2m30.5s")
    .header("x-ratelimit-remaining-tokens", "100")
    .header("x-ratelimit-reset-tokens", "20ms");
    let server = Server::start(vec![openai]).await;
    let model = forge_providers::connect(&deployment(ProviderKind::OpenAi, &server)).unwrap();
    let error = model
        .complete(ModelRequest::new(vec![Message::user("q")]))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::RateLimited);
    assert_eq!(error.retry_after(), Some(Duration::from_millis(150_500)));

    // Anthropic: RFC 3339 timestamps.
    let at = std::time::SystemTime::now() + Duration::from_secs(40);
    let stamp = httpdate_to_rfc3339(at);
    let anthropic = Reply::json(
        429,
        r#"{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}"#,
    )
    .header("anthropic-ratelimit-tokens-remaining", "0")
    .header("anthropic-ratelimit-tokens-reset", &stamp);
    let server = Server::start(vec![anthropic]).await;
    let model = forge_providers::connect(&deployment(ProviderKind::Anthropic, &server)).unwrap();
    let error = model
        .complete(ModelRequest::new(vec![Message::user("q")]))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::RateLimited);
    let wait = error.retry_after().unwrap();
    assert!(
        wait > Duration::from_secs(37) && wait <= Duration::from_secs(40),
        "{stamp}: {wait:?}"
    );
}

/// An RFC 3339 UTC timestamp, derived from the HTTP date of `at`.
fn httpdate_to_rfc3339(at: std::time::SystemTime) -> String {
    // "Thu, 03 Dec 2026 19:00:30 GMT"
    let http = httpdate::fmt_http_date(at);
    let parts: Vec<&str> = http.split_whitespace().collect();
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| *m == parts[2])
    .unwrap()
        + 1;
    format!("{}-{month:02}-{}T{}Z", parts[3], parts[1], parts[4])
}

#[tokio::test]
async fn openai_streamed_refusal_stops_with_refusal() {
    let body = "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"refusal\":\"\"}}]}\n\n\
                data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"refusal\":\"I can't help with that.\"}}]}\n\n\
                data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n\
                data: [DONE]\n\n";
    let server = Server::start(vec![Reply::sse(&[body])]).await;
    let model = forge_providers::connect(&deployment(ProviderKind::OpenAi, &server)).unwrap();
    let answer = stream(model.as_ref(), ModelRequest::new(vec![Message::user("q")])).await;
    assert_eq!(answer.stop_reason, forge_core::StopReason::Refusal);
    assert_eq!(answer.to_message().text(), "I can't help with that.");
}

#[tokio::test]
async fn gemini_parallel_calls_keep_the_first_calls_signature_only() {
    let chunk = |part: &str, finish: &str| {
        format!(
            "data: {{\"candidates\":[{{\"content\":{{\"role\":\"model\",\"parts\":[{part}]}}{finish}}}]}}\r\n\r\n"
        )
    };
    let body = chunk(
        r#"{"functionCall":{"name":"a","args":{"x":1}},"thoughtSignature":"first"}"#,
        "",
    ) + &chunk(
        r#"{"functionCall":{"name":"a","args":{"x":2}}}"#,
        r#","finishReason":"STOP""#,
    );
    let server = Server::start(vec![Reply::sse(&[&body])]).await;
    let model = forge_providers::connect(&deployment(ProviderKind::Google, &server)).unwrap();
    let answer = stream(model.as_ref(), ModelRequest::new(vec![Message::user("q")])).await;
    let calls: Vec<_> = answer.to_message().tool_calls().cloned().collect();
    assert_eq!(calls.len(), 2, "never merged");
    assert_eq!(calls[0].signature.as_deref(), Some("first"));
    assert_eq!(calls[1].signature, None);
    assert_eq!(
        (calls[0].arguments.as_str(), calls[1].arguments.as_str()),
        (r#"{"x":1}"#, r#"{"x":2}"#)
    );
    assert_ne!(calls[0].id, calls[1].id);
}

#[tokio::test]
async fn gemini_quota_and_errors_in_the_stream_are_classified() {
    let frame = "data: {\"error\":{\"code\":400,\"message\":\"bad\",\"status\":\"INVALID_ARGUMENT\"}}\r\n\r\n";
    let server = Server::start(vec![Reply::sse(&[frame]), Reply::sse(&[frame])]).await;
    let mut d = deployment(ProviderKind::Google, &server);
    d.retry.max_retries = 2;
    let model = forge_providers::connect(&d).unwrap();
    let mut events = model.stream(ModelRequest::new(vec![Message::user("q")]));
    let mut last = None;
    while let Some(event) = events.next().await {
        last = Some(event);
    }
    let error = last.unwrap().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::ErrorAfterOk);
    assert!(
        !error.is_retryable(),
        "an invalid request after 200 is not retried"
    );
    assert_eq!(server.hits(), 1);
}
