//! Token usage and stop reasons.

use std::ops::AddAssign;

use serde::{Deserialize, Serialize};

/// Tokens counted by the provider for one model call (or summed over several).
///
/// `input_tokens` includes cached tokens, as the OpenTelemetry GenAI
/// conventions define `gen_ai.usage.input_tokens`.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens, cached ones included.
    pub input_tokens: u64,
    /// Generated tokens, reasoning included.
    pub output_tokens: u64,
    /// Prompt tokens read from the provider's cache.
    pub cache_read_input_tokens: u64,
    /// Prompt tokens written to the provider's cache.
    pub cache_creation_input_tokens: u64,
    /// Generated tokens spent on reasoning.
    pub reasoning_tokens: u64,
}

impl Usage {
    /// Usage with only input and output counts.
    pub fn new(input_tokens: u64, output_tokens: u64) -> Self {
        Self {
            input_tokens,
            output_tokens,
            ..Self::default()
        }
    }

    /// Sets the cache counts.
    #[must_use]
    pub fn with_cache(mut self, read: u64, creation: u64) -> Self {
        self.cache_read_input_tokens = read;
        self.cache_creation_input_tokens = creation;
        self
    }

    /// Sets the reasoning count.
    #[must_use]
    pub fn with_reasoning(mut self, reasoning: u64) -> Self {
        self.reasoning_tokens = reasoning;
        self
    }

    /// Input plus output tokens.
    pub fn total(&self) -> u64 {
        self.input_tokens + self.output_tokens
    }
}

impl AddAssign for Usage {
    fn add_assign(&mut self, rhs: Self) {
        self.input_tokens += rhs.input_tokens;
        self.output_tokens += rhs.output_tokens;
        self.cache_read_input_tokens += rhs.cache_read_input_tokens;
        self.cache_creation_input_tokens += rhs.cache_creation_input_tokens;
        self.reasoning_tokens += rhs.reasoning_tokens;
    }
}

/// Why the model stopped generating.
///
/// Every provider's reasons map onto these; a reason forge does not know is
/// kept verbatim in [`StopReason::Other`], never rejected.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// A natural end of the answer.
    EndTurn,
    /// The output token limit was reached.
    MaxTokens,
    /// A stop sequence matched.
    StopSequence,
    /// The model wants tools run.
    ToolUse,
    /// The provider paused a long turn (Anthropic `pause_turn`).
    PauseTurn,
    /// The model refused.
    Refusal,
    /// A content filter stopped the answer or blocked the prompt.
    ContentFilter,
    /// The context window was exceeded.
    ContextWindowExceeded,
    /// A reason forge does not know, as the provider spelled it.
    Other(String),
}

impl StopReason {
    /// The value for `gen_ai.response.finish_reasons`.
    pub fn as_str(&self) -> &str {
        match self {
            Self::EndTurn => "stop",
            Self::MaxTokens => "length",
            Self::StopSequence => "stop_sequence",
            Self::ToolUse => "tool_call",
            Self::PauseTurn => "pause_turn",
            Self::Refusal => "refusal",
            Self::ContentFilter => "content_filter",
            Self::ContextWindowExceeded => "context_window_exceeded",
            Self::Other(other) => other,
        }
    }
}
