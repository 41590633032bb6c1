//! OpenAI Chat Completions quirks.

use super::*;

fn data(json: &str) -> String {
    format!("data: {json}\n\n")
}

pub(super) fn o_chunk(delta: &str, finish: &str) -> String {
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
