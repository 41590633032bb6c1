//! Router behaviour against scripted in-process models: rules, fallback
//! order, stream fallback, circuit breakers and waiting for cooldowns.
//!
//! No sockets are involved, so tokio's paused clock makes every wait exact.

use std::{
    collections::VecDeque,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use forge_core::{
    BoxFuture, Content, Error, ErrorKind, EventStream, Model, ModelRequest, ModelResponse,
    StopReason, StreamEvent, ToolSpec, Usage,
};
use forge_providers::router::{BreakerConfig, BreakerState, RouteConfig, Router, RouterConfig};
use futures_util::StreamExt as _;
use tokio::time::{Instant, advance, sleep};

/// What a scripted model does on one call.
#[derive(Clone)]
enum Step {
    /// Answers with its own name.
    Answer,
    /// Fails with this kind and optional retry-after.
    Fail(ErrorKind, Option<Duration>),
    /// Sleeps, then does the inner step (`complete` only).
    After(Duration, Box<Step>),
    /// Streams exactly these events (`stream` only).
    Events(Vec<Ev>),
}

#[derive(Clone)]
enum Ev {
    Start,
    Text(&'static str),
    Usage,
    Finish,
    Fail(ErrorKind),
}

fn fail(kind: ErrorKind) -> Step {
    Step::Fail(kind, None)
}

fn fail_after(kind: ErrorKind, retry_after: Duration) -> Step {
    Step::Fail(kind, Some(retry_after))
}

fn error(kind: ErrorKind, retry_after: Option<Duration>) -> Error {
    let e = Error::new(kind, "scripted failure");
    match retry_after {
        Some(wait) => e.with_retry_after(wait),
        None => e,
    }
}

/// A model that follows a script, then answers with its name; counts calls.
struct Scripted {
    name: &'static str,
    steps: Mutex<VecDeque<Step>>,
    calls: AtomicUsize,
}

impl Scripted {
    fn new(name: &'static str) -> Arc<Self> {
        Arc::new(Self {
            name,
            steps: Mutex::new(VecDeque::new()),
            calls: AtomicUsize::new(0),
        })
    }

    fn script(&self, steps: impl IntoIterator<Item = Step>) {
        self.steps
            .lock()
            .expect("no test thread panicked")
            .extend(steps);
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn next_step(&self) -> Step {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.steps
            .lock()
            .expect("no test thread panicked")
            .pop_front()
            .unwrap_or(Step::Answer)
    }

    fn as_model(self: &Arc<Self>) -> Arc<dyn Model> {
        Arc::clone(self) as Arc<dyn Model>
    }
}

async fn run(name: &'static str, step: Step) -> Result<ModelResponse, Error> {
    match step {
        Step::Answer => Ok(ModelResponse::new(
            vec![Content::text(name)],
            StopReason::EndTurn,
        )),
        Step::Fail(kind, wait) => Err(error(kind, wait)),
        Step::After(delay, step) => {
            sleep(delay).await;
            Box::pin(run(name, *step)).await
        }
        Step::Events(_) => panic!("scripted stream events on a complete call"),
    }
}

fn event(name: &'static str, ev: Ev) -> Result<StreamEvent, Error> {
    Ok(match ev {
        Ev::Start => StreamEvent::Start {
            id: Some(name.to_owned()),
            model: None,
        },
        Ev::Text(text) => StreamEvent::TextDelta {
            text: text.to_owned(),
            signature: None,
        },
        Ev::Usage => StreamEvent::Usage(Usage::new(3, 0)),
        Ev::Finish => StreamEvent::Finish {
            stop_reason: StopReason::EndTurn,
        },
        Ev::Fail(kind) => return Err(error(kind, None)),
    })
}

impl Model for Scripted {
    fn complete(&self, _request: ModelRequest) -> BoxFuture<'_, Result<ModelResponse, Error>> {
        Box::pin(run(self.name, self.next_step()))
    }

    fn stream(&self, _request: ModelRequest) -> EventStream<'_> {
        let events = match self.next_step() {
            Step::Answer => vec![Ev::Start, Ev::Text(self.name), Ev::Finish],
            Step::Fail(kind, _) => vec![Ev::Fail(kind)],
            Step::Events(events) => events,
            Step::After(..) => panic!("delays are not scripted for streams"),
        };
        let name = self.name;
        Box::pin(futures_util::stream::iter(
            events.into_iter().map(move |ev| event(name, ev)),
        ))
    }
}

fn three() -> (Arc<Scripted>, Arc<Scripted>, Arc<Scripted>) {
    (Scripted::new("a"), Scripted::new("b"), Scripted::new("c"))
}

fn router(models: &[&Arc<Scripted>], breaker: BreakerConfig) -> Router {
    let mut builder = Router::builder().breaker(breaker);
    for m in models {
        builder = builder.deployment(m.name, m.as_model());
    }
    let names: Vec<&str> = models.iter().skip(1).map(|m| m.name).collect();
    builder.fallback(names).build().expect("valid router")
}

fn lenient() -> BreakerConfig {
    BreakerConfig::new().failure_threshold(100)
}

async fn answer_of(router: &Router, request: ModelRequest) -> Result<String, Error> {
    Ok(router.complete(request).await?.to_message().text())
}

#[tokio::test(start_paused = true)]
async fn fallback_follows_the_chain_in_order() {
    let (a, b, c) = three();
    a.script([fail(ErrorKind::ServerError)]);
    b.script([fail_after(ErrorKind::RateLimited, Duration::from_secs(1))]);
    let router = router(&[&a, &b, &c], lenient());

    assert_eq!(
        answer_of(&router, ModelRequest::default()).await.unwrap(),
        "c"
    );
    assert_eq!((a.calls(), b.calls(), c.calls()), (1, 1, 1));
}

#[tokio::test(start_paused = true)]
async fn every_deployment_failing_returns_the_last_failure() {
    let (a, b, c) = three();
    a.script([fail(ErrorKind::ServerError)]);
    b.script([fail(ErrorKind::Overloaded)]);
    c.script([fail(ErrorKind::Connection)]);
    let router = router(&[&a, &b, &c], lenient());

    let e = router.complete(ModelRequest::default()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Connection);
    assert_eq!((a.calls(), b.calls(), c.calls()), (1, 1, 1));
}

#[tokio::test(start_paused = true)]
async fn non_retryable_failures_do_not_fall_back() {
    for kind in [
        ErrorKind::InvalidRequest,
        ErrorKind::Auth,
        ErrorKind::NotFound,
        ErrorKind::ContentFiltered,
    ] {
        let (a, b, _) = three();
        a.script([fail(kind)]);
        let router = router(&[&a, &b], lenient());

        let e = router.complete(ModelRequest::default()).await.unwrap_err();
        assert_eq!(e.kind(), kind);
        assert_eq!(b.calls(), 0, "{kind} must not fall back");
        assert_eq!(router.breaker_state("a"), Some(BreakerState::Closed));
    }
}

#[tokio::test(start_paused = true)]
async fn exhausted_quota_falls_back_and_opens_that_breaker() {
    let (a, b, _) = three();
    a.script([fail(ErrorKind::QuotaExhausted)]);
    let router = router(&[&a, &b], lenient());
    let t0 = Instant::now();

    assert_eq!(
        answer_of(&router, ModelRequest::default()).await.unwrap(),
        "b"
    );
    let until = t0 + BreakerConfig::default().cooldown;
    assert_eq!(
        router.breaker_state("a"),
        Some(BreakerState::Open { until })
    );

    // The next request skips the exhausted deployment.
    assert_eq!(
        answer_of(&router, ModelRequest::default()).await.unwrap(),
        "b"
    );
    assert_eq!(a.calls(), 1);
}

fn tool() -> ToolSpec {
    ToolSpec::new("lookup", "Looks up.", serde_json::json!({"type": "object"}))
}

#[tokio::test(start_paused = true)]
async fn rules_pick_by_tag_then_size_then_tools() {
    let (a, b, c) = three();
    let d = Scripted::new("d");
    let router = Router::builder()
        .deployment("a", a.as_model())
        .deployment("b", b.as_model())
        .deployment("c", c.as_model())
        .deployment("d", d.as_model())
        .rule(RouteConfig::new("b").route("cheap").fallback(["c"]))
        .rule(RouteConfig::new("c").min_prompt_tokens(100))
        .rule(RouteConfig::new("d").tools(true))
        .fallback(["a"])
        .build()
        .unwrap();

    let tagged = ModelRequest::default().route("cheap");
    let long = ModelRequest::new(vec![forge_core::Message::user("x".repeat(400))]);
    let with_tools = ModelRequest::default().tools(vec![tool()]);
    let other = ModelRequest::default().route("unknown");
    assert_eq!(router.chain(&tagged), ["b", "c", "a"]);
    assert_eq!(router.chain(&long), ["c", "a"]);
    assert_eq!(router.chain(&with_tools), ["d", "a"]);
    assert_eq!(router.chain(&other), ["a"]);

    assert_eq!(answer_of(&router, tagged).await.unwrap(), "b");
    assert_eq!(answer_of(&router, long).await.unwrap(), "c");
    assert_eq!(answer_of(&router, with_tools).await.unwrap(), "d");
    assert_eq!(answer_of(&router, other).await.unwrap(), "a");
}

#[tokio::test(start_paused = true)]
async fn a_rule_matches_only_when_all_its_conditions_hold() {
    let rule = RouteConfig::new("x")
        .route("r")
        .max_prompt_tokens(10)
        .tools(false);
    let short = ModelRequest::new(vec![forge_core::Message::user("hi")]).route("r");
    assert!(rule.matches(&short));
    assert!(!rule.matches(&short.clone().tools(vec![tool()])));
    assert!(
        !rule.matches(
            &ModelRequest::new(vec![forge_core::Message::user("y".repeat(80))]).route("r")
        )
    );
    assert!(!rule.matches(&ModelRequest::default()));
}

async fn collect(router: &Router) -> Vec<Result<StreamEvent, Error>> {
    router.stream(ModelRequest::default()).collect().await
}

fn texts(events: &[Result<StreamEvent, Error>]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            Ok(StreamEvent::TextDelta { text, .. }) => Some(text.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_stream_falls_back_before_its_first_content() {
    let (a, b, _) = three();
    a.script([Step::Events(vec![
        Ev::Start,
        Ev::Usage,
        Ev::Fail(ErrorKind::Overloaded),
    ])]);
    let router = router(&[&a, &b], lenient());

    let events = collect(&router).await;
    assert!(events.iter().all(Result::is_ok));
    assert_eq!(texts(&events), ["b"]);
    // Only b's events reach the consumer: a's `Start` was held back and dropped.
    let starts: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Ok(StreamEvent::Start { id, .. }) => id.clone(),
            _ => None,
        })
        .collect();
    assert_eq!(starts, ["b"]);
    assert!(matches!(
        events.last(),
        Some(Ok(StreamEvent::Finish { .. }))
    ));
}

#[tokio::test(start_paused = true)]
async fn a_stream_passes_failures_after_content_through() {
    let (a, b, _) = three();
    a.script([Step::Events(vec![
        Ev::Start,
        Ev::Text("partial"),
        Ev::Fail(ErrorKind::StreamTruncated),
    ])]);
    let router = router(&[&a, &b], BreakerConfig::new().failure_threshold(1));

    let events = collect(&router).await;
    assert_eq!(texts(&events), ["partial"]);
    let last = events.last().unwrap().as_ref().unwrap_err();
    assert_eq!(last.kind(), ErrorKind::StreamTruncated);
    assert_eq!(b.calls(), 0);
    // The failure still counts against a's breaker.
    assert!(matches!(
        router.breaker_state("a"),
        Some(BreakerState::Open { .. })
    ));
}

#[tokio::test(start_paused = true)]
async fn a_stream_with_a_non_retryable_failure_does_not_fall_back() {
    let (a, b, _) = three();
    a.script([fail(ErrorKind::InvalidRequest)]);
    let router = router(&[&a, &b], lenient());

    let events = collect(&router).await;
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].as_ref().unwrap_err().kind(),
        ErrorKind::InvalidRequest
    );
    assert_eq!(b.calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn an_empty_stream_answer_commits_without_falling_back() {
    let (a, b, _) = three();
    a.script([Step::Events(vec![Ev::Start, Ev::Usage, Ev::Finish])]);
    let router = router(&[&a, &b], lenient());

    let events = collect(&router).await;
    assert_eq!(events.len(), 3);
    assert!(events.iter().all(Result::is_ok));
    assert_eq!(b.calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_stream_hands_its_probe_to_the_next_caller() {
    let (a, b, _) = three();
    let cooldown = Duration::from_secs(10);
    a.script([
        fail(ErrorKind::ServerError),
        Step::Events(vec![Ev::Start, Ev::Text("first"), Ev::Finish]),
    ]);
    let breaker = BreakerConfig::new().failure_threshold(1).cooldown(cooldown);
    let router = router(&[&a, &b], breaker);
    answer_of(&router, ModelRequest::default()).await.unwrap();
    advance(cooldown).await;

    let mut probe = router.stream(ModelRequest::default());
    assert!(probe.next().await.unwrap().is_ok());
    assert_eq!(router.breaker_state("a"), Some(BreakerState::HalfOpen));
    drop(probe);
    // Dropping says nothing about a's health: the next caller probes.
    assert_eq!(texts(&collect(&router).await), ["a"]);
    assert_eq!(router.breaker_state("a"), Some(BreakerState::Closed));
    assert_eq!(b.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn breaker_opens_cools_probes_and_closes() {
    let (a, b, _) = three();
    let cooldown = Duration::from_secs(10);
    a.script([fail(ErrorKind::ServerError), fail(ErrorKind::ServerError)]);
    let breaker = BreakerConfig::new().failure_threshold(2).cooldown(cooldown);
    let router = router(&[&a, &b], breaker);
    let t0 = Instant::now();

    answer_of(&router, ModelRequest::default()).await.unwrap();
    assert_eq!(router.breaker_state("a"), Some(BreakerState::Closed));
    answer_of(&router, ModelRequest::default()).await.unwrap();
    let open = BreakerState::Open {
        until: t0 + cooldown,
    };
    assert_eq!(router.breaker_state("a"), Some(open));

    // Open: a is skipped.
    assert_eq!(
        answer_of(&router, ModelRequest::default()).await.unwrap(),
        "b"
    );
    assert_eq!(a.calls(), 2);

    // After the cooldown one probe passes and its success closes the breaker.
    advance(cooldown).await;
    assert_eq!(
        answer_of(&router, ModelRequest::default()).await.unwrap(),
        "a"
    );
    assert_eq!(router.breaker_state("a"), Some(BreakerState::Closed));
}

#[tokio::test(start_paused = true)]
async fn half_open_lets_exactly_one_probe_through() {
    let (a, b, _) = three();
    let cooldown = Duration::from_secs(10);
    a.script([
        fail(ErrorKind::ServerError),
        Step::After(Duration::from_secs(1), Box::new(Step::Answer)),
    ]);
    let router = Arc::new(router(
        &[&a, &b],
        BreakerConfig::new().failure_threshold(1).cooldown(cooldown),
    ));
    answer_of(&router, ModelRequest::default()).await.unwrap();
    advance(cooldown).await;

    let probe = tokio::spawn({
        let router = Arc::clone(&router);
        async move { answer_of(&router, ModelRequest::default()).await }
    });
    tokio::task::yield_now().await;
    assert_eq!(router.breaker_state("a"), Some(BreakerState::HalfOpen));
    // While the probe runs, others go elsewhere.
    assert_eq!(
        answer_of(&router, ModelRequest::default()).await.unwrap(),
        "b"
    );

    assert_eq!(probe.await.unwrap().unwrap(), "a");
    assert_eq!(a.calls(), 2);
    assert_eq!(router.breaker_state("a"), Some(BreakerState::Closed));
}

#[tokio::test(start_paused = true)]
async fn a_failed_probe_reopens_the_breaker() {
    let (a, b, _) = three();
    let cooldown = Duration::from_secs(10);
    a.script([fail(ErrorKind::ServerError), fail(ErrorKind::ServerError)]);
    let router = router(
        &[&a, &b],
        BreakerConfig::new().failure_threshold(1).cooldown(cooldown),
    );
    answer_of(&router, ModelRequest::default()).await.unwrap();
    advance(cooldown).await;

    assert_eq!(
        answer_of(&router, ModelRequest::default()).await.unwrap(),
        "b"
    );
    let until = Instant::now() + cooldown;
    assert_eq!(
        router.breaker_state("a"),
        Some(BreakerState::Open { until })
    );
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_probe_hands_the_probe_to_the_next_caller() {
    let (a, b, _) = three();
    let cooldown = Duration::from_secs(10);
    a.script([
        fail(ErrorKind::ServerError),
        Step::After(Duration::from_secs(60), Box::new(Step::Answer)),
    ]);
    let router = router(
        &[&a, &b],
        BreakerConfig::new().failure_threshold(1).cooldown(cooldown),
    );
    answer_of(&router, ModelRequest::default()).await.unwrap();
    advance(cooldown).await;

    let probe = tokio::time::timeout(
        Duration::from_secs(1),
        router.complete(ModelRequest::default()),
    );
    assert!(probe.await.is_err(), "the slow probe is cancelled");
    assert_eq!(router.breaker_state("a"), Some(BreakerState::HalfOpen));
    assert_eq!(
        answer_of(&router, ModelRequest::default()).await.unwrap(),
        "a"
    );
    assert_eq!(router.breaker_state("a"), Some(BreakerState::Closed));
}

#[tokio::test(start_paused = true)]
async fn callers_waiting_on_a_probe_learn_its_failure_at_once() {
    let a = Scripted::new("a");
    let cooldown = Duration::from_secs(10);
    let probe_fails = fail_after(ErrorKind::RateLimited, Duration::from_secs(100));
    a.script([
        fail(ErrorKind::ServerError),
        Step::After(Duration::from_secs(1), Box::new(probe_fails)),
    ]);
    let breaker = BreakerConfig::new().failure_threshold(1).cooldown(cooldown);
    let router = Arc::new(router(&[&a], breaker));
    router.complete(ModelRequest::default()).await.unwrap_err();
    advance(cooldown).await;

    let probe = tokio::spawn({
        let router = Arc::clone(&router);
        async move { router.complete(ModelRequest::default()).await }
    });
    tokio::task::yield_now().await;
    let t0 = Instant::now();
    let request = ModelRequest::default().timeout(Duration::from_secs(20));
    let e = router.complete(request).await.unwrap_err();

    // It waited for the probe, not for its own deadline, and then failed
    // at once because the new cooldown ends past that deadline.
    assert_eq!(t0.elapsed(), Duration::from_secs(1));
    assert_eq!(e.kind(), ErrorKind::Overloaded);
    assert_eq!(e.retry_after(), Some(Duration::from_secs(100)));
    assert_eq!(
        probe.await.unwrap().unwrap_err().kind(),
        ErrorKind::RateLimited
    );
    assert_eq!(a.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn cooldown_honours_retry_after_and_keeps_the_later_deadline() {
    let (a, b, _) = three();
    let second = Duration::from_secs(1);
    // Three calls enter a while it is closed and fail later, one by one.
    a.script([
        Step::After(
            second,
            Box::new(fail_after(ErrorKind::RateLimited, Duration::from_secs(30))),
        ),
        Step::After(
            2 * second,
            Box::new(fail_after(ErrorKind::RateLimited, Duration::from_secs(5))),
        ),
        Step::After(
            3 * second,
            Box::new(fail_after(ErrorKind::RateLimited, Duration::from_secs(60))),
        ),
    ]);
    let router = Arc::new(router(&[&a, &b], BreakerConfig::new().failure_threshold(1)));
    let t0 = Instant::now();
    let calls: Vec<_> = (0..3)
        .map(|_| {
            let router = Arc::clone(&router);
            tokio::spawn(async move { answer_of(&router, ModelRequest::default()).await })
        })
        .collect();
    tokio::task::yield_now().await;
    assert_eq!(a.calls(), 3);

    advance(second).await;
    tokio::task::yield_now().await;
    let open = |secs| {
        Some(BreakerState::Open {
            until: t0 + Duration::from_secs(secs),
        })
    };
    assert_eq!(router.breaker_state("a"), open(31));
    advance(second).await;
    tokio::task::yield_now().await;
    assert_eq!(
        router.breaker_state("a"),
        open(31),
        "an earlier deadline is ignored"
    );
    advance(second).await;
    tokio::task::yield_now().await;
    assert_eq!(router.breaker_state("a"), open(63), "a later deadline wins");

    for call in calls {
        assert_eq!(call.await.unwrap().unwrap(), "b");
    }
}

/// a and b both cool: a for 5 s, b for 8 s.
async fn both_cooling() -> (Arc<Scripted>, Arc<Scripted>, Router) {
    let (a, b, _) = three();
    a.script([fail_after(ErrorKind::RateLimited, Duration::from_secs(5))]);
    b.script([fail_after(ErrorKind::Overloaded, Duration::from_secs(8))]);
    let router = router(&[&a, &b], BreakerConfig::new().failure_threshold(1));
    let e = router.complete(ModelRequest::default()).await;
    let e = e.expect_err("both deployments fail");
    assert_eq!(e.kind(), ErrorKind::Overloaded);
    (a, b, router)
}

#[tokio::test(start_paused = true)]
async fn all_cooling_waits_for_the_earliest_within_the_deadline() {
    let (a, b, router) = both_cooling().await;
    let t0 = Instant::now();

    let request = ModelRequest::default().timeout(Duration::from_secs(20));
    assert_eq!(answer_of(&router, request).await.unwrap(), "a");
    assert_eq!(t0.elapsed(), Duration::from_secs(5));
    assert_eq!((a.calls(), b.calls()), (2, 1));
}

#[tokio::test(start_paused = true)]
async fn all_cooling_past_the_deadline_fails_at_once_with_a_typed_error() {
    let (a, b, router) = both_cooling().await;
    let t0 = Instant::now();

    let request = ModelRequest::default().timeout(Duration::from_secs(2));
    let e = router.complete(request).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Overloaded);
    assert_eq!(e.retry_after(), Some(Duration::from_secs(5)));
    assert_eq!(t0.elapsed(), Duration::ZERO, "no waiting in vain");
    assert_eq!((a.calls(), b.calls()), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn all_cooling_streams_wait_too() {
    let (_a, _b, router) = both_cooling().await;
    let t0 = Instant::now();

    let events = collect(&router).await;
    assert_eq!(texts(&events), ["a"]);
    assert_eq!(t0.elapsed(), Duration::from_secs(5));
}

#[tokio::test(start_paused = true)]
async fn a_request_without_timeout_waits_at_most_max_wait() {
    let (a, _) = (Scripted::new("a"), ());
    a.script([fail_after(ErrorKind::RateLimited, Duration::from_secs(120))]);
    let router = Router::builder()
        .deployment("a", a.as_model())
        .breaker(BreakerConfig::new().failure_threshold(1))
        .max_wait(Duration::from_secs(60))
        .build()
        .unwrap();
    router.complete(ModelRequest::default()).await.unwrap_err();

    let e = router.complete(ModelRequest::default()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Overloaded);
    assert_eq!(e.retry_after(), Some(Duration::from_secs(120)));
}

#[tokio::test(start_paused = true)]
async fn the_request_timeout_bounds_a_slow_deployment() {
    let (a, b, _) = three();
    a.script([Step::After(Duration::from_secs(30), Box::new(Step::Answer))]);
    let router = router(&[&a, &b], lenient());

    let request = ModelRequest::default().timeout(Duration::from_secs(5));
    let e = router.complete(request).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout);
    assert_eq!(b.calls(), 0, "no time is left for a fallback");
}

#[test]
fn configuration_deserializes_from_toml() {
    let config: RouterConfig = toml::from_str(
        r#"
        fallback = ["b"]
        max_wait_ms = 2500

        [breaker]
        failure_threshold = 4
        cooldown_ms = 1500

        [[routes]]
        deployment = "a"
        route = "fast"
        tools = true
        min_prompt_tokens = 10
        max_prompt_tokens = 1000
        fallback = ["c"]
        "#,
    )
    .unwrap();
    assert_eq!(config.max_wait, Duration::from_millis(2500));
    assert_eq!(config.breaker.failure_threshold, 4);
    assert_eq!(config.breaker.cooldown, Duration::from_millis(1500));
    let expected = RouteConfig::new("a")
        .route("fast")
        .tools(true)
        .min_prompt_tokens(10)
        .max_prompt_tokens(1000)
        .fallback(["c"]);
    assert_eq!(config.routes, [expected]);

    let unknown = toml::from_str::<RouterConfig>("fallbacks = []");
    assert!(unknown.is_err(), "misspelt keys are rejected");
}

#[test]
fn invalid_configurations_are_config_errors() {
    let a = Scripted::new("a");
    let cases = [
        Router::builder().build(),
        Router::builder()
            .deployment("a", a.as_model())
            .deployment("a", a.as_model())
            .build(),
        Router::builder()
            .deployment("a", a.as_model())
            .fallback(["z"])
            .build(),
        Router::builder()
            .deployment("a", a.as_model())
            .rule(RouteConfig::new("a").fallback(["z"]))
            .build(),
        Router::builder()
            .deployment("a", a.as_model())
            .breaker(BreakerConfig::new().failure_threshold(0))
            .build(),
    ];
    for case in cases {
        assert!(case.unwrap_err().is_config());
    }
}
