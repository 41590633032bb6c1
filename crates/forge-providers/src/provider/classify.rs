//! Classification shared by the dialects: HTTP status to [`ErrorKind`],
//! and the scrubbing of the deployment's key from provider text.

use std::{borrow::Cow, error::Error as StdError};

use forge_core::{Error, ErrorKind};
use http::{HeaderMap, StatusCode};

use crate::{ApiKey, retry};

/// The kind a status implies before looking at the body.
pub(crate) fn status_kind(status: StatusCode) -> ErrorKind {
    match status.as_u16() {
        401 | 403 => ErrorKind::Auth,
        404 => ErrorKind::NotFound,
        408 => ErrorKind::Timeout,
        429 => ErrorKind::RateLimited,
        529 => ErrorKind::Overloaded,
        400..=499 => ErrorKind::InvalidRequest,
        _ => ErrorKind::ServerError,
    }
}

/// A classified HTTP failure, with the server's requested wait attached.
pub(crate) fn http_error(
    kind: ErrorKind,
    provider: &str,
    status: StatusCode,
    detail: &str,
    headers: &HeaderMap,
) -> Error {
    let detail = truncate(detail, 512);
    let message = format!("{provider} answered HTTP {}: {detail}", status.as_u16());
    let error = Error::new(kind, message);
    match retry::retry_after(headers) {
        Some(wait) => error.with_retry_after(wait),
        None => error,
    }
}

/// At most `max` bytes of `text`, cut at a character boundary.
pub(crate) fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// What replaces the deployment's API key in text a provider sent back.
pub(crate) const MASK: &str = "[REDACTED]";

/// Scrubs one deployment's API key from whatever a provider sends back
/// before it becomes part of an error (finding F2 in
/// `docs/reliability.md`).
///
/// A provider may quote the key it rejected in its error body; forge quotes
/// provider messages in its own errors, which end up in logs. The body is
/// scrubbed before it is classified, so every message derived from it (and
/// the 512-byte cut of it) is clean, and the classified error once more,
/// since JSON may spell the key with escapes that only decoding reveals; an
/// error built from a stream that started with HTTP 200 is scrubbed as a
/// whole. Request headers, where the key travels, never go into an error.
pub(crate) struct Redactor {
    key: Option<String>,
}

impl Redactor {
    /// A redactor for `key`; an empty key, or one that cannot be sent as a
    /// header value (so never reaches a server), scrubs nothing.
    pub(crate) fn new(key: Option<&ApiKey>) -> Self {
        let key = key
            .and_then(|k| k.header_value(""))
            .and_then(|v| v.to_str().ok().map(str::to_owned))
            .filter(|k| !k.is_empty());
        Self { key }
    }

    /// `body` with every occurrence of the key replaced by [`MASK`].
    pub(crate) fn body<'a>(&self, body: &'a [u8]) -> Cow<'a, [u8]> {
        let Some(key) = &self.key else {
            return Cow::Borrowed(body);
        };
        let finder = memchr::memmem::Finder::new(key.as_bytes());
        let mut hits = finder.find_iter(body).peekable();
        if hits.peek().is_none() {
            return Cow::Borrowed(body);
        }
        let mut out = Vec::with_capacity(body.len());
        let mut copied = 0;
        for at in hits {
            // `find_iter` reports non-overlapping matches in order.
            out.extend_from_slice(&body[copied..at]);
            out.extend_from_slice(MASK.as_bytes());
            copied = at + key.len();
        }
        out.extend_from_slice(&body[copied..]);
        Cow::Owned(out)
    }

    /// `error` unchanged when neither its text nor its source chain shows
    /// the key; otherwise the same kind, retry decision and wait, with the
    /// key masked in the message and the cause left out (it quoted the key).
    pub(crate) fn error(&self, error: Error) -> Error {
        let Some(key) = self.key.as_deref() else {
            return error;
        };
        if !shows(&error, key) {
            return error;
        }
        let message = error.message().replace(key, MASK);
        let mut out = Error::new(error.kind(), message).retryable(error.is_retryable());
        if let Some(wait) = error.retry_after() {
            out = out.with_retry_after(wait);
        }
        out
    }
}

/// Whether `key` appears in `error`'s `Display` or `Debug`, or in any cause.
fn shows(error: &Error, key: &str) -> bool {
    let mut cause: Option<&(dyn StdError + 'static)> = Some(error);
    // Bounded by the length of the source chain.
    while let Some(e) = cause {
        if e.to_string().contains(key) || format!("{e:?}").contains(key) {
            return true;
        }
        cause = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redactor(key: &str) -> Redactor {
        Redactor::new(Some(&ApiKey::new(key)))
    }

    #[test]
    fn the_key_is_masked_everywhere_in_a_body() {
        let body = b"key sk-1 and sk-1sk-1 end";
        let scrubbed = redactor("sk-1").body(body);
        assert_eq!(&*scrubbed, b"key [REDACTED] and [REDACTED][REDACTED] end");
        assert!(matches!(redactor("zz").body(body), Cow::Borrowed(_)));
        assert!(matches!(Redactor::new(None).body(body), Cow::Borrowed(_)));
        assert!(matches!(redactor("").body(body), Cow::Borrowed(_)));
    }

    #[test]
    fn an_error_quoting_the_key_keeps_its_classification() {
        let wait = std::time::Duration::from_secs(3);
        let error = Error::new(ErrorKind::ErrorAfterOk, "bad key sk-1")
            .retryable(false)
            .with_retry_after(wait);
        let scrubbed = redactor("sk-1").error(error);
        assert_eq!(scrubbed.message(), "bad key [REDACTED]");
        assert_eq!(scrubbed.kind(), ErrorKind::ErrorAfterOk);
        assert!(!scrubbed.is_retryable());
        assert_eq!(scrubbed.retry_after(), Some(wait));
    }

    #[test]
    fn a_cause_quoting_the_key_is_left_out() {
        let cause = Error::new(ErrorKind::Other, "sk-1");
        let error = Error::new(ErrorKind::Connection, "broke").with_source(cause);
        let scrubbed = redactor("sk-1").error(error);
        assert_eq!(scrubbed.message(), "broke");
        assert!(scrubbed.source().is_none());
        let clean = Error::new(ErrorKind::Connection, "broke")
            .with_source(Error::new(ErrorKind::Other, "io"));
        assert!(redactor("sk-1").error(clean).source().is_some());
    }
}
