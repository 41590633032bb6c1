//! The server itself: binding, h2c, determinism, latency, shutdown.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap fails the test; helpers outside #[test] fns need this too"
)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use forge_emulator::{Dialect, Emulator, Latency};
use serde_json::{Value, json};

fn anthropic(stream: bool) -> Value {
    json!({"model": "claude", "max_tokens": 500, "stream": stream, "tools": tools_anthropic(),
           "messages": [{"role": "user", "content": PROMPT}]})
}

#[tokio::test]
async fn binds_loopback_ephemeral_by_default() {
    let emu = Emulator::builder().start().await.unwrap();
    let addr = emu.addr();
    assert!(addr.ip().is_loopback());
    assert_ne!(addr.port(), 0);
    assert_eq!(emu.base_url(Dialect::Anthropic), format!("http://{addr}"));
    assert_eq!(emu.openai_url(), format!("http://{addr}/v1"));
    assert_eq!(emu.gemini_url(), format!("http://{addr}"));
    assert_eq!(emu.anthropic_url(), emu.base_url(Dialect::Anthropic));
    assert_eq!("gemini".parse::<Dialect>().unwrap(), Dialect::Gemini);
    assert!("cohere".parse::<Dialect>().unwrap_err().is_config());
}

#[tokio::test]
async fn shutdown_closes_the_port() {
    let emu = Emulator::builder().start().await.unwrap();
    let addr = emu.addr();
    assert_eq!(
        post(addr, ANTHROPIC, None, &anthropic(false)).await.status,
        200
    );
    emu.shutdown().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn unknown_paths_are_404() {
    let emu = Emulator::builder().start().await.unwrap();
    let answer = post(emu.addr(), "/v1/completions", None, &json!({})).await;
    assert_eq!(answer.status, 404);
    let answer = post(emu.addr(), "/v1beta/models/g:countTokens", None, &json!({})).await;
    assert_eq!(answer.status, 404);
}

#[tokio::test]
async fn h2c_prior_knowledge_serves_concurrent_streams() {
    let emu = Emulator::builder().seed(4).start().await.unwrap();
    let sender = h2(emu.addr()).await;
    let mut tasks = Vec::new();
    for index in 0..8 {
        let mut sender = sender.clone();
        let id = format!("h2-{index}");
        tasks.push(tokio::spawn(async move {
            let request = request(ANTHROPIC, Some(&id), &anthropic(index % 2 == 0));
            let response = sender.send_request(request).await.unwrap();
            assert_eq!(response.version(), http::Version::HTTP_2);
            finish(response).await
        }));
    }
    for (index, task) in tasks.into_iter().enumerate() {
        let answer = task.await.unwrap();
        assert_eq!(answer.status, 200);
        if index % 2 == 0 {
            assert!(
                answer
                    .text()
                    .ends_with("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
            );
        } else {
            assert_eq!(answer.json()["stop_reason"], "tool_use");
        }
    }
    // The same connection speaks the other dialects too.
    let mut sender = sender.clone();
    let body = json!({"contents": [{"role": "user", "parts": [{"text": "hello"}]}]});
    let path = gemini("gemini-2.5-pro", true, true);
    let response = sender
        .send_request(request(&path, None, &body))
        .await
        .unwrap();
    let answer = finish(response).await;
    assert!(answer.text().ends_with("\r\n\r\n"));
}

#[tokio::test]
async fn same_seed_same_bytes_other_seed_other_ids() {
    async fn run(seed: u64) -> Vec<String> {
        let emu = Emulator::builder().seed(seed).start().await.unwrap();
        let openai = json!({"model": "gpt-4o", "stream": true,
            "stream_options": {"include_usage": true},
            "messages": [{"role": "user", "content": PROMPT}]});
        let gemini_body = json!({"contents": [{"role": "user", "parts": [{"text": PROMPT}]}]});
        let path = gemini("gemini-2.5-flash", true, true);
        vec![
            post(emu.addr(), ANTHROPIC, Some("d1"), &anthropic(true))
                .await
                .text()
                .to_owned(),
            post(emu.addr(), ANTHROPIC, Some("d2"), &anthropic(false))
                .await
                .text()
                .to_owned(),
            post(emu.addr(), OPENAI, Some("d1"), &openai)
                .await
                .text()
                .to_owned(),
            post(emu.addr(), &path, Some("d1"), &gemini_body)
                .await
                .text()
                .to_owned(),
        ]
    }
    let first = run(11).await;
    assert_eq!(first, run(11).await);
    let other = run(12).await;
    for (a, b) in first.iter().zip(&other) {
        assert_ne!(a, b);
    }
}

#[tokio::test]
async fn latency_shapes_first_token_gap_and_length() {
    let latency = Latency {
        first_token: Duration::from_millis(150),
        between_tokens: Duration::from_millis(5),
        answer_words: 30,
    };
    let emu = Emulator::builder().latency(latency).start().await.unwrap();
    let request = json!({"model": "gpt-4o", "stream": true,
        "messages": [{"role": "user", "content": "hello"}]});
    let started = Instant::now();
    let answer = post(emu.addr(), OPENAI, None, &request).await;
    assert!(started.elapsed() >= Duration::from_millis(150 + 5 * 25));
    let text: String = frames(answer.text(), "\n\n")
        .iter()
        .filter(|f| **f != "data: [DONE]")
        .filter_map(|f| {
            data(f)["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert!(text.starts_with("You asked: hello."));
    assert_eq!(text.split_whitespace().count(), 30);
}
