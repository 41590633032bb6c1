//! OpenAI Chat Completions over real loopback sockets.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap fails the test; helpers outside #[test] fns need this too"
)]

mod common;

use common::*;
use forge_emulator::Emulator;
use serde_json::{Value, json};

fn tools() -> Value {
    let tools = tools_anthropic();
    let tools: Vec<Value> = tools
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            json!({"type": "function", "function": {
            "name": t["name"], "description": t["description"], "parameters": t["input_schema"]}})
        })
        .collect();
    Value::Array(tools)
}

#[tokio::test]
async fn non_streaming_text_answer() {
    let emu = Emulator::builder().seed(1).start().await.unwrap();
    let request = json!({"model": "gpt-4o-mini", "messages": [
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello there"}]});
    let answer = post(emu.addr(), OPENAI, None, &request).await;
    assert_eq!(answer.status, 200);
    assert!(answer.header("x-request-id").is_some());
    assert!(answer.text().starts_with(r#"{"id":"chatcmpl-"#));
    let json = answer.json();
    assert_eq!(json["object"], "chat.completion");
    assert_eq!(
        json["choices"][0]["message"]["content"],
        "You asked: Hello there."
    );
    assert_eq!(json["choices"][0]["message"]["role"], "assistant");
    assert_eq!(json["choices"][0]["finish_reason"], "stop");
    assert_eq!(json["usage"]["completion_tokens"], 4);
    let usage = &json["usage"];
    assert_eq!(
        usage["total_tokens"].as_u64(),
        Some(usage["prompt_tokens"].as_u64().unwrap() + 4)
    );
}

#[tokio::test]
async fn streaming_text_with_usage_chunk_and_done() {
    let emu = Emulator::builder().seed(2).start().await.unwrap();
    let request = json!({"model": "gpt-4o-mini", "stream": true, "stream_options": {"include_usage": true},
        "messages": [{"role": "user", "content": "Hello there"}]});
    let answer = post(emu.addr(), OPENAI, None, &request).await;
    assert_eq!(
        answer.header("content-type"),
        Some("text/event-stream; charset=utf-8")
    );
    let frames = frames(answer.text(), "\n\n");
    assert!(
        frames
            .iter()
            .all(|f| f.starts_with("data: ") && !f.contains("event:"))
    );
    assert_eq!(frames.last().unwrap(), &"data: [DONE]");
    let chunks: Vec<Value> = frames[..frames.len() - 1].iter().map(|f| data(f)).collect();
    assert_eq!(
        chunks[0]["choices"][0]["delta"],
        json!({"role": "assistant", "content": "", "refusal": null})
    );
    let (usage_chunk, rest) = chunks.split_last().unwrap();
    assert_eq!(usage_chunk["choices"], json!([]));
    assert_eq!(usage_chunk["usage"]["completion_tokens"], 4);
    let (last, content) = rest.split_last().unwrap();
    assert_eq!(last["choices"][0]["finish_reason"], "stop");
    assert_eq!(last["choices"][0]["delta"], json!({}));
    for chunk in content {
        assert_eq!(chunk["choices"][0]["finish_reason"], Value::Null);
        assert_eq!(chunk["usage"], Value::Null);
        assert!(chunk.get("usage").is_some(), "usage: null is present");
        assert_eq!(chunk["object"], "chat.completion.chunk");
        assert_eq!(chunk["id"], chunks[0]["id"]);
    }
    let text: String = content
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "You asked: Hello there.");
}

#[tokio::test]
async fn streaming_without_include_usage_has_no_usage() {
    let emu = Emulator::builder().start().await.unwrap();
    let request =
        json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "Hi"}]});
    let answer = post(emu.addr(), OPENAI, None, &request).await;
    assert!(!answer.text().contains("\"usage\""));
    assert!(answer.text().ends_with("data: [DONE]\n\n"));
}

