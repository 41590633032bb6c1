//! The script policy: per-conversation turns read from JSON lines.

use std::{collections::HashMap, path::Path};

use serde::Deserialize;
use serde_json::Value;

use crate::{
    Error, FaultKind,
    convo::{Args, PlannedCall},
};

/// Scripted model turns, keyed by conversation id.
///
/// A conversation is named by the `x-forge-conversation-id` request header.
/// Its turn index is the number of assistant (model) turns already in the
/// request, so turn 0 answers the first user message, turn 1 answers the
/// first tool results, and so on. Retries of a request replay the same turn.
/// A request without the header, a conversation without a script, or a turn
/// the script does not cover falls back to the default policy (see the crate
/// docs).
///
/// # JSON-lines format
///
/// One JSON object per line; blank lines and lines starting with `#` or `//`
/// are ignored:
///
/// ```text
/// {"conversation":"c1","turn":0,"text":"Let me check.","calls":[{"name":"get_weather","arguments":{"city":"Paris"}}]}
/// {"conversation":"c1","turn":1,"text":"It is sunny in Paris."}
/// {"conversation":"c2","calls":[{"name":"add","arguments":{"a":"two","b":3}},{"name":"clock"}]}
/// {"conversation":"c2","calls":[{"name":"add","arguments":"{\"a\": 2,"}],"stop":"max_tokens"}
/// {"conversation":"c3","faults":["rate_limited","server_error"],"text":"Third time lucky."}
/// {"conversation":"c4","thinking":"The user wants a sum.","calls":[{"name":"add","arguments":{"a":1,"b":2}}]}
/// ```
///
/// - `conversation` (required): the conversation id.
/// - `turn`: the turn index; when absent, the turn after the previous line
///   of the same conversation (0 for its first line).
/// - `thinking`: reasoning shown before the text: an Anthropic `thinking`
///   block with a `signature` (which must come back unchanged, or the next
///   request gets a 400) or a Gemini part with `"thought": true`; OpenAI
///   Chat Completions does not carry it.
/// - `text`: text the model says; with `calls`, it comes before them.
/// - `calls`: tool calls to emit, in parallel when several. `name` is the
///   tool name as it travels on the wire; `arguments` may be any JSON value:
///   an object is sent as the call's arguments (wrong types included), a
///   string is sent verbatim as the raw argument text (so it may be invalid
///   JSON), and an absent value means `{}`. `id` optionally fixes the call id
///   (ignored by Gemini, whose calls carry no id).
/// - `fault` / `faults`: a [`FaultKind`] name, or a list of them, for the
///   successive attempts of this turn: attempt `n` fails with `faults[n]`;
///   later attempts succeed. Scripted faults replace the seeded ones.
/// - `stop`: `"max_tokens"` cuts the last call's arguments in half and
///   reports the max-tokens stop reason (`max_tokens`, `length`,
///   `MAX_TOKENS`).
///
/// Where a wire format cannot carry raw argument text (Anthropic and Gemini
/// non-streaming responses carry an object), raw text that parses as JSON is
/// sent parsed, and other raw text is sent as a JSON string in place of the
/// object.
#[derive(Debug, Clone, Default)]
pub struct Script {
    conversations: HashMap<String, Vec<Option<ScriptTurn>>>,
}

/// One scripted model turn.
///
/// ```
/// use forge_emulator::{Script, ScriptTurn};
/// use serde_json::json;
///
/// let mut script = Script::new();
/// script.push("c1", ScriptTurn::new().call("add", json!({"a": 1, "b": 2})));
/// script.push("c1", ScriptTurn::new().text("The sum is 3."));
/// assert_eq!(script.turns("c1"), 2);
/// ```
#[derive(Debug, Clone, Default)]
pub struct ScriptTurn {
    pub(crate) thinking: Option<String>,
    pub(crate) text: Option<String>,
    pub(crate) calls: Vec<PlannedCall>,
    pub(crate) faults: Vec<FaultKind>,
    pub(crate) max_tokens: bool,
}

impl ScriptTurn {
    /// An empty turn (which answers with the default policy unless given text
    /// or calls).
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the text the model says.
    pub fn text(mut self, text: impl Into<String>) -> Self {
        self.text = Some(text.into());
        self
    }

    /// Sets reasoning the model shows before its answer: an Anthropic
    /// `thinking` block (streamed as `thinking_delta`s and a
    /// `signature_delta`) or a Gemini `thought` part. OpenAI Chat Completions
    /// does not carry it.
    pub fn thinking(mut self, thinking: impl Into<String>) -> Self {
        self.thinking = Some(thinking.into());
        self
    }

    /// Adds a tool call whose arguments are this JSON value.
    pub fn call(mut self, name: impl Into<String>, arguments: Value) -> Self {
        self.calls
            .push(PlannedCall::new(name.into(), Args::Json(arguments)));
        self
    }

