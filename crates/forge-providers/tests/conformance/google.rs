//! Gemini fixtures, written by hand from the documented format.

use forge_core::StopReason;
use forge_providers::ProviderKind;

use crate::{suite::Fixtures, support::Reply};

pub(crate) struct Google;

/// Gemini separates frames with CRLF CRLF.
fn data(json: &str) -> String {
    format!("data: {json}\r\n\r\n")
}

fn parts(parts: &str, finish: Option<&str>, usage: &str) -> String {
    let finish = finish.map_or(String::new(), |f| format!(r#","finishReason":"{f}""#));
    data(&format!(
        r#"{{"candidates":[{{"content":{{"parts":[{parts}],"role":"model"}}{finish},"index":0}}],"usageMetadata":{usage},"modelVersion":"gemini-test","responseId":"resp-1"}}"#
    ))
}

const USAGE_1: &str = r#"{"promptTokenCount":10,"candidatesTokenCount":2,"totalTokenCount":12,"cachedContentTokenCount":3}"#;
const USAGE_2: &str = r#"{"promptTokenCount":10,"candidatesTokenCount":5,"totalTokenCount":15,"cachedContentTokenCount":3}"#;

impl Fixtures for Google {
    const KIND: ProviderKind = ProviderKind::Google;
    const REFUSAL: StopReason = StopReason::ContentFilter;

    fn base_url(addr: std::net::SocketAddr) -> String {
        format!("http://{addr}")
    }

    fn key_header() -> &'static str {
        "x-goog-api-key"
    }

    fn path(stream: bool) -> String {
        if stream {
            "/v1beta/models/test-model:streamGenerateContent?alt=sse".into()
        } else {
            "/v1beta/models/test-model:generateContent".into()
        }
    }

    fn plain_text() -> Reply {
        Reply::json(
            200,
            r#"{"candidates":[{"content":{"parts":[{"text":"Hello there"}],"role":"model"},"finishReason":"STOP","avgLogprobs":-0.1,"index":0}],"usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":5,"totalTokenCount":15,"cachedContentTokenCount":3,"promptTokensDetails":[{"modality":"TEXT","tokenCount":10}]},"modelVersion":"gemini-test","responseId":"resp-1"}"#,
        )
    }

    fn streamed_text() -> Reply {
        // Running usage totals; the final chunk carries an empty text part.
        let body = parts(r#"{"text":"Hello"}"#, None, USAGE_1)
            + &parts(r#"{"text":" there"}"#, None, USAGE_1)
            + &parts(r#"{"text":""}"#, Some("STOP"), USAGE_2);
        let (a, b) = body.split_at(body.find("\r\n\r\n").unwrap() + 2);
        Reply::sse(&[a, b])
    }

    fn one_tool_call() -> Reply {
        let body = parts(
            r#"{"functionCall":{"name":"get_weather","args":{"city":"Paris"}},"thoughtSignature":"c2lnLTE="}"#,
            Some("STOP"),
            USAGE_2,
        );
        Reply::sse(&[&body])
    }

    fn parallel_calls() -> Reply {
        // One call per chunk, only the first signed: never merged.
        let body = parts(
            r#"{"functionCall":{"name":"get_weather","args":{"city":"Paris"}},"thoughtSignature":"c2lnLWE="}"#,
            None,
            USAGE_1,
        ) + &parts(
            r#"{"functionCall":{"name":"get_time","args":{"tz":"UTC"}}}"#,
            Some("STOP"),
            USAGE_2,
        );
        Reply::sse(&[&body])
    }

    fn no_arg_tool() -> Reply {
        let body = parts(
            r#"{"functionCall":{"name":"list_files"}}"#,
            Some("STOP"),
            USAGE_2,
        );
        Reply::sse(&[&body])
    }

    fn max_tokens_in_tool() -> Reply {
        // Gemini sends calls whole, so a cut-off answer has no call at all:
        // thinking used the budget and the content has no parts.
        let body = data(
            r#"{"candidates":[{"content":{"role":"model"},"finishReason":"MAX_TOKENS","index":0}],"usageMetadata":{"promptTokenCount":10,"totalTokenCount":42,"thoughtsTokenCount":32},"modelVersion":"gemini-test"}"#,
        );
        Reply::sse(&[&body])
    }

    fn refusal() -> Reply {
        Reply::json(
            200,
            r#"{"promptFeedback":{"blockReason":"PROHIBITED_CONTENT"},"usageMetadata":{"promptTokenCount":8,"totalTokenCount":8},"modelVersion":"gemini-test"}"#,
        )
    }

    fn error_after_200() -> Reply {
        let body = data(
            r#"{"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}"#,
        );
        Reply::sse(&[&body])
    }

    fn truncated() -> Reply {
        Reply::sse(&[&parts(r#"{"text":"Hel"}"#, None, USAGE_1)])
    }

    fn rate_limited() -> Reply {
        Reply::json(
            429,
            r#"{"error":{"code":429,"message":"You exceeded your current quota, please check your plan and billing details.","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaMetric":"generativelanguage.googleapis.com/generate_content_free_tier_requests","quotaId":"GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}]},{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"0.05s"}]}}"#,
        )
    }

    fn quota() -> Reply {
        Reply::json(
            429,
            r#"{"error":{"code":429,"message":"You exceeded your current quota, please check your plan and billing details.","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaId":"GenerateRequestsPerDayPerProjectPerModel-FreeTier"}]}]}}"#,
        )
    }

    fn server_error(status: u16) -> Reply {
        let s = match status {
            503 => "UNAVAILABLE",
            504 => "DEADLINE_EXCEEDED",
            _ => "INTERNAL",
        };
        Reply::json(
            status,
            &format!(r#"{{"error":{{"code":{status},"message":"try later","status":"{s}"}}}}"#),
        )
    }

    fn auth_error() -> Reply {
        Reply::json(
            400,
            r#"{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com","metadata":{"service":"generativelanguage.googleapis.com"}}]}}"#,
        )
    }
}
