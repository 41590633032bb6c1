//! Mapping a [`ModelRequest`] onto an Anthropic Messages request.

use std::borrow::Cow;

use forge_core::{Content, Error, Message, ModelRequest, Role, ToolSpec};
use serde_json::{Value, value::RawValue};

use super::wire::{Block, MessagesRequest, WireMessage, WireTool};
use crate::provider::{NameMap, history, json};

/// The JSON body of a request.
pub(super) fn body(
    request: &ModelRequest,
    model: &str,
    max_tokens: u32,
    stream: bool,
    tools: &[&RawValue],
    names: &NameMap,
) -> Result<Vec<u8>, Error> {
    let history = history::answer_every_call(&request.messages);
    let wire = MessagesRequest {
        model,
        max_tokens,
        system: system_prompt(request),
        messages: messages(&history, names),
        tools: tools.to_vec(),
        temperature: request.temperature,
        stream,
    };
    serde_json::to_vec(&wire).map_err(|e| {
        Error::new(
            forge_core::ErrorKind::InvalidRequest,
            "cannot encode the request",
        )
        .with_source(e)
    })
}

/// The request's system prompt plus any system messages, in order.
fn system_prompt(request: &ModelRequest) -> Option<Cow<'_, str>> {
    let mut parts = request
        .system
        .as_deref()
        .into_iter()
        .map(Cow::Borrowed)
        .chain(
            request
                .messages
                .iter()
                .filter(|m| m.role == Role::System)
                .map(|m| Cow::Owned(m.text())),
        );
    let first = parts.next()?;
    Some(parts.fold(first, |acc, next| Cow::Owned(format!("{acc}\n\n{next}"))))
}

/// Maps turns, merging consecutive turns of the same wire role.
fn messages<'a>(history: &'a [Message], names: &'a NameMap) -> Vec<WireMessage<'a>> {
    let mut out: Vec<WireMessage<'a>> = Vec::with_capacity(history.len());
    for message in history {
        let role = match message.role {
            Role::System => continue,
            Role::Assistant => "assistant",
            _ => "user",
        };
        let blocks = message.content.iter().filter_map(|c| block(c, names));
        match out.last_mut() {
            Some(last) if last.role == role => last.content.extend(blocks),
            _ => out.push(WireMessage {
                role,
                content: blocks.collect(),
            }),
        }
    }
    out
}

fn block<'a>(content: &'a Content, names: &'a NameMap) -> Option<Block<'a>> {
    Some(match content {
        Content::Text(t) if t.text.is_empty() => return None,
        Content::Text(t) => Block::Text { text: &t.text },
        Content::ToolCall(call) => Block::ToolUse {
            id: &call.id,
            name: names.to_wire(&call.name),
            input: json::arguments_object(&call.arguments),
        },
        Content::ToolResult(result) => Block::ToolResult {
            tool_use_id: &result.call_id,
            content: result.content(),
            is_error: result.is_error(),
        },
        Content::Thinking(t) => match &t.redacted {
            Some(data) => Block::RedactedThinking { data },
            None => Block::Thinking {
                thinking: &t.text,
                signature: t.signature.as_deref(),
            },
        },
        _ => return None,
    })
}

/// A tool in Anthropic's form: the JSON Schema as `input_schema`.
pub(super) fn tool(spec: &ToolSpec, wire_name: &str) -> Result<Box<RawValue>, Error> {
    let mut schema = spec.parameters().clone();
    if let Value::Object(map) = &mut schema {
        map.remove("$schema");
        map.entry("type").or_insert_with(|| Value::from("object"));
    }
    json::to_raw(&WireTool {
        name: wire_name,
        description: spec.description(),
        input_schema: schema,
    })
}
