//! Per-deployment limits against in-process models: the bounded wait queue,
//! permits given back on cancellation, streams holding permits, request and
//! token rates, queue wait reporting, and the router falling back on a full
//! queue.
//!
//! No sockets are involved, so tokio's paused clock makes every wait exact.

use std::{
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use forge_core::{ErrorKind, Model, ModelRequest};
use forge_providers::{
    limit::{self, LimitConfig},
    router::Router,
};
use futures_util::StreamExt as _;
use tokio::{task::yield_now, time::Instant};

mod gated;

use gated::{Gated, limited, spawn_call};

#[tokio::test(start_paused = true)]
async fn a_full_queue_fails_at_once_with_queue_full() {
    let inner = Gated::closed("a");
    let model = limited(&inner, &LimitConfig::new().max_concurrency(1).max_queue(1));

    let running = spawn_call(&model, ModelRequest::default());
    yield_now().await;
    assert_eq!(model.available_permits(), Some(0));
    let queued = spawn_call(&model, ModelRequest::default());
    yield_now().await;
    assert_eq!(model.queued(), 1);

    let t0 = Instant::now();
    let e = model.complete(ModelRequest::default()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::QueueFull);
    assert_eq!(t0.elapsed(), Duration::ZERO);

    inner.open(2);
    running.await.unwrap().unwrap();
    queued.await.unwrap().unwrap();
    assert_eq!(inner.calls.load(Ordering::SeqCst), 2);
    assert_eq!((model.queued(), model.available_permits()), (0, Some(1)));
}

#[tokio::test(start_paused = true)]
async fn a_zero_queue_rejects_every_caller_that_would_wait() {
    let inner = Gated::closed("a");
    let model = limited(&inner, &LimitConfig::new().max_concurrency(1).max_queue(0));
    let running = spawn_call(&model, ModelRequest::default());
    yield_now().await;

    let e = model.complete(ModelRequest::default()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::QueueFull);
    inner.open(1);
    running.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn cancelled_callers_give_back_queue_places_and_permits() {
    let inner = Gated::closed("a");
    let model = limited(&inner, &LimitConfig::new().max_concurrency(1).max_queue(1));
    let running = spawn_call(&model, ModelRequest::default());
    yield_now().await;
    let queued = spawn_call(&model, ModelRequest::default());
    yield_now().await;
    assert_eq!((model.queued(), model.available_permits()), (1, Some(0)));

    queued.abort();
    assert!(queued.await.unwrap_err().is_cancelled());
    assert_eq!(model.queued(), 0);
    running.abort();
    assert!(running.await.unwrap_err().is_cancelled());
    assert_eq!(model.available_permits(), Some(1));

    // The freed permit serves the next caller.
    inner.open(1);
    model.complete(ModelRequest::default()).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_stream_holds_its_permit_until_dropped() {
    let inner = Gated::open_wide("a");
    let model = limited(&inner, &LimitConfig::new().max_concurrency(1).max_queue(0));

    let mut stream = model.stream(ModelRequest::default());
    let first = stream.next().await.unwrap().unwrap();
    assert!(first.is_content());
    assert_eq!(model.available_permits(), Some(0));
    let mut second = model.stream(ModelRequest::default());
    let refused = second.next().await.unwrap().unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::QueueFull);
    assert!(second.next().await.is_none(), "the error is the only item");

    drop(stream);
    assert_eq!(model.available_permits(), Some(1));
    let events: Vec<_> = model.stream(ModelRequest::default()).collect().await;
    assert_eq!(events.len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_permit_wait_past_the_timeout_is_a_timeout() {
    let inner = Gated::closed("a");
    let model = limited(&inner, &LimitConfig::new().max_concurrency(1));
    let running = spawn_call(&model, ModelRequest::default());
    yield_now().await;

    let t0 = Instant::now();
    let request = ModelRequest::default().timeout(Duration::from_secs(3));
    let e = model.complete(request).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout);
    assert_eq!(t0.elapsed(), Duration::from_secs(3));
    assert_eq!(model.queued(), 0);
    inner.open(1);
    running.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn requests_per_minute_spaces_calls_and_reports_the_wait() {
    let inner = Gated::open_wide("a");
    let model = limited(&inner, &LimitConfig::new().requests_per_minute(2));
    let t0 = Instant::now();

    model.complete(ModelRequest::default()).await.unwrap();
    model.complete(ModelRequest::default()).await.unwrap();
    assert_eq!(t0.elapsed(), Duration::ZERO, "the burst passes at once");
    model.complete(ModelRequest::default()).await.unwrap();
    assert_eq!(t0.elapsed(), Duration::from_secs(30));

    let zero = Some(Duration::ZERO);
    assert_eq!(inner.waits(), [zero, zero, Some(Duration::from_secs(30))]);
}

#[tokio::test(start_paused = true)]
async fn a_rate_wait_past_the_timeout_is_rate_limited_at_once() {
    let inner = Gated::open_wide("a");
    let model = limited(&inner, &LimitConfig::new().requests_per_minute(1));
    model.complete(ModelRequest::default()).await.unwrap();

    let t0 = Instant::now();
    let request = ModelRequest::default().timeout(Duration::from_secs(10));
    let e = model.complete(request).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::RateLimited);
    assert_eq!(e.retry_after(), Some(Duration::from_secs(60)));
    assert_eq!(t0.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn tokens_per_minute_charges_prompt_and_output_limit() {
    let inner = Gated::open_wide("a");
    let model = limited(&inner, &LimitConfig::new().tokens_per_minute(100));
    // 40 prompt bytes estimate 10 tokens; plus 50 output tokens = 60.
    let request =
        || ModelRequest::new(vec![forge_core::Message::user("x".repeat(40))]).max_tokens(50);
    assert_eq!(request().estimated_prompt_tokens(), 10);
    let t0 = Instant::now();

    model.complete(request()).await.unwrap();
    assert_eq!(t0.elapsed(), Duration::ZERO);
    // 40 tokens are left; 20 more refill at 100 a minute in 12 seconds.
    model.complete(request()).await.unwrap();
    let waited = t0.elapsed();
    assert!(
        (Duration::from_secs(11)..=Duration::from_secs(13)).contains(&waited),
        "waited {waited:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn the_queue_wait_is_visible_while_a_stream_is_polled() {
    let inner = Gated::open_wide("a");
    let model = limited(&inner, &LimitConfig::new().requests_per_minute(1));
    let _: Vec<_> = model.stream(ModelRequest::default()).collect().await;
    let _: Vec<_> = model.stream(ModelRequest::default()).collect().await;

    let minute = Some(Duration::from_secs(60));
    assert_eq!(
        inner.waits(),
        [Some(Duration::ZERO), Some(Duration::ZERO), minute, minute]
    );
    assert_eq!(limit::queue_wait(), None, "only inside a limited call");
}

#[tokio::test(start_paused = true)]
async fn the_router_falls_back_when_a_deployment_queue_is_full() {
    let busy = Gated::closed("busy");
    let spare = Gated::open_wide("spare");
    let router = Arc::new(
        Router::builder()
            .deployment_with_limits(
                "busy",
                Arc::clone(&busy) as Arc<dyn Model>,
                &LimitConfig::new().max_concurrency(1).max_queue(0),
            )
            .deployment("spare", Arc::clone(&spare) as Arc<dyn Model>)
            .fallback(["spare"])
            .build()
            .unwrap(),
    );
    let running = tokio::spawn({
        let router = Arc::clone(&router);
        async move { router.complete(ModelRequest::default()).await }
    });
    yield_now().await;

    let answer = router.complete(ModelRequest::default()).await.unwrap();
    assert_eq!(answer.to_message().text(), "spare");
    // A full queue is local load, not ill health: the breaker stays closed.
    assert_eq!(
        router.breaker_state("busy"),
        Some(forge_providers::router::BreakerState::Closed)
    );
    busy.open(1);
    let first = running.await.unwrap().unwrap();
    assert_eq!(first.to_message().text(), "busy");
}

#[test]
fn limits_deserialize_from_toml() {
    let limits: LimitConfig = toml::from_str(
        "max_concurrency = 8\nmax_queue = 16\nrequests_per_minute = 60\ntokens_per_minute = 1000",
    )
    .unwrap();
    let expected = LimitConfig::new()
        .max_concurrency(8)
        .max_queue(16)
        .requests_per_minute(60)
        .tokens_per_minute(1000);
    assert_eq!(limits, expected);
    assert_eq!(
        toml::from_str::<LimitConfig>("").unwrap(),
        LimitConfig::default()
    );
    assert!(toml::from_str::<LimitConfig>("max_concurrency = 0").is_err());
}
