//! The conformance suite, generic over a provider's fixtures.

use std::{net::SocketAddr, time::Duration};

use forge_core::{
    Content, Error, ErrorKind, Message, Model, ModelRequest, ModelResponse, ResponseBuilder,
    StopReason, StreamEvent, ToolCall, ToolResult, ToolSpec,
};
use forge_providers::{DeploymentConfig, ProviderKind};
use futures_util::StreamExt as _;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::support::{Reply, Server};

/// One provider's raw fixtures.
pub(crate) trait Fixtures {
    const KIND: ProviderKind;
    /// The stop reason of [`Fixtures::refusal`].
    const REFUSAL: StopReason;

    fn base_url(addr: SocketAddr) -> String;
    fn key_header() -> &'static str;
    fn path(stream: bool) -> String;
    /// Non-streamed "Hello there"; usage 10 in (3 cached), 5 out.
    fn plain_text() -> Reply;
    /// Streamed "Hello there", split across reads; same usage.
    fn streamed_text() -> Reply;
    /// One call `get_weather {"city":"Paris"}`.
    fn one_tool_call() -> Reply;
    /// `get_weather {"city":"Paris"}` and `get_time {"tz":"UTC"}`.
    fn parallel_calls() -> Reply;
    /// `list_files` with no arguments.
    fn no_arg_tool() -> Reply;
    /// The output limit hit inside a call.
    fn max_tokens_in_tool() -> Reply;
    /// A refusal or blocked prompt (non-streamed).
    fn refusal() -> Reply;
    /// An error event after HTTP 200, before any content.
    fn error_after_200() -> Reply;
    /// Some text, then the end of the body without the terminator.
    fn truncated() -> Reply;
    /// A 429 rate limit.
    fn rate_limited() -> Reply;
    /// A 429 for an exhausted quota.
    fn quota() -> Reply;
    fn server_error(status: u16) -> Reply;
    fn auth_error() -> Reply;
    /// The id the wire gives [`Self::one_tool_call`]'s call, where it gives
    /// one in its first fragment only (later fragments send `null`).
    fn one_tool_call_id() -> Option<&'static str> {
        None
    }
}

/// A deployment with quick retries and short deadlines.
pub(crate) fn deployment<F: Fixtures>(server: &Server) -> DeploymentConfig {
    let mut d = DeploymentConfig::new(F::KIND, "test-model");
    d.base_url = Some(F::base_url(server.addr));
    // PATH is set in every environment: it stands in for a key variable,
    // since tests cannot set variables safely.
    d.api_key_env = Some("PATH".into());
    d.retry.max_retries = 3;
    d.retry.initial_backoff = Duration::from_millis(5);
    d.retry.max_backoff = Duration::from_millis(20);
    d.retry.max_retry_after = Duration::from_secs(5);
    // Generous, so a loaded machine cannot fail the other tests; the
    // timeout tests set their own short deadlines.
    d.timeouts.first_chunk = Duration::from_secs(3);
    d.timeouts.idle = Duration::from_secs(3);
    d.timeouts.total = Some(Duration::from_secs(10));
    d
}

fn tools() -> Vec<ToolSpec> {
    let object = |props: Value| json!({"type": "object", "properties": props});
    vec![
        ToolSpec::new(
            "get_weather",
            "Weather",
            object(json!({"city": {"type": "string"}})),
        ),
        ToolSpec::new(
            "get_time",
            "Time",
            object(json!({"tz": {"type": "string"}})),
        ),
        ToolSpec::new("list_files", "Files", object(json!({}))),
    ]
}

fn request() -> ModelRequest {
    ModelRequest::new(vec![Message::user("Hi")])
        .system("Be brief.")
        .tools(tools())
        .max_tokens(64)
        .conversation_id("conv-1")
}

async fn run<F: Fixtures>(
    replies: Vec<Reply>,
    stream: bool,
) -> (Server, Result<ModelResponse, Error>) {
    run_with::<F>(replies, stream, |_| {}).await
}

