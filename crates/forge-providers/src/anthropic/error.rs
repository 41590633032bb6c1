//! Classifying Anthropic failures.

use forge_core::{Error, ErrorKind};
use http::{HeaderMap, StatusCode};

use super::wire::{ErrorBody, ErrorEnvelope};
use crate::provider::classify::{http_error, status_kind};

/// A non-success HTTP answer.
pub(super) fn classify(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Error {
    let envelope = serde_json::from_slice::<ErrorEnvelope<'_>>(body).ok();
    let kind = match &envelope {
        Some(e) if is_out_of_credit(&e.error) => ErrorKind::QuotaExhausted,
        Some(e) => body_kind(&e.error.kind).unwrap_or_else(|| status_kind(status)),
        None => status_kind(status),
    };
    let detail = match &envelope {
        Some(e) => format!("{}: {}", e.error.kind, e.error.message),
        None => String::from_utf8_lossy(body).into_owned(),
    };
    let error = http_error(kind, "Anthropic", status, &detail, headers);
    if kind != ErrorKind::RateLimited || error.retry_after().is_some() {
        return error;
    }
    match reset_wait(headers) {
        Some(wait) => error.with_retry_after(wait),
        None => error,
    }
}

/// Without `retry-after`, the latest `anthropic-ratelimit-*-reset` of an
/// exhausted budget (RFC 3339 timestamps).
fn reset_wait(headers: &HeaderMap) -> Option<std::time::Duration> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    ["requests", "tokens", "input-tokens", "output-tokens"]
        .into_iter()
        .filter(|b| header(&format!("anthropic-ratelimit-{b}-remaining")) == Some("0"))
        .filter_map(|b| header(&format!("anthropic-ratelimit-{b}-reset")))
        .filter_map(crate::retry::until_rfc3339)
        .max()
}

/// Anthropic reports an exhausted credit balance as a 400
/// `invalid_request_error`; it is a quota, never worth retrying.
fn is_out_of_credit(error: &ErrorBody<'_>) -> bool {
    error
        .message
        .to_ascii_lowercase()
        .contains("credit balance")
}

/// The kind an error `type` names, when it is more precise than the status.
fn body_kind(kind: &str) -> Option<ErrorKind> {
    Some(match kind {
        "overloaded_error" => ErrorKind::Overloaded,
        "rate_limit_error" => ErrorKind::RateLimited,
        "authentication_error" | "permission_error" => ErrorKind::Auth,
        "not_found_error" => ErrorKind::NotFound,
        "request_too_large" | "invalid_request_error" => ErrorKind::InvalidRequest,
        "billing_error" => ErrorKind::QuotaExhausted,
        "timeout_error" => ErrorKind::Timeout,
        "api_error" => ErrorKind::ServerError,
        _ => return None,
    })
}

/// An `error` event inside a stream that began with HTTP 200.
pub(super) fn stream_error(error: &ErrorBody<'_>) -> Error {
    let retryable = body_kind(&error.kind).is_none_or(ErrorKind::is_retryable);
    let message = format!("Anthropic stream error {}: {}", error.kind, error.message);
    Error::new(ErrorKind::ErrorAfterOk, message).retryable(retryable)
}
