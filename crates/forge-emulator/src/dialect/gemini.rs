//! Gemini: `POST /v1beta/models/{model}:generateContent` and
//! `:streamGenerateContent` (`?alt=sse` for SSE, otherwise one JSON array).

use std::time::Duration;

use serde_json::Value;

use super::{
    ApiError, Job, Rendered, input_tokens, js, json_with, pretty, retry_headers, value_text,
};
use crate::{
    FaultKind,
    body::Frame,
    convo::{Conversation, PlannedCall, ToolDef, ToolOutput, text_pieces},
};

const JSON: &str = "application/json; charset=UTF-8";
/// Keys a `parameters` schema (the OpenAPI subset) cannot hold.
const FORBIDDEN_KEYS: &[&str] = &["$ref", "$defs", "$schema", "definitions", "$id"];

/// A google.rpc.Status error, pretty-printed.
fn status(code: u16, state: &str, message: &str, details: &[String]) -> ApiError {
    let details = if details.is_empty() {
        String::new()
    } else {
        format!(r#","details":[{}]"#, details.join(","))
    };
    let compact = format!(
        r#"{{"error":{{"code":{code},"message":{},"status":{}{details}}}}}"#,
        js(message),
        js(state)
    );
    ApiError {
        status: code,
        headers: vec![
            ("content-type", JSON.into()),
            ("server", "scaffolding on HTTPServer2".into()),
        ],
        body: (pretty(&compact) + "\n").into(),
    }
}

/// A 400 `INVALID_ARGUMENT`.
pub(crate) fn invalid(message: &str) -> ApiError {
    status(400, "INVALID_ARGUMENT", message, &[])
}

pub(crate) fn too_large() -> ApiError {
    status(
        413,
        "INVALID_ARGUMENT",
        "Request payload size exceeds the limit.",
        &[],
    )
}

/// Reads a field by its camelCase or snake_case name (both are accepted).
fn field<'a>(value: &'a Value, camel: &str, snake: &str) -> &'a Value {
    match value.get(camel) {
        Some(found) => found,
        None => &value[snake],
    }
}

/// Whether thought signatures are enforced: Gemini 3 and unknown models.
fn enforces_signatures(model: &str) -> bool {
    !(model.starts_with("gemini-1") || model.starts_with("gemini-2"))
}

/// Parses and validates a request body.
pub(crate) fn parse(body: &[u8], model: &str, stream: bool) -> Result<Conversation, ApiError> {
    let request: Value = serde_json::from_slice(body)
        .map_err(|e| invalid(&format!("Invalid JSON payload received. {e}")))?;
    let Some(contents) = request["contents"].as_array().filter(|c| !c.is_empty()) else {
        return Err(invalid(
            "* GenerateContentRequest.contents: contents is not specified\n",
        ));
    };
    for (index, content) in contents.iter().enumerate() {
        check_content(index, content)?;
    }
    check_pairing(contents)?;
    if enforces_signatures(model) {
        check_signatures(contents)?;
    }
    let tools = parse_tools(&request)?;
    let config = field(&request, "generationConfig", "generation_config");
    Ok(Conversation {
        model: model.to_owned(),
        stream,
        tools,
        user_text: last_user_text(contents),
        results: last_results(contents),
        turn: contents.iter().filter(|c| c["role"] == "model").count(),
        max_tokens: field(config, "maxOutputTokens", "max_output_tokens").as_u64(),
        input_tokens: input_tokens(body),
        include_usage: false,
    })
}

fn parts(content: &Value) -> &[Value] {
    content["parts"].as_array().map_or(&[][..], Vec::as_slice)
}

fn check_content(index: usize, content: &Value) -> Result<(), ApiError> {
    match content["role"].as_str() {
        None | Some("user" | "model" | "function") => {}
        Some(_) => return Err(invalid("Please use a valid role: user, model.")),
    }
    if parts(content).is_empty() {
        return Err(invalid(&format!(
            "* GenerateContentRequest.contents[{index}].parts: contents.parts must not be empty.\n"
        )));
    }
    for (at, part) in parts(content).iter().enumerate() {
        let response = field(part, "functionResponse", "function_response");
        if !response.is_null() && !response["response"].is_object() {
            return Err(invalid(&format!(
                "Invalid value at 'contents[{index}].parts[{at}].function_response.response' (type.googleapis.com/google.protobuf.Struct), {}",
                response["response"]
            )));
        }
    }
    Ok(())
}