    /// Adds a tool call whose argument text is sent verbatim.
    pub fn raw_call(mut self, name: impl Into<String>, arguments: impl Into<String>) -> Self {
        let args = Args::Raw(arguments.into());
        self.calls.push(PlannedCall::new(name.into(), args));
        self
    }

    /// Adds a fault for the next attempt of this turn.
    pub fn fault(mut self, kind: FaultKind) -> Self {
        self.faults.push(kind);
        self
    }

    /// Ends the turn at the token limit, cutting the last call's arguments.
    pub fn stop_at_max_tokens(mut self) -> Self {
        self.max_tokens = true;
        self
    }

    /// Whether the turn says or calls anything itself.
    pub(crate) fn has_content(&self) -> bool {
        self.text.is_some() || self.thinking.is_some() || !self.calls.is_empty()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    conversation: String,
    turn: Option<usize>,
    thinking: Option<String>,
    text: Option<String>,
    #[serde(default)]
    calls: Vec<LineCall>,
    fault: Option<String>,
    #[serde(default)]
    faults: Vec<String>,
    stop: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LineCall {
    name: String,
    arguments: Option<Value>,
    id: Option<String>,
}

impl Script {
    /// An empty script.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses the JSON-lines format.
    ///
    /// # Errors
    ///
    /// A config error naming the line when a line is not a valid turn.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let mut script = Self::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with("//") {
                continue;
            }
            script
                .parse_line(line)
                .map_err(|error| Error::config(format!("script line {}: {error}", index + 1)))?;
        }
        Ok(script)
    }

    /// Reads and parses a JSON-lines file (blocking).
    ///
    /// # Errors
    ///
    /// An I/O error when the file cannot be read; a config error when a line
    /// is invalid.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|error| Error::io(format!("cannot read script {}", path.display()), error))?;
        Self::parse(&text)
    }

    /// Appends a turn after the conversation's last scripted turn.
    pub fn push(&mut self, conversation: impl Into<String>, turn: ScriptTurn) -> &mut Self {
        self.conversations
            .entry(conversation.into())
            .or_default()
            .push(Some(turn));
        self
    }

    /// Sets the turn at `index`, leaving earlier unscripted turns to the
    /// default policy.
    pub fn insert(&mut self, conversation: impl Into<String>, index: usize, turn: ScriptTurn) {
        let turns = self.conversations.entry(conversation.into()).or_default();
        if turns.len() <= index {
            turns.resize(index + 1, None);
        }
        turns[index] = Some(turn);
    }

    /// Adds every turn of `other`, replacing turns scripted in both.
    pub fn merge(&mut self, other: Script) {
        for (conversation, turns) in other.conversations {
            for (index, turn) in turns.into_iter().enumerate() {
                if let Some(turn) = turn {
                    self.insert(conversation.clone(), index, turn);
                }
            }
        }
    }

    /// The number of turn slots scripted for a conversation.
    pub fn turns(&self, conversation: &str) -> usize {
        self.conversations.get(conversation).map_or(0, Vec::len)
    }

    /// The number of scripted conversations.
    pub fn len(&self) -> usize {
        self.conversations.len()
    }

    /// Whether no conversation is scripted.
    pub fn is_empty(&self) -> bool {
        self.conversations.is_empty()
    }

    pub(crate) fn turn(&self, conversation: &str, index: usize) -> Option<&ScriptTurn> {
        self.conversations.get(conversation)?.get(index)?.as_ref()
    }

    fn parse_line(&mut self, line: &str) -> Result<(), String> {
        let line: Line = serde_json::from_str(line).map_err(|error| error.to_string())?;
        let mut turn = ScriptTurn {
            thinking: line.thinking,
            text: line.text,
            ..ScriptTurn::default()
        };
        for call in line.calls {
            let args = match call.arguments {
                None => Args::Json(Value::Object(Default::default())),
                Some(Value::String(raw)) => Args::Raw(raw),
                Some(value) => Args::Json(value),
            };
            let mut planned = PlannedCall::new(call.name, args);
            planned.id = call.id;
            turn.calls.push(planned);
        }
        for name in line.fault.iter().chain(&line.faults) {
            turn.faults
                .push(name.parse().map_err(|error: Error| error.to_string())?);
        }
        match line.stop.as_deref() {
            None | Some("end_turn") => {}
            Some("max_tokens") => turn.max_tokens = true,
            Some(other) => return Err(format!("unknown stop `{other}`")),
        }
        match line.turn {
            Some(index) => self.insert(line.conversation, index, turn),
            None => {
                self.push(line.conversation, turn);
            }
        }
        Ok(())
    }
}
