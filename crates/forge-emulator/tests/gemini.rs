//! Gemini generateContent / streamGenerateContent over real loopback sockets.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap fails the test; helpers outside #[test] fns need this too"
)]

mod common;

use common::*;
use forge_emulator::Emulator;
use serde_json::{Value, json};

fn tools() -> Value {
    let declarations: Vec<Value> = tools_anthropic()
        .as_array()
        .unwrap()
        .iter()
        .map(|t| json!({"name": t["name"], "description": t["description"], "parameters": t["input_schema"]}))
        .collect();
    json!([{"functionDeclarations": declarations}])
}

fn user(text: &str) -> Value {
    json!({"role": "user", "parts": [{"text": text}]})
}

#[tokio::test]
async fn non_streaming_text_answer() {
    let emu = Emulator::builder().seed(1).start().await.unwrap();
    let request = json!({"systemInstruction": {"parts": [{"text": "Be brief."}]}, "contents": [user("Hello there")]});
    let answer = post(
        emu.addr(),
        &gemini("gemini-2.5-flash", false, false),
        None,
        &request,
    )
    .await;
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.header("content-type"),
        Some("application/json; charset=UTF-8")
    );
    assert!(
        answer.text().starts_with("{\n  \"candidates\": [\n"),
        "{}",
        answer.text()
    );
    let json = answer.json();
    let candidate = &json["candidates"][0];
    assert_eq!(
        candidate["content"],
        json!({"parts": [{"text": "You asked: Hello there."}], "role": "model"})
    );
    assert_eq!(candidate["finishReason"], "STOP");
    assert_eq!(json["modelVersion"], "gemini-2.5-flash");
    assert_eq!(json["usageMetadata"]["candidatesTokenCount"], 4);
}

