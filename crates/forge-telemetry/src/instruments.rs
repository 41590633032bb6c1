//! The metric instruments, their names, units and bucket boundaries.
//!
//! Names and buckets follow the OpenTelemetry GenAI conventions where they
//! define an instrument; the rest live under `forge.`. Token usage has its own
//! module ([`crate::tokens`]) because upstream is reworking it.

use opentelemetry::metrics::{Counter, Histogram, Meter};

use crate::tokens::TokenUsage;

/// The spec's buckets for durations in seconds (operation duration, time to
/// first chunk, time per output chunk).
pub(crate) const DURATION_BUCKETS: [f64; 14] = [
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];

/// Buckets for tool execution, which is often sub-millisecond.
pub(crate) const TOOL_DURATION_BUCKETS: [f64; 17] = [
    0.000_01, 0.000_1, 0.001, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12,
    10.24, 20.48, 40.96,
];

/// Buckets for output tokens per second.
const RATE_BUCKETS: [f64; 12] = [
    1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1_000.0, 2_000.0, 5_000.0,
];

/// Instruments fed from model-call and agent spans.
#[derive(Debug, Clone)]
pub(crate) struct SpanInstruments {
    pub(crate) operation_duration: Histogram<f64>,
    pub(crate) tokens: TokenUsage,
    pub(crate) time_to_first_chunk: Histogram<f64>,
    pub(crate) time_per_output_chunk: Histogram<f64>,
    pub(crate) queue_wait: Histogram<f64>,
    pub(crate) streams: Counter<u64>,
    pub(crate) output_tokens_per_second: Histogram<f64>,
    pub(crate) tool_duration: Histogram<f64>,
}

impl SpanInstruments {
    pub(crate) fn new(meter: &Meter) -> Self {
        Self {
            operation_duration: seconds(
                meter,
                "gen_ai.client.operation.duration",
                "GenAI operation duration.",
            ),
            tokens: TokenUsage::new(meter),
            time_to_first_chunk: seconds(
                meter,
                "gen_ai.client.operation.time_to_first_chunk",
                "Time from the request to the first chunk of a streamed response.",
            ),
            time_per_output_chunk: seconds(
                meter,
                "gen_ai.client.operation.time_per_output_chunk",
                "Mean time between output chunks after the first, one value per streamed call.",
            ),
            queue_wait: seconds(
                meter,
                "forge.client.queue_wait",
                "Time a model call waited for its deployment's concurrency limit.",
            ),
            streams: meter
                .u64_counter("forge.client.streams")
                .with_unit("{stream}")
                .with_description(
                    "Streamed model calls by forge.stream.completed; the completion rate is \
                     completed / all.",
                )
                .build(),
            output_tokens_per_second: meter
                .f64_histogram("forge.client.output_tokens_per_second")
                .with_unit("{token}/s")
                .with_description("Output tokens per second of generation (after the first chunk).")
                .with_boundaries(RATE_BUCKETS.to_vec())
                .build(),
            tool_duration: tool_duration(meter),
        }
    }
}

/// `gen_ai.execute_tool.duration`.
pub(crate) fn tool_duration(meter: &Meter) -> Histogram<f64> {
    meter
        .f64_histogram("gen_ai.execute_tool.duration")
        .with_unit("s")
        .with_description("Duration of tool executions.")
        .with_boundaries(TOOL_DURATION_BUCKETS.to_vec())
        .build()
}

fn seconds(meter: &Meter, name: &'static str, description: &'static str) -> Histogram<f64> {
    meter
        .f64_histogram(name)
        .with_unit("s")
        .with_description(description)
        .with_boundaries(DURATION_BUCKETS.to_vec())
        .build()
}
