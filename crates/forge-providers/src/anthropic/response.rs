//! Parsing a whole (non-streamed) Anthropic response.

use forge_core::{Content, Error, ModelResponse, StopReason, Thinking, ToolCall, Usage};

use super::wire::{MessagesResponse, ResponseBlock, WireUsage};
use crate::{error::malformed, provider::NameMap};

pub(super) fn parse(body: &[u8], names: &NameMap) -> Result<ModelResponse, Error> {
    let wire: MessagesResponse<'_> =
        serde_json::from_slice(body).map_err(|e| malformed("Anthropic response", e))?;
    if let Some(error) = wire.error {
        return Err(super::error::stream_error(&error));
    }
    let stop_reason = wire
        .stop_reason
        .as_deref()
        .map_or(StopReason::EndTurn, stop_reason);
    let mut content: Vec<Content> = wire
        .content
        .into_iter()
        .filter_map(|block| convert(block, names))
        .collect();
    if stop_reason == StopReason::MaxTokens {
        mark_last_call_truncated(&mut content);
    }
    let mut response = ModelResponse::new(content, stop_reason);
    response.id = wire.id.map(Into::into);
    response.model = wire.model.map(Into::into);
    response.usage = usage(&wire.usage, &Usage::default());
    Ok(response)
}

fn convert(block: ResponseBlock<'_>, names: &NameMap) -> Option<Content> {
    let text = |v: Option<std::borrow::Cow<'_, str>>| v.unwrap_or_default().into_owned();
    Some(match block.kind.as_ref() {
        "text" => Content::text(text(block.text)),
        "tool_use" => {
            let arguments = block.input.map_or("{}", |raw| raw.get());
            let name = names.to_forge(&text(block.name));
            Content::ToolCall(ToolCall::new(text(block.id), name, arguments))
        }
        "thinking" => {
            let signature = block.signature.map(Into::into);
            Content::Thinking(Thinking::new(text(block.thinking), signature))
        }
        "redacted_thinking" => Content::Thinking(Thinking::redacted(text(block.data))),
        _ => return None,
    })
}

/// A `tool_use` cut by `max_tokens` is the last block; it must not run.
fn mark_last_call_truncated(content: &mut [Content]) {
    if let Some(Content::ToolCall(call)) = content.last_mut() {
        call.truncated = true;
    }
}

/// Maps a stop reason; unknown ones are kept verbatim.
pub(super) fn stop_reason(reason: &str) -> StopReason {
    match reason {
        "end_turn" => StopReason::EndTurn,
        "max_tokens" => StopReason::MaxTokens,
        "stop_sequence" => StopReason::StopSequence,
        "tool_use" => StopReason::ToolUse,
        "pause_turn" => StopReason::PauseTurn,
        "refusal" => StopReason::Refusal,
        "model_context_window_exceeded" => StopReason::ContextWindowExceeded,
        other => StopReason::Other(other.to_owned()),
    }
}

/// Folds wire counts into `previous` (fields absent on the wire are kept).
/// Anthropic's `input_tokens` excludes cached tokens; forge's includes them.
pub(super) fn usage(wire: &WireUsage, previous: &Usage) -> Usage {
    let mut u = *previous;
    let uncached = wire.input_tokens.unwrap_or_else(|| {
        u.input_tokens
            .saturating_sub(u.cache_read_input_tokens + u.cache_creation_input_tokens)
    });
    u.cache_read_input_tokens = wire
        .cache_read_input_tokens
        .unwrap_or(u.cache_read_input_tokens);
    u.cache_creation_input_tokens = wire
        .cache_creation_input_tokens
        .unwrap_or(u.cache_creation_input_tokens);
    u.input_tokens = uncached + u.cache_read_input_tokens + u.cache_creation_input_tokens;
    u.output_tokens = wire.output_tokens.unwrap_or(u.output_tokens);
    u
}
