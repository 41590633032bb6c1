//! The last stop before export: content and credentials are removed, and
//! attribute types fixed, here.
//!
//! Implementation details: forge-agent's content reaches spans only when
//! capture is on (see `content.rs`). This span processor is the backstop:
//! with capture off it strips every GenAI content attribute from spans and
//! their events before they reach the batch processor, whoever recorded
//! them; it always drops span events that carry content (content leaves as
//! span attributes only) and attributes that name a credential.
//!
//! It also restores the spec's attribute types: tracing-opentelemetry turns
//! `u64` fields (token counts, ports) into strings, so the integer attributes
//! the conventions define are parsed back into integers, and
//! `gen_ai.response.finish_reasons` becomes the string array the spec wants.

use std::time::Duration;

use opentelemetry::{Array, Context, KeyValue, StringValue, Value};
use opentelemetry_sdk::{
    Resource,
    error::OTelSdkResult,
    trace::{Span, SpanData, SpanProcessor},
};

/// GenAI attributes that carry conversation content (opt-in per the spec).
const CONTENT_KEYS: [&str; 9] = [
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "gen_ai.tool.call.arguments",
    "gen_ai.tool.call.result",
    "gen_ai.tool.definitions",
    "gen_ai.prompt",
    "gen_ai.completion",
    "forge.content",
];

/// Substrings of attribute keys that name a credential; never exported.
const SECRET_KEY_PARTS: [&str; 6] = [
    "api_key",
    "api-key",
    "apikey",
    "authorization",
    "secret",
    "password",
];

/// Attributes the conventions define as integers.
const INT_KEYS: [&str; 9] = [
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.cache_creation.input_tokens",
    "gen_ai.usage.reasoning.output_tokens",
    "gen_ai.request.max_tokens",
    "gen_ai.request.seed",
    "server.port",
    "forge.output_chunks",
];

const FINISH_REASONS: &str = "gen_ai.response.finish_reasons";

/// Wraps the exporting processor and filters what it sees.
#[derive(Debug)]
pub(crate) struct ExportFilter<P> {
    inner: P,
    capture_content: bool,
}

impl<P> ExportFilter<P> {
    pub(crate) fn new(inner: P, capture_content: bool) -> Self {
        Self {
            inner,
            capture_content,
        }
    }

    fn keep(&self, attribute: &KeyValue) -> bool {
        let key = attribute.key.as_str();
        if !self.capture_content && CONTENT_KEYS.contains(&key) {
            return false;
        }
        !SECRET_KEY_PARTS
            .iter()
            .any(|part| contains_ignore_case(key, part))
    }
}

fn carries_content(event: &opentelemetry::trace::Event) -> bool {
    event
        .attributes
        .iter()
        .any(|kv| CONTENT_KEYS.contains(&kv.key.as_str()))
}

/// Whether `haystack` contains the lowercase ASCII `needle`, ignoring case,
/// without allocating.
fn contains_ignore_case(haystack: &str, needle: &str) -> bool {
    haystack
        .as_bytes()
        .windows(needle.len())
        .any(|window| window.eq_ignore_ascii_case(needle.as_bytes()))
}

/// Gives a string attribute the type the conventions define for its key.
fn retype(attribute: &mut KeyValue) {
    let Value::String(text) = &attribute.value else {
        return;
    };
    let key = attribute.key.as_str();
    if INT_KEYS.contains(&key) {
        if let Ok(n) = text.as_str().parse::<i64>() {
            attribute.value = Value::I64(n);
        }
    } else if key == FINISH_REASONS {
        let reasons: Vec<StringValue> = text
            .as_str()
            .split(',')
            .map(|r| StringValue::from(r.trim().to_owned()))
            .filter(|r| !r.as_str().is_empty())
            .collect();
        attribute.value = Value::Array(Array::String(reasons));
    }
}

impl<P: SpanProcessor> SpanProcessor for ExportFilter<P> {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        self.inner.on_start(span, cx);
    }

    fn on_end(&self, mut span: SpanData) {
        span.attributes.retain(|kv| self.keep(kv));
        span.attributes.iter_mut().for_each(retype);
        // Content leaves as span attributes only, never as span events.
        span.events.events.retain(|event| !carries_content(event));
        for event in &mut span.events.events {
            event.attributes.retain(|kv| self.keep(kv));
        }
        self.inner.on_end(span);
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_goes_unless_captured_and_secrets_always_go() {
        let off = ExportFilter::new((), false);
        let on = ExportFilter::new((), true);
        let prompt = KeyValue::new("gen_ai.input.messages", "hello");
        let key = KeyValue::new("http.request.header.X-Api-Key", "sk-1");
        let model = KeyValue::new("gen_ai.request.model", "m");
        assert!(!off.keep(&prompt));
        assert!(on.keep(&prompt));
        assert!(!off.keep(&key) && !on.keep(&key));
        assert!(off.keep(&model));
    }

    #[test]
    fn integers_and_finish_reasons_get_their_spec_types() {
        let mut tokens = KeyValue::new("gen_ai.usage.input_tokens", "42");
        retype(&mut tokens);
        assert_eq!(tokens.value, Value::I64(42));
        let mut reasons = KeyValue::new(FINISH_REASONS, "stop");
        retype(&mut reasons);
        let expected = Array::String(vec![StringValue::from("stop")]);
        assert_eq!(reasons.value, Value::Array(expected));
        let mut model = KeyValue::new("gen_ai.request.model", "7");
        retype(&mut model);
        assert_eq!(model.value, Value::from("7"));
    }
}
