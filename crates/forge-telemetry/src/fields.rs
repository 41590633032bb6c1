//! The fields of one GenAI span, collected as `tracing` records them.
//!
//! Implementation details: the metrics layer keeps one [`GenAiFields`] in the
//! extensions of every `chat`, `invoke_agent` and `execute_tool` span, fills
//! it from the span's attributes and later `record` calls, and reads it when
//! the span closes. Other spans carry nothing.

use std::{fmt, time::Instant};

use tracing::field::{Field, Visit};

/// Which GenAI operation a span stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operation {
    /// A model call (`forge_providers::chat` target).
    Chat,
    /// A conversation run by the agent loop.
    InvokeAgent,
    /// One tool call run by the agent loop.
    ExecuteTool,
}

impl Operation {
    /// Classifies a span by its metadata; `None` for every other span.
    pub(crate) fn of(metadata: &tracing::Metadata<'_>) -> Option<Self> {
        match metadata.name() {
            "chat" if metadata.target().starts_with("forge_providers") => Some(Self::Chat),
            "invoke_agent" => Some(Self::InvokeAgent),
            "execute_tool" => Some(Self::ExecuteTool),
            _ => None,
        }
    }

    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Self::Chat => "chat",
            Self::InvokeAgent => "invoke_agent",
            Self::ExecuteTool => "execute_tool",
        }
    }
}

/// The fields that metrics are derived from; everything else is ignored.
#[derive(Debug)]
pub(crate) struct GenAiFields {
    pub(crate) operation: Operation,
    pub(crate) started: Instant,
    pub(crate) provider: Option<String>,
    pub(crate) request_model: Option<String>,
    pub(crate) response_model: Option<String>,
    pub(crate) server_address: Option<String>,
    pub(crate) server_port: Option<i64>,
    pub(crate) error_type: Option<String>,
    pub(crate) status_error: bool,
    pub(crate) request_stream: Option<bool>,
    pub(crate) input_tokens: Option<u64>,
    pub(crate) output_tokens: Option<u64>,
    pub(crate) time_to_first_chunk: Option<f64>,
    pub(crate) output_chunks: Option<u64>,
    pub(crate) queue_wait: Option<f64>,
    pub(crate) stream_completed: Option<bool>,
    pub(crate) tool_name: Option<String>,
}

impl GenAiFields {
    pub(crate) fn new(operation: Operation) -> Self {
        Self {
            operation,
            started: Instant::now(),
            provider: None,
            request_model: None,
            response_model: None,
            server_address: None,
            server_port: None,
            error_type: None,
            status_error: false,
            request_stream: None,
            input_tokens: None,
            output_tokens: None,
            time_to_first_chunk: None,
            output_chunks: None,
            queue_wait: None,
            stream_completed: None,
            tool_name: None,
        }
    }

    /// `error.type` when the span failed: its own value, or `_OTHER` when only
    /// the status says so.
    pub(crate) fn error_type(&self) -> Option<&str> {
        match (&self.error_type, self.status_error) {
            (Some(kind), _) => Some(kind),
            (None, true) => Some("_OTHER"),
            (None, false) => None,
        }
    }

    fn set_str(&mut self, name: &str, value: &str) {
        let slot = match name {
            "gen_ai.provider.name" => &mut self.provider,
            "gen_ai.request.model" => &mut self.request_model,
            "gen_ai.response.model" => &mut self.response_model,
            "server.address" => &mut self.server_address,
            "error.type" => &mut self.error_type,
            "gen_ai.tool.name" => &mut self.tool_name,
            "otel.status_code" => {
                self.status_error = value.eq_ignore_ascii_case("error");
                return;
            }
            // Numbers and flags recorded as text (`%value`) still count.
            _ => return self.set_parsed(name, value),
        };
        *slot = Some(value.to_owned());
    }

    fn set_parsed(&mut self, name: &str, value: &str) {
        if let Ok(n) = value.parse::<u64>() {
            self.set_u64(name, n);
        } else if let Ok(f) = value.parse::<f64>() {
            self.set_f64(name, f);
        } else if let Ok(b) = value.parse::<bool>() {
            self.set_bool(name, b);
        }
    }

    fn set_u64(&mut self, name: &str, value: u64) {
        match name {
            "gen_ai.usage.input_tokens" => self.input_tokens = Some(value),
            "gen_ai.usage.output_tokens" => self.output_tokens = Some(value),
            "forge.output_chunks" => self.output_chunks = Some(value),
            "server.port" => self.server_port = i64::try_from(value).ok(),
            // Seconds recorded as whole numbers.
            _ => self.set_f64(name, value as f64),
        }
    }

    fn set_f64(&mut self, name: &str, value: f64) {
        match name {
            "gen_ai.response.time_to_first_chunk" => self.time_to_first_chunk = Some(value),
            "forge.queue_wait" => self.queue_wait = Some(value),
            _ => {}
        }
    }

    fn set_bool(&mut self, name: &str, value: bool) {
        match name {
            "gen_ai.request.stream" => self.request_stream = Some(value),
            "forge.stream.completed" => self.stream_completed = Some(value),
            _ => {}
        }
    }
}

impl Visit for GenAiFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.set_str(field.name(), value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let text = format!("{value:?}");
        self.set_str(field.name(), text.trim_matches('"'));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.set_u64(field.name(), value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if let Ok(value) = u64::try_from(value) {
            self.set_u64(field.name(), value);
        }
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.set_f64(field.name(), value);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.set_bool(field.name(), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_error_without_type_reports_other() {
        let mut fields = GenAiFields::new(Operation::Chat);
        fields.set_str("otel.status_code", "ERROR");
        assert_eq!(fields.error_type(), Some("_OTHER"));
        fields.set_str("error.type", "timeout");
        assert_eq!(fields.error_type(), Some("timeout"));
    }

    #[test]
    fn text_numbers_and_flags_are_parsed() {
        let mut fields = GenAiFields::new(Operation::Chat);
        fields.set_str("gen_ai.usage.output_tokens", "12");
        fields.set_str("forge.queue_wait", "0.25");
        fields.set_str("forge.stream.completed", "true");
        assert_eq!(fields.output_tokens, Some(12));
        assert_eq!(fields.queue_wait, Some(0.25));
        assert_eq!(fields.stream_completed, Some(true));
    }
}
