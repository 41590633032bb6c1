//! The `tracing` layer that derives the GenAI metrics from span fields.
//!
//! Implementation details: library crates describe model calls, conversations
//! and tool calls only as spans (see the team contract); this layer watches
//! those spans open, collects their fields ([`GenAiFields`]) and records the
//! metrics when they close. Every other span costs one name comparison.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use opentelemetry::KeyValue;
use tracing::{Subscriber, span};
use tracing_subscriber::{Layer, layer::Context, registry::LookupSpan};

use crate::{
    fields::{GenAiFields, Operation},
    instruments::SpanInstruments,
};

/// Records `gen_ai.client.*`, `gen_ai.execute_tool.duration` (unless the
/// dispatch observer does) and the `forge.client.*` metrics from the spans of
/// forge-providers and forge-agent.
#[derive(Debug, Clone)]
pub struct GenAiMetricsLayer {
    instruments: Arc<SpanInstruments>,
    observer_attached: Arc<AtomicBool>,
    enabled: bool,
}

impl GenAiMetricsLayer {
    pub(crate) fn new(
        instruments: Arc<SpanInstruments>,
        observer_attached: Arc<AtomicBool>,
        enabled: bool,
    ) -> Self {
        Self {
            instruments,
            observer_attached,
            enabled,
        }
    }

    fn on_chat_close(&self, fields: &GenAiFields, elapsed: Duration) {
        let attrs = operation_attributes(fields);
        let i = &self.instruments;
        let seconds = elapsed.as_secs_f64();
        i.operation_duration.record(seconds, &attrs);
        i.tokens
            .record(fields.input_tokens, fields.output_tokens, &attrs);
        if let Some(ttfc) = fields.time_to_first_chunk {
            i.time_to_first_chunk.record(ttfc, &attrs);
        }
        if let Some(per_chunk) = time_per_output_chunk(fields, seconds) {
            i.time_per_output_chunk.record(per_chunk, &attrs);
        }
        if let Some(wait) = fields.queue_wait {
            i.queue_wait.record(wait, &attrs);
        }
        if fields.request_stream == Some(true) {
            let completed = fields.stream_completed.unwrap_or(false);
            let mut stream_attrs = attrs.clone();
            stream_attrs.push(KeyValue::new("forge.stream.completed", completed));
            i.streams.add(1, &stream_attrs);
        }
        if let Some(rate) = output_tokens_per_second(fields, seconds) {
            i.output_tokens_per_second.record(rate, &attrs);
        }
    }

    fn on_agent_close(&self, fields: &GenAiFields, elapsed: Duration) {
        let attrs = operation_attributes(fields);
        self.instruments
            .operation_duration
            .record(elapsed.as_secs_f64(), &attrs);
    }

    fn on_tool_close(&self, fields: &GenAiFields, elapsed: Duration) {
        // The dispatch observer, when attached, records every dispatch itself.
        if self.observer_attached.load(Ordering::Relaxed) {
            return;
        }
        let mut attrs = vec![KeyValue::new("gen_ai.operation.name", "execute_tool")];
        if let Some(tool) = &fields.tool_name {
            attrs.push(KeyValue::new("gen_ai.tool.name", tool.clone()));
        }
        if let Some(error) = fields.error_type() {
            attrs.push(KeyValue::new("error.type", error.to_owned()));
        }
        self.instruments
            .tool_duration
            .record(elapsed.as_secs_f64(), &attrs);
    }
}

impl<S> Layer<S> for GenAiMetricsLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        if !self.enabled {
            return;
        }
        let Some(operation) = Operation::of(attrs.metadata()) else {
            return;
        };
        let Some(span) = ctx.span(id) else { return };
        let mut fields = GenAiFields::new(operation);
        attrs.record(&mut fields);
        span.extensions_mut().insert(fields);
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        if let Some(fields) = span.extensions_mut().get_mut::<GenAiFields>() {
            values.record(fields);
        }
    }

    fn on_close(&self, id: span::Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(fields) = span.extensions_mut().remove::<GenAiFields>() else {
            return;
        };
        let elapsed = fields.started.elapsed();
        match fields.operation {
            Operation::Chat => self.on_chat_close(&fields, elapsed),
            Operation::InvokeAgent => self.on_agent_close(&fields, elapsed),
            Operation::ExecuteTool => self.on_tool_close(&fields, elapsed),
        }
    }
}

/// The attributes the spec lists for `gen_ai.client.operation.duration`.
fn operation_attributes(fields: &GenAiFields) -> Vec<KeyValue> {
    let mut attrs = Vec::with_capacity(7);
    attrs.push(KeyValue::new(
        "gen_ai.operation.name",
        fields.operation.as_str(),
    ));
    let strings = [
        ("gen_ai.provider.name", &fields.provider),
        ("gen_ai.request.model", &fields.request_model),
        ("gen_ai.response.model", &fields.response_model),
        ("server.address", &fields.server_address),
    ];
    for (key, value) in strings {
        if let Some(value) = value {
            attrs.push(KeyValue::new(key, value.clone()));
        }
    }
    if let Some(port) = fields.server_port {
        attrs.push(KeyValue::new("server.port", port));
    }
    if let Some(error) = fields.error_type() {
        attrs.push(KeyValue::new("error.type", error.to_owned()));
    }
    attrs
}

/// The mean gap between chunks after the first: (duration − time to first
/// chunk) / (chunks − 1), for streams of at least two chunks.
fn time_per_output_chunk(fields: &GenAiFields, seconds: f64) -> Option<f64> {
    let ttfc = fields.time_to_first_chunk?;
    let chunks = fields.output_chunks?;
    (chunks >= 2 && seconds > ttfc).then(|| (seconds - ttfc) / (chunks - 1) as f64)
}

/// Output tokens over the generation time: after the first chunk when
/// streaming, the whole call otherwise.
fn output_tokens_per_second(fields: &GenAiFields, seconds: f64) -> Option<f64> {
    let tokens = fields.output_tokens.filter(|&t| t > 0)?;
    let generating = seconds - fields.time_to_first_chunk.unwrap_or(0.0);
    (generating > 0.0).then(|| tokens as f64 / generating)
}
