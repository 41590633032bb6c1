//! Anthropic Messages wire types, request and response, borrowed where possible.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// The request body.
#[derive(Debug, Serialize)]
pub(super) struct MessagesRequest<'a> {
    pub(super) model: &'a str,
    pub(super) max_tokens: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) system: Option<Cow<'a, str>>,
    pub(super) messages: Vec<WireMessage<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) tools: Vec<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) temperature: Option<f32>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(super) stream: bool,
}

#[derive(Debug, Serialize)]
pub(super) struct WireMessage<'a> {
    pub(super) role: &'static str,
    pub(super) content: Vec<Block<'a>>,
}

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum Block<'a> {
    Text {
        text: &'a str,
    },
    ToolUse {
        id: &'a str,
        name: Cow<'a, str>,
        input: Cow<'a, RawValue>,
    },
    ToolResult {
        tool_use_id: &'a str,
        content: &'a str,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        is_error: bool,
    },
    Thinking {
        thinking: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        signature: Option<&'a str>,
    },
    RedactedThinking {
        data: &'a str,
    },
}

/// A tool definition.
#[derive(Debug, Serialize)]
pub(super) struct WireTool<'a> {
    pub(super) name: &'a str,
    pub(super) description: &'a str,
    pub(super) input_schema: serde_json::Value,
}

/// A whole (non-streamed) response.
#[derive(Debug, Deserialize)]
pub(super) struct MessagesResponse<'a> {
    #[serde(default, borrow)]
    pub(super) id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(super) model: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(super) content: Vec<ResponseBlock<'a>>,
    #[serde(default, borrow)]
    pub(super) stop_reason: Option<Cow<'a, str>>,
    #[serde(default)]
    pub(super) usage: WireUsage,
    /// `{"type":"error","error":{…}}` sent with HTTP 200.
    #[serde(default, borrow)]
    pub(super) error: Option<ErrorBody<'a>>,
}

/// A content block of a whole response. A flat struct rather than a
/// tagged enum: serde buffers tagged enums, and `input` is kept raw.
#[derive(Debug, Deserialize)]
pub(super) struct ResponseBlock<'a> {
    #[serde(rename = "type", borrow)]
    pub(super) kind: Cow<'a, str>,
    #[serde(default, borrow)]
    pub(super) text: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(super) id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(super) name: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(super) input: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub(super) thinking: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(super) signature: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(super) data: Option<Cow<'a, str>>,
}

/// Token counts; every field optional, since deltas carry only some.
#[derive(Debug, Default, Clone, Copy, Deserialize)]
pub(super) struct WireUsage {
    pub(super) input_tokens: Option<u64>,
    pub(super) output_tokens: Option<u64>,
    pub(super) cache_read_input_tokens: Option<u64>,
    pub(super) cache_creation_input_tokens: Option<u64>,
}

/// One streamed event's data, as the assembly reads it.
#[derive(Debug)]
pub(super) enum StreamData<'a> {
    MessageStart {
        message: StartMessage<'a>,
    },
    ContentBlockStart {
        index: usize,
        content_block: StartBlock<'a>,
    },
    ContentBlockDelta {
        index: usize,
        delta: ContentDelta<'a>,
    },
    ContentBlockStop {
        index: usize,
    },
    MessageDelta {
        delta: MessageDeltaBody<'a>,
        usage: WireUsage,
    },
    MessageStop,
    Ping,
    Error {
        error: ErrorBody<'a>,
    },
    Unknown,
}

/// An event as it is parsed: one flat struct with every field any event
/// type has. serde would buffer an internally tagged enum (each event read
/// into generic content, then again into its variant); this reads once and
/// allocates nothing but escaped strings.
#[derive(Debug, Deserialize)]
pub(super) struct Frame<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default)]
    index: Option<usize>,
    #[serde(default, borrow)]
    message: Option<StartMessage<'a>>,
    #[serde(default, borrow)]
    content_block: Option<FlatBlock<'a>>,
    #[serde(default, borrow)]
    delta: Option<FlatDelta<'a>>,
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(default, borrow)]
    error: Option<ErrorBody<'a>>,
}

#[derive(Debug, Deserialize)]
struct FlatBlock<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow)]
    text: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    thinking: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    data: Option<Cow<'a, str>>,
}

#[derive(Debug, Deserialize)]
struct FlatDelta<'a> {
    #[serde(rename = "type", default, borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    text: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    partial_json: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    thinking: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    signature: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    stop_reason: Option<Cow<'a, str>>,
}

