//! OpenAI Chat Completions: `POST /v1/chat/completions`.

use std::{collections::HashMap, time::Duration};

use serde_json::Value;

use super::{
    ApiError, Job, Rendered, go_duration, input_tokens, js, plain_name, retry_headers, sse_data,
    value_text,
};
use crate::{
    FaultKind,
    body::Frame,
    convo::{Conversation, ToolDef, ToolOutput, text_pieces},
    rng::Rng,
};

/// The fixed `created` timestamp, so that output is deterministic.
const CREATED: u64 = 1_764_720_000;
const ROLES: &[&str] = &[
    "system",
    "developer",
    "user",
    "assistant",
    "tool",
    "function",
];

/// An OpenAI error body, pretty-printed as the real server does.
fn error(
    status: u16,
    message: &str,
    kind: &str,
    param: Option<&str>,
    code: Option<&str>,
) -> ApiError {
    let opt = |v: Option<&str>| v.map_or_else(|| "null".to_owned(), js);
    let body = format!(
        "{{\n    \"error\": {{\n        \"message\": {},\n        \"type\": {},\n        \"param\": {},\n        \"code\": {}\n    }}\n}}\n",
        js(message),
        js(kind),
        opt(param),
        opt(code)
    );
    ApiError {
        status,
        headers: vec![("content-type", "application/json".into())],
        body: body.into(),
    }
}

fn invalid(message: &str, param: Option<&str>, code: Option<&str>) -> ApiError {
    error(400, message, "invalid_request_error", param, code)
}

pub(crate) fn bad_json() -> ApiError {
    invalid(
        "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)",
        None,
        None,
    )
}

pub(crate) fn too_large() -> ApiError {
    error(
        413,
        "Request too large.",
        "invalid_request_error",
        None,
        Some("request_too_large"),
    )
}

/// Parses and validates a request body.
pub(crate) fn parse(body: &[u8]) -> Result<Conversation, ApiError> {
    let request: Value = serde_json::from_slice(body).map_err(|_| bad_json())?;
    if !request.is_object() {
        return Err(bad_json());
    }
    if !request["model"].is_string() {
        return Err(invalid("you must provide a model parameter", None, None));
    }
    let stream = request["stream"].as_bool().unwrap_or(false);
    if !request["stream_options"].is_null() && !stream {
        return Err(invalid(
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            Some("stream_options"),
            None,
        ));
    }
    let messages = check_messages(&request)?;
    let tools = parse_tools(&request)?;
    Ok(Conversation {
        model: request["model"].as_str().unwrap_or_default().to_owned(),
        stream,
        tools,
        user_text: last_user_text(messages),
        results: last_results(messages),
        turn: messages.iter().filter(|m| m["role"] == "assistant").count(),
        max_tokens: request["max_completion_tokens"]
            .as_u64()
            .or(request["max_tokens"].as_u64()),
        input_tokens: input_tokens(body),
        include_usage: request["stream_options"]["include_usage"]
            .as_bool()
            .unwrap_or(false),
    })
}

fn check_messages(request: &Value) -> Result<&[Value], ApiError> {
    let Some(messages) = request["messages"].as_array() else {
        return Err(invalid(
            "Missing required parameter: 'messages'.",
            Some("messages"),
            Some("missing_required_parameter"),
        ));
    };
    if messages.is_empty() {
        return Err(invalid(
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
            Some("messages"),
            Some("empty_array"),
        ));
    }
    let mut pending: Option<(usize, Vec<&str>)> = None;
    for (index, message) in messages.iter().enumerate() {
        let role = message["role"].as_str().unwrap_or_default();
        if !ROLES.contains(&role) {
            let param = format!("messages[{index}].role");
            return Err(invalid(
                &format!(
                    "Invalid value: '{role}'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'."
                ),
                Some(&param),
                Some("invalid_value"),
            ));
        }
        if role == "tool" {
            answer_call(index, message, &mut pending)?;
            continue;
        }
        unanswered(&pending)?;
        pending = None;
        if role == "assistant" {
            pending = assistant_calls(index, message)?.map(|ids| (index, ids));
        }
    }
    unanswered(&pending)?;
    Ok(messages)
}