async fn run_with<F: Fixtures>(
    replies: Vec<Reply>,
    stream: bool,
    adjust: impl FnOnce(&mut DeploymentConfig),
) -> (Server, Result<ModelResponse, Error>) {
    let server = Server::start(replies).await;
    let mut d = deployment::<F>(&server);
    adjust(&mut d);
    let model = forge_providers::connect(&d).unwrap();
    let result = if stream {
        collect(model.as_ref(), request()).await.map(|(r, _)| r)
    } else {
        model.complete(request()).await
    };
    (server, result)
}

/// Streams `request` and folds the events, checking their order rules.
pub(crate) async fn collect(
    model: &dyn Model,
    request: ModelRequest,
) -> Result<(ModelResponse, Vec<StreamEvent>), Error> {
    let mut stream = model.stream(request);
    let mut events = Vec::new();
    let mut builder = ResponseBuilder::default();
    while let Some(item) = stream.next().await {
        let event = item?;
        if let StreamEvent::ToolCall(call) = &event {
            let announced = events
                .iter()
                .any(|e| matches!(e, StreamEvent::ToolCallStart { id, .. } if *id == call.id));
            assert!(announced, "ToolCallStart precedes ToolCall {}", call.id);
        }
        events.push(event.clone());
        builder.push(event);
    }
    let response = builder
        .finish()
        .expect("a finished stream has a Finish event");
    Ok((response, events))
}

fn calls(response: &ModelResponse) -> Vec<&ToolCall> {
    response
        .content
        .iter()
        .filter_map(|c| match c {
            Content::ToolCall(call) => Some(call),
            _ => None,
        })
        .collect()
}

fn args(call: &ToolCall) -> Value {
    serde_json::from_str(&call.arguments).unwrap()
}

pub(crate) async fn plain_text<F: Fixtures>() {
    let (server, result) = run::<F>(vec![F::plain_text()], false).await;
    let response = result.unwrap();
    assert_eq!(response.to_message().text(), "Hello there");
    assert_eq!(response.stop_reason, StopReason::EndTurn);
    assert_eq!(response.usage.input_tokens, 10);
    assert_eq!(response.usage.cache_read_input_tokens, 3);
    assert_eq!(response.usage.output_tokens, 5);
    let seen = &server.seen()[0];
    assert_eq!(seen.path, F::path(false));
    assert_eq!(seen.headers["x-forge-conversation-id"], "conv-1");
    let key = seen.headers[F::key_header()].to_str().unwrap();
    assert!(
        key.ends_with(&std::env::var("PATH").unwrap()),
        "the key comes from api_key_env"
    );
    let body = seen.body.to_string();
    assert!(body.contains("Be brief."), "system prompt sent: {body}");
    assert!(body.contains("get_weather"), "tools sent: {body}");
}

pub(crate) async fn streamed_text<F: Fixtures>() {
    let server = Server::start(vec![F::streamed_text()]).await;
    let model = forge_providers::connect(&deployment::<F>(&server)).unwrap();
    let (response, events) = collect(model.as_ref(), request()).await.unwrap();
    assert_eq!(response.to_message().text(), "Hello there");
    assert_eq!(response.stop_reason, StopReason::EndTurn);
    assert_eq!(
        (response.usage.input_tokens, response.usage.output_tokens),
        (10, 5)
    );
    let deltas = events
        .iter()
        .filter(|e| matches!(e, StreamEvent::TextDelta { text, .. } if !text.is_empty()))
        .count();
    assert!(deltas >= 2, "text arrives as deltas: {events:?}");
    assert!(matches!(events.last(), Some(StreamEvent::Finish { .. })));
    let seen = &server.seen()[0];
    assert_eq!(seen.path, F::path(true));
    assert_eq!(seen.headers["x-forge-conversation-id"], "conv-1");
}

pub(crate) async fn one_tool_call<F: Fixtures>() {
    let (_, result) = run::<F>(vec![F::one_tool_call()], true).await;
    let response = result.unwrap();
    let calls = calls(&response);
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].name, "get_weather");
    assert!(!calls[0].id.is_empty());
    if let Some(id) = F::one_tool_call_id() {
        assert_eq!(calls[0].id, id, "a later null never overwrites the id");
    }
    assert_eq!(args(calls[0]), json!({"city": "Paris"}));
    assert!(!calls[0].truncated);
    assert_eq!(response.stop_reason, StopReason::ToolUse);
}

