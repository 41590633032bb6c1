//! The one error type of forge-dispatch.
//!
//! Dispatching never fails: a failed call becomes a [`forge_core::ToolResult`]
//! the model can read. This error only reports set-up problems, such as a
//! duplicate tool name or a schema that does not compile.

use std::{error::Error as StdError, fmt};

use forge_core::ErrorKind;

/// An error from building a [`Registry`](crate::Registry).
///
/// Match on [`Error::kind`] and the predicates; the `Display` text is for
/// people and is not a stable interface.
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    kind: ErrorKind,
    message: String,
    source: Option<Box<dyn StdError + Send + Sync>>,
}

impl Error {
    pub(crate) fn config(message: impl Into<String>) -> Self {
        let inner = Inner {
            kind: ErrorKind::Config,
            message: message.into(),
            source: None,
        };
        Self {
            inner: Box::new(inner),
        }
    }

    pub(crate) fn with_source(
        mut self,
        source: impl Into<Box<dyn StdError + Send + Sync>>,
    ) -> Self {
        self.inner.source = Some(source.into());
        self
    }

    /// The classified kind; [`ErrorKind::Config`] for every registry problem.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// Whether the registry's configuration is invalid (a duplicate name, a
    /// schema that does not compile).
    pub fn is_config(&self) -> bool {
        self.inner.kind == ErrorKind::Config
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
