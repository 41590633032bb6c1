//! Batches: bound, order, every id answered, cancellation.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers too: a panic is a failure with a line"
)]

mod common;

use std::{sync::atomic::Ordering, time::Duration};

use common::{Lookup, Sleepy};
use forge_core::{ErrorKind, Labels, ToolCall};
use forge_dispatch::{Dispatcher, Registry};

fn sleepy_dispatcher(sleepy: Sleepy, concurrency: usize) -> Dispatcher {
    let registry = Registry::builder()
        .tool(sleepy)
        .tool(Lookup)
        .build()
        .unwrap();
    Dispatcher::builder(registry)
        .concurrency(concurrency)
        .default_timeout(Duration::from_millis(500))
        .build()
}

fn sleep_call(id: usize, ms: u64) -> ToolCall {
    ToolCall::new(id.to_string(), "sleep", format!(r#"{{"ms": {ms}}}"#))
}

#[tokio::test(start_paused = true)]
async fn thousand_calls_under_a_bound_of_16() {
    let sleepy = Sleepy::new();
    let max = sleepy.max_in_flight.clone();
    let finished = sleepy.finished.clone();
    let dispatcher = sleepy_dispatcher(sleepy, 16);
    let calls: Vec<ToolCall> = (0..1000)
        .map(|i| sleep_call(i, 1 + (i % 7) as u64))
        .collect();

    let results = dispatcher.dispatch_batch(&calls, &Labels::default()).await;

    assert_eq!(results.len(), 1000);
    for (i, result) in results.iter().enumerate() {
        assert_eq!(result.call_id, i.to_string());
        assert!(!result.is_error(), "{}", result.content());
        assert_eq!(result.content(), (1 + (i % 7)).to_string());
    }
    assert_eq!(max.load(Ordering::SeqCst), 16);
    assert_eq!(finished.load(Ordering::SeqCst), 1000);
    assert_eq!(dispatcher.stats().tool("sleep").unwrap().successes(), 1000);
}

#[tokio::test(start_paused = true)]
async fn every_id_is_answered_when_siblings_fail_time_out_or_panic() {
    let dispatcher = sleepy_dispatcher(Sleepy::new(), 4);
    let calls = vec![
        sleep_call(0, 10),
        ToolCall::new("1", "sleep", r#"{"ms": 5, "panic": true}"#),
        sleep_call(2, 10_000),
        ToolCall::new("3", "missing", "{}"),
        ToolCall::new("4", "sleep", "{not json"),
        sleep_call(5, 1),
    ];

    let results = dispatcher.dispatch_batch(&calls, &Labels::default()).await;

    let kinds: Vec<_> = results.iter().map(|r| r.error_kind()).collect();
    assert_eq!(
        kinds,
        [
            None,
            Some(ErrorKind::ToolPanicked),
            Some(ErrorKind::Timeout),
            Some(ErrorKind::UnknownTool),
            Some(ErrorKind::InvalidArguments),
            None,
        ]
    );
    let ids: Vec<_> = results.iter().map(|r| r.call_id.as_str()).collect();
    assert_eq!(ids, ["0", "1", "2", "3", "4", "5"]);
    assert!(results[1].content().contains("asked to panic"));
}

#[tokio::test(start_paused = true)]
async fn cancelling_a_batch_drops_every_in_flight_call() {
    let sleepy = Sleepy::new();
    let in_flight = sleepy.in_flight.clone();
    let finished = sleepy.finished.clone();
    let dispatcher = sleepy_dispatcher(sleepy, 8);
    let calls: Vec<ToolCall> = (0..20).map(|i| sleep_call(i, 100)).collect();

    let labels = Labels::default();
    let batch = dispatcher.dispatch_batch(&calls, &labels);
    let outcome = tokio::time::timeout(Duration::from_millis(50), batch).await;

    assert!(outcome.is_err(), "the batch should still be running");
    assert_eq!(
        in_flight.load(Ordering::SeqCst),
        0,
        "no call survives the drop"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        finished.load(Ordering::SeqCst),
        0,
        "nothing ran on in the background"
    );
    // A dropped dispatch records nothing.
    assert_eq!(dispatcher.stats().tool("sleep").unwrap().calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn cancelling_one_dispatch_leaves_the_dispatcher_usable() {
    let sleepy = Sleepy::new();
    let in_flight = sleepy.in_flight.clone();
    let dispatcher = sleepy_dispatcher(sleepy, 8);
    let (labels, call) = (Labels::default(), sleep_call(1, 1000));
    let slow = dispatcher.dispatch(&call, &labels);
    assert!(
        tokio::time::timeout(Duration::from_millis(10), slow)
            .await
            .is_err()
    );
    assert_eq!(in_flight.load(Ordering::SeqCst), 0);

    let result = dispatcher
        .dispatch(&sleep_call(2, 1), &Labels::default())
        .await;
    assert_eq!(result.content(), "1");
}

#[tokio::test(start_paused = true)]
async fn a_batch_runs_concurrently_not_one_by_one() {
    let dispatcher = sleepy_dispatcher(Sleepy::new(), 16);
    let calls: Vec<ToolCall> = (0..16).map(|i| sleep_call(i, 100)).collect();
    let start = tokio::time::Instant::now();
    let results = dispatcher.dispatch_batch(&calls, &Labels::default()).await;
    assert!(results.iter().all(|r| !r.is_error()));
    assert!(
        start.elapsed() < Duration::from_millis(200),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn an_empty_batch_is_an_empty_answer() {
    let dispatcher = sleepy_dispatcher(Sleepy::new(), 16);
    assert!(
        dispatcher
            .dispatch_batch(&[], &Labels::default())
            .await
            .is_empty()
    );
}
