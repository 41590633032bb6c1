//! Mapping a [`ModelRequest`] onto a Gemini `generateContent` request.

use std::{borrow::Cow, collections::HashMap};

use forge_core::{Content, Error, ErrorKind, Message, ModelRequest, Role, ToolSpec};
use serde::Serialize;
use serde_json::value::RawValue;

use super::{
    schema,
    wire::{
        GenerateRequest, GenerationConfig, SystemInstruction, TextPart, ToolGroup, WireCall,
        WireContent, WireFunctionResponse, WirePart,
    },
};
use crate::provider::{NameMap, history, json};

/// The JSON body of a request.
pub(super) fn body(
    request: &ModelRequest,
    max_tokens: u32,
    tools: &[&RawValue],
    names: &NameMap,
) -> Result<Vec<u8>, Error> {
    let history = history::answer_every_call(&request.messages);
    let call_names: HashMap<&str, &str> = history
        .iter()
        .flat_map(Message::tool_calls)
        .map(|c| (c.id.as_str(), c.name.as_str()))
        .collect();
    let mut contents: Vec<WireContent<'_>> = Vec::with_capacity(history.len());
    for message in history.iter() {
        let role = match message.role {
            Role::System => continue,
            Role::Assistant => "model",
            _ => "user",
        };
        let parts = message
            .content
            .iter()
            .filter_map(|c| part(c, names, &call_names));
        match contents.last_mut() {
            Some(last) if last.role == role => last.parts.extend(parts),
            _ => contents.push(WireContent {
                role,
                parts: parts.collect(),
            }),
        }
    }
    let wire = GenerateRequest {
        contents,
        system_instruction: system(request),
        tools: if tools.is_empty() {
            Vec::new()
        } else {
            vec![ToolGroup {
                function_declarations: tools.to_vec(),
            }]
        },
        generation_config: GenerationConfig {
            max_output_tokens: max_tokens,
            temperature: request.temperature,
        },
    };
    serde_json::to_vec(&wire).map_err(|e| {
        Error::new(ErrorKind::InvalidRequest, "cannot encode the request").with_source(e)
    })
}

fn system(request: &ModelRequest) -> Option<SystemInstruction<'_>> {
    let extra = request.messages.iter().filter(|m| m.role == Role::System);
    let mut texts: Vec<Cow<'_, str>> = request
        .system
        .as_deref()
        .map(Cow::Borrowed)
        .into_iter()
        .collect();
    texts.extend(extra.map(|m| Cow::Owned(m.text())));
    let text = match texts.len() {
        0 => return None,
        1 => texts.pop()?,
        _ => Cow::Owned(texts.join("\n\n")),
    };
    Some(SystemInstruction {
        parts: [TextPart { text }],
    })
}

fn part<'a>(
    content: &'a Content,
    names: &'a NameMap,
    call_names: &HashMap<&str, &'a str>,
) -> Option<WirePart<'a>> {
    Some(match content {
        Content::Text(t) if t.text.is_empty() && t.signature.is_none() => return None,
        Content::Text(t) => WirePart {
            text: Some(&t.text),
            thought_signature: t.signature.as_deref(),
            ..WirePart::default()
        },
        Content::Thinking(t) if t.redacted.is_some() => return None,
        Content::Thinking(t) => WirePart {
            text: Some(&t.text),
            thought: true,
            thought_signature: t.signature.as_deref(),
            ..WirePart::default()
        },
        Content::ToolCall(call) => WirePart {
            function_call: Some(WireCall {
                id: &call.id,
                name: names.to_wire(&call.name),
                args: json::arguments_object(&call.arguments),
            }),
            thought_signature: call.signature.as_deref(),
            ..WirePart::default()
        },
        Content::ToolResult(result) => {
            let tool = call_names
                .get(result.call_id.as_str())
                .copied()
                .unwrap_or(&result.name);
            WirePart {
                function_response: Some(WireFunctionResponse {
                    id: &result.call_id,
                    name: names.to_wire(tool),
                    response: response_object(result.content(), result.is_error()),
                }),
                ..WirePart::default()
            }
        }
        _ => return None,
    })
}

/// `functionResponse.response` must be an object: failures become
/// `{"error": message}`, scalars `{"result": value}`.
fn response_object(content: &str, is_error: bool) -> Cow<'_, RawValue> {
    if !is_error {
        return json::result_object(content);
    }
    let wrapped = serde_json::json!({ "error": content }).to_string();
    Cow::Owned(RawValue::from_string(wrapped).unwrap_or_else(|_| json::empty_object()))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Declaration<'a> {
    name: &'a str,
    description: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    parameters: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parameters_json_schema: Option<serde_json::Value>,
}

/// A function declaration, with `parameters` in the OpenAPI subset or, when
/// `json_schema` is set, the schema whole as `parametersJsonSchema`.
pub(super) fn tool(
    spec: &ToolSpec,
    wire_name: &str,
    json_schema: bool,
) -> Result<Box<RawValue>, Error> {
    let mut declaration = Declaration {
        name: wire_name,
        description: spec.description(),
        parameters: None,
        parameters_json_schema: None,
    };
    if json_schema {
        let mut schema = spec.parameters().clone();
        if let serde_json::Value::Object(map) = &mut schema {
            map.remove("$schema");
        }
        declaration.parameters_json_schema = Some(schema);
    } else {
        let converted = schema::to_openapi(spec.parameters());
        declaration.parameters = (!schema::is_empty_object(&converted)).then_some(converted);
    }
    json::to_raw(&declaration)
}

/// Gemini's rule: letters, digits, `_ . : -`, starting with a letter or
/// underscore, at most 64 characters.
pub(super) fn gemini_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_');
    first_ok
        && name.len() <= 64
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'))
}
