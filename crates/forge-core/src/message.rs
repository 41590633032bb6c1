//! Conversation messages and their content parts.

use serde::{Deserialize, Serialize};

use crate::tool::{ToolCall, ToolResult};

/// Who speaks a [`Message`].
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Instructions for the model.
    System,
    /// The user's turn.
    User,
    /// The model's turn: text, thinking and tool calls.
    Assistant,
    /// The results of the previous assistant turn's tool calls.
    Tool,
}

/// One turn of a conversation.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Who speaks.
    pub role: Role,
    /// What is said, in order.
    pub content: Vec<Content>,
}

impl Message {
    /// A system message with one text part.
    pub fn system(text: impl Into<String>) -> Self {
        Self::new(Role::System, vec![Content::text(text)])
    }

    /// A user message with one text part.
    pub fn user(text: impl Into<String>) -> Self {
        Self::new(Role::User, vec![Content::text(text)])
    }

    /// An assistant message made of `content`.
    pub fn assistant(content: Vec<Content>) -> Self {
        Self::new(Role::Assistant, content)
    }

    /// A message carrying tool results, one per call of the previous turn.
    pub fn tool_results(results: impl IntoIterator<Item = ToolResult>) -> Self {
        let content = results.into_iter().map(Content::ToolResult).collect();
        Self::new(Role::Tool, content)
    }

    /// A message of any role.
    pub fn new(role: Role, content: Vec<Content>) -> Self {
        Self { role, content }
    }

    /// The concatenated text parts of this message.
    pub fn text(&self) -> String {
        self.content
            .iter()
            .filter_map(|c| match c {
                Content::Text(t) => Some(t.text.as_str()),
                _ => None,
            })
            .collect()
    }

    /// The tool calls in this message, in order.
    pub fn tool_calls(&self) -> impl Iterator<Item = &ToolCall> {
        self.content.iter().filter_map(|c| match c {
            Content::ToolCall(call) => Some(call),
            _ => None,
        })
    }
}

/// A part of a [`Message`].
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Content {
    /// Text.
    Text(Text),
    /// A request from the model to run a tool.
    ToolCall(ToolCall),
    /// The answer to a tool call.
    ToolResult(ToolResult),
    /// The model's reasoning, with its opaque signature.
    Thinking(Thinking),
}

impl Content {
    /// A text part without a signature.
    pub fn text(text: impl Into<String>) -> Self {
        Self::Text(Text::new(text))
    }
}

/// A text part.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Text {
    /// The text.
    pub text: String,
    /// An opaque provider signature attached to this part (Gemini's
    /// `thoughtSignature`), sent back unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

impl Text {
    /// A text part without a signature.
    pub fn new(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            signature: None,
        }
    }

    /// Attaches an opaque provider signature.
    #[must_use]
    pub fn with_signature(mut self, signature: impl Into<String>) -> Self {
        self.signature = Some(signature.into());
        self
    }
}

/// The model's visible reasoning and the signature that authenticates it.
///
/// Providers require thinking blocks to be sent back byte for byte, so the
/// text and signature are kept exactly as received. A redacted block has empty
/// `text` and its payload in `redacted`.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Thinking {
    /// The reasoning text.
    pub text: String,
    /// The opaque signature, if the provider sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// Encrypted reasoning (Anthropic `redacted_thinking.data`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redacted: Option<String>,
}

impl Thinking {
    /// A thinking block with text and an optional signature.
    pub fn new(text: impl Into<String>, signature: Option<String>) -> Self {
        Self {
            text: text.into(),
            signature,
            redacted: None,
        }
    }

    /// A redacted thinking block carrying only its encrypted payload.
    pub fn redacted(data: impl Into<String>) -> Self {
        Self {
            text: String::new(),
            signature: None,
            redacted: Some(data.into()),
        }
    }
}
