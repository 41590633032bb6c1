//! The agent's one error type.

use std::{error::Error as StdError, fmt};

use forge_core::ErrorKind;

/// Why a conversation failed.
///
/// Match on [`Error::kind`] and the predicates; the `Display` text is for
/// people and is not a stable interface. A model failure keeps the model's
/// [`forge_core::Error`] as its [`source`](StdError::source).
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    kind: ErrorKind,
    message: String,
    steps: u32,
    source: Option<forge_core::Error>,
}

impl Error {
    pub(crate) fn model(source: forge_core::Error, steps: u32) -> Self {
        let message = format!("model call {steps} failed");
        Self::build(source.kind(), message, steps, Some(source))
    }

    pub(crate) fn truncated_stream(steps: u32) -> Self {
        let message = format!("model call {steps} ended without a finish event");
        Self::build(ErrorKind::StreamTruncated, message, steps, None)
    }

    pub(crate) fn retry_budget(kind: ErrorKind, message: String, steps: u32) -> Self {
        Self::build(kind, message, steps, None)
    }

    fn build(
        kind: ErrorKind,
        message: String,
        steps: u32,
        source: Option<forge_core::Error>,
    ) -> Self {
        let inner = Inner {
            kind,
            message,
            steps,
            source,
        };
        Self {
            inner: Box::new(inner),
        }
    }

    /// The classified kind: the model's failure kind, or the tool failure
    /// kind whose retry budget ran out.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// How many model calls the conversation had started when it failed.
    pub fn steps(&self) -> u32 {
        self.inner.steps
    }

    /// Whether the model call failed (as opposed to a retry budget running out).
    pub fn is_model(&self) -> bool {
        self.inner.source.is_some() || self.inner.kind == ErrorKind::StreamTruncated
    }

    /// Whether the model kept sending invalid tool calls until a retry budget ran out.
    pub fn is_retry_budget_exhausted(&self) -> bool {
        !self.is_model()
    }

    /// Whether the failure was a deadline.
    pub fn is_timeout(&self) -> bool {
        self.inner.kind == ErrorKind::Timeout
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.inner.kind)
            .field("message", &self.inner.message)
            .field("steps", &self.inner.steps)
            .field("source", &self.inner.source)
            .finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.inner.message)
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.inner
            .source
            .as_ref()
            .map(|s| s as &(dyn StdError + 'static))
    }
}
