//! OpenAI Chat Completions fixtures, written by hand from the documented
//! format, including the quirks of compatible servers.

use forge_core::StopReason;
use forge_providers::ProviderKind;

use crate::{suite::Fixtures, support::Reply};

pub(crate) struct OpenAi;

fn data(json: &str) -> String {
    format!("data: {json}\n\n")
}

const DONE: &str = "data: [DONE]\n\n";

fn chunk(delta: &str, finish: &str) -> String {
    data(&format!(
        r#"{{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-test","choices":[{{"index":0,"delta":{delta},"logprobs":null,"finish_reason":{finish}}}],"usage":null}}"#
    ))
}

fn usage_chunk() -> String {
    data(
        r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-test","choices":[],"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15,"prompt_tokens_details":{"cached_tokens":3}}}"#,
    )
}

impl Fixtures for OpenAi {
    const KIND: ProviderKind = ProviderKind::OpenAi;
    const REFUSAL: StopReason = StopReason::Refusal;

    fn base_url(addr: std::net::SocketAddr) -> String {
        format!("http://{addr}/v1")
    }

    fn key_header() -> &'static str {
        "authorization"
    }

    fn path(_stream: bool) -> String {
        "/v1/chat/completions".into()
    }

    fn plain_text() -> Reply {
        Reply::json(
            200,
            r#"{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-test","choices":[{"index":0,"message":{"role":"assistant","content":"Hello there","refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15,"prompt_tokens_details":{"cached_tokens":3,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}},"system_fingerprint":"fp_x"}"#,
        )
    }

    fn streamed_text() -> Reply {
        // An empty-choices chunk first, `finish_reason: ""` on every chunk
        // (as some servers send), CRLF framing and a keep-alive comment.
        let body = data(
            r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-test","choices":[]}"#,
        ) + ": keep-alive\n\n"
            + &chunk(r#"{"role":"assistant","content":""}"#, r#""""#)
            + &chunk(r#"{"content":"Hello"}"#, r#""""#)
            + &chunk(r#"{"content":" there"}"#, r#""""#)
            + &chunk("{}", r#""stop""#)
            + &usage_chunk()
            + DONE;
        let crlf = body.replace('\n', "\r\n");
        let (a, b) = crlf.split_at(crlf.len() / 2 + 1);
        Reply::sse(&[a, b])
    }

    fn one_tool_call_id() -> Option<&'static str> {
        Some("call_1")
    }

    fn one_tool_call() -> Reply {
        let body = chunk(
            r#"{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get_weather","arguments":""}}]}"#,
            "null",
        ) + &chunk(
            r#"{"tool_calls":[{"index":0,"id":null,"function":{"name":null,"arguments":"{\"ci"}}]}"#,
            "null",
        ) + &chunk(
            r#"{"tool_calls":[{"index":0,"function":{"arguments":"ty\": \"Paris\"}"}}]}"#,
            "null",
        ) + &chunk("{}", r#""tool_calls""#)
            + &usage_chunk()
            + DONE;
        Reply::sse(&[&body])
    }

    fn parallel_calls() -> Reply {
        // Indices start at 2 (as some servers do) and fragments interleave.
        let body = chunk(
            r#"{"tool_calls":[{"index":2,"id":"call_a","type":"function","function":{"name":"get_weather","arguments":"{\"city\":"}}]}"#,
            "null",
        ) + &chunk(
            r#"{"tool_calls":[{"index":3,"id":"call_b","type":"function","function":{"name":"get_time","arguments":""}}]}"#,
            "null",
        ) + &chunk(
            r#"{"tool_calls":[{"index":3,"function":{"arguments":"{\"tz\": \"UTC\"}"}},{"index":2,"function":{"arguments":" \"Paris\"}"}}]}"#,
            "null",
        ) + &chunk("{}", r#""tool_calls""#)
            + DONE;
        Reply::sse(&[&body])
    }

    fn no_arg_tool() -> Reply {
        // No index and no id at all: the call still gets a stable id.
        let body = chunk(
            r#"{"tool_calls":[{"type":"function","function":{"name":"list_files","arguments":""}}]}"#,
            "null",
        ) + &chunk("{}", r#""tool_calls""#)
            + DONE;
        Reply::sse(&[&body])
    }

    fn max_tokens_in_tool() -> Reply {
        let body = chunk(
            r#"{"tool_calls":[{"index":0,"id":"call_t","type":"function","function":{"name":"get_weather","arguments":"{\"city\": \"Pa"}}]}"#,
            "null",
        ) + &chunk("{}", r#""length""#)
            + DONE;
        Reply::sse(&[&body])
    }

    fn refusal() -> Reply {
        Reply::json(
            200,
            r#"{"id":"chatcmpl-r","object":"chat.completion","created":1,"model":"gpt-test","choices":[{"index":0,"message":{"role":"assistant","content":null,"refusal":"I can't help with that."},"finish_reason":"stop"}],"usage":{"prompt_tokens":4,"completion_tokens":6,"total_tokens":10}}"#,
        )
    }

    fn error_after_200() -> Reply {
        let body = chunk(r#"{"role":"assistant","content":""}"#, "null")
            + &data(
                r#"{"error":{"message":"The server had an error while processing your request.","type":"server_error","param":null,"code":null}}"#,
            );
        Reply::sse(&[&body])
    }

    fn truncated() -> Reply {
        let body = chunk(r#"{"role":"assistant","content":"Hel"}"#, "null");
        Reply::sse(&[&body])
    }

    fn rate_limited() -> Reply {
        Reply::json(
            429,
            r#"{"error":{"message":"Rate limit reached for gpt-test on requests per min (RPM): Limit 3.","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#,
        )
        .header("x-ratelimit-remaining-requests", "0")
        .header("x-ratelimit-reset-requests", "6m0s")
    }

    fn quota() -> Reply {
        Reply::json(
            429,
            r#"{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#,
        )
    }

    fn server_error(status: u16) -> Reply {
        Reply::json(
            status,
            r#"{"error":{"message":"The server had an error","type":"server_error","param":null,"code":null}}"#,
        )
    }

    fn auth_error() -> Reply {
        Reply::json(
            401,
            r#"{"error":{"message":"Incorrect API key provided.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#,
        )
    }
}