#[tokio::test]
async fn parallel_tool_calls_streamed_and_whole() {
    let emu = Emulator::builder().seed(3).start().await.unwrap();
    let mut request =
        json!({"model": "m", "tools": tools(), "messages": [{"role": "user", "content": PROMPT}]});
    let whole = post(emu.addr(), OPENAI, None, &request).await.json();
    let message = &whole["choices"][0]["message"];
    assert_eq!(whole["choices"][0]["finish_reason"], "tool_calls");
    let calls = message["tool_calls"].as_array().unwrap();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0]["function"]["name"], "get_weather");
    assert_eq!(
        calls[0]["function"]["arguments"],
        r#"{"city":"Paris","unit":"fahrenheit"}"#
    );
    assert_eq!(calls[1]["function"]["arguments"], r#"{"a":17,"b":25}"#);
    assert!(calls[0]["id"].as_str().unwrap().starts_with("call_"));

    request["stream"] = json!(true);
    let answer = post(emu.addr(), OPENAI, None, &request).await;
    let frames = frames(answer.text(), "\n\n");
    let chunks: Vec<Value> = frames[..frames.len() - 1].iter().map(|f| data(f)).collect();
    let fragments: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"].as_array())
        .flatten()
        .collect();
    for (index, call) in calls.iter().enumerate().take(2) {
        let mine: Vec<&&Value> = fragments.iter().filter(|f| f["index"] == index).collect();
        assert!(mine.len() > 2, "arguments split across chunks");
        assert_eq!(mine[0]["id"], call["id"]);
        assert_eq!(mine[0]["function"]["name"], call["function"]["name"]);
        assert_eq!(mine[0]["function"]["arguments"], "");
        assert!(
            mine[1..]
                .iter()
                .all(|f| f.get("id").is_none() && f["function"].get("name").is_none())
        );
        let joined: String = mine
            .iter()
            .map(|f| f["function"]["arguments"].as_str().unwrap())
            .collect();
        assert_eq!(
            joined,
            calls[index]["function"]["arguments"].as_str().unwrap()
        );
    }
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"][0]["finish_reason"], "tool_calls");
    let finishes = chunks
        .iter()
        .filter(|c| !c["choices"][0]["finish_reason"].is_null())
        .count();
    assert_eq!(finishes, 1);
}

#[tokio::test]
async fn answer_quotes_tool_results() {
    let emu = Emulator::builder().start().await.unwrap();
    let request = json!({"model": "m", "tools": tools(), "messages": [
        {"role": "user", "content": PROMPT},
        {"role": "assistant", "content": null, "tool_calls": [
            {"id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}},
            {"id": "call_b", "type": "function", "function": {"name": "add", "arguments": ""}}]},
        {"role": "tool", "tool_call_id": "call_a", "content": "72F"},
        {"role": "tool", "tool_call_id": "call_b", "content": "42"}]});
    let json = post(emu.addr(), OPENAI, None, &request).await.json();
    assert_eq!(
        json["choices"][0]["message"]["content"],
        "Here is what the tools returned. get_weather returned: 72F. add returned: 42."
    );
}

#[tokio::test]
async fn invalid_requests_get_openai_400s() {
    let emu = Emulator::builder().start().await.unwrap();
    let addr = emu.addr();
    let unanswered = json!({"model": "m", "messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "tool_calls": [
            {"id": "call_a", "type": "function", "function": {"name": "clock", "arguments": "{}"}},
            {"id": "call_b", "type": "function", "function": {"name": "clock", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_a", "content": "noon"},
        {"role": "user", "content": "and?"}]});
    let answer = post(addr, OPENAI, None, &unanswered).await;
    assert_eq!(answer.status, 400);
    assert_eq!(
        answer.text(),
        "{\n    \"error\": {\n        \"message\": \"An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: call_b\",\n        \"type\": \"invalid_request_error\",\n        \"param\": \"messages.[1].role\",\n        \"code\": null\n    }\n}\n"
    );

    let object_args = json!({"model": "m", "messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {"name": "clock", "arguments": {}}}]},
        {"role": "tool", "tool_call_id": "c", "content": "noon"}]});
    let json = post(addr, OPENAI, None, &object_args).await.json();
    assert_eq!(json["error"]["code"], "invalid_type");
    assert_eq!(
        json["error"]["param"],
        "messages[1].tool_calls[0].function.arguments"
    );

    let empty_calls = json!({"model": "m", "messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "x", "tool_calls": []}]});
    let json = post(addr, OPENAI, None, &empty_calls).await.json();
    assert_eq!(json["error"]["code"], "empty_array");
    assert_eq!(json["error"]["param"], "messages[1].tool_calls");

    let orphan = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}, {"role": "tool", "tool_call_id": "x", "content": "?"}]});
    assert_eq!(post(addr, OPENAI, None, &orphan).await.status, 400);

    let strict = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "tools": [{"type": "function",
        "function": {"name": "f", "strict": true, "parameters": {"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": false}}}]});
    let json = post(addr, OPENAI, None, &strict).await.json();
    assert_eq!(json["error"]["code"], "invalid_function_parameters");

    let options = json!({"model": "m", "stream_options": {"include_usage": true}, "messages": [{"role": "user", "content": "hi"}]});
    assert_eq!(
        post(addr, OPENAI, None, &options).await.json()["error"]["param"],
        "stream_options"
    );
}
