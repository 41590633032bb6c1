//! What telemetry costs: the typed full dispatch pipeline with forge-telemetry's
//! dispatch observer feeding OTel metrics (an OTLP exporter attached) against
//! the same pipeline with telemetry off, and one `execute_tool` span with and
//! without the OpenTelemetry layers.
//!
//! The exporter sends to a loopback sink that answers every request with an
//! empty `200 OK`, so exports really happen (every 100 ms for metrics) on the
//! telemetry thread while the bench runs. Compare benches of one run only.

use std::{
    hint::black_box,
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    sync::Arc,
    thread,
    time::Duration,
};

use forge_bench::dispatch_fixture::{self as fx};
use forge_core::{DispatchObservation, DispatchObserver, Labels};
use forge_dispatch::{Dispatcher, Registry};
use forge_telemetry::{Protocol, Telemetry, TelemetryGuard};
use tracing_subscriber::layer::SubscriberExt as _;

fn main() {
    divan::main();
}

const SAMPLES: u32 = 2000;
const SIZE: u32 = 500;

/// A dispatcher like the dispatch benches', with an optional observer.
fn dispatcher(observer: Option<Arc<dyn DispatchObserver>>) -> Dispatcher {
    let registry = Registry::builder()
        .tool(fx::Lookup)
        .build()
        .expect("the bench registry is valid");
    let builder = Dispatcher::builder(registry).concurrency(8);
    match observer {
        Some(observer) => builder.observer(observer),
        None => builder,
    }
    .build()
}

/// Telemetry exporting over OTLP/HTTP to a local sink.
fn telemetry() -> TelemetryGuard {
    Telemetry::from_env()
        .otlp_endpoint(format!("http://{}", sink()))
        .protocol(Protocol::HttpProtobuf)
        .metric_interval(Duration::from_millis(100))
        .export_timeout(Duration::from_secs(1))
        .build()
        .expect("telemetry builds")
}

/// Starts a loopback HTTP server that reads each request and answers `200 OK`.
fn sink() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the sink");
    let addr = listener.local_addr().expect("sink address");
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            thread::spawn(move || serve(stream));
        }
    });
    addr
}

/// Answers every request on one keep-alive connection, without parsing more
/// than the end of the headers and `content-length`.
fn serve(mut stream: TcpStream) {
    let mut buf = vec![0u8; 1 << 16];
    let mut pending = Vec::new();
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 {
            return;
        }
        pending.extend_from_slice(&buf[..n]);
        while let Some(len) = request_len(&pending) {
            pending.drain(..len);
            let reply = b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n";
            if stream.write_all(reply).is_err() {
                return;
            }
        }
    }
}

/// The length of the first complete request in `data`, if there is one.
fn request_len(data: &[u8]) -> Option<usize> {
    let head_end = data.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&data[..head_end]).to_ascii_lowercase();
    let body: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    (data.len() >= head_end + body).then_some(head_end + body)
}

/// The typed full pipeline with no observer: telemetry off.
#[divan::bench(sample_count = SAMPLES, sample_size = SIZE)]
fn pipeline_typed_telemetry_off(bencher: divan::Bencher<'_, '_>) {
    let d = dispatcher(None);
    let call = fx::call("lookup");
    let labels = Labels::default();
    bencher.bench_local(|| fx::run_now(d.dispatch(black_box(&call), &labels)));
}

/// The typed full pipeline with forge-telemetry's observer feeding OTel
/// metrics and an OTLP exporter attached.
#[divan::bench(sample_count = SAMPLES, sample_size = SIZE)]
fn pipeline_typed_otel_observer(bencher: divan::Bencher<'_, '_>) {
    let guard = telemetry();
    let d = dispatcher(Some(guard.dispatch_observer()));
    let call = fx::call("lookup");
    let labels = Labels::default();
    bencher.bench_local(|| fx::run_now(d.dispatch(black_box(&call), &labels)));
    drop(guard);
}

/// An observer that does nothing: what the dispatcher's observer hook costs.
struct Noop;

impl DispatchObserver for Noop {
    fn on_dispatch(&self, observation: &DispatchObservation<'_>) {
        black_box(observation);
    }
}

