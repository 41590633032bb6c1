//! Retries, backoff, timeouts and panics.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers too: a panic is a failure with a line"
)]

mod common;

use std::{sync::atomic::Ordering, time::Duration};

use common::{Broken, Flaky, Sleepy};
use forge_core::{ErrorKind, Labels, ToolCall, ToolOptions};
use forge_dispatch::{Dispatcher, Registry};

fn call(name: &str) -> ToolCall {
    ToolCall::new("c", name, "{}")
}

fn build(registry: Registry) -> Dispatcher {
    Dispatcher::builder(registry)
        .max_attempts(3)
        .backoff(Duration::from_millis(100))
        .build()
}

#[tokio::test(start_paused = true)]
async fn retryable_errors_are_retried_with_backoff() {
    let flaky = Flaky::new("flaky", 2);
    let calls = flaky.calls.clone();
    let dispatcher = build(Registry::builder().tool(flaky).build().unwrap());

    let start = tokio::time::Instant::now();
    let result = dispatcher
        .dispatch(&call("flaky"), &Labels::default())
        .await;

    assert_eq!(result.content(), "3");
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    // Waits of [50, 100] ms then [100, 200] ms (equal jitter).
    let waited = start.elapsed();
    assert!(waited >= Duration::from_millis(150), "{waited:?}");
    assert!(waited <= Duration::from_millis(300), "{waited:?}");
    let stats = dispatcher.stats();
    let stats = stats.tool("flaky").unwrap();
    assert_eq!((stats.successes(), stats.attempts()), (1, 3));
}

#[tokio::test(start_paused = true)]
async fn retries_stop_at_max_attempts() {
    let flaky = Flaky::new("flaky", 10);
    let calls = flaky.calls.clone();
    let dispatcher = build(Registry::builder().tool(flaky).build().unwrap());
    let result = dispatcher
        .dispatch(&call("flaky"), &Labels::default())
        .await;
    assert_eq!(result.error_kind(), Some(ErrorKind::ToolFailed));
    assert!(result.content().contains("backend busy"));
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test(start_paused = true)]
async fn tool_max_attempts_overrides_the_default() {
    let mut flaky = Flaky::new("flaky", 10);
    flaky.options = ToolOptions::default().max_attempts(5);
    let calls = flaky.calls.clone();
    let dispatcher = build(Registry::builder().tool(flaky).build().unwrap());
    dispatcher
        .dispatch(&call("flaky"), &Labels::default())
        .await;
    assert_eq!(calls.load(Ordering::SeqCst), 5);
}

#[tokio::test(start_paused = true)]
async fn unmarked_errors_are_not_retried() {
    let mut flaky = Flaky::new("flaky", 1);
    flaky.retryable = false;
    let calls = flaky.calls.clone();
    let dispatcher = build(
        Registry::builder()
            .tool(flaky)
            .tool(Broken)
            .build()
            .unwrap(),
    );

    let result = dispatcher
        .dispatch(&call("flaky"), &Labels::default())
        .await;
    assert_eq!(result.error_kind(), Some(ErrorKind::ToolFailed));
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    let result = dispatcher
        .dispatch(&call("broken"), &Labels::default())
        .await;
    assert_eq!(result.error_kind(), Some(ErrorKind::NotFound));
    assert_eq!(result.content(), "no such record");
}

#[tokio::test(start_paused = true)]
async fn non_idempotent_tools_are_never_retried() {
    let mut flaky = Flaky::new("flaky", 1);
    flaky.options = ToolOptions::default().non_idempotent().max_attempts(5);
    let calls = flaky.calls.clone();
    let dispatcher = build(Registry::builder().tool(flaky).build().unwrap());
    let result = dispatcher
        .dispatch(&call("flaky"), &Labels::default())
        .await;
    assert_eq!(result.error_kind(), Some(ErrorKind::ToolFailed));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn timeouts_use_the_tool_then_the_default() {
    let mut sleepy = Sleepy::new();
    sleepy.timeout = Some(Duration::from_millis(20));
    let registry = Registry::builder().tool(sleepy).build().unwrap();
    let dispatcher = Dispatcher::builder(registry)
        .default_timeout(Duration::from_secs(60))
        .build();

    let start = tokio::time::Instant::now();
    let slow = ToolCall::new("s", "sleep", r#"{"ms": 1000}"#);
    let result = dispatcher.dispatch(&slow, &Labels::default()).await;
    assert_eq!(result.error_kind(), Some(ErrorKind::Timeout));
    assert!(result.content().contains("20ms"), "{}", result.content());
    assert_eq!(start.elapsed(), Duration::from_millis(20));

    let fast = ToolCall::new("f", "sleep", r#"{"ms": 10}"#);
    let result = dispatcher.dispatch(&fast, &Labels::default()).await;
    assert_eq!(result.content(), "10");
}

#[tokio::test(start_paused = true)]
async fn timeouts_are_not_retried() {
    let sleepy = Sleepy::new();
    let finished = sleepy.finished.clone();
    let registry = Registry::builder().tool(sleepy).build().unwrap();
    let dispatcher = Dispatcher::builder(registry)
        .default_timeout(Duration::from_millis(10))
        .build();
    let slow = ToolCall::new("s", "sleep", r#"{"ms": 1000}"#);
    let result = dispatcher.dispatch(&slow, &Labels::default()).await;
    assert_eq!(result.error_kind(), Some(ErrorKind::Timeout));
    let stats = dispatcher.stats();
    assert_eq!(stats.tool("sleep").unwrap().attempts(), 1);
    assert_eq!(finished.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn panics_become_results_and_are_not_retried() {
    let registry = Registry::builder().tool(Sleepy::new()).build().unwrap();
    let dispatcher = build(registry);
    let boom = ToolCall::new("p", "sleep", r#"{"ms": 0, "panic": true}"#);
    let result = dispatcher.dispatch(&boom, &Labels::default()).await;
    assert_eq!(result.error_kind(), Some(ErrorKind::ToolPanicked));
    assert!(result.content().contains("asked to panic"));
    let stats = dispatcher.stats();
    let stats = stats.tool("sleep").unwrap();
    assert_eq!(
        (stats.attempts(), stats.failures_of(ErrorKind::ToolPanicked)),
        (1, 1)
    );
    // The dispatcher still works after a panic.
    let ok = ToolCall::new("o", "sleep", r#"{"ms": 0}"#);
    assert_eq!(
        dispatcher.dispatch(&ok, &Labels::default()).await.content(),
        "0"
    );
}
