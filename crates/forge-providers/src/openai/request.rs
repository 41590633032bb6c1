//! Mapping a [`ModelRequest`] onto an OpenAI Chat Completions request.

use std::borrow::Cow;

use forge_core::{Content, Error, ErrorKind, Message, ModelRequest, Role, ToolSpec};
use serde_json::{Map, Value, value::RawValue};

use super::wire::{
    ChatRequest, StreamOptions, ToolFunction, WireCall, WireFunction, WireMessage, WireTool,
};
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
    let mut messages = Vec::with_capacity(history.len() + 1);
    if let Some(system) = &request.system {
        messages.push(WireMessage::System {
            content: Cow::Borrowed(system),
        });
    }
    for message in history.iter() {
        push_message(&mut messages, message, names);
    }
    let wire = ChatRequest {
        model,
        messages,
        tools: tools.to_vec(),
        max_completion_tokens: max_tokens,
        temperature: request.temperature,
        stream,
        stream_options: stream.then_some(StreamOptions {
            include_usage: true,
        }),
    };
    serde_json::to_vec(&wire).map_err(|e| {
        Error::new(ErrorKind::InvalidRequest, "cannot encode the request").with_source(e)
    })
}

fn push_message<'a>(out: &mut Vec<WireMessage<'a>>, message: &'a Message, names: &'a NameMap) {
    match message.role {
        Role::System => out.push(WireMessage::System {
            content: Cow::Owned(message.text()),
        }),
        Role::Assistant => {
            let text = message.text();
            let tool_calls: Vec<WireCall<'a>> = message
                .tool_calls()
                .map(|call| WireCall {
                    id: &call.id,
                    kind: "function",
                    function: WireFunction {
                        name: names.to_wire(&call.name),
                        arguments: if call.arguments.trim().is_empty() {
                            "{}"
                        } else {
                            &call.arguments
                        },
                    },
                })
                .collect();
            out.push(WireMessage::Assistant {
                content: (!text.is_empty()).then_some(Cow::Owned(text)),
                tool_calls,
            });
        }
        _ => push_user_or_tool(out, message),
    }
}

/// Tool results become one `tool` message each; text becomes a user message.
fn push_user_or_tool<'a>(out: &mut Vec<WireMessage<'a>>, message: &'a Message) {
    for content in &message.content {
        if let Content::ToolResult(result) = content {
            out.push(WireMessage::Tool {
                tool_call_id: &result.call_id,
                content: result.content(),
            });
        }
    }
    let text = message.text();
    if !text.is_empty() {
        out.push(WireMessage::User {
            content: Cow::Owned(text),
        });
    }
}

/// A tool in OpenAI's form; with `strict`, the schema is tightened as
/// strict mode requires.
pub(super) fn tool(spec: &ToolSpec, wire_name: &str, strict: bool) -> Result<Box<RawValue>, Error> {
    let mut schema = spec.parameters().clone();
    if let Value::Object(map) = &mut schema {
        map.remove("$schema");
        map.entry("type").or_insert_with(|| Value::from("object"));
    }
    if strict {
        make_strict(&mut schema);
    }
    json::to_raw(&WireTool {
        kind: "function",
        function: ToolFunction {
            name: wire_name,
            description: spec.description(),
            parameters: schema,
            strict,
        },
    })
}

/// Strict mode: every object closed (`additionalProperties: false`) with
/// every property required; properties that were optional become nullable.
pub(super) fn make_strict(schema: &mut Value) {
    let Value::Object(map) = schema else { return };
    if map.get("properties").is_some_and(Value::is_object) {
        let required = map_required(map);
        let mut all = Vec::new();
        if let Some(Value::Object(props)) = map.get_mut("properties") {
            for (name, prop) in props.iter_mut() {
                make_strict(prop);
                if !required.contains(name) {
                    make_nullable(prop);
                }
                all.push(Value::from(name.as_str()));
            }
        }
        map.insert("required".into(), Value::Array(all));
        map.insert("additionalProperties".into(), Value::Bool(false));
    } else if map.get("type").and_then(Value::as_str) == Some("object") {
        map.insert("additionalProperties".into(), Value::Bool(false));
        map.entry("properties")
            .or_insert_with(|| Value::Object(Map::new()));
        map.entry("required")
            .or_insert_with(|| Value::Array(Vec::new()));
    }
    for key in ["items", "additionalItems"] {
        if let Some(child) = map.get_mut(key) {
            make_strict(child);
        }
    }
    for key in ["anyOf", "oneOf", "allOf", "prefixItems"] {
        if let Some(Value::Array(children)) = map.get_mut(key) {
            children.iter_mut().for_each(make_strict);
        }
    }
    for key in ["$defs", "definitions"] {
        if let Some(Value::Object(defs)) = map.get_mut(key) {
            defs.values_mut().for_each(make_strict);
        }
    }
}

fn map_required(map: &Map<String, Value>) -> Vec<String> {
    map.get("required")
        .and_then(Value::as_array)
        .map(|r| {
            r.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn make_nullable(prop: &mut Value) {
    let Value::Object(map) = prop else { return };
    match map.get_mut("type") {
        Some(Value::String(t)) if t != "null" => {
            let t = std::mem::take(t);
            map.insert("type".into(), Value::from(vec![t, "null".to_owned()]));
        }
        Some(Value::Array(types)) if !types.iter().any(|t| t == "null") => {
            types.push(Value::from("null"));
        }
        Some(_) => {}
        None => {
            let inner = std::mem::take(map);
            let null = serde_json::json!({ "type": "null" });
            map.insert(
                "anyOf".into(),
                Value::from(vec![Value::Object(inner), null]),
            );
        }
    }
}