fn unanswered(pending: &Option<(usize, Vec<&str>)>) -> Result<(), ApiError> {
    match pending {
        Some((index, ids)) if !ids.is_empty() => {
            let param = format!("messages.[{index}].role");
            Err(invalid(
                &format!(
                    "An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: {}",
                    ids.join(", ")
                ),
                Some(&param),
                None,
            ))
        }
        _ => Ok(()),
    }
}

fn answer_call<'a>(
    index: usize,
    message: &'a Value,
    pending: &mut Option<(usize, Vec<&'a str>)>,
) -> Result<(), ApiError> {
    let param = format!("messages.[{index}].role");
    let Some((_, ids)) = pending.as_mut() else {
        return Err(invalid(
            "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.",
            Some(&param),
            None,
        ));
    };
    let id = message["tool_call_id"].as_str().unwrap_or_default();
    match ids.iter().position(|known| *known == id) {
        Some(at) => {
            ids.remove(at);
            Ok(())
        }
        None => Err(invalid(
            &format!(
                "Invalid parameter: 'tool_call_id' of '{id}' not found in 'tool_calls' of previous message."
            ),
            Some(&format!("messages.[{index}].tool_call_id")),
            None,
        )),
    }
}

fn assistant_calls(index: usize, message: &Value) -> Result<Option<Vec<&str>>, ApiError> {
    let Some(calls) = message["tool_calls"].as_array() else {
        return Ok(None);
    };
    if calls.is_empty() {
        let param = format!("messages[{index}].tool_calls");
        return Err(invalid(
            &format!(
                "Invalid '{param}': empty array. Expected an array with minimum length 1, but got an empty array instead."
            ),
            Some(&param),
            Some("empty_array"),
        ));
    }
    let mut ids = Vec::new();
    for (at, call) in calls.iter().enumerate() {
        let arguments = &call["function"]["arguments"];
        if !arguments.is_string() {
            let param = format!("messages[{index}].tool_calls[{at}].function.arguments");
            let got = match arguments {
                Value::Object(_) => "an object",
                Value::Null => "null",
                Value::Array(_) => "an array",
                _ => "a non-string value",
            };
            return Err(invalid(
                &format!("Invalid type for '{param}': expected a string, but got {got} instead."),
                Some(&param),
                Some("invalid_type"),
            ));
        }
        let Some(id) = call["id"].as_str() else {
            let param = format!("messages[{index}].tool_calls[{at}].id");
            return Err(invalid(
                &format!("Missing required parameter: '{param}'."),
                Some(&param),
                Some("missing_required_parameter"),
            ));
        };
        ids.push(id);
    }
    Ok(Some(ids))
}

