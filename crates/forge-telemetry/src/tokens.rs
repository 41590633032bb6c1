//! `gen_ai.client.token.usage`: every token metric is emitted here.
//!
//! The GenAI conventions are reworking token metrics (cache and reasoning
//! tokens may get their own types), so their names, types and buckets are kept
//! in this one module.

use opentelemetry::{
    KeyValue,
    metrics::{Histogram, Meter},
};

/// Powers of 4 from 1 to 4^13, the spec's buckets.
const TOKEN_BUCKETS: [f64; 14] = [
    1.0,
    4.0,
    16.0,
    64.0,
    256.0,
    1_024.0,
    4_096.0,
    16_384.0,
    65_536.0,
    262_144.0,
    1_048_576.0,
    4_194_304.0,
    16_777_216.0,
    67_108_864.0,
];

/// The token usage histogram.
#[derive(Debug, Clone)]
pub(crate) struct TokenUsage {
    histogram: Histogram<u64>,
}

impl TokenUsage {
    pub(crate) fn new(meter: &Meter) -> Self {
        let histogram = meter
            .u64_histogram("gen_ai.client.token.usage")
            .with_unit("{token}")
            .with_description("Number of input and output tokens used.")
            .with_boundaries(TOKEN_BUCKETS.to_vec())
            .build();
        Self { histogram }
    }

    /// Records one call's input and output counts, each with
    /// `gen_ai.token.type`, on top of the operation's attributes.
    pub(crate) fn record(&self, input: Option<u64>, output: Option<u64>, attributes: &[KeyValue]) {
        for (count, token_type) in [(input, "input"), (output, "output")] {
            let Some(count) = count else { continue };
            let mut attrs = Vec::with_capacity(attributes.len() + 1);
            attrs.extend_from_slice(attributes);
            attrs.push(KeyValue::new("gen_ai.token.type", token_type));
            self.histogram.record(count, &attrs);
        }
    }
}
