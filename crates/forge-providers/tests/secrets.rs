//! Finding F2 (`docs/reliability.md`): a provider that quotes the API key it
//! was sent in its error must not make forge quote it too. For each dialect,
//! a real server on 127.0.0.1 echoes the key in a 401 body (Gemini: 400
//! `API_KEY_INVALID`), in a plain-text body where the key straddles the
//! 512-byte cut of quoted provider text, in JSON that spells it with `\u`
//! escapes, and in an error event of a stream that began with HTTP 200. The errors must keep their classification,
//! show the mask, and contain no piece of the key in `Display`, `Debug` or
//! any cause.
//!
//! The key is read from the environment and tests may not set variables in
//! their own process, so the checks run in a child copy of this test binary
//! started with the variable set.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failure report"
)]

#[path = "support/mod.rs"]
mod support;

use std::{io::Write as _, process::Command, time::Duration};

use forge_core::{Error, ErrorKind, Message, Model, ModelRequest};
use forge_providers::{DeploymentConfig, ProviderKind};
use futures_util::StreamExt as _;
use serde_json::{Value, json};
use support::{Reply, Server};

const KEY: &str = "sk-forge-ECHOED-4c9e1b7a";
const KEY_VAR: &str = "FORGE_TEST_ECHOED_KEY";
const CHILD_VAR: &str = "FORGE_TEST_SECRETS_CHILD";
const MASK: &str = "[REDACTED]";

const DIALECTS: [ProviderKind; 3] = [
    ProviderKind::Anthropic,
    ProviderKind::OpenAi,
    ProviderKind::Google,
];

/// The dialect's answer to a rejected key, quoting the key in full.
fn auth_reply(kind: ProviderKind) -> Reply {
    let (status, body) = match kind {
        ProviderKind::Anthropic => (401, anthropic_error(&format!("invalid x-api-key: {KEY}"))),
        ProviderKind::OpenAi => (401, openai_error(&format!("Incorrect API key: {KEY}."))),
        _ => {
            let reason = json!({
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
            });
            let message = format!("API key not valid: {KEY}");
            let status = json!({"code": 400, "message": message, "status": "INVALID_ARGUMENT"});
            let mut body = json!({"error": status});
            body["error"]["details"] = json!([reason]);
            (400, body)
        }
    };
    Reply::json(status, &body.to_string())
}

fn anthropic_error(message: &str) -> Value {
    json!({"type": "error", "error": {"type": "authentication_error", "message": message}})
}

fn openai_error(message: &str) -> Value {
    let error = json!({"message": message, "type": "invalid_request_error"});
    let mut body = json!({"error": error});
    body["error"]["code"] = json!("invalid_api_key");
    body
}

/// A plain-text 401 whose key starts 500 bytes in, across the 512-byte cut.
fn cut_reply() -> Reply {
    let body = format!("{}{KEY} was rejected", "x".repeat(500));
    let mut reply = Reply::json(401, &body);
    reply.headers = vec![("content-type".into(), "text/plain".into())];
    reply
}

/// An Anthropic 401 spelling the key with JSON `\u` escapes, which only
/// decoding turns back into the key.
fn escaped_reply() -> Reply {
    let escaped: String = KEY
        .chars()
        .map(|c| format!("\\u{:04x}", u32::from(c)))
        .collect();
    let body = anthropic_error("bad key HERE").to_string();
    Reply::json(401, &body.replace("HERE", &escaped))
}

/// HTTP 200, then the dialect's error event quoting the key.
fn error_event_reply(kind: ProviderKind) -> Reply {
    let message = format!("key {KEY} revoked");
    let frame = match kind {
        ProviderKind::Anthropic => format!("event: error\ndata: {}\n\n", anthropic_error(&message)),
        ProviderKind::OpenAi => format!("data: {}\n\n", openai_error(&message)),
        _ => {
            let status = json!({"code": 401, "message": message, "status": "UNAUTHENTICATED"});
            format!("data: {}\r\n\r\n", json!({"error": status}))
        }
    };
    Reply::sse(&[&frame])
}

