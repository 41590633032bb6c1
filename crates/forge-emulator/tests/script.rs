//! Script policy: per-conversation replay over real loopback sockets.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap fails the test; helpers outside #[test] fns need this too"
)]

mod common;

use common::*;
use forge_emulator::{Emulator, FaultKind, Script, ScriptTurn};
use serde_json::{Value, json};

const SCRIPT: &str = r#"
# two conversations, each with its own turns
{"conversation":"c1","text":"Let me check.","calls":[{"name":"get_weather","arguments":{"city":"Oslo","unit":"celsius"}}]}
{"conversation":"c1","text":"It is cold in Oslo."}
// c2 sends a wrong type and then raw invalid JSON
{"conversation":"c2","calls":[{"name":"add","arguments":{"a":"two","b":3}},{"name":"clock"}]}
{"conversation":"c2","turn":1,"calls":[{"name":"add","arguments":"{\"a\": 2,"}]}
{"conversation":"c3","faults":["rate_limited","server_error"],"text":"Third time lucky."}
"#;

fn openai_tools() -> Value {
    let tools: Vec<Value> = tools_anthropic()
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            json!({"type": "function", "function": {
                "name": t["name"], "description": t["description"],
                "parameters": t["input_schema"]}})
        })
        .collect();
    Value::Array(tools)
}

fn openai_first(stream: bool) -> Value {
    json!({"model": "gpt-4o", "stream": stream, "tools": openai_tools(),
           "messages": [{"role": "user", "content": PROMPT}]})
}

fn anthropic_first(stream: bool) -> Value {
    json!({"model": "claude", "max_tokens": 500, "stream": stream, "tools": tools_anthropic(),
           "messages": [{"role": "user", "content": PROMPT}]})
}

