//! The one error type of forge-core and the failure kinds shared by all crates.

use std::{borrow::Cow, error::Error as StdError, fmt, time::Duration};

use serde::{Deserialize, Serialize};

/// What went wrong, in terms every forge crate classifies alike.
///
/// Providers, the router, the dispatcher, the agent loop and telemetry
/// (`error.type`) all speak these kinds. New kinds may be added in minor
/// releases.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    // Provider failures.
    /// HTTP 429 for a rate limit; retryable after a wait.
    RateLimited,
    /// HTTP 429 for an exhausted quota or billing limit; never retried.
    QuotaExhausted,
    /// The provider is overloaded (Anthropic 529, `overloaded_error`).
    Overloaded,
    /// A 5xx answer other than overload.
    ServerError,
    /// The key is missing, invalid or lacks permission (401, 403, Gemini `API_KEY_INVALID`).
    Auth,
    /// The request was rejected as malformed (400, 413, 422).
    InvalidRequest,
    /// The model or endpoint does not exist (404).
    NotFound,
    /// A deadline passed: connect, first chunk, idle, total, or a tool's timeout.
    Timeout,
    /// The connection could not be made or broke.
    Connection,
    /// A stream ended before the provider's terminator.
    StreamTruncated,
    /// The provider reported an error inside a response that began with HTTP 200.
    ErrorAfterOk,
    /// A response, event or chunk could not be decoded.
    MalformedResponse,
    /// A response body or a single stream event was larger than its limit.
    ResponseTooLarge,
    /// A deployment's wait queue was full.
    QueueFull,
    /// The prompt or answer was blocked by the provider's safety filter.
    ContentFiltered,

    // Tool failures.
    /// The model named a tool that is not registered.
    UnknownTool,
    /// The arguments are not valid JSON or do not satisfy the tool's schema.
    InvalidArguments,
    /// The arguments exceed the size or nesting limit.
    ArgumentsTooLarge,
    /// Two calls in one batch share an id.
    DuplicateCallId,
    /// The call was cut short by the model's token limit; it was not run.
    TruncatedCall,
    /// The tool's handler panicked.
    ToolPanicked,
    /// The tool's handler returned an error.
    ToolFailed,
    /// The tool's result exceeds the result size limit.
    ResultTooLarge,

    // Either side.
    /// The work was cancelled.
    Cancelled,
    /// Configuration is invalid.
    Config,
    /// Anything else.
    Other,
}

impl ErrorKind {
    /// The kind as a stable snake_case string, used for `error.type` in telemetry.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::RateLimited => "rate_limited",
            Self::QuotaExhausted => "quota_exhausted",
            Self::Overloaded => "overloaded",
            Self::ServerError => "server_error",
            Self::Auth => "auth",
            Self::InvalidRequest => "invalid_request",
            Self::NotFound => "not_found",
            Self::Timeout => "timeout",
            Self::Connection => "connection",
            Self::StreamTruncated => "stream_truncated",
            Self::ErrorAfterOk => "error_after_ok",
            Self::MalformedResponse => "malformed_response",
            Self::ResponseTooLarge => "response_too_large",
            Self::QueueFull => "queue_full",
            Self::ContentFiltered => "content_filtered",
            Self::UnknownTool => "unknown_tool",
            Self::InvalidArguments => "invalid_arguments",
            Self::ArgumentsTooLarge => "arguments_too_large",
            Self::DuplicateCallId => "duplicate_call_id",
            Self::TruncatedCall => "truncated_call",
            Self::ToolPanicked => "tool_panicked",
            Self::ToolFailed => "tool_failed",
            Self::ResultTooLarge => "result_too_large",
            Self::Cancelled => "cancelled",
            Self::Config => "config",
            Self::Other => "other",
        }
    }

    /// Whether a failure of this kind is worth retrying by default.
    ///
    /// Provider-side transient failures are; quota exhaustion, bad requests,
    /// auth failures and every tool-side validation failure are not. A tool
    /// handler's own error is retryable only when the tool marks it so (see
    /// [`Error::retryable`]).
    pub const fn is_retryable(self) -> bool {
        matches!(
            self,
            Self::RateLimited
                | Self::Overloaded
                | Self::ServerError
                | Self::Timeout
                | Self::Connection
                | Self::StreamTruncated
                | Self::ErrorAfterOk
        )
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of forge-core's traits: a kind, a message, and an optional source.
///
/// The kind is what callers match on ([`Error::kind`] and the predicates);
/// the `Display` text is for people and is not a stable interface.
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    kind: ErrorKind,
    message: Cow<'static, str>,
    retryable: Option<bool>,
    retry_after: Option<Duration>,
    source: Option<Box<dyn StdError + Send + Sync>>,
}

