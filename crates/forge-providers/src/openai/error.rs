//! Classifying OpenAI failures.

use std::time::Duration;

use forge_core::{Error, ErrorKind};
use http::{HeaderMap, StatusCode};

use super::wire::{ErrorBody, ErrorEnvelope};
use crate::provider::classify::{http_error, status_kind};

/// A non-success HTTP answer.
pub(super) fn classify(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Error {
    let envelope = serde_json::from_slice::<ErrorEnvelope<'_>>(body).ok();
    let mut kind = status_kind(status);
    if let Some(e) = &envelope
        && is_quota(&e.error)
    {
        kind = ErrorKind::QuotaExhausted;
    }
    let detail = match &envelope {
        Some(e) => describe(&e.error),
        None => String::from_utf8_lossy(body).into_owned(),
    };
    let error = http_error(kind, "OpenAI", status, &detail, headers);
    if kind == ErrorKind::RateLimited
        && error.retry_after().is_none()
        && let Some(wait) = reset_wait(headers)
    {
        return error.with_retry_after(wait);
    }
    error
}

fn code<'a>(error: &ErrorBody<'a>) -> &'a str {
    error.code.map_or("", |c| c.get().trim_matches('"'))
}

fn is_quota(error: &ErrorBody<'_>) -> bool {
    code(error) == "insufficient_quota" || error.kind.as_deref() == Some("insufficient_quota")
}

fn describe(error: &ErrorBody<'_>) -> String {
    let kind = error.kind.as_deref().unwrap_or("error");
    let message = error.message.as_deref().unwrap_or("");
    format!("{kind} ({}): {message}", code(error))
}

/// An `{"error":…}` frame inside a stream that began with HTTP 200.
pub(super) fn stream_error(error: &ErrorBody<'_>) -> Error {
    let message = format!("OpenAI stream error {}", describe(error));
    Error::new(ErrorKind::ErrorAfterOk, message).retryable(!is_final(error))
}

/// Whether an error frame reports something a retry cannot change: spent
/// quota, a bad key or permission, or a request the server refuses as such.
fn is_final(error: &ErrorBody<'_>) -> bool {
    let final_kind = matches!(
        error.kind.as_deref(),
        Some(
            "insufficient_quota"
                | "invalid_request_error"
                | "authentication_error"
                | "permission_error"
                | "not_found_error"
        )
    );
    let final_code = matches!(
        code(error),
        "insufficient_quota" | "invalid_api_key" | "model_not_found" | "context_length_exceeded"
    );
    final_kind || final_code
}

/// The rate-limit reset of whichever budget is exhausted, from
/// `x-ratelimit-reset-*` headers (Go durations such as `6m0s` or `20ms`).
fn reset_wait(headers: &HeaderMap) -> Option<Duration> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    ["requests", "tokens"]
        .into_iter()
        .filter(|b| header(&format!("x-ratelimit-remaining-{b}")) == Some("0"))
        .filter_map(|b| header(&format!("x-ratelimit-reset-{b}")).and_then(go_duration))
        .max()
}

/// Parses a Go duration: `6m0s`, `20ms`, `2m30.5s`, `1h2m`.
pub(super) fn go_duration(text: &str) -> Option<Duration> {
    let mut rest = text.trim();
    let mut total = 0.0_f64;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let split = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let (number, tail) = rest.split_at(split);
        let number: f64 = number.parse().ok()?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(tail.len());
        let (unit, next) = tail.split_at(unit_len);
        let scale = match unit {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        total += number * scale;
        rest = next;
    }
    Duration::try_from_secs_f64(total).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_errors_are_retried_unless_a_retry_cannot_help() {
        let retryable = |frame: &str| {
            let body: ErrorBody<'_> = serde_json::from_str(frame).unwrap();
            stream_error(&body).is_retryable()
        };

        assert!(retryable(
            r#"{"message":"boom","type":"server_error","code":null}"#
        ));
        assert!(retryable(
            r#"{"message":"slow down","type":"requests","code":"rate_limit_exceeded"}"#
        ));
        assert!(!retryable(
            r#"{"message":"no","type":"invalid_request_error","code":"invalid_api_key"}"#
        ));
        assert!(!retryable(
            r#"{"message":"pay","type":"insufficient_quota","code":"insufficient_quota"}"#
        ));
        assert!(!retryable(
            r#"{"message":"gone","type":null,"code":"model_not_found"}"#
        ));
    }

    #[test]
    fn go_durations() {
        assert_eq!(go_duration("6m0s"), Some(Duration::from_secs(360)));
        assert_eq!(go_duration("20ms"), Some(Duration::from_millis(20)));
        assert_eq!(go_duration("2m30.5s"), Some(Duration::from_millis(150_500)));
        assert_eq!(go_duration("1h2m"), Some(Duration::from_secs(3720)));
        assert_eq!(go_duration("soon"), None);
    }
}