#[tokio::test]
async fn each_conversation_replays_its_own_turns() {
    let emu = Emulator::builder()
        .script(Script::parse(SCRIPT).unwrap())
        .start()
        .await
        .unwrap();
    let addr = emu.addr();
    let c1 = post(addr, OPENAI, Some("c1"), &openai_first(false))
        .await
        .json();
    let message = &c1["choices"][0]["message"];
    assert_eq!(message["content"], "Let me check.");
    let call = &message["tool_calls"][0];
    assert_eq!(call["function"]["name"], "get_weather");
    assert_eq!(
        call["function"]["arguments"],
        r#"{"city":"Oslo","unit":"celsius"}"#
    );
    assert_eq!(c1["choices"][0]["finish_reason"], "tool_calls");

    let c2 = post(addr, OPENAI, Some("c2"), &openai_first(false))
        .await
        .json();
    let calls = c2["choices"][0]["message"]["tool_calls"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0]["function"]["arguments"], r#"{"a":"two","b":3}"#);
    assert_eq!(calls[1]["function"]["name"], "clock");
    assert_eq!(calls[1]["function"]["arguments"], "{}");

    // The second turn of c1 answers the tool results.
    let id = call["id"].as_str().unwrap();
    let second = json!({"model": "gpt-4o", "tools": openai_tools(), "messages": [
        {"role": "user", "content": PROMPT},
        message,
        {"role": "tool", "tool_call_id": id, "content": "-3C"}]});
    let c1 = post(addr, OPENAI, Some("c1"), &second).await.json();
    assert_eq!(
        c1["choices"][0]["message"]["content"],
        "It is cold in Oslo."
    );
    assert_eq!(c1["choices"][0]["finish_reason"], "stop");

    // A conversation without a script uses the default policy.
    let other = post(addr, OPENAI, Some("c9"), &openai_first(false))
        .await
        .json();
    assert_eq!(
        other["choices"][0]["message"]["content"],
        "I will use get_weather and add."
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn raw_invalid_arguments_travel_verbatim() {
    let emu = Emulator::builder()
        .script(Script::parse(SCRIPT).unwrap())
        .start()
        .await
        .unwrap();
    let turn1 = json!({"model": "gpt-4o", "stream": true, "tools": openai_tools(), "messages": [
        {"role": "user", "content": PROMPT},
        {"role": "assistant", "content": null, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "add", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "error"}]});
    let answer = post(emu.addr(), OPENAI, Some("c2"), &turn1).await;
    let chunks: Vec<Value> = frames(answer.text(), "\n\n")
        .iter()
        .filter(|f| **f != "data: [DONE]")
        .map(|f| data(f))
        .collect();
    let arguments: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"].as_str())
        .collect();
    assert_eq!(arguments, r#"{"a": 2,"#);

    // Anthropic streams the same raw text as partial_json pieces.
    let turn1 = json!({"model": "claude", "max_tokens": 500, "stream": true,
        "tools": tools_anthropic(), "messages": [
        {"role": "user", "content": PROMPT},
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "toolu_1", "name": "add", "input": {}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "bad", "is_error": true}]}]});
    let answer = post(emu.addr(), ANTHROPIC, Some("c2"), &turn1).await;
    let partial: String = frames(answer.text(), "\n\n")
        .iter()
        .map(|f| data(f))
        .filter_map(|d| d["delta"]["partial_json"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(partial, r#"{"a": 2,"#);
}

#[tokio::test]
async fn wrong_types_reach_anthropic_input_unchanged() {
    let emu = Emulator::builder()
        .script(Script::parse(SCRIPT).unwrap())
        .start()
        .await
        .unwrap();
    let json = post(emu.addr(), ANTHROPIC, Some("c2"), &anthropic_first(false))
        .await
        .json();
    assert_eq!(json["stop_reason"], "tool_use");
    assert_eq!(json["content"][0]["type"], "tool_use");
    assert_eq!(json["content"][0]["input"], json!({"a": "two", "b": 3}));
    assert_eq!(json["content"][1]["input"], json!({}));
}

#[tokio::test]
async fn scripted_faults_fail_successive_attempts() {
    let emu = Emulator::builder()
        .script(Script::parse(SCRIPT).unwrap())
        .start()
        .await
        .unwrap();
    let first = post(emu.addr(), ANTHROPIC, Some("c3"), &anthropic_first(false)).await;
    assert_eq!(first.status, 429);
    assert_eq!(first.json()["error"]["type"], "rate_limit_error");
    let second = post(emu.addr(), ANTHROPIC, Some("c3"), &anthropic_first(false)).await;
    assert_eq!(second.status, 500);
    assert_eq!(second.json()["error"]["type"], "api_error");
    let third = post(emu.addr(), ANTHROPIC, Some("c3"), &anthropic_first(false)).await;
    assert_eq!(third.status, 200);
    assert_eq!(third.json()["content"][0]["text"], "Third time lucky.");
}

#[tokio::test]
async fn gemini_replays_calls_without_ids() {
    let mut script = Script::new();
    script.push(
        "g1",
        ScriptTurn::new()
            .call("add", json!({"a": 1, "b": 2}))
            .call("clock", json!({})),
    );
    let emu = Emulator::builder().script(script).start().await.unwrap();
    let declarations: Vec<Value> = tools_anthropic()
        .as_array()
        .unwrap()
        .iter()
        .map(|t| json!({"name": t["name"], "parameters": t["input_schema"]}))
        .collect();
    let request = json!({"tools": [{"functionDeclarations": declarations}],
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}]});
    let path = gemini("gemini-2.5-flash", false, false);
    let json = post(emu.addr(), &path, Some("g1"), &request).await.json();
    let parts = json["candidates"][0]["content"]["parts"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(parts.len(), 2);
    assert_eq!(
        parts[0]["functionCall"],
        json!({"name": "add", "args": {"a": 1, "b": 2}})
    );
    assert!(parts[0]["thoughtSignature"].is_string());
    assert!(parts[1].get("thoughtSignature").is_none());
    assert!(parts[1]["functionCall"].get("id").is_none());
}

#[tokio::test]
async fn script_path_is_read_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("script.jsonl");
    std::fs::write(&path, SCRIPT).unwrap();
    let emu = Emulator::builder()
        .script_path(&path)
        .start()
        .await
        .unwrap();
    let json = post(emu.addr(), ANTHROPIC, Some("c1"), &anthropic_first(false))
        .await
        .json();
    assert_eq!(json["content"][0]["text"], "Let me check.");
    assert_eq!(
        json["content"][1]["input"],
        json!({"city": "Oslo", "unit": "celsius"})
    );

    let missing = Emulator::builder()
        .script_path(dir.path().join("nope"))
        .start()
        .await;
    assert!(missing.unwrap_err().is_io());
}

#[test]
fn invalid_script_lines_are_config_errors_naming_the_line() {
    let error = Script::parse("{\"conversation\":\"a\"}\n{\"conversation\":1}").unwrap_err();
    assert!(error.is_config());
    assert!(error.to_string().starts_with("script line 2:"), "{error}");
    let error = Script::parse(r#"{"conversation":"a","faults":["nope"]}"#).unwrap_err();
    assert!(
        error.to_string().contains("unknown fault kind `nope`"),
        "{error}"
    );
    let error = Script::parse(r#"{"conversation":"a","extra":1}"#).unwrap_err();
    assert!(error.is_config());
}

#[test]
fn turns_are_numbered_per_conversation() {
    let script = Script::parse(SCRIPT).unwrap();
    assert_eq!(script.len(), 3);
    assert_eq!(script.turns("c1"), 2);
    assert_eq!(script.turns("c2"), 2);
    assert_eq!(script.turns("nobody"), 0);
    let built = ScriptTurn::new()
        .fault(FaultKind::Stall)
        .stop_at_max_tokens();
    let mut script = Script::new();
    script.insert("x", 3, built);
    assert_eq!(script.turns("x"), 4);
}

#[tokio::test]
async fn concurrent_conversations_each_replay_their_own_script() {
    let mut script = Script::new();
    for index in 0..64 {
        let text = format!("answer for conversation {index}");
        script.push(format!("k{index}"), ScriptTurn::new().text(text));
    }
    let latency = forge_emulator::Latency {
        first_token: std::time::Duration::from_millis(20),
        ..forge_emulator::Latency::none()
    };
    let emu = Emulator::builder()
        .script(script)
        .latency(latency)
        .start()
        .await
        .unwrap();
    let sender = h2(emu.addr()).await;
    let mut tasks = Vec::new();
    for index in 0..64 {
        let mut sender = sender.clone();
        tasks.push(tokio::spawn(async move {
            let id = format!("k{index}");
            let body = anthropic_first(index % 2 == 0);
            let response = sender
                .send_request(request(ANTHROPIC, Some(&id), &body))
                .await;
            (index, finish(response.unwrap()).await)
        }));
    }
    for task in tasks {
        let (index, answer) = task.await.unwrap();
        let expected = format!("answer for conversation {index}");
        if index % 2 == 0 {
            let text: String = frames(answer.text(), "\n\n")
                .iter()
                .map(|f| data(f))
                .filter_map(|d| d["delta"]["text"].as_str().map(str::to_owned))
                .collect();
            assert_eq!(text, expected);
        } else {
            assert_eq!(answer.json()["content"][0]["text"], expected);
        }
    }
    assert_eq!(emu.requests(), 64);
}

#[tokio::test]
async fn scripted_thinking_is_signed_and_must_come_back_unchanged() {
    let mut script = Script::new();
    script.push(
        "t1",
        ScriptTurn::new()
            .thinking("The user wants a sum.")
            .call("add", json!({"a": 1, "b": 2})),
    );
    let emu = Emulator::builder().script(script).start().await.unwrap();
    let whole = post(emu.addr(), ANTHROPIC, Some("t1"), &anthropic_first(false))
        .await
        .json();
    let thinking = whole["content"][0].clone();
    assert_eq!(thinking["type"], "thinking");
    assert_eq!(thinking["thinking"], "The user wants a sum.");
    let signature = thinking["signature"].as_str().unwrap().to_owned();
    assert!(!signature.is_empty());
    assert_eq!(whole["content"][1]["type"], "tool_use");

    let answer = post(emu.addr(), ANTHROPIC, Some("t1"), &anthropic_first(true)).await;
    let deltas: Vec<Value> = frames(answer.text(), "\n\n")
        .iter()
        .map(|f| data(f))
        .filter(|d| d["index"] == 0 && d["type"] == "content_block_delta")
        .collect();
    let streamed: String = deltas
        .iter()
        .filter_map(|d| d["delta"]["thinking"].as_str())
        .collect();
    assert_eq!(streamed, "The user wants a sum.");
    let last = deltas.last().unwrap();
    assert_eq!(last["delta"]["type"], "signature_delta");
    assert_eq!(last["delta"]["signature"], signature.as_str());

    let next = |thinking: Value| {
        json!({"model": "claude", "max_tokens": 500, "tools": tools_anthropic(), "messages": [
            {"role": "user", "content": PROMPT},
            {"role": "assistant", "content": [thinking, whole["content"][1].clone()]},
            {"role": "user", "content": [{"type": "tool_result",
                "tool_use_id": whole["content"][1]["id"], "content": "3"}]}]})
    };
    let ok = post(emu.addr(), ANTHROPIC, Some("t1"), &next(thinking.clone())).await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    let mut tampered = thinking.clone();
    tampered["thinking"] = json!("Something else.");
    let bad = post(emu.addr(), ANTHROPIC, Some("t1"), &next(tampered)).await;
    assert_eq!(bad.status, 400);
    let message = bad.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(
        message.ends_with("Invalid `signature` in `thinking` block"),
        "{message}"
    );

    // Gemini shows it as a thought part before the call.
    let request = json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "tools": [{"functionDeclarations": [{"name": "add"}]}]});
    let path = gemini("gemini-2.5-flash", true, true);
    let answer = post(emu.addr(), &path, Some("t1"), &request).await;
    let chunks = frames(answer.text(), "\r\n\r\n");
    let first = data(chunks[0]);
    let part = &first["candidates"][0]["content"]["parts"][0];
    assert_eq!(
        part,
        &json!({"text": "The user wants a sum.", "thought": true})
    );
}