impl Error {
    /// Creates an error of `kind` with a message for people.
    pub fn new(kind: ErrorKind, message: impl Into<Cow<'static, str>>) -> Self {
        let inner = Inner {
            kind,
            message: message.into(),
            retryable: None,
            retry_after: None,
            source: None,
        };
        Self {
            inner: Box::new(inner),
        }
    }

    /// A tool handler's failure ([`ErrorKind::ToolFailed`]), not retried.
    pub fn tool(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::ToolFailed, message)
    }

    /// Attaches the underlying cause, reachable through [`std::error::Error::source`].
    #[must_use]
    pub fn with_source(mut self, source: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        self.inner.source = Some(source.into());
        self
    }

    /// Overrides whether this error may be retried.
    ///
    /// A tool handler marks a transient failure with `.retryable(true)`; the
    /// dispatcher still never retries a tool marked non-idempotent.
    #[must_use]
    pub fn retryable(mut self, retryable: bool) -> Self {
        self.inner.retryable = Some(retryable);
        self
    }

    /// Records how long the server asked the caller to wait before retrying.
    #[must_use]
    pub fn with_retry_after(mut self, wait: Duration) -> Self {
        self.inner.retry_after = Some(wait);
        self
    }

    /// The classified kind.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// The message for people, without the source chain.
    pub fn message(&self) -> &str {
        &self.inner.message
    }

    /// The wait the server asked for, if it named one.
    pub fn retry_after(&self) -> Option<Duration> {
        self.inner.retry_after
    }

    /// Whether retrying may succeed: the explicit mark if set, else the kind's default.
    pub fn is_retryable(&self) -> bool {
        self.inner
            .retryable
            .unwrap_or_else(|| self.inner.kind.is_retryable())
    }

    /// Whether this is a rate limit (not a quota exhaustion).
    pub fn is_rate_limited(&self) -> bool {
        self.inner.kind == ErrorKind::RateLimited
    }

    /// Whether a quota or billing limit was exhausted.
    pub fn is_quota_exhausted(&self) -> bool {
        self.inner.kind == ErrorKind::QuotaExhausted
    }

    /// Whether a deadline passed.
    pub fn is_timeout(&self) -> bool {
        self.inner.kind == ErrorKind::Timeout
    }

    /// Whether the failure concerns a tool call's arguments or name, i.e. the
    /// model can correct it on its next turn.
    pub fn is_invalid_call(&self) -> bool {
        matches!(
            self.inner.kind,
            ErrorKind::UnknownTool
                | ErrorKind::InvalidArguments
                | ErrorKind::ArgumentsTooLarge
                | ErrorKind::DuplicateCallId
                | ErrorKind::TruncatedCall
        )
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.inner.kind)
            .field("message", &self.inner.message);
        if let Some(wait) = self.inner.retry_after {
            d.field("retry_after", &wait);
        }
        if let Some(source) = &self.inner.source {
            d.field("source", source);
        }
        d.finish()
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
            .as_deref()
            .map(|s| s as &(dyn StdError + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_is_never_retryable_but_rate_limit_is() {
        assert!(!Error::new(ErrorKind::QuotaExhausted, "quota").is_retryable());
        assert!(Error::new(ErrorKind::RateLimited, "slow down").is_retryable());
    }

    #[test]
    fn explicit_mark_overrides_kind() {
        let e = Error::tool("flaky backend").retryable(true);
        assert!(e.is_retryable());
        let e = Error::new(ErrorKind::ServerError, "500").retryable(false);
        assert!(!e.is_retryable());
    }

    #[test]
    fn source_chain_is_kept_and_display_omits_it() {
        let io = std::io::Error::other("socket closed");
        let e = Error::new(ErrorKind::Connection, "request failed").with_source(io);
        assert_eq!(e.to_string(), "request failed");
        assert_eq!(e.source().unwrap().to_string(), "socket closed");
    }

    #[test]
    fn error_stays_one_pointer_wide() {
        assert_eq!(size_of::<Error>(), size_of::<usize>());
    }
}
