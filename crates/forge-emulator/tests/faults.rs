//! Fault injection over real loopback sockets, per dialect.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap fails the test; helpers outside #[test] fns need this too"
)]

mod common;

use std::time::Duration;

use bytes::BytesMut;
use common::*;
use forge_emulator::{Emulator, EmulatorHandle, FaultKind, FaultSpec};
use http_body_util::BodyExt;
use serde_json::{Value, json};

fn anthropic(stream: bool) -> Value {
    json!({"model": "claude", "max_tokens": 500, "stream": stream,
           "messages": [{"role": "user", "content": "one two three four five six seven"}]})
}

fn openai(stream: bool) -> Value {
    json!({"model": "gpt-4o", "stream": stream,
           "messages": [{"role": "user", "content": "one two three four five six seven"}]})
}

fn gemini_body() -> Value {
    json!({"contents": [{"role": "user", "parts": [{"text": "one two three four five six"}]}]})
}

async fn with_fault(spec: &str) -> EmulatorHandle {
    let faults: FaultSpec = spec.parse().unwrap();
    Emulator::builder()
        .seed(9)
        .faults(faults)
        .start()
        .await
        .unwrap()
}

/// Reads a body until it ends, fails, or stays silent for `quiet`.
async fn read_until(
    response: http::Response<hyper::body::Incoming>,
    quiet: Duration,
) -> (String, &'static str) {
    let mut body = response.into_body();
    let mut bytes = BytesMut::new();
    for _ in 0..10_000 {
        match tokio::time::timeout(quiet, body.frame()).await {
            Err(_) => return (text(bytes), "silent"),
            Ok(None) => return (text(bytes), "ended"),
            Ok(Some(Err(_))) => return (text(bytes), "failed"),
            Ok(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    bytes.extend_from_slice(&data);
                }
            }
        }
    }
    panic!("the body never ended");
}

fn text(bytes: BytesMut) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[tokio::test]
async fn rate_limits_carry_each_dialects_retry_hints() {
    let emu = with_fault("rate_limited,retry_after=3").await;
    let answer = post(emu.addr(), ANTHROPIC, None, &anthropic(false)).await;
    assert_eq!(answer.status, 429);
    assert_eq!(answer.header("retry-after"), Some("3"));
    assert_eq!(answer.header("x-should-retry"), Some("true"));
    let reset = answer.header("anthropic-ratelimit-requests-reset").unwrap();
    assert!(reset.ends_with('Z') && reset.contains('T'), "{reset}");
    assert_eq!(answer.json()["error"]["type"], "rate_limit_error");
    assert_eq!(answer.json()["type"], "error");

    let answer = post(emu.addr(), OPENAI, None, &openai(false)).await;
    assert_eq!(answer.status, 429);
    assert_eq!(answer.header("retry-after"), Some("3"));
    assert_eq!(answer.header("x-ratelimit-reset-requests"), Some("3s"));
    assert_eq!(answer.json()["error"]["code"], "rate_limit_exceeded");

    let path = gemini("gemini-2.5-flash", false, false);
    let answer = post(emu.addr(), &path, None, &gemini_body()).await;
    assert_eq!(answer.status, 429);
    assert_eq!(answer.header("retry-after"), None);
    let error = &answer.json()["error"];
    assert_eq!(error["status"], "RESOURCE_EXHAUSTED");
    let details = error["details"].as_array().unwrap();
    let retry = details
        .iter()
        .find(|d| d["@type"] == "type.googleapis.com/google.rpc.RetryInfo")
        .unwrap();
    assert_eq!(retry["retryDelay"], "3s");
}

#[tokio::test]
async fn retry_after_as_http_date_and_milliseconds() {
    let emu = with_fault("rate_limited_date,retry_after=2").await;
    let answer = post(emu.addr(), OPENAI, None, &openai(false)).await;
    let date = answer.header("retry-after").unwrap();
    assert!(date.ends_with(" GMT"), "{date}");
    assert!(httpdate_like(date), "{date}");

    let emu = with_fault("rate_limited_ms,retry_after=1500ms").await;
    let answer = post(emu.addr(), ANTHROPIC, None, &anthropic(false)).await;
    assert_eq!(answer.header("retry-after-ms"), Some("1500"));
    assert_eq!(answer.header("retry-after"), None);
    let path = gemini("gemini-2.5-flash", false, false);
    let answer = post(emu.addr(), &path, None, &gemini_body()).await;
    assert_eq!(answer.header("retry-after-ms"), Some("1500"));
    assert!(
        answer.text().contains("\"retryDelay\": \"1.5s\""),
        "{}",
        answer.text()
    );
}

