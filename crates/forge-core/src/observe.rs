//! The dispatch observer: one observation per tool dispatch.

use std::{sync::Arc, time::Duration};

use crate::ErrorKind;

/// The caller's labels attached to a dispatch, such as provider and conversation.
///
/// Cheap to clone: every label is shared.
#[non_exhaustive]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Labels {
    /// The provider whose model asked for the call (`anthropic`, `openai`, `gcp.gemini`).
    pub provider: Option<Arc<str>>,
    /// The model that asked for the call.
    pub model: Option<Arc<str>>,
    /// The conversation the call belongs to.
    pub conversation: Option<Arc<str>>,
}

impl Labels {
    /// Sets the provider label.
    #[must_use]
    pub fn provider(mut self, provider: impl Into<Arc<str>>) -> Self {
        self.provider = Some(provider.into());
        self
    }

    /// Sets the model label.
    #[must_use]
    pub fn model(mut self, model: impl Into<Arc<str>>) -> Self {
        self.model = Some(model.into());
        self
    }

    /// Sets the conversation label.
    #[must_use]
    pub fn conversation(mut self, conversation: impl Into<Arc<str>>) -> Self {
        self.conversation = Some(conversation.into());
        self
    }
}

/// How a dispatch ended.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The tool returned a result within its limits.
    Success,
    /// The dispatch failed with this kind.
    Failure(ErrorKind),
}

impl Outcome {
    /// `"success"` or the failure kind's name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure(kind) => kind.as_str(),
        }
    }
}

/// What one tool dispatch did.
#[non_exhaustive]
#[derive(Debug, Clone, Copy)]
pub struct DispatchObservation<'a> {
    /// The tool's name as called (an unknown name is reported as called).
    pub tool: &'a str,
    /// The call id.
    pub call_id: &'a str,
    /// Wall time from lookup to result, retries and backoff included.
    pub duration: Duration,
    /// Size of the raw arguments.
    pub input_bytes: usize,
    /// Size of the serialized output (0 on failure).
    pub output_bytes: usize,
    /// How it ended.
    pub outcome: Outcome,
    /// Handler invocations (0 when validation rejected the call).
    pub attempts: u32,
    /// The caller's labels.
    pub labels: &'a Labels,
}

impl<'a> DispatchObservation<'a> {
    /// An observation of a successful, instant, empty dispatch; set the fields that apply.
    pub fn new(tool: &'a str, call_id: &'a str, labels: &'a Labels) -> Self {
        Self {
            tool,
            call_id,
            duration: Duration::ZERO,
            input_bytes: 0,
            output_bytes: 0,
            outcome: Outcome::Success,
            attempts: 0,
            labels,
        }
    }
}

/// Receives every dispatch, after forge-dispatch has recorded it in its own
/// aggregates. Implemented by forge-telemetry.
///
/// Called on the dispatching task, on the hot path: implementations must be
/// cheap, must not block and must not panic.
pub trait DispatchObserver: Send + Sync + 'static {
    /// Called once per dispatch.
    fn on_dispatch(&self, observation: &DispatchObservation<'_>);
}