#[tokio::test]
async fn sse_stream_uses_crlf_frames_and_running_usage() {
    let emu = Emulator::builder().seed(2).start().await.unwrap();
    let request = json!({"contents": [user("one two three four five six seven eight")]});
    let answer = post(
        emu.addr(),
        &gemini("gemini-2.5-flash", true, true),
        None,
        &request,
    )
    .await;
    assert_eq!(answer.header("content-type"), Some("text/event-stream"));
    let text = answer.text();
    assert!(text.ends_with("\r\n\r\n"));
    assert!(!text.contains("[DONE]"));
    let frames = frames(text, "\r\n\r\n");
    assert!(frames.len() >= 3);
    let chunks: Vec<Value> = frames.iter().map(|f| data(f)).collect();
    let counts: Vec<u64> = chunks
        .iter()
        .map(|c| c["usageMetadata"]["candidatesTokenCount"].as_u64().unwrap())
        .collect();
    assert!(
        counts.windows(2).all(|w| w[0] <= w[1]),
        "running totals: {counts:?}"
    );
    let last = chunks.last().unwrap();
    assert_eq!(
        last["candidates"][0]["content"]["parts"],
        json!([{"text": ""}])
    );
    assert_eq!(last["candidates"][0]["finishReason"], "STOP");
    assert_eq!(*counts.last().unwrap(), 10);
    assert!(
        chunks[..chunks.len() - 1]
            .iter()
            .all(|c| c["candidates"][0].get("finishReason").is_none())
    );
    let joined: String = chunks
        .iter()
        .map(|c| {
            c["candidates"][0]["content"]["parts"][0]["text"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        joined,
        "You asked: one two three four five six seven eight."
    );
}

#[tokio::test]
async fn parallel_calls_one_per_chunk_without_ids() {
    let emu = Emulator::builder().seed(3).start().await.unwrap();
    let request = json!({"tools": tools(), "contents": [user(PROMPT)]});
    let answer = post(
        emu.addr(),
        &gemini("gemini-3-pro-preview", true, true),
        None,
        &request,
    )
    .await;
    let chunks: Vec<Value> = frames(answer.text(), "\r\n\r\n")
        .iter()
        .map(|f| data(f))
        .collect();
    let calls: Vec<&Value> = chunks
        .iter()
        .flat_map(|c| c["candidates"][0]["content"]["parts"].as_array().unwrap())
        .filter(|p| p.get("functionCall").is_some())
        .collect();
    assert_eq!(calls.len(), 2);
    for chunk in &chunks {
        let parts = chunk["candidates"][0]["content"]["parts"]
            .as_array()
            .unwrap();
        assert_eq!(parts.len(), 1, "one part per chunk");
    }
    assert_eq!(
        calls[0]["functionCall"],
        json!({"name": "get_weather", "args": {"city": "Paris", "unit": "fahrenheit"}})
    );
    assert_eq!(
        calls[1]["functionCall"],
        json!({"name": "add", "args": {"a": 17, "b": 25}})
    );
    assert!(calls[0]["thoughtSignature"].is_string());
    assert!(calls[1].get("thoughtSignature").is_none());
    let last = chunks.last().unwrap();
    assert_eq!(last["candidates"][0]["finishReason"], "STOP");
}

#[tokio::test]
async fn stream_without_sse_is_one_json_array() {
    let emu = Emulator::builder().start().await.unwrap();
    let request = json!({"tools": tools(), "contents": [user(PROMPT)]});
    let answer = post(
        emu.addr(),
        &gemini("gemini-2.5-flash", true, false),
        None,
        &request,
    )
    .await;
    assert_eq!(
        answer.header("content-type"),
        Some("application/json; charset=UTF-8")
    );
    assert!(answer.text().starts_with("[{\n"));
    assert!(answer.text().contains("\n,\r\n{"));
    let array = answer.json();
    let chunks = array.as_array().unwrap();
    assert!(chunks.len() >= 3);
    assert_eq!(
        chunks.last().unwrap()["candidates"][0]["finishReason"],
        "STOP"
    );
}

#[tokio::test]
async fn answer_quotes_function_responses() {
    let emu = Emulator::builder().start().await.unwrap();
    let request = json!({"tools": tools(), "contents": [
        user(PROMPT),
        {"role": "model", "parts": [
            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "sig"},
            {"functionCall": {"name": "add", "args": {"a": 17, "b": 25}}}]},
        {"role": "user", "parts": [
            {"functionResponse": {"name": "get_weather", "response": {"result": "72F"}}},
            {"functionResponse": {"name": "add", "response": {"result": 42}}}]}]});
    let answer = post(
        emu.addr(),
        &gemini("gemini-3-pro-preview", false, false),
        None,
        &request,
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(
        answer.json()["candidates"][0]["content"]["parts"][0]["text"],
        r#"Here is what the tools returned. get_weather returned: {"result":"72F"}. add returned: {"result":42}."#
    );
}

#[tokio::test]
async fn invalid_requests_get_google_rpc_errors() {
    let emu = Emulator::builder().start().await.unwrap();
    let addr = emu.addr();
    let path = gemini("gemini-3-pro-preview", false, false);
    let unsigned = json!({"contents": [
        user("hi"),
        {"role": "model", "parts": [{"functionCall": {"name": "clock", "args": {}}}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "clock", "response": {"t": "noon"}}}]}]});
    let answer = post(addr, &path, None, &unsigned).await;
    assert_eq!(answer.status, 400);
    let json = answer.json();
    assert_eq!(json["error"]["code"], 400);
    assert_eq!(json["error"]["status"], "INVALID_ARGUMENT");
    assert!(
        json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("thought_signature")
    );
    // Gemini 2.x does not require signatures.
    let older = post(
        addr,
        &gemini("gemini-2.5-flash", false, false),
        None,
        &unsigned,
    )
    .await;
    assert_eq!(older.status, 200);

    let scalar = json!({"contents": [
        user("hi"),
        {"role": "model", "parts": [{"functionCall": {"name": "clock"}, "thoughtSignature": "s"}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "clock", "response": 42}}]}]});
    assert_eq!(post(addr, &path, None, &scalar).await.status, 400);

    let missing = json!({"contents": [
        user("hi"),
        {"role": "model", "parts": [{"functionCall": {"name": "a"}, "thoughtSignature": "s"}, {"functionCall": {"name": "b"}}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "a", "response": {}}}]}]});
    let answer = post(addr, &path, None, &missing).await;
    assert_eq!(answer.status, 400);
    assert!(answer.text().contains("number of function response parts"));

    let type_array = json!({"contents": [user("hi")], "tools": [{"functionDeclarations": [{"name": "f",
        "parameters": {"type": "object", "properties": {"x": {"type": ["string", "null"]}}}}]}]});
    assert_eq!(post(addr, &path, None, &type_array).await.status, 400);
    let json_schema = json!({"contents": [user("hi")], "tools": [{"functionDeclarations": [{"name": "f",
        "parametersJsonSchema": {"type": "object", "properties": {"x": {"type": ["string", "null"]}}}}]}]});
    assert_eq!(post(addr, &path, None, &json_schema).await.status, 200);
    let empty = json!({"contents": []});
    assert_eq!(post(addr, &path, None, &empty).await.status, 400);
}
