//! Export to an in-process OTLP/gRPC collector (fake-opentelemetry-collector):
//! span shape, metrics, content redaction and bounded shutdown.

mod common;

use std::{
    net::TcpListener,
    sync::Arc,
    time::{Duration, Instant},
};

use fake_opentelemetry_collector::{ExportedMetric, ExportedSpan, FakeCollectorServer};
use forge_core::{DispatchObservation, DispatchObserver, ErrorKind, Labels, Outcome};
use forge_telemetry::{Protocol, Telemetry, TelemetryGuard};
use tracing_subscriber::layer::SubscriberExt as _;

const WAIT: Duration = Duration::from_secs(10);

fn telemetry(endpoint: &str) -> Telemetry {
    Telemetry::from_env()
        .otlp_endpoint(endpoint)
        .protocol(Protocol::Grpc)
        .service_name("forge-telemetry-tests")
        .export_timeout(Duration::from_secs(2))
        .metric_interval(Duration::from_secs(60))
}

/// Runs `emit` with the guard's layers as the thread's subscriber.
fn with_layers(guard: &TelemetryGuard, emit: impl FnOnce()) {
    let subscriber = tracing_subscriber::registry().with(guard.layer());
    tracing::subscriber::with_default(subscriber, emit);
}

/// Flushes off the test's runtime thread, which serves the fake collector.
async fn flush(guard: Arc<TelemetryGuard>) {
    tokio::task::spawn_blocking(move || guard.force_flush())
        .await
        .expect("flush thread")
        .expect("flush succeeds");
}

/// An attribute as the fake collector shows it: the protobuf value's Debug text.
fn attr<'a>(span: &'a ExportedSpan, key: &str) -> &'a str {
    span.attributes
        .get(key)
        .unwrap_or_else(|| panic!("{} has no {key}: {span:#?}", span.name))
}

fn by_name<'a>(spans: &'a [ExportedSpan], name: &str) -> Vec<&'a ExportedSpan> {
    spans.iter().filter(|s| s.name == name).collect()
}

/// The exported metric named `name`, as JSON (the collector's types are private).
fn metric(batches: &[ExportedMetric], name: &str) -> serde_json::Value {
    let all = serde_json::to_value(batches).expect("json");
    all.as_array()
        .into_iter()
        .flatten()
        .flat_map(|batch| batch["metrics"].as_array().cloned().unwrap_or_default())
        .find(|m| m["name"] == name)
        .unwrap_or_else(|| panic!("metric {name} was not exported: {all}"))
}

#[tokio::test]
async fn conversation_spans_keep_the_contract_shape() {
    let mut collector = FakeCollectorServer::start().await.expect("collector");
    let guard = Arc::new(telemetry(&collector.endpoint()).build().expect("build"));
    with_layers(&guard, || common::emit_conversation("conv-shape"));
    flush(Arc::clone(&guard)).await;
    let spans = collector.exported_spans(4, WAIT).await;

    let agent = by_name(&spans, "invoke_agent calculator");
    let chats = by_name(&spans, "chat gpt-test");
    let tools = by_name(&spans, "execute_tool add");
    assert_eq!(
        (agent.len(), chats.len(), tools.len()),
        (1, 2, 1),
        "{spans:#?}"
    );
    let agent = agent[0];
    assert_eq!(agent.kind, "SPAN_KIND_INTERNAL");
    assert_eq!(agent.parent_span_id, "");
    assert!(attr(agent, "gen_ai.conversation.id").contains("StringValue(\"conv-shape\")"));
    for chat in &chats {
        assert_eq!(chat.kind, "SPAN_KIND_CLIENT");
        assert_eq!(
            chat.parent_span_id, agent.span_id,
            "chat is a child of the agent"
        );
        assert!(attr(chat, "gen_ai.provider.name").contains("StringValue(\"openai\")"));
        assert!(attr(chat, "gen_ai.operation.name").contains("StringValue(\"chat\")"));
        // Integers keep their type through tracing-opentelemetry.
        assert!(attr(chat, "gen_ai.usage.input_tokens").contains("IntValue(12)"));
        assert!(attr(chat, "server.port").contains("IntValue(8080)"));
        assert!(attr(chat, "gen_ai.request.stream").contains("BoolValue(true)"));
        assert!(attr(chat, "gen_ai.response.finish_reasons").contains("ArrayValue"));
    }
    assert_eq!(tools[0].kind, "SPAN_KIND_INTERNAL");
    assert_eq!(
        tools[0].parent_span_id, agent.span_id,
        "tool is the chat's sibling"
    );
    assert!(attr(tools[0], "gen_ai.tool.call.id").contains("\"call_1\""));
    assert!(attr(tools[0], "gen_ai.tool.type").contains("\"function\""));
    assert!(!tools[0].attributes.contains_key("target"));
}

