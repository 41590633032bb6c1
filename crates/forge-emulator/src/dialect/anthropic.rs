//! Anthropic Messages: `POST /v1/messages`.

use std::{collections::HashMap, time::Duration};

use http::HeaderMap;
use serde_json::Value;

use super::{
    ApiError, Job, Rendered, input_tokens, js, json_with, plain_name, retry_headers, rfc3339_in,
    sse_event, value_text,
};
use crate::{
    FaultKind,
    body::Frame,
    convo::{Args, Conversation, ToolDef, ToolOutput, text_pieces, thinking_signature},
    rng::Rng,
};

const JSON: &str = "application/json";

/// A 400 `invalid_request_error`.
pub(crate) fn invalid(message: &str, rng: &mut Rng) -> ApiError {
    error(400, "invalid_request_error", message, rng)
}

pub(crate) fn too_large(rng: &mut Rng) -> ApiError {
    let message = "Request exceeds the maximum allowed number of bytes.";
    error(413, "request_too_large", message, rng)
}

fn error(status: u16, kind: &str, message: &str, rng: &mut Rng) -> ApiError {
    let request_id = format!("req_011C{}", rng.token(20));
    let body = format!(
        r#"{{"type":"error","error":{{"type":{},"message":{}}},"request_id":{}}}"#,
        js(kind),
        js(message),
        js(&request_id)
    );
    ApiError {
        status,
        headers: vec![("content-type", JSON.into()), ("request-id", request_id)],
        body: body.into(),
    }
}

/// Parses and validates a request body.
pub(crate) fn parse(
    headers: &HeaderMap,
    body: &[u8],
    rng: &mut Rng,
) -> Result<Conversation, ApiError> {
    let fail = |message: String, rng: &mut Rng| invalid(&message, rng);
    if !headers.contains_key("anthropic-version") {
        return Err(fail("anthropic-version: header is required".into(), rng));
    }
    let request: Value =
        serde_json::from_slice(body).map_err(|e| fail(format!("invalid JSON body: {e}"), rng))?;
    check_request(&request).map_err(|message| fail(message, rng))?;
    let messages = request["messages"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    check_pairing(messages).map_err(|message| fail(message, rng))?;
    let tools = parse_tools(&request).map_err(|message| fail(message, rng))?;
    Ok(Conversation {
        model: request["model"].as_str().unwrap_or_default().to_owned(),
        stream: request["stream"].as_bool().unwrap_or(false),
        tools,
        user_text: last_user_text(messages),
        results: last_results(messages),
        turn: messages.iter().filter(|m| m["role"] == "assistant").count(),
        max_tokens: request["max_tokens"].as_u64(),
        input_tokens: input_tokens(body),
        include_usage: false,
    })
}

fn check_request(request: &Value) -> Result<(), String> {
    if !request.is_object() {
        return Err("Input should be a valid dictionary".into());
    }
    match &request["model"] {
        Value::Null => return Err("model: Field required".into()),
        Value::String(_) => {}
        _ => return Err("model: Input should be a valid string".into()),
    }
    match &request["max_tokens"] {
        Value::Null => return Err("max_tokens: Field required".into()),
        value if value.as_u64().is_some_and(|n| n >= 1) => {}
        _ => {
            return Err(
                "max_tokens: Input should be a valid integer greater than or equal to 1".into(),
            );
        }
    }
    let Some(messages) = request["messages"].as_array() else {
        return Err("messages: Field required".into());
    };
    if messages.is_empty() {
        return Err("messages: at least one message is required".into());
    }
    for (index, message) in messages.iter().enumerate() {
        check_message(index, message)?;
    }
    Ok(())
}

fn check_message(index: usize, message: &Value) -> Result<(), String> {
    let role = message["role"].as_str().unwrap_or_default();
    if role != "user" && role != "assistant" {
        return Err(format!(
            "messages.{index}.role: Input should be 'user' or 'assistant'"
        ));
    }
    match &message["content"] {
        Value::String(_) => Ok(()),
        Value::Array(blocks) => {
            for (at, block) in blocks.iter().enumerate() {
                check_block(role, block)
                    .map_err(|m| format!("messages.{index}.content.{at}: {m}"))?;
            }
            Ok(())
        }
        _ => Err(format!("messages.{index}.content: Field required")),
    }
}

fn check_block(role: &str, block: &Value) -> Result<(), String> {
    match block["type"].as_str().unwrap_or_default() {
        "text" if block["text"].is_string() => Ok(()),
        "tool_use" if role == "assistant" => {
            if !block["input"].is_object() {
                return Err("tool_use.input: Input should be a valid dictionary".into());
            }
            if !block["id"].is_string() || !block["name"].is_string() {
                return Err("tool_use: `id` and `name` are required".into());
            }
            Ok(())
        }
        "tool_result" if role == "user" => match &block["content"] {
            Value::Null | Value::String(_) | Value::Array(_) => Ok(()),
            _ => Err("tool_result.content: Input should be a valid list".into()),
        },
        "thinking" => check_thinking(block),
        "image" | "document" | "redacted_thinking" => Ok(()),
        other => Err(format!(
            "Input tag '{other}' found using 'type' does not match any of the expected tags for this role"
        )),
    }
}

/// A thinking block must come back exactly as it was sent: its signature
/// covers its text.
fn check_thinking(block: &Value) -> Result<(), String> {
    let (Some(thinking), Some(signature)) =
        (block["thinking"].as_str(), block["signature"].as_str())
    else {
        return Err("thinking.signature: Field required".into());
    };
    if signature != thinking_signature(thinking) {
        return Err("Invalid `signature` in `thinking` block".into());
    }
    Ok(())
}

fn blocks(message: &Value) -> &[Value] {
    message["content"].as_array().map_or(&[][..], Vec::as_slice)
}

fn ids_of<'a>(message: &'a Value, kind: &str, field: &str) -> Vec<&'a str> {
    blocks(message)
        .iter()
        .filter(|b| b["type"] == kind)
        .filter_map(|b| b[field].as_str())
        .collect()
}

