//! Anthropic Messages quirks.

use super::*;

pub(super) fn ev(name: &str, data: &str) -> String {
    format!("event: {name}\ndata: {data}\n\n")
}

pub(super) const A_START: &str = r#"{"type":"message_start","message":{"id":"msg_q","type":"message","role":"assistant","model":"claude-test","content":[],"stop_reason":null,"usage":{"input_tokens":4,"output_tokens":1}}}"#;
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

pub(super) fn a_stop(index: u32) -> String {
    ev(
        "content_block_stop",
        &format!(r#"{{"type":"content_block_stop","index":{index}}}"#),
    )
}

pub(super) fn a_finish(reason: &str) -> String {
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
    let error = retrying_model(ProviderKind::Anthropic, &server)
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
    let error = retrying_model(ProviderKind::Anthropic, &server)
        .complete(ask())
        .await
        .unwrap_err();
    assert!(!error.is_retryable(), "{error}");
    assert_eq!(server.hits(), 1);

    let timeout =
        r#"{"type":"error","error":{"type":"timeout_error","message":"Request timed out"}}"#;
    let ok = r#"{"id":"msg_1","type":"message","role":"assistant","model":"c","content":[{"type":"text","text":"ok"}],"stop_reason":"end_turn","usage":{"input_tokens":1,"output_tokens":1}}"#;
    let server = Server::start(vec![Reply::json(504, timeout), Reply::json(200, ok)]).await;
    let answer = retrying_model(ProviderKind::Anthropic, &server)
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
        let error = retrying_model(ProviderKind::Anthropic, &server)
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