pub(crate) async fn parallel_calls<F: Fixtures>() {
    let (_, result) = run::<F>(vec![F::parallel_calls()], true).await;
    let response = result.unwrap();
    let calls = calls(&response);
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(
        (calls[0].name.as_str(), calls[1].name.as_str()),
        ("get_weather", "get_time")
    );
    assert_eq!(args(calls[0]), json!({"city": "Paris"}));
    assert_eq!(args(calls[1]), json!({"tz": "UTC"}));
    assert_ne!(calls[0].id, calls[1].id);
}

pub(crate) async fn no_arg_tool<F: Fixtures>() {
    let (_, result) = run::<F>(vec![F::no_arg_tool()], true).await;
    let response = result.unwrap();
    let calls = calls(&response);
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].name, "list_files");
    assert!(!calls[0].id.is_empty());
    assert_eq!(args(calls[0]), json!({}));
}

pub(crate) async fn max_tokens_in_tool<F: Fixtures>(calls_arrive_whole: bool) {
    let (_, result) = run::<F>(vec![F::max_tokens_in_tool()], true).await;
    let response = result.unwrap();
    assert_eq!(response.stop_reason, StopReason::MaxTokens);
    let calls = calls(&response);
    if !calls_arrive_whole {
        assert_eq!(calls.len(), 1);
    }
    for call in calls {
        assert!(call.truncated, "a cut call is marked truncated: {call:?}");
        assert_ne!(call.arguments, "{}", "never run with empty arguments");
    }
}

pub(crate) async fn refusal<F: Fixtures>() {
    let (_, result) = run::<F>(vec![F::refusal()], false).await;
    assert_eq!(result.unwrap().stop_reason, F::REFUSAL);
}

pub(crate) async fn error_after_200<F: Fixtures>() {
    let (server, result) = run_with::<F>(vec![F::error_after_200()], true, |d| {
        d.retry.max_retries = 0;
    })
    .await;
    assert_eq!(result.unwrap_err().kind(), ErrorKind::ErrorAfterOk);
    assert_eq!(server.hits(), 1);
}

pub(crate) async fn error_after_200_before_content_is_retried<F: Fixtures>() {
    let replies = vec![F::error_after_200(), F::streamed_text()];
    let (server, result) = run::<F>(replies, true).await;
    assert_eq!(result.unwrap().to_message().text(), "Hello there");
    assert_eq!(server.hits(), 2);
}

pub(crate) async fn truncated<F: Fixtures>() {
    // Content was delivered before the cut, so the stream is not retried.
    let replies = vec![F::truncated(), F::streamed_text()];
    let (server, result) = run::<F>(replies, true).await;
    assert_eq!(result.unwrap_err().kind(), ErrorKind::StreamTruncated);
    assert_eq!(server.hits(), 1);
}

pub(crate) async fn rate_limited_honours_retry_after_ms<F: Fixtures>() {
    let limited = F::rate_limited().header("retry-after-ms", "120");
    let started = Instant::now();
    let (server, result) = run::<F>(vec![limited, F::plain_text()], false).await;
    assert_eq!(result.unwrap().to_message().text(), "Hello there");
    assert_eq!(server.hits(), 2);
    assert!(started.elapsed() >= Duration::from_millis(120));
}

pub(crate) async fn rate_limited_honours_retry_after_seconds<F: Fixtures>() {
    let limited = F::rate_limited().header("retry-after", "1");
    let started = Instant::now();
    let (server, result) = run::<F>(vec![limited, F::streamed_text()], true).await;
    assert_eq!(result.unwrap().to_message().text(), "Hello there");
    assert_eq!(server.hits(), 2);
    assert!(started.elapsed() >= Duration::from_millis(990));
}

