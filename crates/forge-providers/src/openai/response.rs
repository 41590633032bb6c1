//! Parsing a whole (non-streamed) OpenAI response.

use forge_core::{Content, Error, ModelResponse, StopReason, Thinking, ToolCall, Usage};

use super::wire::{ChatResponse, ResponseCall, WireUsage};
use crate::{
    error::malformed,
    provider::{NameMap, json},
};

pub(super) fn parse(body: &[u8], names: &NameMap) -> Result<ModelResponse, Error> {
    let wire: ChatResponse<'_> =
        serde_json::from_slice(body).map_err(|e| malformed("OpenAI response", e))?;
    if let Some(error) = wire.error {
        return Err(super::error::stream_error(&error));
    }
    let mut content = Vec::new();
    let mut stop = StopReason::EndTurn;
    if let Some(choice) = wire.choices.into_iter().next() {
        let message = choice.message;
        if let Some(reasoning) = message.reasoning_content.filter(|r| !r.is_empty()) {
            content.push(Content::Thinking(Thinking::new(reasoning, None)));
        }
        if let Some(text) = message.content.filter(|t| !t.is_empty()) {
            content.push(Content::text(text));
        }
        let refused = message.refusal.filter(|r| !r.is_empty());
        let finish = choice.finish_reason.as_deref().and_then(finish_reason);
        stop = match (&refused, finish) {
            (Some(_), None | Some(StopReason::EndTurn)) => StopReason::Refusal,
            (_, Some(reason)) => reason,
            (None, None) => StopReason::EndTurn,
        };
        if let Some(refusal) = refused {
            content.push(Content::text(refusal));
        }
        let truncated = stop == StopReason::MaxTokens;
        for (n, call) in message.tool_calls.into_iter().enumerate() {
            content.push(Content::ToolCall(tool_call(call, n, names, truncated)));
        }
    }
    let mut response = ModelResponse::new(content, stop);
    response.id = wire.id.map(Into::into);
    response.model = wire.model.map(Into::into);
    response.usage = wire.usage.as_ref().map(usage).unwrap_or_default();
    Ok(response)
}

fn tool_call(call: ResponseCall<'_>, n: usize, names: &NameMap, truncated: bool) -> ToolCall {
    let id = call.id.map_or_else(|| mint_id(n), Into::into);
    let name = names.to_forge(call.function.name.as_deref().unwrap_or_default());
    let arguments = call.function.arguments.map(json::arguments_text);
    let arguments = match arguments.as_deref().map(str::trim) {
        None | Some("") => "{}".to_owned(),
        Some(text) => text.to_owned(),
    };
    let incomplete = !json::is_complete_json(&arguments);
    let call = ToolCall::new(id, name, arguments);
    if truncated && incomplete {
        call.into_truncated()
    } else {
        call
    }
}

/// A call id for servers that send none: unique, and stable for the call.
pub(super) fn mint_id(n: usize) -> String {
    format!(
        "call_forge_{:012x}_{n}",
        rand::random::<u64>() & 0xffff_ffff_ffff
    )
}

/// Maps a finish reason; `""` means none yet, unknown ones are kept.
pub(super) fn finish_reason(reason: &str) -> Option<StopReason> {
    Some(match reason {
        "" => return None,
        "stop" => StopReason::EndTurn,
        "length" => StopReason::MaxTokens,
        "tool_calls" | "function_call" => StopReason::ToolUse,
        "content_filter" => StopReason::ContentFilter,
        other => StopReason::Other(other.to_owned()),
    })
}

pub(super) fn usage(wire: &WireUsage) -> Usage {
    let cached = wire
        .prompt_tokens_details
        .and_then(|d| d.cached_tokens)
        .unwrap_or(0);
    let reasoning = wire
        .completion_tokens_details
        .and_then(|d| d.reasoning_tokens)
        .unwrap_or(0);
    Usage::new(wire.prompt_tokens, wire.completion_tokens)
        .with_cache(cached, 0)
        .with_reasoning(reasoning)
}