/// Only an event's `type`, to recognise a future event whose other fields
/// do not fit [`Frame`].
#[derive(Debug, Deserialize)]
pub(super) struct FrameType<'a> {
    #[serde(rename = "type", borrow)]
    pub(super) kind: Cow<'a, str>,
}

impl FrameType<'_> {
    /// Whether the assembly reads this event type (others are ignored).
    pub(super) fn is_known(&self) -> bool {
        matches!(
            self.kind.as_ref(),
            "message_start"
                | "content_block_start"
                | "content_block_delta"
                | "content_block_stop"
                | "message_delta"
                | "message_stop"
                | "ping"
                | "error"
        )
    }
}

impl<'a> Frame<'a> {
    /// The typed event, or `None` when a field its type requires is missing.
    pub(super) fn into_data(self) -> Option<StreamData<'a>> {
        Some(match self.kind.as_ref() {
            "message_start" => StreamData::MessageStart {
                message: self.message?,
            },
            "content_block_start" => StreamData::ContentBlockStart {
                index: self.index?,
                content_block: self.content_block?.into_start(),
            },
            "content_block_delta" => StreamData::ContentBlockDelta {
                index: self.index?,
                delta: self.delta?.into_content(),
            },
            "content_block_stop" => StreamData::ContentBlockStop { index: self.index? },
            "message_delta" => StreamData::MessageDelta {
                delta: MessageDeltaBody {
                    stop_reason: self.delta.and_then(|d| d.stop_reason),
                },
                usage: self.usage.unwrap_or_default(),
            },
            "message_stop" => StreamData::MessageStop,
            "ping" => StreamData::Ping,
            "error" => StreamData::Error { error: self.error? },
            _ => StreamData::Unknown,
        })
    }
}

impl<'a> FlatBlock<'a> {
    fn into_start(self) -> StartBlock<'a> {
        let text = |v: Option<Cow<'a, str>>| v.unwrap_or_default();
        match self.kind.as_ref() {
            "text" => StartBlock::Text {
                text: text(self.text),
            },
            "tool_use" => StartBlock::ToolUse {
                id: text(self.id),
                name: text(self.name),
            },
            "thinking" => StartBlock::Thinking {
                thinking: text(self.thinking),
            },
            "redacted_thinking" => StartBlock::RedactedThinking {
                data: text(self.data),
            },
            _ => StartBlock::Unknown,
        }
    }
}

impl<'a> FlatDelta<'a> {
    fn into_content(self) -> ContentDelta<'a> {
        let text = |v: Option<Cow<'a, str>>| v.unwrap_or_default();
        match self.kind.as_deref().unwrap_or_default() {
            "text_delta" => ContentDelta::TextDelta {
                text: text(self.text),
            },
            "input_json_delta" => ContentDelta::InputJsonDelta {
                partial_json: text(self.partial_json),
            },
            "thinking_delta" => ContentDelta::ThinkingDelta {
                thinking: text(self.thinking),
            },
            "signature_delta" => ContentDelta::SignatureDelta {
                signature: text(self.signature),
            },
            _ => ContentDelta::Unknown,
        }
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct StartMessage<'a> {
    #[serde(default, borrow)]
    pub(super) id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(super) model: Option<Cow<'a, str>>,
    #[serde(default)]
    pub(super) usage: WireUsage,
}

#[derive(Debug)]
pub(super) enum StartBlock<'a> {
    Text {
        text: Cow<'a, str>,
    },
    ToolUse {
        id: Cow<'a, str>,
        name: Cow<'a, str>,
    },
    Thinking {
        thinking: Cow<'a, str>,
    },
    RedactedThinking {
        data: Cow<'a, str>,
    },
    Unknown,
}

#[derive(Debug)]
pub(super) enum ContentDelta<'a> {
    TextDelta { text: Cow<'a, str> },
    InputJsonDelta { partial_json: Cow<'a, str> },
    ThinkingDelta { thinking: Cow<'a, str> },
    SignatureDelta { signature: Cow<'a, str> },
    Unknown,
}

#[derive(Debug)]
pub(super) struct MessageDeltaBody<'a> {
    pub(super) stop_reason: Option<Cow<'a, str>>,
}

/// `{"type":"error","error":{"type":…,"message":…}}`, also the HTTP error body.
#[derive(Debug, Deserialize)]
pub(super) struct ErrorEnvelope<'a> {
    #[serde(borrow)]
    pub(super) error: ErrorBody<'a>,
}

#[derive(Debug, Deserialize)]
pub(super) struct ErrorBody<'a> {
    #[serde(rename = "type", default, borrow)]
    pub(super) kind: Cow<'a, str>,
    #[serde(default, borrow)]
    pub(super) message: Cow<'a, str>,
}