#[tokio::test]
async fn genai_metrics_are_derived_from_spans() {
    let mut collector = FakeCollectorServer::start().await.expect("collector");
    let guard = Arc::new(telemetry(&collector.endpoint()).build().expect("build"));
    with_layers(&guard, || common::emit_conversation("conv-metrics"));
    flush(Arc::clone(&guard)).await;
    let batches = collector.exported_metrics(1, WAIT).await;

    let duration = metric(&batches, "gen_ai.client.operation.duration");
    assert_eq!(duration["unit"], "s");
    let tokens = metric(&batches, "gen_ai.client.token.usage");
    assert_eq!(tokens["unit"], "{token}");
    let json = tokens.to_string();
    assert!(json.contains(r#"StringValue(\"input\")"#), "{json}");
    assert!(json.contains(r#"StringValue(\"output\")"#), "{json}");
    for name in [
        "gen_ai.client.operation.time_to_first_chunk",
        "gen_ai.client.operation.time_per_output_chunk",
        "gen_ai.execute_tool.duration",
        "forge.client.queue_wait",
        "forge.client.streams",
        "forge.client.output_tokens_per_second",
    ] {
        metric(&batches, name);
    }
    let json = duration.to_string();
    assert!(
        json.contains("0.01") && json.contains("81.92"),
        "spec buckets: {json}"
    );
}

#[tokio::test]
async fn dispatch_observer_feeds_tool_metrics_once() {
    let mut collector = FakeCollectorServer::start().await.expect("collector");
    let guard = Arc::new(telemetry(&collector.endpoint()).build().expect("build"));
    let observer = guard.dispatch_observer();
    let labels = Labels::default();
    for i in 0..3 {
        let mut seen = DispatchObservation::new("add", "call", &labels);
        seen.duration = Duration::from_micros(5);
        seen.input_bytes = 10;
        seen.output_bytes = 2;
        if i == 2 {
            seen.outcome = Outcome::Failure(ErrorKind::InvalidArguments);
        }
        observer.on_dispatch(&seen);
    }
    // With the observer attached, execute_tool spans add nothing more.
    with_layers(&guard, || common::emit_conversation("conv-observer"));
    flush(Arc::clone(&guard)).await;
    let batches = collector.exported_metrics(1, WAIT).await;

    let duration = metric(&batches, "gen_ai.execute_tool.duration");
    let points = duration["data"]["Histogram"]["data_points"]
        .as_array()
        .unwrap_or_else(|| panic!("duration is a histogram: {duration}"));
    let total: u64 = points.iter().filter_map(|p| p["count"].as_u64()).sum();
    assert_eq!(total, 3, "one per dispatch, none from spans");
    let sum: f64 = points.iter().filter_map(|p| p["sum"].as_f64()).sum();
    assert!((sum - 15e-6).abs() < 1e-9, "exact sum of 3 × 5 µs: {sum}");
    let all = serde_json::to_string(&batches).expect("json");
    assert!(
        !all.contains("forge.internal"),
        "the replay hook exports nothing"
    );
    let json = metric(&batches, "forge.tool.dispatches").to_string();
    assert!(
        json.contains("invalid_arguments") && json.contains("success"),
        "{json}"
    );
    let input = metric(&batches, "forge.tool.input_bytes");
    assert_eq!(input["unit"], "By");
    let points = input["data"]["Sum"]["data_points"]
        .as_array()
        .expect("a sum");
    let bytes: i64 = points
        .iter()
        .filter_map(|p| p["value"]["AsInt"].as_i64())
        .sum();
    assert_eq!(bytes, 30, "10 bytes per dispatch: {input}");
}

#[tokio::test]
async fn content_and_keys_never_leave_with_capture_off() {
    for capture in [false, true] {
        let mut collector = FakeCollectorServer::start().await.expect("collector");
        let config = telemetry(&collector.endpoint()).capture_content(capture);
        let guard = Arc::new(config.build().expect("build"));
        with_layers(&guard, common::emit_chat_with_content);
        flush(Arc::clone(&guard)).await;
        let spans = collector.exported_spans(1, WAIT).await;
        let json = serde_json::to_string(&spans).expect("json");
        assert!(json.contains("chat gpt-test"), "the span was exported");
        assert_eq!(json.contains(common::PROMPT_SENTINEL), capture, "{json}");
        assert!(!json.contains(common::KEY_SENTINEL), "{json}");
    }
}

#[test]
fn unreachable_collector_costs_bounded_time() {
    // Accepts connections and never answers: the worst collector.
    let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
    let endpoint = format!("http://{}", silent.local_addr().expect("addr"));
    for protocol in [Protocol::Grpc, Protocol::HttpProtobuf] {
        let guard = telemetry(&endpoint)
            .protocol(protocol)
            .export_timeout(Duration::from_millis(200))
            .max_queue_size(64)
            .build()
            .expect("build");
        let started = Instant::now();
        with_layers(&guard, || common::emit_tool_burst(5_000));
        let result = guard.shutdown();
        // Twice the export timeout plus margin, with slack for a loaded machine.
        assert!(started.elapsed() < Duration::from_secs(10), "{protocol:?}");
        assert!(
            result.is_err(),
            "a silent collector is reported: {protocol:?}"
        );
    }
}

#[test]
fn bad_configuration_is_reported() {
    let error = Telemetry::from_env()
        .otlp_endpoint("127.0.0.1:4317")
        .build()
        .expect_err("no scheme");
    assert!(error.is_config());
    assert!(Protocol::parse("http/json").is_err());
    assert_eq!(Protocol::parse(" GRPC ").expect("grpc"), Protocol::Grpc);
}

#[tokio::test]
async fn a_signal_switched_off_is_not_exported() {
    let mut collector = FakeCollectorServer::start().await.expect("collector");
    let config = telemetry(&collector.endpoint()).metrics(false);
    let guard = Arc::new(config.build().expect("build"));
    with_layers(&guard, || common::emit_conversation("conv-traces-only"));
    flush(Arc::clone(&guard)).await;
    assert_eq!(collector.exported_spans(4, WAIT).await.len(), 4);
    let metrics = collector
        .exported_metrics(1, Duration::from_millis(300))
        .await;
    assert!(metrics.is_empty(), "{metrics:?}");
}

#[tokio::test]
async fn failed_tool_spans_carry_error_type_into_metrics() {
    let mut collector = FakeCollectorServer::start().await.expect("collector");
    let guard = Arc::new(telemetry(&collector.endpoint()).build().expect("build"));
    with_layers(&guard, || common::emit_failed_tool("conv-failed"));
    flush(Arc::clone(&guard)).await;
    let spans = collector.exported_spans(2, WAIT).await;
    let tool = by_name(&spans, "execute_tool divide");
    let status = tool[0].status.as_ref().expect("a status");
    assert!(status.code.contains("ERROR"), "{status:?}");
    let batches = collector.exported_metrics(1, WAIT).await;
    let json = metric(&batches, "gen_ai.execute_tool.duration").to_string();
    assert!(json.contains(r#"StringValue(\"tool_failed\")"#), "{json}");
}

/// Content events become attributes of their own spans with capture on, and
/// never leave with capture off or by default; keys never leave.
#[tokio::test]
async fn captured_content_lands_on_its_spans_only_when_switched_on() {
    for capture in [None, Some(false), Some(true)] {
        let mut collector = FakeCollectorServer::start().await.expect("collector");
        let mut config = telemetry(&collector.endpoint());
        if let Some(capture) = capture {
            config = config.capture_content(capture);
        }
        let guard = Arc::new(config.build().expect("build"));
        with_layers(&guard, || {
            common::emit_conversation_with_content("conv-content");
        });
        flush(Arc::clone(&guard)).await;
        let spans = collector.exported_spans(3, WAIT).await;
        let json = serde_json::to_string(&spans).expect("json");
        assert!(!json.contains(common::KEY_SENTINEL), "{json}");

        let on = capture == Some(true);
        let chat = by_name(&spans, "chat gpt-test")[0];
        let tool = by_name(&spans, "execute_tool add")[0];
        let agent = by_name(&spans, "invoke_agent calculator")[0];
        let has = |span: &ExportedSpan, key: &str, sentinel: &str| {
            span.attributes
                .get(key)
                .is_some_and(|v| v.contains(sentinel))
        };
        let input = has(chat, "gen_ai.input.messages", common::PROMPT_SENTINEL);
        assert_eq!(input, on, "{capture:?}: {chat:#?}");
        let output = has(chat, "gen_ai.output.messages", common::ANSWER_SENTINEL);
        assert_eq!(output, on, "{chat:#?}");
        assert_eq!(
            chat.attributes.contains_key("gen_ai.system_instructions"),
            on
        );
        let arguments = has(tool, "gen_ai.tool.call.arguments", common::ARGS_SENTINEL);
        assert_eq!(arguments, on, "{tool:#?}");
        let result = has(tool, "gen_ai.tool.call.result", common::RESULT_SENTINEL);
        assert_eq!(result, on, "{tool:#?}");
        // Attributes, not span events, and only on the spans they describe.
        assert!(spans.iter().all(|s| s.events.is_empty()), "{spans:#?}");
        assert!(
            !agent
                .attributes
                .keys()
                .any(|k| k.starts_with("gen_ai.input"))
        );
        for sentinel in [common::PROMPT_SENTINEL, common::ARGS_SENTINEL] {
            assert_eq!(json.contains(sentinel), on, "{capture:?}: {json}");
        }
    }
}

/// With capture off nobody enables `forge::content`, so forge-agent never
/// serialises a prompt; with capture on the layer asks for it.
#[test]
fn the_content_target_is_enabled_only_with_capture_on() {
    for capture in [false, true] {
        let guard = telemetry("http://127.0.0.1:9")
            .capture_content(capture)
            .traces(false)
            .metrics(false)
            .build()
            .expect("build");
        let mut enabled = None;
        with_layers(&guard, || {
            enabled = Some(tracing::enabled!(
                target: "forge::content",
                tracing::Level::TRACE
            ));
        });
        assert_eq!(enabled, Some(capture));
        assert_eq!(forge_telemetry::CONTENT_TARGET, "forge::content");
    }
}
