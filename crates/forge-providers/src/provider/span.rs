//! The `chat` span: one per model call, retries included, with the OTel
//! GenAI attribute names as field names (see the team contract).

use std::time::Duration;

use forge_core::{Error, ModelRequest, ModelResponse, StopReason, Usage};
use tracing::{Span, field::Empty};

use super::Endpoint;
use crate::ProviderKind;

/// Opens the span as a child of the caller's current span.
pub(crate) fn chat_span(
    kind: ProviderKind,
    model: &str,
    stream: bool,
    request: &ModelRequest,
    max_tokens: u32,
    endpoint: &Endpoint,
) -> Span {
    tracing::info_span!(
        target: "forge_providers::chat",
        "chat",
        otel.name = %format_args!("chat {model}"),
        otel.kind = "client",
        otel.status_code = Empty,
        gen_ai.operation.name = "chat",
        gen_ai.provider.name = kind.as_str(),
        gen_ai.request.model = model,
        gen_ai.request.stream = stream,
        gen_ai.request.max_tokens = max_tokens,
        gen_ai.request.temperature = request.temperature.map(f64::from),
        server.address = endpoint.host.as_str(),
        server.port = endpoint.port,
        gen_ai.response.model = Empty,
        gen_ai.response.id = Empty,
        gen_ai.response.finish_reasons = Empty,
        gen_ai.response.time_to_first_chunk = Empty,
        gen_ai.usage.input_tokens = Empty,
        gen_ai.usage.output_tokens = Empty,
        gen_ai.usage.cache_read.input_tokens = Empty,
        gen_ai.usage.cache_creation.input_tokens = Empty,
        gen_ai.usage.reasoning.output_tokens = Empty,
        forge.output_chunks = Empty,
        forge.queue_wait = Empty,
        forge.stream.completed = Empty,
        error.type = Empty,
    )
}

pub(crate) fn record_start(span: &Span, id: Option<&str>, model: Option<&str>) {
    if let Some(id) = id {
        span.record("gen_ai.response.id", id);
    }
    if let Some(model) = model {
        span.record("gen_ai.response.model", model);
    }
}

pub(crate) fn record_usage(span: &Span, usage: &Usage) {
    span.record("gen_ai.usage.input_tokens", usage.input_tokens);
    span.record("gen_ai.usage.output_tokens", usage.output_tokens);
    span.record(
        "gen_ai.usage.cache_read.input_tokens",
        usage.cache_read_input_tokens,
    );
    span.record(
        "gen_ai.usage.cache_creation.input_tokens",
        usage.cache_creation_input_tokens,
    );
    span.record(
        "gen_ai.usage.reasoning.output_tokens",
        usage.reasoning_tokens,
    );
}

pub(crate) fn record_finish(span: &Span, stop: &StopReason) {
    span.record("gen_ai.response.finish_reasons", stop.as_str());
}

pub(crate) fn record_first_chunk(span: &Span, after: Duration) {
    span.record("gen_ai.response.time_to_first_chunk", after.as_secs_f64());
}

pub(crate) fn record_queue_wait(span: &Span, wait: Duration) {
    span.record("forge.queue_wait", wait.as_secs_f64());
}

pub(crate) fn record_response(span: &Span, response: &ModelResponse) {
    record_start(span, response.id.as_deref(), response.model.as_deref());
    record_usage(span, &response.usage);
    record_finish(span, &response.stop_reason);
}

pub(crate) fn record_error(span: &Span, error: &Error) {
    span.record("error.type", error.kind().as_str());
    span.record("otel.status_code", "ERROR");
}
