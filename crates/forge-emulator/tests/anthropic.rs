//! Anthropic Messages over real loopback sockets.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap fails the test; helpers outside #[test] fns need this too"
)]

mod common;

use common::*;
use forge_emulator::Emulator;
use serde_json::{Value, json};

fn body(stream: bool) -> Value {
    json!({"model": "claude-sonnet-4", "max_tokens": 256, "stream": stream,
           "tools": tools_anthropic(),
           "messages": [{"role": "user", "content": PROMPT}]})
}

#[tokio::test]
async fn non_streaming_text_answer() {
    let emu = Emulator::builder().seed(1).start().await.unwrap();
    let request = json!({"model": "claude-sonnet-4", "max_tokens": 64,
        "system": "Be brief.", "messages": [{"role": "user", "content": "Hello there"}]});
    let answer = post(emu.addr(), ANTHROPIC, None, &request).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    assert!(answer.header("request-id").unwrap().starts_with("req_"));
    let text = answer.text();
    assert!(text.starts_with(r#"{"id":"msg_01"#), "{text}");
    let json = answer.json();
    assert_eq!(json["type"], "message");
    assert_eq!(json["role"], "assistant");
    assert_eq!(json["model"], "claude-sonnet-4");
    assert_eq!(
        json["content"][0],
        json!({"type": "text", "text": "You asked: Hello there."})
    );
    assert_eq!(json["stop_reason"], "end_turn");
    assert_eq!(json["stop_sequence"], Value::Null);
    assert_eq!(json["usage"]["output_tokens"], 4);
    assert!(json["usage"]["input_tokens"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn streaming_text_has_pings_padding_and_cumulative_usage() {
    let emu = Emulator::builder().seed(2).start().await.unwrap();
    let request = json!({"model": "claude-sonnet-4", "max_tokens": 512, "stream": true,
        "messages": [{"role": "user", "content": "one two three four five six seven eight nine ten"}]});
    let answer = post(emu.addr(), ANTHROPIC, None, &request).await;
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.header("content-type"),
        Some("text/event-stream; charset=utf-8")
    );
    let frames = frames(answer.text(), "\n\n");
    let events: Vec<&str> = frames.iter().map(|f| event(f)).collect();
    assert_eq!(
        events[..3],
        ["message_start", "content_block_start", "ping"]
    );
    assert_eq!(
        events[events.len() - 3..],
        ["content_block_stop", "message_delta", "message_stop"]
    );
    assert!(
        frames
            .iter()
            .any(|f| f.contains("data: {\"type\": \"ping\"}"))
    );
    assert!(
        frames.iter().any(|f| f.ends_with(" }")),
        "some frame is padded"
    );
    let text: String = frames
        .iter()
        .filter(|f| event(f) == "content_block_delta")
        .map(|f| data(f)["delta"]["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        text,
        "You asked: one two three four five six seven eight nine ten."
    );
    let start = data(frames[0]);
    assert_eq!(start["message"]["usage"]["output_tokens"], 1);
    let delta = data(frames[frames.len() - 2]);
    assert_eq!(delta["delta"]["stop_reason"], "end_turn");
    assert_eq!(delta["usage"]["output_tokens"], 12);
    assert_eq!(
        delta["usage"]["input_tokens"],
        start["message"]["usage"]["input_tokens"]
    );
    assert_eq!(
        frames.last().unwrap(),
        &"event: message_stop\ndata: {\"type\":\"message_stop\"}"
    );
}

#[tokio::test]
async fn parallel_tool_calls_streamed_and_whole() {
    let emu = Emulator::builder().seed(3).start().await.unwrap();
    let whole = post(emu.addr(), ANTHROPIC, None, &body(false)).await.json();
    assert_eq!(whole["stop_reason"], "tool_use");
    let content = whole["content"].as_array().unwrap();
    assert_eq!(content[0]["text"], "I will use get_weather and add.");
    assert_eq!(content[1]["name"], "get_weather");
    assert_eq!(
        content[1]["input"],
        json!({"city": "Paris", "unit": "fahrenheit"})
    );
    assert_eq!(content[2]["name"], "add");
    assert_eq!(content[2]["input"], json!({"a": 17, "b": 25}));
    assert!(content[1]["id"].as_str().unwrap().starts_with("toolu_01"));

    let answer = post(emu.addr(), ANTHROPIC, None, &body(true)).await;
    let frames = frames(answer.text(), "\n\n");
    let starts: Vec<Value> = frames
        .iter()
        .filter(|f| event(f) == "content_block_start")
        .map(|f| data(f))
        .collect();
    assert_eq!(starts.len(), 3);
    assert_eq!(starts[1]["content_block"]["type"], "tool_use");
    assert_eq!(starts[1]["content_block"]["input"], json!({}));
    // Same seed, conversation and turn: the streamed ids equal the whole ones.
    assert_eq!(starts[1]["content_block"]["id"], content[1]["id"]);
    let pieces: Vec<String> = frames
        .iter()
        .map(|f| data(f))
        .filter(|d| d["index"] == 1 && d["delta"]["type"] == "input_json_delta")
        .map(|d| d["delta"]["partial_json"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(pieces[0], "", "the first piece is empty");
    assert_eq!(pieces[1], "{\"ci", "the second piece ends mid-key");
    let joined = pieces.concat();
    assert_eq!(joined, r#"{"city": "Paris", "unit": "fahrenheit"}"#);
    let delta = frames
        .iter()
        .map(|f| data(f))
        .find(|d| d["type"] == "message_delta")
        .unwrap();
    assert_eq!(delta["delta"]["stop_reason"], "tool_use");
}

#[tokio::test]
async fn no_argument_tool_streams_only_an_empty_piece() {
    let emu = Emulator::builder().start().await.unwrap();
    let request = json!({"model": "m", "max_tokens": 100, "stream": true, "tools": tools_anthropic(),
        "messages": [{"role": "user", "content": "What does the clock say?"}]});
    let answer = post(emu.addr(), ANTHROPIC, None, &request).await;
    let pieces: Vec<Value> = frames(answer.text(), "\n\n")
        .iter()
        .map(|f| data(f))
        .filter(|d| d["delta"]["type"] == "input_json_delta")
        .collect();
    assert_eq!(pieces.len(), 1);
    assert_eq!(pieces[0]["delta"]["partial_json"], "");
}

#[tokio::test]
async fn answer_quotes_tool_results() {
    let emu = Emulator::builder().start().await.unwrap();
    let request = json!({"model": "m", "max_tokens": 100, "tools": tools_anthropic(), "messages": [
        {"role": "user", "content": PROMPT},
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "toolu_a", "name": "get_weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "toolu_b", "name": "add", "input": {"a": 17, "b": 25}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_a", "content": "72F and sunny"},
            {"type": "tool_result", "tool_use_id": "toolu_b", "content": [{"type": "text", "text": "42"}], "is_error": false}]}]});
    let json = post(emu.addr(), ANTHROPIC, None, &request).await.json();
    assert_eq!(json["stop_reason"], "end_turn");
    assert_eq!(
        json["content"][0]["text"],
        "Here is what the tools returned. get_weather returned: 72F and sunny. add returned: 42."
    );
}

#[tokio::test]
async fn invalid_requests_get_anthropic_400s() {
    let emu = Emulator::builder().start().await.unwrap();
    let addr = emu.addr();
    let missing = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    let answer = post(addr, ANTHROPIC, None, &missing).await;
    assert_eq!(answer.status, 400);
    let json = answer.json();
    assert_eq!(json["type"], "error");
    assert_eq!(json["error"]["type"], "invalid_request_error");
    assert_eq!(json["error"]["message"], "max_tokens: Field required");

    let unanswered = json!({"model": "m", "max_tokens": 10, "messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "toolu_a", "name": "clock", "input": {}},
            {"type": "tool_use", "id": "toolu_b", "name": "clock", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_a", "content": "noon"}]}]});
    let answer = post(addr, ANTHROPIC, None, &unanswered).await;
    assert_eq!(answer.status, 400);
    let message = answer.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.starts_with("messages.2: `tool_use` ids were found without `tool_result` blocks immediately after: toolu_b."), "{message}");

    let string_input = json!({"model": "m", "max_tokens": 10, "messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "clock", "input": "{}"}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "noon"}]}]});
    assert_eq!(post(addr, ANTHROPIC, None, &string_input).await.status, 400);

    let bad_name = json!({"model": "m", "max_tokens": 10, "tools": [{"name": "math.sum", "input_schema": {"type": "object"}}],
        "messages": [{"role": "user", "content": "hi"}]});
    assert_eq!(post(addr, ANTHROPIC, None, &bad_name).await.status, 400);

    let mut no_version = request(
        ANTHROPIC,
        None,
        &json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}),
    );
    no_version.headers_mut().remove("anthropic-version");
    let answer = finish(send_h1(addr, no_version).await).await;
    assert_eq!(answer.status, 400);
    assert_eq!(
        answer.json()["error"]["message"],
        "anthropic-version: header is required"
    );
}

#[tokio::test]
async fn max_tokens_cuts_the_answer() {
    let emu = Emulator::builder().start().await.unwrap();
    let request = json!({"model": "m", "max_tokens": 3, "messages": [{"role": "user", "content": "a b c d e f"}]});
    let json = post(emu.addr(), ANTHROPIC, None, &request).await.json();
    assert_eq!(json["stop_reason"], "max_tokens");
    assert_eq!(json["content"][0]["text"], "You asked: a ");
}
