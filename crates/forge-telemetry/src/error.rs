//! The one error type of forge-telemetry.

use std::{error::Error as StdError, fmt};

use forge_core::ErrorKind;

/// Why telemetry could not be configured, installed, flushed or shut down.
///
/// Match on [`Error::kind`] and the predicates; the `Display` text is for
/// people and is not a stable interface. Telemetry never fails the agent: these
/// errors come only from the calls a binary makes on its guard.
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    kind: ErrorKind,
    message: String,
    source: Option<Box<dyn StdError + Send + Sync>>,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        let inner = Inner {
            kind,
            message: message.into(),
            source: None,
        };
        Self {
            inner: Box::new(inner),
        }
    }

    /// A configuration error: a bad variable, endpoint or protocol.
    pub(crate) fn config(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Config, message)
    }

    /// A deadline passed while flushing or shutting down.
    pub(crate) fn timeout(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Timeout, message)
    }

    pub(crate) fn with_source(
        mut self,
        source: impl Into<Box<dyn StdError + Send + Sync>>,
    ) -> Self {
        self.inner.source = Some(source.into());
        self
    }

    /// The classified kind: [`ErrorKind::Config`], [`ErrorKind::Timeout`],
    /// [`ErrorKind::Connection`] or [`ErrorKind::Other`].
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// Whether the configuration (variables, endpoint, protocol) was invalid.
    pub fn is_config(&self) -> bool {
        self.inner.kind == ErrorKind::Config
    }

    /// Whether a flush or shutdown ran out of time.
    pub fn is_timeout(&self) -> bool {
        self.inner.kind == ErrorKind::Timeout
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