/// The typed full pipeline with an observer that does nothing.
#[divan::bench(sample_count = SAMPLES, sample_size = SIZE)]
fn pipeline_typed_noop_observer(bencher: divan::Bencher<'_, '_>) {
    let d = dispatcher(Some(Arc::new(Noop)));
    let call = fx::call("lookup");
    let labels = Labels::default();
    bencher.bench_local(|| fx::run_now(d.dispatch(black_box(&call), &labels)));
}

/// forge-telemetry's observer alone, called directly.
#[divan::bench(sample_count = SAMPLES, sample_size = SIZE)]
fn observer_on_dispatch(bencher: divan::Bencher<'_, '_>) {
    let guard = telemetry();
    let observer = guard.dispatch_observer();
    let labels = Labels::default();
    let mut observation = DispatchObservation::new("lookup", "call_0", &labels);
    observation.duration = Duration::from_nanos(300);
    observation.input_bytes = 56;
    observation.output_bytes = 2;
    bencher.bench_local(|| observer.on_dispatch(black_box(&observation)));
    drop(guard);
}

/// The same on two threads sharing one dispatcher and observer.
#[divan::bench(threads = [2], sample_count = SAMPLES, sample_size = SIZE)]
fn contended_typed_otel_observer(bencher: divan::Bencher<'_, '_>) {
    let guard = telemetry();
    let d = dispatcher(Some(guard.dispatch_observer()));
    let call = fx::call("lookup");
    let labels = Labels::default();
    bencher.bench(|| fx::run_now(d.dispatch(black_box(&call), &labels)));
    drop(guard);
}

/// Two threads, telemetry off, for the same comparison.
#[divan::bench(threads = [2], sample_count = SAMPLES, sample_size = SIZE)]
fn contended_typed_telemetry_off(bencher: divan::Bencher<'_, '_>) {
    let d = dispatcher(None);
    let call = fx::call("lookup");
    let labels = Labels::default();
    bencher.bench(|| fx::run_now(d.dispatch(black_box(&call), &labels)));
}

/// One `execute_tool` span exactly as the agent loop opens it.
fn execute_tool_span(call_id: &str) {
    let span = tracing::info_span!(
        "execute_tool",
        otel.name = "execute_tool lookup",
        otel.kind = "internal",
        gen_ai.operation.name = "execute_tool",
        gen_ai.tool.name = "lookup",
        gen_ai.tool.call.id = call_id,
        gen_ai.tool.type = "function",
        error.type = tracing::field::Empty,
    );
    let _entered = black_box(span.enter());
}

/// Benches the tool span as a child of an `invoke_agent` span, as in the agent.
fn in_agent_span(bencher: divan::Bencher<'_, '_>) {
    let agent = tracing::info_span!(
        "invoke_agent",
        otel.name = "invoke_agent bench",
        gen_ai.operation.name = "invoke_agent",
    );
    let _entered = agent.enter();
    bencher.bench_local(|| execute_tool_span(black_box("call_0")));
}

/// The span with no subscriber: what a library pays when telemetry is off.
#[divan::bench(sample_count = SAMPLES, sample_size = SIZE)]
fn execute_tool_span_no_subscriber() {
    execute_tool_span(black_box("call_0"));
}

/// The span with a bare registry (a subscriber, no OTel layers).
#[divan::bench(sample_count = SAMPLES, sample_size = SIZE)]
fn execute_tool_span_registry_only(bencher: divan::Bencher<'_, '_>) {
    let subscriber = tracing_subscriber::registry();
    tracing::subscriber::with_default(subscriber, || in_agent_span(bencher));
}

/// The span with forge-telemetry's layers: tracing-opentelemetry building and
/// exporting an OTel span, and the GenAI metrics layer.
#[divan::bench(sample_count = SAMPLES, sample_size = 100)]
fn execute_tool_span_otel(bencher: divan::Bencher<'_, '_>) {
    let guard = telemetry();
    let subscriber = tracing_subscriber::registry().with(guard.layer());
    tracing::subscriber::with_default(subscriber, || in_agent_span(bencher));
    drop(guard);
}