/// Every `tool_use` id answered in the next message, and only those.
fn check_pairing(messages: &[Value]) -> Result<(), String> {
    for (index, message) in messages.iter().enumerate() {
        let uses = ids_of(message, "tool_use", "id");
        let mut seen = std::collections::HashSet::new();
        if let Some(dup) = uses.iter().find(|id| !seen.insert(**id)) {
            return Err(format!(
                "messages.{index}: `tool_use` ids must be unique; found `{dup}` twice"
            ));
        }
        let answered = messages
            .get(index + 1)
            .map(|next| ids_of(next, "tool_result", "tool_use_id"))
            .unwrap_or_default();
        let missing: Vec<&str> = uses
            .iter()
            .copied()
            .filter(|id| !answered.contains(id))
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "messages.{}: `tool_use` ids were found without `tool_result` blocks immediately after: {}. Each `tool_use` block must have a corresponding `tool_result` block in the next message.",
                index + 1,
                missing.join(", ")
            ));
        }
        let previous = index
            .checked_sub(1)
            .map(|p| ids_of(&messages[p], "tool_use", "id"))
            .unwrap_or_default();
        let results = ids_of(message, "tool_result", "tool_use_id");
        if let Some(stray) = results.iter().find(|id| !previous.contains(id)) {
            return Err(format!(
                "messages.{index}.content: unexpected `tool_use_id` found in `tool_result` blocks: {stray}. Each `tool_result` block must have a corresponding `tool_use` block in the previous message."
            ));
        }
    }
    Ok(())
}

fn parse_tools(request: &Value) -> Result<Vec<ToolDef>, String> {
    let Some(tools) = request["tools"].as_array() else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (index, tool) in tools.iter().enumerate() {
        if tool["type"].as_str().is_some_and(|t| t != "custom") {
            continue;
        }
        let name = tool["name"].as_str().unwrap_or_default();
        if !plain_name(name) {
            return Err(format!(
                "tools.{index}.custom.name: String should match pattern '^[a-zA-Z0-9_-]{{1,64}}$'"
            ));
        }
        let schema = &tool["input_schema"];
        if schema["type"] != "object" {
            return Err(format!(
                "tools.{index}.custom.input_schema.type: Field required"
            ));
        }
        out.push(ToolDef {
            name: name.to_owned(),
            description: tool["description"].as_str().unwrap_or_default().to_owned(),
            schema: schema.clone(),
        });
    }
    Ok(out)
}