pub(crate) async fn rate_limited_honours_retry_after_date<F: Fixtures>() {
    let at = std::time::SystemTime::now() + Duration::from_secs(2);
    let limited = F::rate_limited().header("retry-after", &httpdate::fmt_http_date(at));
    let started = Instant::now();
    let (server, result) = run::<F>(vec![limited, F::plain_text()], false).await;
    assert!(result.is_ok());
    assert_eq!(server.hits(), 2);
    // The date has whole-second precision: the wait is between 1 and 2 s.
    assert!(started.elapsed() >= Duration::from_millis(900));
}

pub(crate) async fn rate_limit_too_long_is_returned_with_its_wait<F: Fixtures>() {
    let limited = F::rate_limited().header("retry-after", "30");
    let (server, result) = run::<F>(vec![limited], false).await;
    let error = result.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::RateLimited);
    assert_eq!(error.retry_after(), Some(Duration::from_secs(30)));
    assert_eq!(server.hits(), 1);
}

pub(crate) async fn quota_is_never_retried<F: Fixtures>() {
    let (server, result) = run::<F>(vec![F::quota(), F::plain_text()], false).await;
    let error = result.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::QuotaExhausted);
    assert!(!error.is_retryable());
    assert_eq!(server.hits(), 1);
}

pub(crate) async fn server_errors_are_retried<F: Fixtures>(status: u16, kind: ErrorKind) {
    let (server, result) = run::<F>(vec![F::server_error(status), F::streamed_text()], true).await;
    assert_eq!(result.unwrap().to_message().text(), "Hello there");
    assert_eq!(server.hits(), 2);

    let replies = vec![F::server_error(status); 4];
    let (server, result) = run::<F>(replies, false).await;
    assert_eq!(result.unwrap_err().kind(), kind);
    assert_eq!(server.hits(), 4, "one attempt plus three retries");
}

pub(crate) async fn auth_errors_are_not_retried<F: Fixtures>() {
    let (server, result) = run::<F>(vec![F::auth_error(), F::plain_text()], false).await;
    let error = result.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Auth);
    assert!(!error.to_string().contains(&std::env::var("PATH").unwrap()));
    assert_eq!(server.hits(), 1);
}

pub(crate) async fn silent_server_times_out<F: Fixtures>() {
    let started = Instant::now();
    let (server, result) = run_with::<F>(vec![Reply::silent()], true, |d| {
        d.retry.max_retries = 0;
        d.timeouts.first_chunk = Duration::from_millis(150);
    })
    .await;
    assert_eq!(result.unwrap_err().kind(), ErrorKind::Timeout);
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(150) && elapsed < Duration::from_secs(5));
    assert_eq!(server.hits(), 1);
}

pub(crate) async fn stalled_stream_hits_the_idle_timeout<F: Fixtures>() {
    let mut reply = F::streamed_text();
    let last = reply.pieces.len() - 1;
    reply.pieces[last].0 = Duration::from_secs(30);
    let (_, result) = run_with::<F>(vec![reply], true, |d| {
        d.retry.max_retries = 0;
        d.timeouts.idle = Duration::from_millis(150);
    })
    .await;
    assert_eq!(result.unwrap_err().kind(), ErrorKind::Timeout);
}

/// A second turn: the call and its result go back in the dialect's form.
pub(crate) async fn tool_results_round_trip<F: Fixtures>() -> Value {
    let server = Server::start(vec![F::one_tool_call(), F::plain_text()]).await;
    let model = forge_providers::connect(&deployment::<F>(&server)).unwrap();
    let (first, _) = collect(model.as_ref(), request()).await.unwrap();
    let call = calls(&first)[0].clone();
    let mut turn = request();
    turn.messages.push(first.to_message());
    turn.messages
        .push(Message::tool_results([ToolResult::success(
            &call,
            r#"{"temp_c":21}"#,
        )]));
    let second = model.complete(turn).await.unwrap();
    assert_eq!(second.to_message().text(), "Hello there");
    let body = server.seen()[1].body.clone();
    assert!(
        body.to_string().contains(&call.id),
        "the call id is echoed: {body}"
    );
    assert!(
        body.to_string().contains("temp_c"),
        "the result is sent: {body}"
    );
    body
}