fn calls_in(content: &Value) -> Vec<&Value> {
    parts(content)
        .iter()
        .filter(|p| !field(p, "functionCall", "function_call").is_null())
        .collect()
}

fn responses_in(content: &Value) -> Vec<&Value> {
    parts(content)
        .iter()
        .map(|p| field(p, "functionResponse", "function_response"))
        .filter(|r| !r.is_null())
        .collect()
}

/// Each function-call turn is followed by as many function responses.
fn check_pairing(contents: &[Value]) -> Result<(), ApiError> {
    for (index, content) in contents.iter().enumerate() {
        let responses = responses_in(content).len();
        let calls = index
            .checked_sub(1)
            .map_or(0, |p| calls_in(&contents[p]).len());
        if responses > 0 && calls == 0 {
            return Err(invalid(
                "Please ensure that function response turn comes immediately after a function call turn.",
            ));
        }
        if calls > 0 && responses != calls {
            return Err(invalid(
                "Please ensure that the number of function response parts is equal to the number of function call parts of the function call turn.",
            ));
        }
    }
    if contents
        .last()
        .is_some_and(|last| !calls_in(last).is_empty())
    {
        return Err(invalid(
            "Please ensure that the number of function response parts is equal to the number of function call parts of the function call turn.",
        ));
    }
    Ok(())
}

/// In the current turn, each model step's first function call carries its
/// `thoughtSignature`.
fn check_signatures(contents: &[Value]) -> Result<(), ApiError> {
    let current = contents
        .iter()
        .rposition(|c| c["role"] != "model" && responses_in(c).is_empty())
        .unwrap_or(0);
    for content in &contents[current..] {
        let Some(first) = calls_in(content).first().copied() else {
            continue;
        };
        if field(first, "thoughtSignature", "thought_signature").is_null() {
            let name = field(first, "functionCall", "function_call")["name"]
                .as_str()
                .unwrap_or_default();
            return Err(invalid(&format!(
                "Function call is missing a thought_signature in functionCall parts. This is required for tools to work correctly, and missing thought_signature may lead to degraded model performance. Additional data, function call `default_api:{name}` , position 1. Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures for more details."
            )));
        }
    }
    Ok(())
}

fn valid_name(name: &str) -> bool {
    let first_ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    first_ok
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.:-".contains(&b))
}

fn parse_tools(request: &Value) -> Result<Vec<ToolDef>, ApiError> {
    let mut out = Vec::new();
    let tools = request["tools"].as_array().map_or(&[][..], Vec::as_slice);
    for (index, tool) in tools.iter().enumerate() {
        let declarations = field(tool, "functionDeclarations", "function_declarations");
        for (at, declaration) in declarations
            .as_array()
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .enumerate()
        {
            let path = format!("tools[{index}].function_declarations[{at}]");
            out.push(parse_declaration(&path, declaration)?);
        }
    }
    Ok(out)
}

