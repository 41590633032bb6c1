//! Brief §3 / §8 quirks not already pinned by the conformance suite or
//! `requests.rs`, each against a real 127.0.0.1 server serving raw bytes
//! written by hand from the brief (no adapter wire types).

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failure report"
)]

#[path = "support/mod.rs"]
mod support;

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

// ---------------------------------------------------------------- Anthropic

fn ev(name: &str, data: &str) -> String {
    format!("event: {name}\ndata: {data}\n\n")
}

const A_START: &str = r#"{"type":"message_start","message":{"id":"msg_q","type":"message","role":"assistant","model":"claude-test","content":[],"stop_reason":null,"usage":{"input_tokens":4,"output_tokens":1}}}"#;
const PING: &str = r#"{"type": "ping"}"#;

fn a_tool_start(index: u32, id: &str, name: &str) -> String {
    ev(
        "content_block_start",
        &format!(
            r#"{{"type":"content_block_start","index":{index},"content_block":{{"type":"tool_use","id":"{id}","name":"{name}","input":{{}}}}}}"#
        ),
    )
}

fn a_json(index: u32, piece: &str) -> String {
    ev(
        "content_block_delta",
        &format!(
            r#"{{"type":"content_block_delta","index":{index},"delta":{{"type":"input_json_delta","partial_json":{}}}}}"#,
            serde_json::to_string(piece).unwrap()
        ),
    )
}