fn httpdate_like(date: &str) -> bool {
    // "Thu, 03 Dec 2026 19:30:00 GMT"
    date.len() == 29 && date.as_bytes()[3] == b','
}

#[tokio::test]
async fn quota_is_distinct_from_rate_limits() {
    let emu = with_fault("quota_exhausted").await;
    let answer = post(emu.addr(), OPENAI, None, &openai(false)).await;
    assert_eq!(answer.status, 429);
    assert_eq!(answer.json()["error"]["code"], "insufficient_quota");
    assert_eq!(answer.header("retry-after"), None);
    let path = gemini("gemini-2.5-flash", false, false);
    let answer = post(emu.addr(), &path, None, &gemini_body()).await;
    assert_eq!(answer.status, 429);
    assert!(!answer.text().contains("RetryInfo"));
    assert!(answer.text().contains("PerDay"));
    let answer = post(emu.addr(), ANTHROPIC, None, &anthropic(false)).await;
    assert_eq!(answer.status, 400);
    assert!(
        answer.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("credit balance")
    );
}

#[tokio::test]
async fn server_statuses_per_dialect() {
    let cases = [
        ("server_error", 500, 500, 500),
        ("unavailable", 503, 503, 503),
        ("gateway_timeout", 504, 504, 504),
        ("overloaded", 529, 503, 503),
        ("auth", 401, 401, 400),
    ];
    for (kind, anthropic_status, openai_status, gemini_status) in cases {
        let emu = with_fault(kind).await;
        let answer = post(emu.addr(), ANTHROPIC, None, &anthropic(true)).await;
        assert_eq!(answer.status, anthropic_status, "{kind}");
        assert_eq!(answer.json()["type"], "error");
        let answer = post(emu.addr(), OPENAI, None, &openai(true)).await;
        assert_eq!(answer.status, openai_status, "{kind}");
        assert!(answer.json()["error"]["message"].is_string());
        let path = gemini("gemini-2.5-flash", true, true);
        let answer = post(emu.addr(), &path, None, &gemini_body()).await;
        assert_eq!(answer.status, gemini_status, "{kind}");
        assert_eq!(answer.json()["error"]["code"], gemini_status);
        emu.shutdown().await;
    }
    let emu = with_fault("overloaded").await;
    let answer = post(emu.addr(), ANTHROPIC, None, &anthropic(false)).await;
    assert_eq!(answer.json()["error"]["type"], "overloaded_error");
    let emu = with_fault("auth").await;
    let path = gemini("gemini-2.5-flash", false, false);
    let answer = post(emu.addr(), &path, None, &gemini_body()).await;
    assert!(answer.text().contains("API_KEY_INVALID"));
}

#[tokio::test]
async fn error_event_after_200_per_dialect() {
    let emu = with_fault("error_after_ok,at=2").await;
    let answer = post(emu.addr(), ANTHROPIC, None, &anthropic(true)).await;
    assert_eq!(answer.status, 200);
    let anthropic_frames = frames(answer.text(), "\n\n");
    assert_eq!(anthropic_frames.len(), 3);
    assert_eq!(event(anthropic_frames[2]), "error");
    assert_eq!(
        data(anthropic_frames[2])["error"]["type"],
        "overloaded_error"
    );
    assert!(!answer.text().contains("message_stop"));

    let answer = post(emu.addr(), OPENAI, None, &openai(true)).await;
    let openai_frames = frames(answer.text(), "\n\n");
    assert_eq!(data(openai_frames[2])["error"]["type"], "server_error");
    assert!(!answer.text().contains("[DONE]"));

    let path = gemini("gemini-2.5-flash", true, true);
    let answer = post(emu.addr(), &path, None, &gemini_body()).await;
    let gemini_frames = frames(answer.text(), "\r\n\r\n");
    assert_eq!(
        data(gemini_frames[gemini_frames.len() - 1])["error"]["status"],
        "INTERNAL"
    );
}

#[tokio::test]
async fn truncated_stream_ends_cleanly_without_terminator() {
    let emu = with_fault("stream_truncated,at=3").await;
    let answer = post(emu.addr(), OPENAI, None, &openai(true)).await;
    assert_eq!(answer.status, 200);
    assert_eq!(frames(answer.text(), "\n\n").len(), 3);
    assert!(!answer.text().contains("[DONE]"));
    let answer = post(emu.addr(), ANTHROPIC, None, &anthropic(true)).await;
    assert!(!answer.text().contains("message_stop"));
    let path = gemini("gemini-2.5-flash", true, true);
    let answer = post(emu.addr(), &path, None, &gemini_body()).await;
    assert!(!answer.text().contains("finishReason"));
}