fn parse_declaration(path: &str, declaration: &Value) -> Result<ToolDef, ApiError> {
    let name = declaration["name"].as_str().unwrap_or_default();
    if !valid_name(name) {
        return Err(invalid(&format!(
            "* GenerateContentRequest.{path}.name: Invalid function name. Must start with a letter or an underscore. Must be alphameric (a-z, A-Z, 0-9), underscores (_), dots (.), colons (:), or dashes (-), with a maximum length of 64.\n"
        )));
    }
    let schema = match declaration.get("parameters") {
        Some(parameters) => {
            check_openapi(parameters, &format!("{path}.parameters"))?;
            parameters.clone()
        }
        None => field(
            declaration,
            "parametersJsonSchema",
            "parameters_json_schema",
        )
        .clone(),
    };
    Ok(ToolDef {
        name: name.to_owned(),
        description: declaration["description"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        schema,
    })
}

/// The `parameters` field is an OpenAPI Schema proto: no `$ref`, no type arrays.
fn check_openapi(schema: &Value, path: &str) -> Result<(), ApiError> {
    let Some(object) = schema.as_object() else {
        return Ok(());
    };
    if let Some(key) = FORBIDDEN_KEYS.iter().find(|key| object.contains_key(**key)) {
        return Err(invalid(&format!(
            "Invalid JSON payload received. Unknown name \"{key}\" at '{path}': Cannot find field."
        )));
    }
    if object.get("type").is_some_and(Value::is_array) {
        return Err(invalid(&format!(
            "Invalid JSON payload received. Proto field is not repeating, cannot start list at '{path}.type'."
        )));
    }
    if let Some(properties) = object.get("properties").and_then(Value::as_object) {
        for (key, property) in properties {
            check_openapi(property, &format!("{path}.properties[{key}].value"))?;
        }
    }
    for key in ["items", "anyOf"] {
        match object.get(key) {
            Some(Value::Array(branches)) => {
                for branch in branches {
                    check_openapi(branch, &format!("{path}.{key}"))?;
                }
            }
            Some(inner) => check_openapi(inner, &format!("{path}.{key}"))?,
            None => {}
        }
    }
    Ok(())
}

fn last_user_text(contents: &[Value]) -> String {
    contents
        .iter()
        .rev()
        .filter(|c| c["role"] != "model")
        .find_map(|c| {
            let texts: Vec<&str> = parts(c).iter().filter_map(|p| p["text"].as_str()).collect();
            (!texts.is_empty()).then(|| texts.join("\n"))
        })
        .unwrap_or_default()
}

fn last_results(contents: &[Value]) -> Vec<ToolOutput> {
    let Some(last) = contents.last() else {
        return Vec::new();
    };
    responses_in(last)
        .into_iter()
        .map(|response| ToolOutput {
            name: response["name"].as_str().unwrap_or_default().to_owned(),
            content: value_text(&response["response"]),
            is_error: !response["response"]["error"].is_null(),
        })
        .collect()
}

/// JSON as Gemini writes it: `": "` after keys, `,` between items.
fn gjson(value: &Value) -> String {
    json_with(value, b": ", b",")
}

fn call_part(call: &PlannedCall, signature: Option<&str>) -> String {
    let args = gjson(&call.args.to_value());
    let signature = signature.map_or_else(String::new, |s| {
        format!(r#","thoughtSignature": {}"#, js(s))
    });
    format!(
        r#"{{"functionCall": {{"name": {},"args": {args}}}{signature}}}"#,
        js(&call.name)
    )
}

/// A thought summary part, as Gemini sends with `includeThoughts`.
fn thought_part(thinking: &str) -> String {
    format!(r#"{{"text": {},"thought": true}}"#, js(thinking))
}

struct Ids {
    response: String,
    signature: String,
}

fn usage(job: &Job<'_>, output: u64) -> String {
    let prompt = job.conv.input_tokens;
    format!(
        r#"{{"promptTokenCount": {prompt},"candidatesTokenCount": {output},"totalTokenCount": {},"promptTokensDetails": [{{"modality": "TEXT","tokenCount": {prompt}}}]}}"#,
        prompt + output
    )
}

fn chunk(job: &Job<'_>, ids: &Ids, parts: &[String], finish: Option<&str>, output: u64) -> String {
    let finish = finish.map_or_else(String::new, |f| format!(r#","finishReason": "{f}""#));
    format!(
        r#"{{"candidates": [{{"content": {{"parts": [{}],"role": "model"}}{finish},"index": 0}}],"usageMetadata": {},"modelVersion": {},"responseId": {}}}"#,
        parts.join(","),
        usage(job, output),
        js(&job.conv.model),
        js(&ids.response)
    )
}

fn finish_reason(job: &Job<'_>) -> &'static str {
    if job.reply.max_tokens {
        "MAX_TOKENS"
    } else {
        "STOP"
    }
}

/// Renders a reply, streamed (SSE or array) or whole.
pub(crate) fn render(mut job: Job<'_>) -> Rendered {
    let ids = Ids {
        response: job.rng.token(22),
        signature: format!("Cp{}==", job.rng.token(86)),
    };
    let content_type = if job.conv.stream && job.sse {
        "text/event-stream"
    } else {
        JSON
    };
    let headers = vec![
        ("content-type", content_type.into()),
        ("server", "scaffolding on HTTPServer2".into()),
        ("vary", "Origin, X-Origin, Referer".into()),
    ];
    let prefix = r#"{"candidates": [{"content": {"parts": [{"text": ""#;
    let suffix = r#""}],"role": "model"},"index": 0}]}"#;
    if !job.conv.stream {
        let body = pretty(&whole(&job, &ids)) + "\n";
        let oversized = (prefix.to_owned(), suffix.to_owned());
        return Rendered {
            headers,
            frames: vec![Frame::now(body)],
            oversized,
            body_start: 0,
        };
    }
    let chunks = chunks(&mut job, &ids);
    let sse = job.sse;
    let frames = frame_chunks(chunks, sse);
    let oversized = if sse {
        (format!("data: {prefix}"), format!("{suffix}\r\n\r\n"))
    } else {
        (prefix.to_owned(), format!("{suffix}\n,\r\n"))
    };
    Rendered {
        headers,
        frames,
        oversized,
        body_start: usize::from(!sse),
    }
}

/// A blocked prompt: no `candidates`, only `promptFeedback.blockReason`.
fn blocked(job: &Job<'_>, ids: &Ids) -> String {
    format!(
        r#"{{"promptFeedback": {{"blockReason": "SAFETY","safetyRatings": [{{"category": "HARM_CATEGORY_DANGEROUS_CONTENT","probability": "HIGH","blocked": true}}]}},"usageMetadata": {},"modelVersion": {},"responseId": {}}}"#,
        usage(job, 0),
        js(&job.conv.model),
        js(&ids.response)
    )
}

fn whole(job: &Job<'_>, ids: &Ids) -> String {
    if job.reply.refused {
        return blocked(job, ids);
    }
    let mut parts: Vec<String> = job.reply.thinking.iter().map(|t| thought_part(t)).collect();
    if !job.reply.text.is_empty() {
        parts.push(format!(r#"{{"text": {}}}"#, js(&job.reply.text)));
    }
    for (index, call) in job.reply.calls.iter().enumerate() {
        parts.push(call_part(
            call,
            (index == 0).then_some(ids.signature.as_str()),
        ));
    }
    chunk(
        job,
        ids,
        &parts,
        Some(finish_reason(job)),
        job.reply.output_tokens(),
    )
}

/// The stream's chunks: text in groups of words, then one call per chunk,
/// then a final empty-text chunk with the finish reason; usage is a running
/// total.
fn chunks(job: &mut Job<'_>, ids: &Ids) -> Vec<(String, bool)> {
    if job.reply.refused {
        return vec![(blocked(job, ids), false)];
    }
    let mut out = Vec::new();
    let mut output = 0u64;
    if let Some(thinking) = &job.reply.thinking {
        output += text_pieces(thinking).len() as u64;
        let part = thought_part(thinking);
        out.push((chunk(job, ids, &[part], None, output), true));
    }
    let text = job.reply.text.clone();
    let pieces = text_pieces(&text);
    let mut at = 0;
    while at < pieces.len() {
        let take = job.rng.range(1, 4).min(pieces.len() - at);
        let group = pieces[at..at + take].concat();
        at += take;
        output += take as u64;
        let part = format!(r#"{{"text": {}}}"#, js(&group));
        out.push((chunk(job, ids, &[part], None, output), true));
    }
    for (index, call) in job.reply.calls.iter().enumerate() {
        output += (call.args.to_text().len() as u64).div_ceil(4).max(1);
        let part = call_part(call, (index == 0).then_some(ids.signature.as_str()));
        out.push((chunk(job, ids, &[part], None, output), true));
    }
    let last = r#"{"text": ""}"#.to_owned();
    let total = job.reply.output_tokens().max(output);
    out.push((
        chunk(job, ids, &[last], Some(finish_reason(job)), total),
        false,
    ));
    out
}

fn frame_chunks(chunks: Vec<(String, bool)>, sse: bool) -> Vec<Frame> {
    let count = chunks.len();
    let mut frames = Vec::with_capacity(count + 2);
    if !sse {
        frames.push(Frame::now("["));
    }
    for (index, (chunk, content)) in chunks.into_iter().enumerate() {
        let bytes = match (sse, index + 1 == count) {
            (true, _) => format!("data: {chunk}\r\n\r\n"),
            (false, false) => format!("{}\n,\r\n", pretty(&chunk)),
            (false, true) => format!("{}\n]", pretty(&chunk)),
        };
        frames.push(if content {
            Frame::token(bytes)
        } else {
            Frame::now(bytes)
        });
    }
    frames
}

/// The error frame sent after HTTP 200.
pub(crate) fn error_event(sse: bool) -> Frame {
    let compact = r#"{"error": {"code": 500,"message": "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting","status": "INTERNAL"}}"#;
    if sse {
        Frame::token(format!("data: {compact}\r\n\r\n"))
    } else {
        Frame::token(format!("{}\n]", pretty(compact)))
    }
}

fn seconds(wait: Duration) -> String {
    let text = format!("{:.3}", wait.as_secs_f64());
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}s")
}

fn quota_failure(quota_id: &str) -> String {
    format!(
        r#"{{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{{"quotaMetric":"generativelanguage.googleapis.com/generate_content_free_tier_requests","quotaId":"{quota_id}","quotaDimensions":{{"location":"global","model":"gemini"}},"quotaValue":"10"}}]}}"#
    )
}

const HELP: &str = r#"{"@type":"type.googleapis.com/google.rpc.Help","links":[{"description":"Learn more about Gemini API quotas","url":"https://ai.google.dev/gemini-api/docs/rate-limits"}]}"#;

/// A 404 for a model that does not exist.
pub(crate) fn model_not_found(model: &str) -> ApiError {
    let message = format!(
        "models/{model} is not found for API version v1beta, or is not supported for generateContent. Call ListModels to see the list of available models and their supported methods."
    );
    status(404, "NOT_FOUND", &message, &[])
}

/// A fault's status answer.
pub(crate) fn fault(kind: FaultKind, wait: Duration) -> ApiError {
    let exhausted = "You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.";
    match kind {
        FaultKind::RateLimited | FaultKind::RateLimitedDate | FaultKind::RateLimitedMs => {
            let retry = format!(
                r#"{{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"{}"}}"#,
                seconds(wait)
            );
            let details = [
                quota_failure("GenerateRequestsPerMinutePerProjectPerModel-FreeTier"),
                HELP.to_owned(),
                retry,
            ];
            let mut e = status(
                429,
                "RESOURCE_EXHAUSTED",
                &format!("{exhausted} Please retry in {}.", seconds(wait)),
                &details,
            );
            if kind != FaultKind::RateLimited {
                e.headers.extend(retry_headers(kind, wait));
            }
            e
        }
        FaultKind::QuotaExhausted => {
            let details = [
                quota_failure("GenerateRequestsPerDayPerProjectPerModel-FreeTier"),
                HELP.to_owned(),
            ];
            status(429, "RESOURCE_EXHAUSTED", exhausted, &details)
        }
        FaultKind::Unavailable | FaultKind::Overloaded => status(
            503,
            "UNAVAILABLE",
            "The model is overloaded. Please try again later.",
            &[],
        ),
        FaultKind::GatewayTimeout => status(
            504,
            "DEADLINE_EXCEEDED",
            "Deadline expired before operation could complete.",
            &[],
        ),
        FaultKind::Auth => {
            let info = r#"{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com","metadata":{"service":"generativelanguage.googleapis.com"}}"#;
            status(
                400,
                "INVALID_ARGUMENT",
                "API key not valid. Please pass a valid API key.",
                &[info.to_owned()],
            )
        }
        _ => status(
            500,
            "INTERNAL",
            "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
            &[],
        ),
    }
}
