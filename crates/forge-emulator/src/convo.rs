//! The dialect-neutral view of a request and of the reply to it.
//!
//! Each dialect module parses its wire request into a [`Conversation`] and
//! renders a [`Reply`] back into its own wire format; the policies in between
//! see only these types.

use serde_json::Value;

/// A tool offered in the request.
#[derive(Debug, Clone)]
pub(crate) struct ToolDef {
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) schema: Value,
}

/// One tool result in the request's last turn.
#[derive(Debug, Clone)]
pub(crate) struct ToolOutput {
    pub(crate) name: String,
    pub(crate) content: String,
    pub(crate) is_error: bool,
}

/// What the policies need from a request.
#[derive(Debug, Clone, Default)]
pub(crate) struct Conversation {
    pub(crate) model: String,
    pub(crate) stream: bool,
    pub(crate) tools: Vec<ToolDef>,
    /// The text of the last user message that was not only tool results.
    pub(crate) user_text: String,
    /// The tool results, when the last message holds them.
    pub(crate) results: Vec<ToolOutput>,
    /// The number of assistant turns in the request: this reply's index.
    pub(crate) turn: usize,
    pub(crate) max_tokens: Option<u64>,
    pub(crate) input_tokens: u64,
    /// OpenAI `stream_options.include_usage`.
    pub(crate) include_usage: bool,
}

/// A call's arguments: a JSON value, or raw text sent verbatim.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Args {
    Json(Value),
    Raw(String),
}

impl Args {
    /// The argument text as it travels in a string (OpenAI, Anthropic deltas).
    pub(crate) fn to_text(&self) -> String {
        match self {
            Self::Json(value) => value.to_string(),
            Self::Raw(raw) => raw.clone(),
        }
    }

    /// The arguments as a JSON value, for formats that carry an object.
    pub(crate) fn to_value(&self) -> Value {
        match self {
            Self::Json(value) => value.clone(),
            Self::Raw(raw) => {
                serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.clone()))
            }
        }
    }
}

/// A tool call to emit.
#[derive(Debug, Clone)]
pub(crate) struct PlannedCall {
    pub(crate) name: String,
    pub(crate) args: Args,
    pub(crate) id: Option<String>,
}

impl PlannedCall {
    pub(crate) fn new(name: String, args: Args) -> Self {
        Self {
            name,
            args,
            id: None,
        }
    }
}

/// The model's answer, before rendering.
#[derive(Debug, Clone, Default)]
pub(crate) struct Reply {
    /// Reasoning shown before the answer (Anthropic thinking block, Gemini
    /// thought part); OpenAI Chat Completions does not carry it.
    pub(crate) thinking: Option<String>,
    pub(crate) text: String,
    pub(crate) calls: Vec<PlannedCall>,
    /// The answer hit the token limit.
    pub(crate) max_tokens: bool,
    /// The safety filter blocked the exchange (`content_filtered` fault).
    pub(crate) refused: bool,
}

impl Reply {
    /// The number of output tokens: one per word piece plus argument text / 4.
    pub(crate) fn output_tokens(&self) -> u64 {
        let thinking = self.thinking.as_deref().map_or(0, |t| text_pieces(t).len());
        let words = (text_pieces(&self.text).len() + thinking) as u64;
        let args: usize = self.calls.iter().map(|c| c.args.to_text().len()).sum();
        if self.refused {
            return 0;
        }
        (words + (args as u64).div_ceil(4)).max(1)
    }
}

/// The signature of a thinking block: derived from its text, so that a
/// client that alters either is caught when it sends the block back.
pub(crate) fn thinking_signature(thinking: &str) -> String {
    let mut rng = crate::rng::Rng::new(crate::rng::hash(thinking.as_bytes()));
    format!("EqQBCkYIBxgCKkA{}", rng.token(64))
}

/// Splits text into streaming pieces: each word with the whitespace after it.
pub(crate) fn text_pieces(text: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut in_space = false;
    for (index, ch) in text.char_indices() {
        if ch.is_whitespace() {
            in_space = true;
        } else if in_space {
            pieces.push(&text[start..index]);
            start = index;
            in_space = false;
        }
    }
    if start < text.len() {
        pieces.push(&text[start..]);
    }
    pieces
}
