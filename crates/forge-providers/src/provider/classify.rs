//! Classification shared by the dialects: HTTP status to [`ErrorKind`].

use forge_core::{Error, ErrorKind};
use http::{HeaderMap, StatusCode};

use crate::retry;

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
