//! Shared test helpers: a plain hyper client over loopback and SSE splitting.

#![allow(dead_code, reason = "each test binary uses a different subset")]
#![allow(unreachable_pub, reason = "a shared test module, not an API")]

use std::{net::SocketAddr, time::Duration};

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::Value;
use tokio::net::TcpStream;

pub const ANTHROPIC: &str = "/v1/messages";
pub const OPENAI: &str = "/v1/chat/completions";

pub fn gemini(model: &str, stream: bool, sse: bool) -> String {
    let method = if stream {
        "streamGenerateContent"
    } else {
        "generateContent"
    };
    let query = if sse { "?alt=sse" } else { "" };
    format!("/v1beta/models/{model}:{method}{query}")
}

/// A finished exchange.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).expect("UTF-8 body")
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

pub fn request(path: &str, conversation: Option<&str>, body: &Value) -> Request<Full<Bytes>> {
    let mut builder = Request::post(path)
        .header("content-type", "application/json")
        .header("host", "127.0.0.1")
        .header("anthropic-version", "2023-06-01");
    if let Some(id) = conversation {
        builder = builder.header("x-forge-conversation-id", id);
    }
    builder
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

/// Sends one request on a fresh HTTP/1.1 connection and returns the head.
pub async fn send_h1(addr: SocketAddr, request: Request<Full<Bytes>>) -> http::Response<Incoming> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    sender.send_request(request).await.unwrap()
}

/// Sends one request and reads the whole answer (HTTP/1.1).
pub async fn post(
    addr: SocketAddr,
    path: &str,
    conversation: Option<&str>,
    body: &Value,
) -> Answer {
    let response = send_h1(addr, request(path, conversation, body)).await;
    finish(response).await
}

pub async fn finish(response: http::Response<Incoming>) -> Answer {
    let (parts, body) = response.into_parts();
    let body = tokio::time::timeout(Duration::from_secs(20), body.collect())
        .await
        .expect("the body ends")
        .expect("the body reads cleanly")
        .to_bytes();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

/// An HTTP/2 prior-knowledge (h2c) connection.
pub async fn h2(addr: SocketAddr) -> hyper::client::conn::http2::SendRequest<Full<Bytes>> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    sender
}

/// Splits an SSE body on `separator`, dropping the empty tail.
pub fn frames<'a>(body: &'a str, separator: &str) -> Vec<&'a str> {
    body.split(separator).filter(|f| !f.is_empty()).collect()
}

/// The JSON after `data: ` in a frame.
pub fn data(frame: &str) -> Value {
    let line = frame
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .expect("a data line");
    serde_json::from_str(line).unwrap_or_else(|e| panic!("bad JSON in {frame:?}: {e}"))
}

/// The event name of an Anthropic frame.
pub fn event(frame: &str) -> &str {
    frame
        .lines()
        .find_map(|l| l.strip_prefix("event: "))
        .expect("an event line")
}

pub fn tools_anthropic() -> Value {
    serde_json::json!([
        {"name": "get_weather", "description": "Current weather for a city.",
         "input_schema": {"type": "object", "properties": {"city": {"type": "string"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
            "required": ["city", "unit"]}},
        {"name": "add", "description": "Adds two integers.",
         "input_schema": {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
            "required": ["a", "b"]}},
        {"name": "clock", "description": "Tells the time.",
         "input_schema": {"type": "object", "properties": {}}}
    ])
}

pub const PROMPT: &str = "What is the weather in Paris in fahrenheit, and add 17 and 25?";