fn last_user_text(messages: &[Value]) -> String {
    messages
        .iter()
        .rev()
        .filter(|m| m["role"] == "user")
        .find_map(|m| match &m["content"] {
            Value::String(text) => Some(text.clone()),
            Value::Array(blocks) => {
                let texts: Vec<&str> = blocks
                    .iter()
                    .filter(|b| b["type"] == "text")
                    .filter_map(|b| b["text"].as_str())
                    .collect();
                (!texts.is_empty()).then(|| texts.join("\n"))
            }
            _ => None,
        })
        .unwrap_or_default()
}

fn last_results(messages: &[Value]) -> Vec<ToolOutput> {
    let Some((last, earlier)) = messages.split_last() else {
        return Vec::new();
    };
    let names: HashMap<&str, &str> = earlier
        .last()
        .map(|prev| {
            blocks(prev)
                .iter()
                .filter(|b| b["type"] == "tool_use")
                .filter_map(|b| Some((b["id"].as_str()?, b["name"].as_str()?)))
                .collect()
        })
        .unwrap_or_default();
    blocks(last)
        .iter()
        .filter(|b| b["type"] == "tool_result")
        .map(|b| {
            let id = b["tool_use_id"].as_str().unwrap_or_default();
            ToolOutput {
                name: names.get(id).copied().unwrap_or(id).to_owned(),
                content: value_text(&b["content"]),
                is_error: b["is_error"].as_bool().unwrap_or(false),
            }
        })
        .collect()
}

/// Renders a reply, streamed or whole.
pub(crate) fn render(mut job: Job<'_>) -> Rendered {
    let ids = Ids::new(&mut job);
    let headers = vec![
        (
            "content-type",
            if job.conv.stream {
                "text/event-stream; charset=utf-8"
            } else {
                JSON
            }
            .into(),
        ),
        ("request-id", job.request_id.clone()),
        (
            "anthropic-organization-id",
            "00000000-0000-4000-8000-000000000000".into(),
        ),
    ];
    if job.conv.stream {
        let (frames, body_start) = stream_frames(&mut job, &ids);
        let prefix = format!(
            r#"event: content_block_delta{}data: {{"type":"content_block_delta","index":0,"delta":{{"type":"text_delta","text":""#,
            "\n"
        );
        return Rendered {
            headers,
            frames,
            oversized: (prefix, "\"}}\n\n".into()),
            body_start,
        };
    }
    let body = whole_body(&job, &ids);
    let prefix = format!(
        r#"{{"id":{},"type":"message","role":"assistant","content":[{{"type":"text","text":""#,
        js(&ids.message)
    );
    let suffix = r#""}],"stop_reason":"end_turn","stop_sequence":null}"#.into();
    Rendered {
        headers,
        frames: vec![Frame::now(body)],
        oversized: (prefix, suffix),
        body_start: 0,
    }
}

struct Ids {
    message: String,
    calls: Vec<String>,
}

impl Ids {
    fn new(job: &mut Job<'_>) -> Self {
        let message = format!("msg_01{}", job.rng.token(22));
        let calls = job
            .reply
            .calls
            .iter()
            .map(|call| {
                call.id
                    .clone()
                    .unwrap_or_else(|| format!("toolu_01{}", job.rng.token(22)))
            })
            .collect();
        Self { message, calls }
    }
}

