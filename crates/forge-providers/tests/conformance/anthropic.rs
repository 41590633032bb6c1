//! Anthropic Messages fixtures, written by hand from the documented format.

use forge_core::StopReason;
use forge_providers::ProviderKind;

use crate::{suite::Fixtures, support::Reply};

pub(crate) struct Anthropic;

fn ev(name: &str, data: &str) -> String {
    format!("event: {name}\ndata: {data}\n\n")
}

fn start() -> String {
    ev(
        "message_start",
        r#"{"type":"message_start","message":{"id":"msg_01","type":"message","role":"assistant","model":"claude-test","content":[],"stop_reason":null,"usage":{"input_tokens":7,"cache_read_input_tokens":3,"cache_creation_input_tokens":0,"output_tokens":1}}}"#,
    )
}

fn tool_start(index: u32, id: &str, name: &str) -> String {
    ev(
        "content_block_start",
        &format!(
            r#"{{"type":"content_block_start","index":{index},"content_block":{{"type":"tool_use","id":"{id}","name":"{name}","input":{{}}}}}}"#
        ),
    )
}

fn json_delta(index: u32, piece: &str) -> String {
    let piece = serde_json::to_string(piece).unwrap();
    ev(
        "content_block_delta",
        &format!(
            r#"{{"type":"content_block_delta","index":{index},"delta":{{"type":"input_json_delta","partial_json":{piece}}}}}"#
        ),
    )
}

fn stop(index: u32) -> String {
    ev(
        "content_block_stop",
        &format!(r#"{{"type":"content_block_stop","index":{index}}}"#),
    )
}

fn finish(reason: &str, output: u32) -> String {
    ev(
        "message_delta",
        &format!(
            r#"{{"type":"message_delta","delta":{{"stop_reason":"{reason}","stop_sequence":null}},"usage":{{"output_tokens":{output}}}}}"#
        ),
    ) + &ev("message_stop", r#"{"type":"message_stop"}"#)
}

impl Fixtures for Anthropic {
    const KIND: ProviderKind = ProviderKind::Anthropic;
    const REFUSAL: StopReason = StopReason::Refusal;

    fn base_url(addr: std::net::SocketAddr) -> String {
        format!("http://{addr}")
    }

    fn key_header() -> &'static str {
        "x-api-key"
    }

    fn path(_stream: bool) -> String {
        "/v1/messages".into()
    }

    fn plain_text() -> Reply {
        Reply::json(
            200,
            r#"{"id":"msg_01","type":"message","role":"assistant","model":"claude-test","content":[{"type":"text","text":"Hello there","citations":null}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":7,"cache_read_input_tokens":3,"cache_creation_input_tokens":0,"output_tokens":5,"service_tier":"standard"}}"#,
        )
    }

    fn streamed_text() -> Reply {
        let text = ev(
            "content_block_start",
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
        ) + &ev("ping", r#"{"type": "ping"}"#)
            + &ev(
                "content_block_delta",
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}"#,
            )
            + &ev(
                "content_block_delta",
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" there"}}"#,
            )
            + &stop(0)
            + &finish("end_turn", 5);
        let all = start() + &text;
        // Split mid-event and mid-line, CRLF-free on purpose; LF framing.
        let (a, b) = all.split_at(all.len() / 3);
        let (b, c) = b.split_at(b.len() / 2);
        Reply::sse(&[a, b, c])
    }

    fn one_tool_call() -> Reply {
        let body = start()
            + &tool_start(0, "toolu_01", "get_weather")
            + &json_delta(0, "")
            + &json_delta(0, "{\"ci")
            + &json_delta(0, "ty\": \"Par")
            + &json_delta(0, "is\"   }")
            + &stop(0)
            + &finish("tool_use", 20);
        Reply::sse(&[&body])
    }

    fn parallel_calls() -> Reply {
        let body = start()
            + &tool_start(0, "toolu_a", "get_weather")
            + &tool_start(1, "toolu_b", "get_time")
            + &json_delta(0, "{\"city\":")
            + &json_delta(1, "{\"tz\": \"UTC\"}")
            + &json_delta(0, " \"Paris\"}")
            + &stop(0)
            + &stop(1)
            + &finish("tool_use", 30);
        Reply::sse(&[&body])
    }

    fn no_arg_tool() -> Reply {
        let body = start()
            + &tool_start(0, "toolu_n", "list_files")
            + &json_delta(0, "")
            + &stop(0)
            + &finish("tool_use", 9);
        Reply::sse(&[&body])
    }

    fn max_tokens_in_tool() -> Reply {
        let body = start()
            + &tool_start(0, "toolu_t", "get_weather")
            + &json_delta(0, "{\"city\": \"Pa")
            + &stop(0)
            + &finish("max_tokens", 16);
        Reply::sse(&[&body])
    }

    fn refusal() -> Reply {
        Reply::json(
            200,
            r#"{"id":"msg_r","type":"message","role":"assistant","model":"claude-test","content":[],"stop_reason":"refusal","usage":{"input_tokens":4,"output_tokens":0}}"#,
        )
    }

    fn error_after_200() -> Reply {
        let body = start()
            + &ev(
                "error",
                r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
            );
        Reply::sse(&[&body])
    }

    fn truncated() -> Reply {
        let body = start()
            + &ev(
                "content_block_start",
                r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
            )
            + &ev(
                "content_block_delta",
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hel"}}"#,
            );
        Reply::sse(&[&body])
    }

    fn rate_limited() -> Reply {
        Reply::json(
            429,
            r#"{"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your per-minute rate limit"}}"#,
        )
        .header("anthropic-ratelimit-requests-reset", "2026-12-03T19:00:00Z")
    }

    fn quota() -> Reply {
        Reply::json(
            429,
            r#"{"type":"error","error":{"type":"billing_error","message":"Your credit balance is too low"}}"#,
        )
    }

    fn server_error(status: u16) -> Reply {
        let kind = if status == 529 {
            "overloaded_error"
        } else {
            "api_error"
        };
        Reply::json(
            status,
            &format!(r#"{{"type":"error","error":{{"type":"{kind}","message":"try later"}}}}"#),
        )
    }

    fn auth_error() -> Reply {
        Reply::json(
            401,
            r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#,
        )
    }
}
