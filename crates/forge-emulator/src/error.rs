//! The emulator's one error type.

use std::{error::Error as StdError, fmt};

use forge_core::ErrorKind;

/// An error from building or starting an emulator.
///
/// Match on [`Error::kind`] or the predicates; the `Display` text is for
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
        Self::new(ErrorKind::Config, message)
    }

    pub(crate) fn io(message: impl Into<String>, source: std::io::Error) -> Self {
        let mut error = Self::new(ErrorKind::Connection, message);
        error.inner.source = Some(Box::new(source));
        error
    }

    fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        let message = message.into();
        Self {
            inner: Box::new(Inner {
                kind,
                message,
                source: None,
            }),
        }
    }

    /// The failure kind: [`ErrorKind::Config`] for an invalid script, fault
    /// spec or option, [`ErrorKind::Connection`] for socket and file errors.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// Whether a script, fault spec or option was invalid.
    pub fn is_config(&self) -> bool {
        self.inner.kind == ErrorKind::Config
    }

    /// Whether binding the socket or reading a file failed.
    pub fn is_io(&self) -> bool {
        self.inner.kind == ErrorKind::Connection
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.inner.kind)
            .field("message", &self.inner.message)
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
            .as_deref()
            .map(|source| source as &(dyn StdError + 'static))
    }
}
