//! Classifying Gemini failures (google.rpc.Status bodies).

use forge_core::{Error, ErrorKind};
use http::{HeaderMap, StatusCode};

use super::wire::{ErrorEnvelope, Status};
use crate::{
    provider::classify::{http_error, status_kind},
    retry::proto_duration,
};

/// A non-success HTTP answer.
pub(super) fn classify(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Error {
    let envelope = serde_json::from_slice::<ErrorEnvelope<'_>>(body).ok();
    let Some(ErrorEnvelope { error }) = envelope else {
        let detail = String::from_utf8_lossy(body);
        return http_error(status_kind(status), "Gemini", status, &detail, headers);
    };
    let kind = kind(status, &error);
    let detail = format!("{}: {}", error.status, error.message);
    let mut out = http_error(kind, "Gemini", status, &detail, headers);
    if out.retry_after().is_none()
        && let Some(wait) = retry_delay(&error)
    {
        out = out.with_retry_after(wait);
    }
    out
}

fn kind(status: StatusCode, error: &Status<'_>) -> ErrorKind {
    let reason = |r: &str| error.details.iter().any(|d| d.reason.as_deref() == Some(r));
    if reason("API_KEY_INVALID") || error.status == "UNAUTHENTICATED" {
        return ErrorKind::Auth;
    }
    if status.as_u16() == 429 || error.status == "RESOURCE_EXHAUSTED" {
        return if is_quota(error) {
            ErrorKind::QuotaExhausted
        } else {
            ErrorKind::RateLimited
        };
    }
    match error.status.as_ref() {
        "PERMISSION_DENIED" => ErrorKind::Auth,
        "NOT_FOUND" => ErrorKind::NotFound,
        "DEADLINE_EXCEEDED" => ErrorKind::Timeout,
        _ => status_kind(status),
    }
}

/// A 429 without a retry delay whose quota is daily (or zero) will not
/// clear by waiting: it is an exhausted quota, not a rate limit.
fn is_quota(error: &Status<'_>) -> bool {
    if retry_delay(error).is_some() {
        return false;
    }
    if error.message.contains("limit: 0") {
        return true;
    }
    let ids = || {
        error
            .details
            .iter()
            .flat_map(|d| &d.violations)
            .filter_map(|v| v.quota_id.as_deref())
    };
    // Every quota id names "PerProject"; only the period tells them apart.
    if ids().any(|q| q.contains("PerDay")) {
        return true;
    }
    if ids().any(|q| q.contains("PerMinute")) {
        return false;
    }
    error.message.contains("billing")
}

fn retry_delay(error: &Status<'_>) -> Option<std::time::Duration> {
    error
        .details
        .iter()
        .filter(|d| d.kind.ends_with("google.rpc.RetryInfo"))
        .find_map(|d| d.retry_delay.as_deref().and_then(proto_duration))
}

/// An error frame inside a stream that began with HTTP 200.
pub(super) fn stream_error(error: &Status<'_>) -> Error {
    let message = format!("Gemini stream error {}: {}", error.status, error.message);
    let retryable = !matches!(
        error.status.as_ref(),
        "INVALID_ARGUMENT" | "PERMISSION_DENIED" | "UNAUTHENTICATED" | "NOT_FOUND"
    );
    Error::new(ErrorKind::ErrorAfterOk, message).retryable(retryable)
}