fn stop_reason(job: &Job<'_>) -> &'static str {
    if job.reply.refused {
        return "refusal";
    }
    match (job.reply.max_tokens, job.reply.calls.is_empty()) {
        (true, _) => "max_tokens",
        (false, false) => "tool_use",
        (false, true) => "end_turn",
    }
}

fn usage(job: &Job<'_>, output: u64) -> String {
    format!(
        r#"{{"input_tokens":{},"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":{output}}}"#,
        job.conv.input_tokens
    )
}

fn whole_body(job: &Job<'_>, ids: &Ids) -> String {
    let mut content = Vec::new();
    if let Some(thinking) = &job.reply.thinking {
        content.push(format!(
            r#"{{"type":"thinking","thinking":{},"signature":{}}}"#,
            js(thinking),
            js(&thinking_signature(thinking))
        ));
    }
    if !job.reply.text.is_empty() {
        content.push(format!(
            r#"{{"type":"text","text":{}}}"#,
            js(&job.reply.text)
        ));
    }
    for (call, id) in job.reply.calls.iter().zip(&ids.calls) {
        let input = match &call.args {
            Args::Raw(raw) if job.reply.max_tokens => {
                serde_json::from_str(raw).unwrap_or(Value::Object(Default::default()))
            }
            args => args.to_value(),
        };
        content.push(format!(
            r#"{{"type":"tool_use","id":{},"name":{},"input":{input}}}"#,
            js(id),
            js(&call.name)
        ));
    }
    format!(
        r#"{{"id":{},"type":"message","role":"assistant","model":{},"content":[{}],"stop_reason":"{}","stop_sequence":null,"usage":{}}}"#,
        js(&ids.message),
        js(&job.conv.model),
        content.join(","),
        stop_reason(job),
        usage(job, job.reply.output_tokens())
    )
}

/// Pads a JSON object with spaces before its final `}`, as real frames do.
fn pad(json: &str, rng: &mut Rng) -> String {
    let spaces = match rng.range(0, 3) {
        0 => rng.range(1, 24),
        _ => 0,
    };
    let body = json.strip_suffix('}').unwrap_or(json);
    format!("{body}{}}}", " ".repeat(spaces))
}

fn stream_frames(job: &mut Job<'_>, ids: &Ids) -> (Vec<Frame>, usize) {
    let start = format!(
        r#"{{"type":"message_start","message":{{"id":{},"type":"message","role":"assistant","model":{},"content":[],"stop_reason":null,"stop_sequence":null,"usage":{}}}}}"#,
        js(&ids.message),
        js(&job.conv.model),
        usage(job, 1)
    );
    let mut frames = vec![Frame::now(sse_event("message_start", &start))];
    let body_start = frames.len();
    let mut index = 0;
    if job.reply.thinking.is_some() {
        thinking_block(job, index, &mut frames);
        index += 1;
    }
    if !job.reply.text.is_empty() {
        text_block(job, index, &mut frames);
        index += 1;
    }
    for (call, id) in job.reply.calls.clone().iter().zip(&ids.calls) {
        let head = format!(
            r#"{{"type":"content_block_start","index":{index},"content_block":{{"type":"tool_use","id":{},"name":{},"input":{{}}}}}}"#,
            js(id),
            js(&call.name)
        );
        frames.push(Frame::now(sse_event("content_block_start", &head)));
        for piece in json_pieces(&call.args, &mut job.rng) {
            let delta = format!(
                r#"{{"type":"content_block_delta","index":{index},"delta":{{"type":"input_json_delta","partial_json":{}}}}}"#,
                js(&piece)
            );
            frames.push(Frame::token(sse_event(
                "content_block_delta",
                &pad(&delta, &mut job.rng),
            )));
        }
        block_stop(job, index, &mut frames);
        index += 1;
    }
    let delta = format!(
        r#"{{"type":"message_delta","delta":{{"stop_reason":"{}","stop_sequence":null}},"usage":{}}}"#,
        stop_reason(job),
        usage(job, job.reply.output_tokens())
    );
    frames.push(Frame::now(sse_event("message_delta", &delta)));
    frames.push(Frame::now(sse_event(
        "message_stop",
        r#"{"type":"message_stop"}"#,
    )));
    // Real streams send their first `ping` right after the first block opens
    // (or after `message_start` when there is no block).
    let ping = Frame::now(sse_event("ping", r#"{"type": "ping"}"#));
    let at = body_start + usize::from(index > 0);
    frames.insert(at.min(frames.len()), ping);
    (frames, body_start)
}

fn text_block(job: &mut Job<'_>, index: usize, frames: &mut Vec<Frame>) {
    let head = format!(
        r#"{{"type":"content_block_start","index":{index},"content_block":{{"type":"text","text":""}}}}"#
    );
    frames.push(Frame::now(sse_event("content_block_start", &head)));
    let text = job.reply.text.clone();
    for piece in text_pieces(&text) {
        let delta = format!(
            r#"{{"type":"content_block_delta","index":{index},"delta":{{"type":"text_delta","text":{}}}}}"#,
            js(piece)
        );
        frames.push(Frame::token(sse_event(
            "content_block_delta",
            &pad(&delta, &mut job.rng),
        )));
    }
    block_stop(job, index, frames);
}

fn thinking_block(job: &mut Job<'_>, index: usize, frames: &mut Vec<Frame>) {
    let head = format!(
        r#"{{"type":"content_block_start","index":{index},"content_block":{{"type":"thinking","thinking":"","signature":""}}}}"#
    );
    frames.push(Frame::now(sse_event("content_block_start", &head)));
    let thinking = job.reply.thinking.clone().unwrap_or_default();
    for piece in text_pieces(&thinking) {
        let delta = format!(
            r#"{{"type":"content_block_delta","index":{index},"delta":{{"type":"thinking_delta","thinking":{}}}}}"#,
            js(piece)
        );
        frames.push(Frame::token(sse_event(
            "content_block_delta",
            &pad(&delta, &mut job.rng),
        )));
    }
    let signature = format!(
        r#"{{"type":"content_block_delta","index":{index},"delta":{{"type":"signature_delta","signature":{}}}}}"#,
        js(&thinking_signature(&thinking))
    );
    frames.push(Frame::now(sse_event("content_block_delta", &signature)));
    block_stop(job, index, frames);
}

fn block_stop(job: &mut Job<'_>, index: usize, frames: &mut Vec<Frame>) {
    let stop = format!(r#"{{"type":"content_block_stop","index":{index}}}"#);
    frames.push(Frame::now(sse_event(
        "content_block_stop",
        &pad(&stop, &mut job.rng),
    )));
}

/// The `partial_json` pieces: `""` first, then the argument text split at
/// seeded points, the first of them inside the first key. An empty object
/// is the `""` piece alone.
pub(crate) fn json_pieces(args: &Args, rng: &mut Rng) -> Vec<String> {
    let text = match args {
        Args::Json(Value::Object(map)) if map.is_empty() => return vec![String::new()],
        Args::Json(value) => json_with(value, b": ", b", "),
        Args::Raw(raw) => raw.clone(),
    };
    let mut pieces = vec![String::new()];
    let mut rest = text.as_str();
    if let Some(quote) = rest.find('"') {
        let key_len = rest[quote + 1..].find('"').unwrap_or(0);
        let cut = floor_boundary(rest, quote + 1 + (key_len / 2).max(1));
        let (head, tail) = rest.split_at(cut.min(rest.len()));
        pieces.push(head.to_owned());
        rest = tail;
    }
    while !rest.is_empty() {
        let cut = floor_boundary(rest, rng.range(3, 14))
            .max(rest.chars().next().map_or(1, char::len_utf8));
        let (head, tail) = rest.split_at(cut.min(rest.len()));
        pieces.push(head.to_owned());
        rest = tail;
    }
    pieces
}

fn floor_boundary(s: &str, mut at: usize) -> usize {
    at = at.min(s.len());
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// The error event sent after HTTP 200.
pub(crate) fn error_event() -> Frame {
    let data =
        r#"{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}"#;
    Frame::token(sse_event("error", data))
}

/// A 404 for a model that does not exist.
pub(crate) fn model_not_found(model: &str, rng: &mut Rng) -> ApiError {
    error(404, "not_found_error", &format!("model: {model}"), rng)
}

/// A fault's status answer.
pub(crate) fn fault(kind: FaultKind, wait: Duration, rng: &mut Rng) -> ApiError {
    let mut answer = match kind {
        FaultKind::RateLimited | FaultKind::RateLimitedDate | FaultKind::RateLimitedMs => {
            let mut e = error(
                429,
                "rate_limit_error",
                "This request would exceed the rate limit for your organization of 50 requests per minute. For details, refer to: https://docs.claude.com/en/api/rate-limits. You can see the response headers for current usage. Please reduce the prompt length or the maximum tokens requested, or try again later.",
                rng,
            );
            e.headers.extend(retry_headers(kind, wait));
            e.headers
                .push(("anthropic-ratelimit-requests-limit", "50".into()));
            e.headers
                .push(("anthropic-ratelimit-requests-remaining", "0".into()));
            e.headers
                .push(("anthropic-ratelimit-requests-reset", rfc3339_in(wait)));
            e
        }
        FaultKind::QuotaExhausted => invalid(
            "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.",
            rng,
        ),
        FaultKind::Unavailable => error(503, "api_error", "Service Unavailable", rng),
        FaultKind::GatewayTimeout => error(504, "timeout_error", "Request timed out", rng),
        FaultKind::Overloaded => error(529, "overloaded_error", "Overloaded", rng),
        FaultKind::Auth => error(401, "authentication_error", "invalid x-api-key", rng),
        _ => error(500, "api_error", "Internal server error", rng),
    };
    if kind != FaultKind::Auth && kind != FaultKind::QuotaExhausted {
        answer.headers.push(("x-should-retry", "true".into()));
    }
    answer
}
