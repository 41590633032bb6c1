//! The crate's one opaque error, and helpers that build classified
//! [`forge_core::Error`]s for the model paths.
//!
//! Model calls return [`forge_core::Error`] (the trait's error type), so the
//! adapters classify straight into it. [`Error`] is what configuration,
//! connection set-up and [`crate::connect`] return.

use std::{borrow::Cow, error::Error as StdError, fmt, time::Duration};

use forge_core::ErrorKind;

/// The error of forge-providers' own API (configuration and set-up).
///
/// Match on [`Error::kind`] and the predicates; the `Display` text is for
/// people and is not a stable interface. It never contains an API key.
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    kind: ErrorKind,
    message: Cow<'static, str>,
    retry_after: Option<Duration>,
    source: Option<Box<dyn StdError + Send + Sync>>,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<Cow<'static, str>>) -> Self {
        let inner = Inner {
            kind,
            message: message.into(),
            retry_after: None,
            source: None,
        };
        Self {
            inner: Box::new(inner),
        }
    }

    pub(crate) fn config(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::Config, message)
    }

    pub(crate) fn with_source(
        mut self,
        source: impl Into<Box<dyn StdError + Send + Sync>>,
    ) -> Self {
        self.inner.source = Some(source.into());
        self
    }

    /// The classified kind.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// Whether retrying may succeed.
    pub fn is_retryable(&self) -> bool {
        self.inner.kind.is_retryable()
    }

    /// Whether the configuration was invalid.
    pub fn is_config(&self) -> bool {
        self.inner.kind == ErrorKind::Config
    }

    /// Whether a deadline passed.
    pub fn is_timeout(&self) -> bool {
        self.inner.kind == ErrorKind::Timeout
    }

    /// The wait the server asked for, if it named one.
    pub fn retry_after(&self) -> Option<Duration> {
        self.inner.retry_after
    }
}

impl From<forge_core::Error> for Error {
    fn from(e: forge_core::Error) -> Self {
        let mut out = Self::new(e.kind(), e.message().to_owned());
        out.inner.retry_after = e.retry_after();
        out.with_source(e)
    }
}

impl From<Error> for forge_core::Error {
    fn from(e: Error) -> Self {
        let Inner {
            kind,
            message,
            retry_after,
            source,
        } = *e.inner;
        let mut out = forge_core::Error::new(kind, message);
        if let Some(wait) = retry_after {
            out = out.with_retry_after(wait);
        }
        match source {
            Some(source) => out.with_source(source),
            None => out,
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.inner.kind)
            .field("message", &self.inner.message);
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

/// Shorthand for a classified model-path error.
pub(crate) fn fail(kind: ErrorKind, message: impl Into<Cow<'static, str>>) -> forge_core::Error {
    forge_core::Error::new(kind, message)
}

/// A decoding failure of a provider payload.
pub(crate) fn malformed(what: &'static str, source: serde_json::Error) -> forge_core::Error {
    fail(ErrorKind::MalformedResponse, format!("malformed {what}")).with_source(source)
}