fn a_stop(index: u32) -> String {
    ev(
        "content_block_stop",
        &format!(r#"{{"type":"content_block_stop","index":{index}}}"#),
    )
}

fn a_finish(reason: &str) -> String {
    ev(
        "message_delta",
        &format!(
            r#"{{"type":"message_delta","delta":{{"stop_reason":"{reason}","stop_sequence":null}},"usage":{{"output_tokens":9}}}}"#
        ),
    ) + &ev("message_stop", r#"{"type":"message_stop"}"#)
}

#[tokio::test]
async fn anthropic_credit_balance_400_is_quota_exhausted_and_not_retried() {
    // What Anthropic (and the emulator) send when the credit runs out.
    let body = r#"{"type":"error","error":{"type":"invalid_request_error","message":"Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits."},"request_id":"req_1"}"#;
    let server = Server::start(vec![Reply::json(400, body), Reply::json(400, body)]).await;
    let mut d = deployment(ProviderKind::Anthropic, &server);
    d.retry.max_retries = 2;
    d.retry.initial_backoff = Duration::from_millis(1);
    let error = forge_providers::connect(&d)
        .unwrap()
        .complete(ask())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::QuotaExhausted);
    assert!(!error.is_retryable());
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn anthropic_plain_400_stays_invalid_request() {
    let body = r#"{"type":"error","error":{"type":"invalid_request_error","message":"messages: field required"}}"#;
    let server = Server::start(vec![Reply::json(400, body)]).await;
    let error = model(ProviderKind::Anthropic, &server)
        .complete(ask())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidRequest);
}

#[tokio::test]
async fn anthropic_413_is_not_retried_and_504_is() {
    let too_large = r#"{"type":"error","error":{"type":"request_too_large","message":"Request exceeds the maximum allowed number of bytes."}}"#;
    let server = Server::start(vec![Reply::json(413, too_large), Reply::json(200, "{}")]).await;
    let mut d = deployment(ProviderKind::Anthropic, &server);
    d.retry.max_retries = 2;
    d.retry.initial_backoff = Duration::from_millis(1);
    let error = forge_providers::connect(&d)
        .unwrap()
        .complete(ask())
        .await
        .unwrap_err();
    assert!(!error.is_retryable(), "{error}");
    assert_eq!(server.hits(), 1);

    let timeout =
        r#"{"type":"error","error":{"type":"timeout_error","message":"Request timed out"}}"#;
    let ok = r#"{"id":"msg_1","type":"message","role":"assistant","model":"c","content":[{"type":"text","text":"ok"}],"stop_reason":"end_turn","usage":{"input_tokens":1,"output_tokens":1}}"#;
    let server = Server::start(vec![Reply::json(504, timeout), Reply::json(200, ok)]).await;
    let mut d = deployment(ProviderKind::Anthropic, &server);
    d.retry.max_retries = 2;
    d.retry.initial_backoff = Duration::from_millis(1);
    let answer = forge_providers::connect(&d)
        .unwrap()
        .complete(ask())
        .await
        .unwrap();
    assert_eq!(answer.to_message().text(), "ok");
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn anthropic_403_and_404_are_not_retried() {
    let bodies = [
        (
            403,
            r#"{"type":"error","error":{"type":"permission_error","message":"Your API key does not have permission to use the specified resource."}}"#,
            ErrorKind::Auth,
        ),
        (
            404,
            r#"{"type":"error","error":{"type":"not_found_error","message":"model: claude-nope"}}"#,
            ErrorKind::NotFound,
        ),
    ];
    for (status, body, kind) in bodies {
        let server = Server::start(vec![Reply::json(status, body), Reply::json(200, "{}")]).await;
        let mut d = deployment(ProviderKind::Anthropic, &server);
        d.retry.max_retries = 2;
        d.retry.initial_backoff = Duration::from_millis(1);

        let error = forge_providers::connect(&d)
            .unwrap()
            .complete(ask())
            .await
            .unwrap_err();

        assert_eq!(error.kind(), kind, "{status}: {error}");
        assert!(!error.is_retryable(), "{status}: {error}");
        assert_eq!(server.hits(), 1, "{status} was retried");
    }
}

#[tokio::test]
async fn anthropic_pings_anywhere_unknown_events_and_split_padded_json() {
    // A ping before message_start and between deltas, an unknown event
    // type, a first piece of "", pieces split mid-key and mid-string, and
    // padding before the final brace.
    let body = ev("ping", PING)
        + &ev("message_start", A_START)
        + &ev("ping", PING)
        + &a_tool_start(0, "toolu_1", "get_weather")
        + &a_json(0, "")
        + &ev("ping", PING)
        + &a_json(0, "{\"ci")
        + &ev("brand_new_event", r#"{"type":"brand_new_event","x":1}"#)
        + &a_json(0, "ty\": \"Pa")
        + &a_json(0, "ris\", \"unit")
        + &a_json(0, "s\": \"c\"      }")
        + &ev("ping", PING)
        + &a_stop(0)
        + &a_tool_start(1, "toolu_2", "list_files")
        + &a_json(1, "")
        + &a_stop(1)
        + &a_finish("tool_use");
    // Split every 7 bytes: events arrive across many reads.
    let pieces: Vec<String> = body
        .as_bytes()
        .chunks(7)
        .map(|c| String::from_utf8(c.to_vec()).unwrap())
        .collect();
    let pieces: Vec<&str> = pieces.iter().map(String::as_str).collect();
    let server = Server::start(vec![Reply::sse(&pieces)]).await;
    let (answer, _) = stream(model(ProviderKind::Anthropic, &server).as_ref(), ask())
        .await
        .unwrap();
    let calls = calls(&answer);
    assert_eq!(calls.len(), 2);
    assert_eq!(args(&calls[0]), json!({"city": "Paris", "units": "c"}));
    assert_eq!(
        calls[1].arguments, "{}",
        "a no-argument tool's \"\" is {{}}"
    );
    assert!(!calls[0].truncated && !calls[1].truncated);
    assert_eq!(answer.stop_reason, StopReason::ToolUse);
    let seen = &server.seen()[0];
    assert_eq!(seen.headers["anthropic-version"], "2023-06-01");
    assert_eq!(seen.body["stream"], true);
    assert!(
        seen.body["max_tokens"].as_u64().unwrap() > 0,
        "max_tokens is required"
    );
}

#[tokio::test]
async fn anthropic_max_tokens_without_block_stop_truncates_the_call() {
    let body = ev("message_start", A_START)
        + &a_tool_start(0, "toolu_t", "get_weather")
        + &a_json(0, "{\"city\": \"Pa")
        + &a_finish("max_tokens");
    let server = Server::start(vec![Reply::sse(&[&body])]).await;
    let (answer, _) = stream(model(ProviderKind::Anthropic, &server).as_ref(), ask())
        .await
        .unwrap();
    let calls = calls(&answer);
    assert_eq!(calls.len(), 1);
    assert!(calls[0].truncated);
    assert_ne!(calls[0].arguments, "{}");
    assert_eq!(answer.stop_reason, StopReason::MaxTokens);
}

#[tokio::test]
async fn anthropic_stop_reasons_map_and_unknown_is_other() {
    for (wire, want) in [
        ("pause_turn", StopReason::PauseTurn),
        (
            "model_context_window_exceeded",
            StopReason::ContextWindowExceeded,
        ),
        ("stop_sequence", StopReason::StopSequence),
        ("something_new", StopReason::Other("something_new".into())),
    ] {
        let body = format!(
            r#"{{"id":"m","type":"message","role":"assistant","model":"c","content":[{{"type":"text","text":"x"}},{{"type":"future_block","x":1}}],"stop_reason":"{wire}","usage":{{"input_tokens":1,"output_tokens":1}},"new_field":true}}"#
        );
        let server = Server::start(vec![Reply::json(200, &body)]).await;
        let answer = model(ProviderKind::Anthropic, &server)
            .complete(ask())
            .await
            .unwrap();
        assert_eq!(answer.stop_reason, want, "{wire}");
    }
}

#[tokio::test]
async fn anthropic_dotted_names_map_back_when_streamed() {
    let wire = wire_name(ProviderKind::Anthropic).await;
    let body = ev("message_start", A_START)
        + &a_tool_start(0, "toolu_d", &wire)
        + &a_json(0, "{\"limit\": 5}")
        + &a_stop(0)
        + &a_finish("tool_use");
    let server = Server::start(vec![Reply::sse(&[&body])]).await;
    let (answer, events) = stream(
        model(ProviderKind::Anthropic, &server).as_ref(),
        ask().tools(vec![dotted()]),
    )
    .await
    .unwrap();
    assert_eq!(calls(&answer)[0].name, "math_toolkit.sum_of_multiples");
    assert!(events.iter().any(|e| matches!(e,
        StreamEvent::ToolCallStart { name, .. } if name == "math_toolkit.sum_of_multiples")));
}

// ------------------------------------------------------------------- OpenAI

fn data(json: &str) -> String {
    format!("data: {json}\n\n")
}

fn o_chunk(delta: &str, finish: &str) -> String {
    data(&format!(
        r#"{{"id":"chatcmpl-q","object":"chat.completion.chunk","created":1,"model":"gpt-test","choices":[{{"index":0,"delta":{delta},"finish_reason":{finish}}}],"usage":null}}"#
    ))
}

#[tokio::test]
async fn openai_non_stream_object_arguments_missing_id_and_dotted_name() {
    let wire = wire_name(ProviderKind::OpenAi).await;
    let body = format!(
        r#"{{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-test","choices":[{{"index":0,"message":{{"role":"assistant","content":null,"tool_calls":[{{"type":"function","function":{{"name":"{wire}","arguments":{{"limit":5}}}}}},{{"id":"call_e","type":"function","function":{{"name":"list_files","arguments":""}}}}]}},"finish_reason":"tool_calls"}}],"usage":{{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}}}"#
    );
    let server = Server::start(vec![Reply::json(200, &body)]).await;
    let answer = model(ProviderKind::OpenAi, &server)
        .complete(ask().tools(vec![dotted()]))
        .await
        .unwrap();
    let calls = calls(&answer);
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].name, "math_toolkit.sum_of_multiples");
    assert_eq!(
        args(&calls[0]),
        json!({"limit": 5}),
        "object-form arguments"
    );
    assert!(!calls[0].id.is_empty(), "a missing id is minted");
    assert_eq!(calls[1].arguments, "{}", "\"\" means no arguments");
    assert_eq!(answer.stop_reason, StopReason::ToolUse);
}

#[tokio::test]
async fn openai_stream_dotted_name_maps_back_and_object_arguments_are_kept() {
    let wire = wire_name(ProviderKind::OpenAi).await;
    let body = o_chunk(
        &format!(
            r#"{{"role":"assistant","tool_calls":[{{"index":0,"id":"call_d","type":"function","function":{{"name":"{wire}","arguments":{{"limit":7}}}}}}]}}"#
        ),
        "null",
    ) + &o_chunk("{}", r#""tool_calls""#)
        + "data: [DONE]\n\n";
    let server = Server::start(vec![Reply::sse(&[&body])]).await;
    let (answer, events) = stream(
        model(ProviderKind::OpenAi, &server).as_ref(),
        ask().tools(vec![dotted()]),
    )
    .await
    .unwrap();
    let calls = calls(&answer);
    assert_eq!(calls[0].name, "math_toolkit.sum_of_multiples");
    assert_eq!(args(&calls[0]), json!({"limit": 7}));
    assert!(events.iter().any(|e| matches!(e,
        StreamEvent::ToolCallStart { name, .. } if name == "math_toolkit.sum_of_multiples")));
}

#[tokio::test]
async fn openai_parallel_calls_without_index_or_ids_stay_apart_with_stable_ids() {
    let body = o_chunk(
        r#"{"tool_calls":[{"type":"function","function":{"name":"get_weather","arguments":"{\"city\":"}}]}"#,
        r#""""#,
    ) + &o_chunk(
        r#"{"tool_calls":[{"function":{"arguments":" \"Paris\"}"}}]}"#,
        r#""""#,
    ) + &o_chunk(
        r#"{"tool_calls":[{"type":"function","function":{"name":"get_time","arguments":"{\"tz\": \"UTC\"}"}}]}"#,
        r#""""#,
    ) + &o_chunk("{}", r#""tool_calls""#)
        + "data: [DONE]\n\n";
    let server = Server::start(vec![Reply::sse(&[&body])]).await;
    let (answer, events) = stream(model(ProviderKind::OpenAi, &server).as_ref(), ask())
        .await
        .unwrap();
    let calls = calls(&answer);
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(args(&calls[0]), json!({"city": "Paris"}));
    assert_eq!(args(&calls[1]), json!({"tz": "UTC"}));
    assert_ne!(calls[0].id, calls[1].id);
    let started: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::ToolCallStart { id, .. } => Some(id.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        started,
        [calls[0].id.as_str(), calls[1].id.as_str()],
        "the minted id is stable from start to call"
    );
}

#[tokio::test]
async fn openai_one_malformed_call_does_not_drop_its_siblings() {
    let body = o_chunk(
        r#"{"tool_calls":[{"index":0,"id":"call_bad","type":"function","function":{"name":"get_weather","arguments":"{\"city\": Paris}"}}]}"#,
        "null",
    ) + &o_chunk(
        r#"{"tool_calls":[{"index":1,"id":"call_ok","type":"function","function":{"name":"get_time","arguments":"{}"}}]}"#,
        "null",
    ) + &o_chunk("{}", r#""tool_calls""#)
        + "data: [DONE]\n\n";
    let server = Server::start(vec![Reply::sse(&[&body])]).await;
    let (answer, _) = stream(model(ProviderKind::OpenAi, &server).as_ref(), ask())
        .await
        .unwrap();
    let calls = calls(&answer);
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].id, "call_bad");
    assert_eq!(
        calls[0].arguments, "{\"city\": Paris}",
        "kept verbatim for a model-visible error"
    );
    assert_eq!(calls[1].id, "call_ok");
}

#[tokio::test]
async fn openai_usage_after_an_empty_choices_first_chunk_and_nulls() {
    // Empty-choices chunk first, usage:null everywhere, the usage chunk
    // with choices:[] last, CR-only line ends and a multi-line comment.
    let body = data(
        r#"{"id":"chatcmpl-q","object":"chat.completion.chunk","choices":[],"usage":null}"#,
    ) + ": one\n: two\n\n"
        + &o_chunk(r#"{"role":"assistant","content":"Hi"}"#, r#""""#)
        + &o_chunk(r#"{"content":null}"#, r#""stop""#)
        + &data(
            r#"{"id":"chatcmpl-q","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":11,"completion_tokens":2,"total_tokens":13}}"#,
        )
        + "data: [DONE]\n\n";
    let body = body.replace('\n', "\r");
    let server = Server::start(vec![Reply::sse(&[&body])]).await;
    let (answer, _) = stream(model(ProviderKind::OpenAi, &server).as_ref(), ask())
        .await
        .unwrap();
    assert_eq!(answer.to_message().text(), "Hi");
    assert_eq!(answer.stop_reason, StopReason::EndTurn);
    assert_eq!(
        (answer.usage.input_tokens, answer.usage.output_tokens),
        (11, 2)
    );
    let sent = &server.seen()[0].body;
    assert_eq!(sent["stream"], true);
    assert_eq!(
        sent["stream_options"]["include_usage"], true,
        "usage asked for"
    );
}

#[tokio::test]
async fn openai_finish_reasons_map_and_unknown_is_other() {
    for (wire, want) in [
        ("function_call", StopReason::ToolUse),
        ("content_filter", StopReason::ContentFilter),
        ("eos_token", StopReason::Other("eos_token".into())),
    ] {
        let body = format!(
            r#"{{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{{"index":0,"message":{{"role":"assistant","content":"x"}},"finish_reason":"{wire}"}}],"brand_new":1}}"#
        );
        let server = Server::start(vec![Reply::json(200, &body)]).await;
        let answer = model(ProviderKind::OpenAi, &server)
            .complete(ask())
            .await
            .unwrap();
        assert_eq!(answer.stop_reason, want, "{wire}");
    }
}

#[tokio::test]
async fn openai_non_stream_length_inside_a_call_is_truncated() {
    let body = r#"{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_t","type":"function","function":{"name":"get_weather","arguments":"{\"city\": \"Pa"}}]},"finish_reason":"length"}]}"#;
    let server = Server::start(vec![Reply::json(200, body)]).await;
    let answer = model(ProviderKind::OpenAi, &server)
        .complete(ask())
        .await
        .unwrap();
    let calls = calls(&answer);
    assert!(calls[0].truncated);
    assert_ne!(calls[0].arguments, "{}");
}

#[tokio::test]
async fn openai_multi_line_data_is_joined() {
    // One JSON chunk spread over several `data:` lines (no space after the
    // colon on the second): joined with "\n", which JSON treats as space.
    let body = "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\n\
                data:\"delta\":{\"content\":\"Hi\"},\"finish_reason\":\"stop\"}]}\n\n\
                data: [DONE]\n\n";
    let server = Server::start(vec![Reply::sse(&[body])]).await;
    let (answer, _) = stream(model(ProviderKind::OpenAi, &server).as_ref(), ask())
        .await
        .unwrap();
    assert_eq!(answer.to_message().text(), "Hi");
}

// ------------------------------------------------------------------- Gemini

fn g_data(json: &str) -> String {
    format!("data: {json}\r\n\r\n")
}

#[tokio::test]
async fn gemini_blocked_prompt_in_a_stream_is_a_content_filter_stop() {
    let body = g_data(
        r#"{"promptFeedback":{"blockReason":"SAFETY","safetyRatings":[]},"usageMetadata":{"promptTokenCount":8,"totalTokenCount":8},"modelVersion":"gemini-test"}"#,
    );
    let server = Server::start(vec![Reply::sse(&[&body])]).await;
    let (answer, _) = stream(model(ProviderKind::Google, &server).as_ref(), ask())
        .await
        .unwrap();
    assert_eq!(answer.stop_reason, StopReason::ContentFilter);
    assert!(calls(&answer).is_empty());
}

#[tokio::test]
async fn gemini_unknown_finish_reason_is_other() {
    let body = g_data(
        r#"{"candidates":[{"content":{"role":"model","parts":[{"text":"Hi"}]},"finishReason":"SOMETHING_NEW","index":0}],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":1,"totalTokenCount":4}}"#,
    );
    let server = Server::start(vec![Reply::sse(&[&body])]).await;

    let (answer, _) = stream(model(ProviderKind::Google, &server).as_ref(), ask())
        .await
        .unwrap();

    assert_eq!(answer.to_message().text(), "Hi");
    assert!(
        matches!(&answer.stop_reason, StopReason::Other(raw) if raw.contains("SOMETHING_NEW")),
        "{:?}",
        answer.stop_reason
    );
}

#[tokio::test]
async fn gemini_absent_args_non_stream_and_scalar_results_are_wrapped() {
    let body = r#"{"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"name":"list_files"},"thoughtSignature":"c2ln"}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":3,"totalTokenCount":3}}"#;
    let server = Server::start(vec![Reply::json(200, body), Reply::json(200, "{}")]).await;
    let model = model(ProviderKind::Google, &server);
    let first = model.complete(ask()).await.unwrap();
    let call = calls(&first)[0].clone();
    assert_eq!(args(&call), json!({}));
    assert_eq!(first.stop_reason, StopReason::ToolUse);
    let mut turn = ask();
    turn.messages.push(first.to_message());
    let other = ToolCall::new("call_x", "list_files", "{}");
    turn.messages.push(Message::tool_results([
        ToolResult::success(&call, "42"),
        ToolResult::success(&other, "plain words"),
    ]));
    let _ = model.complete(turn).await;
    let body = &server.seen()[1].body;
    let sent_call = &body["contents"][1]["parts"][0];
    assert_eq!(
        sent_call["thoughtSignature"], "c2ln",
        "signature sent back unchanged"
    );
    assert_eq!(sent_call["functionCall"]["id"], call.id.as_str());
    let parts = &body["contents"][2]["parts"];
    assert_eq!(parts[0]["functionResponse"]["id"], call.id.as_str());
    assert_eq!(parts[0]["functionResponse"]["name"], "list_files");
    assert_eq!(
        parts[0]["functionResponse"]["response"],
        json!({"result": 42})
    );
    assert_eq!(
        parts[1]["functionResponse"]["response"],
        json!({"result": "plain words"})
    );
}

#[tokio::test]
async fn gemini_retry_delay_in_the_body_is_honoured() {
    let limited = r#"{"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota).","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"34.4s"}]}}"#;
    let server = Server::start(vec![Reply::json(429, limited)]).await;
    let error = model(ProviderKind::Google, &server)
        .complete(ask())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::RateLimited);
    assert_eq!(error.retry_after(), Some(Duration::from_millis(34_400)));
}

#[tokio::test]
async fn gemini_parallel_set_round_trips_only_the_first_signature() {
    let chunk = |part: &str, finish: &str| {
        g_data(&format!(
            r#"{{"candidates":[{{"content":{{"role":"model","parts":[{part}]}}{finish},"index":0}}],"usageMetadata":{{"promptTokenCount":3,"totalTokenCount":5}}}}"#
        ))
    };
    let body = chunk(
        r#"{"functionCall":{"name":"get_weather","args":{"city":"Paris"}},"thoughtSignature":"Zmlyc3Q="}"#,
        "",
    ) + &chunk(
        r#"{"functionCall":{"name":"get_weather","args":{"city":"Rome"}}}"#,
        "",
    ) + &chunk(r#"{"text":""}"#, r#","finishReason":"STOP""#);
    let server = Server::start(vec![Reply::sse(&[&body]), Reply::json(200, "{}")]).await;
    let model = model(ProviderKind::Google, &server);
    let (first, _) = stream(model.as_ref(), ask()).await.unwrap();
    let got = calls(&first);
    assert_eq!(got.len(), 2, "one call per chunk, never merged");
    assert_eq!(args(&got[0]), json!({"city": "Paris"}));
    assert_eq!(args(&got[1]), json!({"city": "Rome"}));
    assert_eq!(first.stop_reason, StopReason::ToolUse);
    let mut turn = ask();
    turn.messages.push(first.to_message());
    turn.messages.push(Message::tool_results([
        ToolResult::success(&got[0], "{\"t\":1}"),
        ToolResult::success(&got[1], "{\"t\":2}"),
    ]));
    let _ = model.complete(turn).await;
    let parts = &server.seen()[1].body["contents"][1]["parts"];
    let calls: Vec<&Value> = parts
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p.get("functionCall").is_some())
        .collect();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0]["thoughtSignature"], "Zmlyc3Q=");
    assert!(calls[1].get("thoughtSignature").is_none(), "{parts}");
    let results = &server.seen()[1].body["contents"][2]["parts"];
    assert_eq!(results[0]["functionResponse"]["id"], got[0].id.as_str());
    assert_eq!(results[1]["functionResponse"]["id"], got[1].id.as_str());
}

#[tokio::test]
async fn gemini_forbidden_names_map_reversibly() {
    // A slash and a leading digit are not allowed by Gemini.
    let spec = ToolSpec::new(
        "9github/create-issue",
        "MCP tool.",
        json!({"type": "object", "properties": {}}),
    );
    let server = Server::start(vec![Reply::json(200, "{}")]).await;
    let _ = model(ProviderKind::Google, &server)
        .complete(ask().tools(vec![spec.clone()]))
        .await;
    let wire = server.seen()[0].body["tools"][0]["functionDeclarations"][0]["name"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(wire.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_'));
    assert!(!wire.contains('/') && wire.len() <= 64, "{wire}");
    let body = g_data(&format!(
        r#"{{"candidates":[{{"content":{{"role":"model","parts":[{{"functionCall":{{"name":"{wire}","args":{{}}}}}}]}},"finishReason":"STOP","index":0}}]}}"#
    ));
    let server = Server::start(vec![Reply::sse(&[&body])]).await;
    let (answer, _) = stream(
        model(ProviderKind::Google, &server).as_ref(),
        ask().tools(vec![spec]),
    )
    .await
    .unwrap();
    assert_eq!(calls(&answer)[0].name, "9github/create-issue");
}

#[tokio::test]
async fn gemini_per_minute_429_without_retry_info_is_a_rate_limit_not_a_quota() {
    let per_minute = r#"{"error":{"code":429,"message":"You exceeded your current quota, please check your plan and billing details.","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaMetric":"generativelanguage.googleapis.com/generate_content_free_tier_requests","quotaId":"GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}]}]}}"#;
    let server = Server::start(vec![Reply::json(429, per_minute)]).await;
    let error = model(ProviderKind::Google, &server)
        .complete(ask())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::RateLimited);
    assert!(error.is_retryable());

    let per_day = per_minute.replace("PerMinute", "PerDay");
    let server = Server::start(vec![Reply::json(429, &per_day)]).await;
    let error = model(ProviderKind::Google, &server)
        .complete(ask())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::QuotaExhausted);
}

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