fn model(kind: ProviderKind, server: &Server) -> std::sync::Arc<dyn Model> {
    let mut d = DeploymentConfig::new(kind, "test-model");
    d.base_url = Some(match kind {
        ProviderKind::OpenAi => format!("http://{}/v1", server.addr),
        _ => format!("http://{}", server.addr),
    });
    d.api_key_env = Some(KEY_VAR.into());
    d.retry.max_retries = 0;
    d.timeouts.first_chunk = Duration::from_secs(5);
    d.timeouts.total = Some(Duration::from_secs(10));
    forge_providers::connect(&d).unwrap()
}

fn request() -> ModelRequest {
    ModelRequest::new(vec![Message::user("hi")]).max_tokens(16)
}

/// The first error of a streamed call.
async fn stream_error(model: &dyn Model) -> Error {
    let mut stream = model.stream(request());
    // Bounded: the server sends one reply and closes the body.
    while let Some(item) = stream.next().await {
        if let Err(error) = item {
            return error;
        }
    }
    panic!("the stream ended without an error")
}

/// Every text a user or a log could see of `error`.
fn exposed(error: &Error) -> String {
    let mut text = format!("{error}\n{error:?}\n");
    let mut cause = std::error::Error::source(error);
    // Bounded by the length of the source chain.
    while let Some(e) = cause {
        text.push_str(&format!("{e}\n{e:?}\n"));
        cause = e.source();
    }
    text
}

/// `error` has `kind`, shows the mask, and holds no 8-byte piece of the key.
#[track_caller]
fn assert_scrubbed(what: &str, error: &Error, kind: ErrorKind) {
    let text = exposed(error);
    assert_eq!(error.kind(), kind, "{what}: {text}");
    assert!(text.contains(MASK), "{what}: no mask in {text}");
    for piece in KEY.as_bytes().windows(8) {
        let piece = std::str::from_utf8(piece).unwrap();
        assert!(!text.contains(piece), "{what} shows `{piece}`: {text}");
    }
}

/// The key reached the server in its header: the echo was real.
#[track_caller]
fn assert_key_sent(what: &str, server: &Server) {
    let seen = server.seen();
    assert!(!seen.is_empty(), "{what}: no request arrived");
    for request in seen {
        let sent = request
            .headers
            .values()
            .any(|v| v.to_str().is_ok_and(|v| v.contains(KEY)));
        assert!(sent, "{what}: the key was not sent: {:?}", request.headers);
    }
}

async fn check_dialect(kind: ProviderKind) -> usize {
    let server = Server::start(vec![auth_reply(kind), auth_reply(kind)]).await;
    let m = model(kind, &server);
    let error = m.complete(request()).await.unwrap_err();
    assert_scrubbed(&format!("{kind:?} complete"), &error, ErrorKind::Auth);
    let error = stream_error(&*m).await;
    assert_scrubbed(&format!("{kind:?} stream"), &error, ErrorKind::Auth);
    assert_key_sent(&format!("{kind:?} auth"), &server);

    let server = Server::start(vec![cut_reply()]).await;
    let error = model(kind, &server).complete(request()).await.unwrap_err();
    assert_scrubbed(&format!("{kind:?} cut"), &error, ErrorKind::Auth);
    assert_key_sent(&format!("{kind:?} cut"), &server);

    let server = Server::start(vec![escaped_reply()]).await;
    let error = model(kind, &server).complete(request()).await.unwrap_err();
    assert_scrubbed(&format!("{kind:?} escaped"), &error, ErrorKind::Auth);

    let server = Server::start(vec![error_event_reply(kind)]).await;
    let error = stream_error(&*model(kind, &server)).await;
    assert_scrubbed(&format!("{kind:?} event"), &error, ErrorKind::ErrorAfterOk);
    assert_key_sent(&format!("{kind:?} event"), &server);
    5
}

/// Runs inside the child only (see the module docs); a no-op otherwise.
#[test]
fn child_echoed_key_checks() {
    if std::env::var_os(CHILD_VAR).is_none() {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let checked: usize = rt.block_on(async {
        let mut checked = 0;
        for kind in DIALECTS {
            checked += check_dialect(kind).await;
        }
        checked
    });
    // The parent looks for this line, so an early return cannot pass.
    std::io::stdout()
        .write_all(format!("CHECKED {checked} errors\n").as_bytes())
        .unwrap();
}

#[test]
fn a_key_the_provider_echoes_is_masked_in_errors() {
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_echoed_key_checks",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_VAR, "1")
        .env(KEY_VAR, KEY)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "child failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("CHECKED 15 errors"),
        "the child ran no checks:\n{stdout}"
    );
}
