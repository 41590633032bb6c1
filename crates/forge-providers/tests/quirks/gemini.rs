//! Gemini quirks.

use super::*;

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