#[tokio::test]
async fn connection_reset_mid_stream() {
    let emu = with_fault("connection_reset,at=2").await;
    let response = send_h1(emu.addr(), request(OPENAI, None, &openai(true))).await;
    assert_eq!(response.status(), 200);
    let (body, how) = read_until(response, Duration::from_secs(10)).await;
    assert_eq!(how, "failed");
    assert!(body.starts_with("data: {"));
    assert!(!body.contains("[DONE]"));
}

#[tokio::test]
async fn stall_sends_some_frames_then_nothing() {
    let emu = with_fault("stall,at=2").await;
    let response = send_h1(emu.addr(), request(ANTHROPIC, None, &anthropic(true))).await;
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    // Frames due together leave as one write: both arrive in the first chunk.
    let first = tokio::time::timeout(Duration::from_secs(10), body.frame())
        .await
        .expect("the first frames arrive")
        .unwrap()
        .unwrap();
    let first = String::from_utf8(first.into_data().unwrap().to_vec()).unwrap();
    assert_eq!(frames(&first, "\n\n").len(), 2, "{first}");
    let next = tokio::time::timeout(Duration::from_millis(300), body.frame()).await;
    assert!(next.is_err(), "then nothing");
    emu.shutdown().await;
}

#[tokio::test]
async fn no_response_never_answers() {
    let emu = with_fault("no_response").await;
    let pending = send_h1(emu.addr(), request(OPENAI, None, &openai(false)));
    let waited = tokio::time::timeout(Duration::from_millis(300), pending).await;
    assert!(waited.is_err(), "no head arrives");
    for _ in 0..100 {
        if emu.requests() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(emu.requests(), 1, "the request was read");
    emu.shutdown().await;
}

#[tokio::test]
async fn malformed_chunk_has_invalid_json() {
    let emu = with_fault("malformed_chunk,at=2").await;
    let answer = post(emu.addr(), OPENAI, None, &openai(true)).await;
    let frames = frames(answer.text(), "\n\n");
    let bad = frames[2].strip_prefix("data: ").unwrap();
    assert!(serde_json::from_str::<Value>(bad).is_err(), "{bad}");
    assert_eq!(frames.last().unwrap(), &"data: [DONE]");
    // Non-streaming: the body is cut short.
    let answer = post(emu.addr(), ANTHROPIC, None, &anthropic(false)).await;
    assert_eq!(answer.status, 200);
    assert!(serde_json::from_slice::<Value>(&answer.body).is_err());
}

#[tokio::test]
async fn oversized_event_and_body() {
    let emu = with_fault("oversized,oversize=300000").await;
    let answer = post(emu.addr(), ANTHROPIC, None, &anthropic(true)).await;
    let frames = frames(answer.text(), "\n\n");
    let big = frames.iter().find(|f| f.len() > 250_000).unwrap();
    assert_eq!(event(big), "content_block_delta");
    assert!(data(big)["delta"]["text"].as_str().unwrap().len() > 250_000);
    let path = gemini("gemini-2.5-flash", false, false);
    let answer = post(emu.addr(), &path, None, &gemini_body()).await;
    assert_eq!(answer.body.len(), 300_000);
    assert!(answer.json()["candidates"].is_array());
}

#[tokio::test]
async fn seeded_rate_fails_the_same_attempts() {
    async fn outcomes(seed: u64) -> Vec<u16> {
        let spec: FaultSpec = "rate=0.5,kinds=server_error".parse().unwrap();
        let emu = Emulator::builder()
            .seed(seed)
            .faults(spec)
            .start()
            .await
            .unwrap();
        let mut statuses = Vec::new();
        for index in 0..24 {
            let id = format!("conv-{index}");
            let answer = post(emu.addr(), OPENAI, Some(&id), &openai(false)).await;
            statuses.push(answer.status.as_u16());
        }
        statuses
    }
    let first = outcomes(5).await;
    assert_eq!(first, outcomes(5).await);
    assert!(first.contains(&500) && first.contains(&200), "{first:?}");
}

#[test]
fn fault_spec_grammar() {
    let spec: FaultSpec = "rate=0.05,kinds=rate_limited|server_error".parse().unwrap();
    assert_eq!(spec.rate(), 0.05);
    assert_eq!(
        spec.kinds(),
        &[FaultKind::RateLimited, FaultKind::ServerError]
    );
    let spec: FaultSpec = "stall, at=3, retry_after=250ms, oversize=1024"
        .parse()
        .unwrap();
    assert_eq!(spec.rate(), 1.0);
    assert_eq!(spec.kinds(), &[FaultKind::Stall]);
    assert_eq!(spec.at(), Some(3));
    assert_eq!(spec.retry_after(), Duration::from_millis(250));
    assert_eq!(spec.oversize(), 1024);
    let none: FaultSpec = "none".parse().unwrap();
    assert_eq!(none.rate(), 0.0);
    assert_eq!("".parse::<FaultSpec>().unwrap(), FaultSpec::none());
    let round: FaultSpec = spec.to_string().parse().unwrap();
    assert_eq!(round, spec);
    for bad in [
        "rate=2",
        "rate=x",
        "kinds=bogus",
        "colour=red",
        "retry_after=soon",
    ] {
        let error = bad.parse::<FaultSpec>().unwrap_err();
        assert!(error.is_config(), "{bad}");
    }
    for kind in FaultKind::ALL {
        assert_eq!(kind.as_str().parse::<FaultKind>().unwrap(), kind);
    }
}

#[tokio::test]
async fn connection_reset_over_h2c_resets_the_stream() {
    let emu = with_fault("connection_reset,at=2").await;
    let mut sender = h2(emu.addr()).await;
    let response = sender
        .send_request(request(ANTHROPIC, None, &anthropic(true)))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let (body, how) = read_until(response, Duration::from_secs(10)).await;
    assert_eq!(how, "failed");
    assert!(body.starts_with("event: message_start\n"), "{body}");
    assert!(!body.contains("message_stop"));
}

#[tokio::test]
async fn content_filter_answers_200_without_content() {
    let emu = with_fault("content_filtered").await;
    let json = post(emu.addr(), ANTHROPIC, None, &anthropic(false))
        .await
        .json();
    assert_eq!(json["stop_reason"], "refusal");
    assert_eq!(json["content"], json!([]));
    let answer = post(emu.addr(), ANTHROPIC, None, &anthropic(true)).await;
    let events: Vec<&str> = frames(answer.text(), "\n\n")
        .iter()
        .map(|f| event(f))
        .collect();
    assert_eq!(
        events,
        ["message_start", "ping", "message_delta", "message_stop"]
    );

    let json = post(emu.addr(), OPENAI, None, &openai(false)).await.json();
    assert_eq!(json["choices"][0]["finish_reason"], "content_filter");
    assert_eq!(json["choices"][0]["message"]["content"], Value::Null);
    let answer = post(emu.addr(), OPENAI, None, &openai(true)).await;
    assert!(
        answer
            .text()
            .contains(r#""finish_reason":"content_filter""#)
    );
    assert!(answer.text().ends_with("data: [DONE]\n\n"));

    let path = gemini("gemini-2.5-flash", false, false);
    let json = post(emu.addr(), &path, None, &gemini_body()).await.json();
    assert!(json.get("candidates").is_none());
    assert_eq!(json["promptFeedback"]["blockReason"], "SAFETY");
    let path = gemini("gemini-2.5-flash", true, true);
    let answer = post(emu.addr(), &path, None, &gemini_body()).await;
    let chunks = frames(answer.text(), "\r\n\r\n");
    assert_eq!(chunks.len(), 1);
    assert_eq!(data(chunks[0])["promptFeedback"]["blockReason"], "SAFETY");
}

#[tokio::test]
async fn unknown_model_is_a_404_per_dialect() {
    let emu = with_fault("not_found").await;
    let answer = post(emu.addr(), ANTHROPIC, None, &anthropic(false)).await;
    assert_eq!(answer.status, 404);
    assert_eq!(answer.json()["error"]["type"], "not_found_error");
    assert_eq!(answer.json()["error"]["message"], "model: claude");
    let answer = post(emu.addr(), OPENAI, None, &openai(true)).await;
    assert_eq!(answer.status, 404);
    assert_eq!(answer.json()["error"]["code"], "model_not_found");
    let path = gemini("gemini-9", false, false);
    let answer = post(emu.addr(), &path, None, &gemini_body()).await;
    assert_eq!(answer.status, 404);
    assert_eq!(answer.json()["error"]["status"], "NOT_FOUND");
    assert!(
        answer.json()["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("models/gemini-9 ")
    );
}
