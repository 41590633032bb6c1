//! The provider conformance suite, run for each provider against a real
//! HTTP server on 127.0.0.1 serving hand-written fixtures.
//!
//! Timing tests use small real durations (the paused clock would fire
//! timers early while waiting on sockets).

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failure report"
)]

#[path = "../support/mod.rs"]
mod support;

mod suite;

#[cfg(feature = "anthropic")]
mod anthropic;
#[cfg(feature = "google")]
mod google;
#[cfg(feature = "openai")]
mod openai;

use forge_core::ErrorKind;

macro_rules! conformance {
    ($module:ident, $fixtures:ty, calls_arrive_whole = $whole:expr, $($status:literal => $kind:ident),*) => {
        mod $module {
            use super::*;
            type F = $fixtures;

            #[tokio::test]
            async fn plain_text() { suite::plain_text::<F>().await }
            #[tokio::test]
            async fn streamed_text() { suite::streamed_text::<F>().await }
            #[tokio::test]
            async fn one_tool_call() { suite::one_tool_call::<F>().await }
            #[tokio::test]
            async fn parallel_tool_calls() { suite::parallel_calls::<F>().await }
            #[tokio::test]
            async fn tool_without_arguments() { suite::no_arg_tool::<F>().await }
            #[tokio::test]
            async fn max_tokens_inside_a_tool_call() { suite::max_tokens_in_tool::<F>($whole).await }
            #[tokio::test]
            async fn refusal_or_blocked_prompt() { suite::refusal::<F>().await }
            #[tokio::test]
            async fn error_event_after_200() { suite::error_after_200::<F>().await }
            #[tokio::test]
            async fn error_after_200_before_content_is_retried() {
                suite::error_after_200_before_content_is_retried::<F>().await
            }
            #[tokio::test]
            async fn truncated_stream_after_content() { suite::truncated::<F>().await }
            #[tokio::test]
            async fn rate_limit_retry_after_ms() { suite::rate_limited_honours_retry_after_ms::<F>().await }
            #[tokio::test]
            async fn rate_limit_retry_after_seconds() {
                suite::rate_limited_honours_retry_after_seconds::<F>().await
            }
            #[tokio::test]
            async fn rate_limit_retry_after_http_date() {
                suite::rate_limited_honours_retry_after_date::<F>().await
            }
            #[tokio::test]
            async fn rate_limit_too_long_is_returned() {
                suite::rate_limit_too_long_is_returned_with_its_wait::<F>().await
            }
            #[tokio::test]
            async fn quota_429_is_never_retried() { suite::quota_is_never_retried::<F>().await }
            #[tokio::test]
            async fn server_errors() {
                $(suite::server_errors_are_retried::<F>($status, ErrorKind::$kind).await;)*
            }
            #[tokio::test]
            async fn auth_error() { suite::auth_errors_are_not_retried::<F>().await }
            #[tokio::test]
            async fn silent_server_first_chunk_timeout() { suite::silent_server_times_out::<F>().await }
            #[tokio::test]
            async fn stalled_stream_idle_timeout() { suite::stalled_stream_hits_the_idle_timeout::<F>().await }
            #[tokio::test]
            async fn tool_results_round_trip() { suite::tool_results_round_trip::<F>().await; }
        }
    };
}

#[cfg(feature = "anthropic")]
conformance!(anthropic_suite, anthropic::Anthropic, calls_arrive_whole = false,
    500 => ServerError, 503 => ServerError, 529 => Overloaded);
#[cfg(feature = "openai")]
conformance!(openai_suite, openai::OpenAi, calls_arrive_whole = false,
    500 => ServerError, 503 => ServerError, 504 => ServerError);
#[cfg(feature = "google")]
conformance!(google_suite, google::Google, calls_arrive_whole = true,
    500 => ServerError, 503 => ServerError, 504 => Timeout);