fn parse_tools(request: &Value) -> Result<Vec<ToolDef>, ApiError> {
    let Some(tools) = request["tools"].as_array() else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (index, tool) in tools.iter().enumerate() {
        let function = &tool["function"];
        let name = function["name"].as_str().unwrap_or_default();
        let param = format!("tools[{index}].function.name");
        if name.len() > 64 {
            return Err(invalid(
                &format!(
                    "Invalid '{param}': string too long. Expected a string with maximum length 64, but got a string with length {} instead.",
                    name.len()
                ),
                Some(&param),
                Some("string_above_max_length"),
            ));
        }
        if !plain_name(name) {
            return Err(invalid(
                &format!(
                    "Invalid '{param}': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'."
                ),
                Some(&param),
                Some("invalid_value"),
            ));
        }
        let schema = function
            .get("parameters")
            .cloned()
            .unwrap_or_else(|| serde_json::json!({"type": "object", "properties": {}}));
        if function["strict"] == true {
            check_strict(&schema, "()").map_err(|m| {
                invalid(
                    &format!("Invalid schema for function '{name}': {m}"),
                    Some(&format!("tools[{index}].function.parameters")),
                    Some("invalid_function_parameters"),
                )
            })?;
        }
        out.push(ToolDef {
            name: name.to_owned(),
            description: function["description"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            schema,
        });
    }
    Ok(out)
}

/// Strict mode: every object forbids extra keys and requires every key.
fn check_strict(schema: &Value, context: &str) -> Result<(), String> {
    if let Some(properties) = schema["properties"].as_object() {
        if schema["additionalProperties"] != false {
            return Err(format!(
                "In context={context}, 'additionalProperties' is required to be supplied and to be false."
            ));
        }
        let required: Vec<&str> = schema["required"]
            .as_array()
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if let Some(missing) = properties
            .keys()
            .find(|key| !required.contains(&key.as_str()))
        {
            return Err(format!(
                "In context={context}, 'required' is required to be supplied and to be an array including every key in properties. Missing '{missing}'."
            ));
        }
        for (key, property) in properties {
            check_strict(property, &format!("('properties', '{key}')"))?;
        }
    }
    if schema["items"].is_object() {
        check_strict(&schema["items"], &format!("{context}, 'items'"))?;
    }
    Ok(())
}

fn last_user_text(messages: &[Value]) -> String {
    messages
        .iter()
        .rev()
        .find(|m| m["role"] == "user")
        .map(|m| value_text(&m["content"]))
        .unwrap_or_default()
}

fn last_results(messages: &[Value]) -> Vec<ToolOutput> {
    let tail = messages
        .iter()
        .rev()
        .take_while(|m| m["role"] == "tool")
        .count();
    let first_tool = messages.len() - tail;
    let names: HashMap<&str, &str> = first_tool
        .checked_sub(1)
        .and_then(|at| messages[at]["tool_calls"].as_array())
        .map(|calls| {
            calls
                .iter()
                .filter_map(|c| Some((c["id"].as_str()?, c["function"]["name"].as_str()?)))
                .collect()
        })
        .unwrap_or_default();
    messages[first_tool..]
        .iter()
        .map(|m| {
            let id = m["tool_call_id"].as_str().unwrap_or_default();
            ToolOutput {
                name: names.get(id).copied().unwrap_or(id).to_owned(),
                content: value_text(&m["content"]),
                is_error: false,
            }
        })
        .collect()
}

struct Ids {
    completion: String,
    fingerprint: String,
    calls: Vec<String>,
}

/// Renders a reply, streamed or whole.
pub(crate) fn render(mut job: Job<'_>) -> Rendered {
    let ids = Ids {
        completion: format!("chatcmpl-{}", job.rng.token(29)),
        fingerprint: format!("fp_{}", job.rng.token(10).to_lowercase()),
        calls: job
            .reply
            .calls
            .iter()
            .map(|c| {
                c.id.clone()
                    .unwrap_or_else(|| format!("call_{}", job.rng.token(24)))
            })
            .collect(),
    };
    let content_type = if job.conv.stream {
        "text/event-stream; charset=utf-8"
    } else {
        "application/json"
    };
    let headers = vec![
        ("content-type", content_type.into()),
        ("x-request-id", job.request_id.clone()),
        ("openai-version", "2020-10-01".into()),
        ("openai-processing-ms", "42".into()),
    ];
    if job.conv.stream {
        let frames = stream_frames(&mut job, &ids);
        let prefix = format!(
            "data: {}\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"",
            chunk_head(&job, &ids)
        );
        let suffix = "\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n".to_owned();
        return Rendered {
            headers,
            frames,
            oversized: (prefix, suffix),
            body_start: 1,
        };
    }
    let prefix = format!(
        r#"{{"id":{},"object":"chat.completion","choices":[{{"index":0,"message":{{"role":"assistant","content":""#,
        js(&ids.completion)
    );
    let suffix = r#""},"finish_reason":"stop"}]}"#.to_owned();
    let body = whole_body(&job, &ids);
    Rendered {
        headers,
        frames: vec![Frame::now(body)],
        oversized: (prefix, suffix),
        body_start: 0,
    }
}

fn finish_reason(job: &Job<'_>) -> &'static str {
    if job.reply.refused {
        return "content_filter";
    }
    match (job.reply.max_tokens, job.reply.calls.is_empty()) {
        (true, _) => "length",
        (false, false) => "tool_calls",
        (false, true) => "stop",
    }
}

fn usage(job: &Job<'_>) -> String {
    let (prompt, completion) = (job.conv.input_tokens, job.reply.output_tokens());
    format!(
        r#"{{"prompt_tokens":{prompt},"completion_tokens":{completion},"total_tokens":{},"prompt_tokens_details":{{"cached_tokens":0,"audio_tokens":0}},"completion_tokens_details":{{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}}"#,
        prompt + completion
    )
}

fn whole_body(job: &Job<'_>, ids: &Ids) -> String {
    let no_text = !job.reply.calls.is_empty() || job.reply.refused;
    let content = if job.reply.text.is_empty() && no_text {
        "null".to_owned()
    } else {
        js(&job.reply.text)
    };
    let calls: Vec<String> = job
        .reply
        .calls
        .iter()
        .zip(&ids.calls)
        .map(|(call, id)| {
            format!(
                r#"{{"id":{},"type":"function","function":{{"name":{},"arguments":{}}}}}"#,
                js(id),
                js(&call.name),
                js(&call.args.to_text())
            )
        })
        .collect();
    let calls = if calls.is_empty() {
        String::new()
    } else {
        format!(r#","tool_calls":[{}]"#, calls.join(","))
    };
    format!(
        r#"{{"id":{},"object":"chat.completion","created":{CREATED},"model":{},"choices":[{{"index":0,"message":{{"role":"assistant","content":{content}{calls},"refusal":null,"annotations":[]}},"logprobs":null,"finish_reason":"{}"}}],"usage":{},"service_tier":"default","system_fingerprint":{}}}"#,
        js(&ids.completion),
        js(&job.conv.model),
        finish_reason(job),
        usage(job),
        js(&ids.fingerprint)
    )
}

/// `{"id":…,"object":…,"created":…,"model":…,"service_tier":…,"system_fingerprint":…,`
fn chunk_head(job: &Job<'_>, ids: &Ids) -> String {
    format!(
        r#"{{"id":{},"object":"chat.completion.chunk","created":{CREATED},"model":{},"service_tier":"default","system_fingerprint":{},"#,
        js(&ids.completion),
        js(&job.conv.model),
        js(&ids.fingerprint)
    )
}

fn chunk(job: &mut Job<'_>, head: &str, choices: &str, usage: Option<&str>) -> String {
    let usage = match (job.conv.include_usage, usage) {
        (_, Some(usage)) => format!(r#","usage":{usage}"#),
        (true, None) => r#","usage":null"#.to_owned(),
        (false, None) => String::new(),
    };
    let noise = job.rng.range(1, 12);
    let obfuscation = job.rng.token(noise);
    sse_data(&format!(
        r#"{head}"choices":[{choices}]{usage},"obfuscation":"{obfuscation}"}}"#
    ))
}

fn choice(delta: &str, finish: Option<&str>) -> String {
    let finish = finish.map_or_else(|| "null".to_owned(), |f| format!("\"{f}\""));
    format!(r#"{{"index":0,"delta":{delta},"logprobs":null,"finish_reason":{finish}}}"#)
}

fn stream_frames(job: &mut Job<'_>, ids: &Ids) -> Vec<Frame> {
    let head = chunk_head(job, ids);
    let mut frames = Vec::new();
    let text = job.reply.text.clone();
    if !text.is_empty() || job.reply.calls.is_empty() {
        let role = choice(r#"{"role":"assistant","content":"","refusal":null}"#, None);
        frames.push(Frame::now(chunk(job, &head, &role, None)));
        for piece in text_pieces(&text) {
            let delta = choice(&format!(r#"{{"content":{}}}"#, js(piece)), None);
            frames.push(Frame::token(chunk(job, &head, &delta, None)));
        }
    }
    for (index, (call, id)) in job.reply.calls.clone().iter().zip(&ids.calls).enumerate() {
        let role = if frames.is_empty() {
            r#""role":"assistant","content":null,"#
        } else {
            ""
        };
        let first = format!(
            r#"{{{role}"tool_calls":[{{"index":{index},"id":{},"type":"function","function":{{"name":{},"arguments":""}}}}]{}}}"#,
            js(id),
            js(&call.name),
            if role.is_empty() {
                ""
            } else {
                r#","refusal":null"#
            }
        );
        frames.push(Frame::now(chunk(job, &head, &choice(&first, None), None)));
        for piece in argument_pieces(&call.args.to_text(), &mut job.rng) {
            let delta = format!(
                r#"{{"tool_calls":[{{"index":{index},"function":{{"arguments":{}}}}}]}}"#,
                js(&piece)
            );
            frames.push(Frame::token(chunk(job, &head, &choice(&delta, None), None)));
        }
    }
    let last = choice("{}", Some(finish_reason(job)));
    frames.push(Frame::now(chunk(job, &head, &last, None)));
    if job.conv.include_usage {
        let usage = usage(job);
        frames.push(Frame::now(chunk(job, &head, "", Some(&usage))));
    }
    frames.push(Frame::now(sse_data("[DONE]")));
    frames
}

/// Splits argument text at seeded points (mid-key and mid-string included).
fn argument_pieces(text: &str, rng: &mut Rng) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let mut cut = rng.range(2, 10).min(rest.len());
        while !rest.is_char_boundary(cut) {
            cut += 1;
        }
        let (head, tail) = rest.split_at(cut);
        pieces.push(head.to_owned());
        rest = tail;
    }
    pieces
}

/// The error frame sent after HTTP 200.
pub(crate) fn error_event() -> Frame {
    Frame::token(sse_data(
        r#"{"error":{"message":"The server had an error while processing your request. Sorry about that!","type":"server_error","param":null,"code":null}}"#,
    ))
}

/// A 404 for a model that does not exist.
pub(crate) fn model_not_found(model: &str) -> ApiError {
    let message = format!("The model `{model}` does not exist or you do not have access to it.");
    error(
        404,
        &message,
        "invalid_request_error",
        None,
        Some("model_not_found"),
    )
}

/// A fault's status answer.
pub(crate) fn fault(kind: FaultKind, wait: Duration, rng: &mut Rng) -> ApiError {
    let mut answer = match kind {
        FaultKind::RateLimited | FaultKind::RateLimitedDate | FaultKind::RateLimitedMs => {
            let message = format!(
                "Rate limit reached for requests in organization org-{} on requests per min (RPM): Limit 500, Used 500, Requested 1. Please try again in {}. Visit https://platform.openai.com/account/rate-limits to learn more.",
                rng.token(24),
                go_duration(wait)
            );
            let mut e = error(429, &message, "requests", None, Some("rate_limit_exceeded"));
            e.headers.extend(retry_headers(kind, wait));
            e.headers.push(("x-ratelimit-limit-requests", "500".into()));
            e.headers
                .push(("x-ratelimit-remaining-requests", "0".into()));
            e.headers
                .push(("x-ratelimit-reset-requests", go_duration(wait)));
            e.headers
                .push(("x-ratelimit-limit-tokens", "200000".into()));
            e.headers
                .push(("x-ratelimit-remaining-tokens", "199000".into()));
            e.headers.push(("x-ratelimit-reset-tokens", "6m0s".into()));
            e
        }
        FaultKind::QuotaExhausted => error(
            429,
            "You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.",
            "insufficient_quota",
            None,
            Some("insufficient_quota"),
        ),
        FaultKind::Unavailable | FaultKind::Overloaded => error(
            503,
            "The engine is currently overloaded, please try again later",
            "server_error",
            None,
            None,
        ),
        FaultKind::GatewayTimeout => error(
            504,
            "Gateway timeout. Please try again later.",
            "server_error",
            None,
            None,
        ),
        FaultKind::Auth => error(
            401,
            "Incorrect API key provided: sk-proj-****. You can find your API key at https://platform.openai.com/account/api-keys.",
            "invalid_request_error",
            None,
            Some("invalid_api_key"),
        ),
        _ => error(
            500,
            "The server had an error while processing your request. Sorry about that!",
            "server_error",
            None,
            None,
        ),
    };
    answer.headers.push((
        "x-request-id",
        format!("req_{}", rng.token(32).to_lowercase()),
    ));
    answer
}
