//! Conversation content (prompts, answers, tool payloads) as `tracing`
//! events on the [`TARGET`] target, for telemetry that opts in.
//!
//! Implementation details: every event is emitted at TRACE level on the
//! `forge::content` target, with fields named after the OpenTelemetry GenAI
//! content attributes. Nothing is serialised unless a subscriber enables that
//! target ([`enabled`], one cached callsite check otherwise), so the agent
//! loop costs the same with capture off as without it. forge-telemetry turns
//! the events into attributes of the enclosing span and drops them while
//! content capture is off.
//!
//! The tool events are emitted inside the `execute_tool` span. The chat
//! events cannot be: forge-providers owns the `chat` span and never enters it
//! while the agent holds the stream. They are emitted inside `invoke_agent`
//! with `gen_ai.operation.name = "chat"`, while that model call's `chat`
//! span is open (after its first stream item, and on its `Finish` event), so
//! that a subscriber can attach them to the open `chat` child.
//!
//! The messages follow the conventions' JSON message schema (`role`,
//! `parts` of type `text`, `reasoning`, `tool_call` and `tool_call_response`,
//! `finish_reason` on output messages) with one simplification: tool call
//! arguments and tool responses are JSON strings holding the exact text the
//! model sent or the tool returned, not parsed values, so malformed
//! arguments still make a valid document.

use forge_core::{
    Content, Message, ModelResponse, ResponseBuilder, Role, StreamEvent, ToolCall, ToolResult,
};
use tracing::Level;

/// The target of every content event.
pub(crate) const TARGET: &str = "forge::content";

/// Whether any subscriber wants content events; when `false`, nothing is
/// serialised.
pub(crate) fn enabled() -> bool {
    tracing::enabled!(target: TARGET, Level::TRACE)
}

/// Follows one model call for content capture: inert (no copies, no
/// serialisation) when no subscriber wants content.
pub(crate) struct ChatContent {
    /// A copy of the response so far, kept only while capturing.
    mirror: Option<ResponseBuilder>,
    input_sent: bool,
}

impl ChatContent {
    pub(crate) fn start() -> Self {
        Self {
            mirror: enabled().then(ResponseBuilder::default),
            input_sent: false,
        }
    }

    /// Called with every stream item (`None` for an error) while the call's
    /// `chat` span is still open: the first item sends the input, `Finish`
    /// the output.
    pub(crate) fn observe(
        &mut self,
        event: Option<&StreamEvent>,
        system: Option<&str>,
        messages: &[Message],
    ) {
        let Some(mirror) = self.mirror.as_mut() else {
            return;
        };
        if !self.input_sent {
            self.input_sent = true;
            chat_input(system, messages);
        }
        let Some(event) = event else { return };
        let finished = matches!(event, StreamEvent::Finish { .. });
        mirror.push(event.clone());
        if finished && let Some(response) = self.mirror.take().and_then(ResponseBuilder::finish) {
            chat_output(&response);
        }
    }
}

/// The request side of a model call: its messages and system instructions.
pub(crate) fn chat_input(system: Option<&str>, messages: &[Message]) {
    if !enabled() {
        return;
    }
    let input = messages_json(messages);
    let system = system.map(system_json);
    tracing::event!(
        target: TARGET,
        Level::TRACE,
        gen_ai.operation.name = "chat",
        gen_ai.input.messages = input.as_str(),
        gen_ai.system_instructions = system.as_deref(),
        "chat input"
    );
}

/// The answer of a model call.
pub(crate) fn chat_output(response: &ModelResponse) {
    if !enabled() {
        return;
    }
    let mut output = String::from("[{\"role\":\"assistant\",\"parts\":");
    parts_json(&mut output, &response.content);
    output.push_str(",\"finish_reason\":");
    string(&mut output, response.stop_reason.as_str());
    output.push_str("}]");
    tracing::event!(
        target: TARGET,
        Level::TRACE,
        gen_ai.operation.name = "chat",
        gen_ai.output.messages = output.as_str(),
        "chat output"
    );
}

/// A tool call's arguments, inside its `execute_tool` span. They are JSON
/// text already, so nothing is serialised.
pub(crate) fn tool_arguments(call: &ToolCall) {
    tracing::event!(
        target: TARGET,
        Level::TRACE,
        gen_ai.tool.call.arguments = call.arguments.as_str(),
        "tool arguments"
    );
}

/// A tool call's result (its JSON output, or the failure message the model
/// reads), inside its `execute_tool` span.
pub(crate) fn tool_result(result: &ToolResult) {
    tracing::event!(
        target: TARGET,
        Level::TRACE,
        gen_ai.tool.call.result = result.content(),
        "tool result"
    );
}

fn system_json(system: &str) -> String {
    let mut out = String::from("[{\"type\":\"text\",\"content\":");
    string(&mut out, system);
    out.push_str("}]");
    out
}

fn messages_json(messages: &[Message]) -> String {
    let mut out = String::from("[");
    for (i, message) in messages.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"role\":");
        string(&mut out, role(message.role));
        out.push_str(",\"parts\":");
        parts_json(&mut out, &message.content);
        out.push('}');
    }
    out.push(']');
    out
}

fn role(role: Role) -> &'static str {
    match role {
        Role::System => "system",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
        _ => "user",
    }
}

fn parts_json(out: &mut String, content: &[Content]) {
    out.push('[');
    let mut first = true;
    for part in content {
        let start = out.len();
        if !first {
            out.push(',');
        }
        if part_json(out, part) {
            first = false;
        } else {
            out.truncate(start);
        }
    }
    out.push(']');
}

/// Appends one part; `false` (and a partial write the caller discards) for
/// parts the schema has no place for.
fn part_json(out: &mut String, part: &Content) -> bool {
    match part {
        Content::Text(text) => {
            out.push_str("{\"type\":\"text\",\"content\":");
            string(out, &text.text);
        }
        Content::Thinking(thinking) if thinking.redacted.is_none() => {
            out.push_str("{\"type\":\"reasoning\",\"content\":");
            string(out, &thinking.text);
        }
        Content::ToolCall(call) => {
            out.push_str("{\"type\":\"tool_call\",\"id\":");
            string(out, &call.id);
            out.push_str(",\"name\":");
            string(out, &call.name);
            out.push_str(",\"arguments\":");
            string(out, &call.arguments);
        }
        Content::ToolResult(result) => {
            out.push_str("{\"type\":\"tool_call_response\",\"id\":");
            string(out, &result.call_id);
            out.push_str(",\"response\":");
            string(out, result.content());
        }
        _ => return false,
    }
    out.push('}');
    true
}

/// Appends `text` as a JSON string.
fn string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                out.push_str(&format!("\\u{:04x}", u32::from(c)));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use forge_core::{StopReason, ToolCall, ToolResult};
    use tracing::{Event, Subscriber, field};
    use tracing_subscriber::{Layer, layer::Context, prelude::*};

    use super::*;

    /// The fields of every content event, as `name=value;` text.
    #[derive(Clone, Default)]
    struct Seen(Arc<Mutex<Vec<String>>>);

    struct Fields(String);

    impl field::Visit for Fields {
        fn record_debug(&mut self, field: &field::Field, value: &dyn std::fmt::Debug) {
            self.0.push_str(&format!("{}={:?};", field.name(), value));
        }
    }

    impl<S: Subscriber> Layer<S> for Seen {
        fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
            if event.metadata().target() == TARGET {
                let mut fields = Fields(String::new());
                event.record(&mut fields);
                self.0.lock().expect("lock").push(fields.0);
            }
        }
    }

    fn delta(text: &str) -> StreamEvent {
        StreamEvent::TextDelta {
            text: text.into(),
            signature: None,
        }
    }

    #[test]
    fn a_model_call_sends_its_input_once_and_its_output_on_finish() {
        let seen = Seen::default();
        let subscriber = tracing_subscriber::registry().with(seen.clone());
        tracing::subscriber::with_default(subscriber, || {
            let mut chat = ChatContent::start();
            let messages = [Message::user("hi")];
            let finish = StreamEvent::Finish {
                stop_reason: StopReason::EndTurn,
            };
            for event in [delta("Hel"), delta("lo"), finish] {
                chat.observe(Some(&event), Some("be brief"), &messages);
            }
            assert!(chat.mirror.is_none(), "the copy is dropped at Finish");
        });
        let seen = seen.0.lock().expect("lock");
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert!(seen[0].contains("gen_ai.input.messages="), "{seen:?}");
        assert!(seen[0].contains("be brief") && seen[0].contains("hi"));
        assert!(seen[1].contains("gen_ai.output.messages="), "{seen:?}");
        assert!(seen[1].contains("Hello") && seen[1].contains("stop"));
    }

    #[test]
    fn nothing_is_copied_when_no_subscriber_wants_content() {
        let mut chat = ChatContent::start();
        chat.observe(Some(&delta("x")), None, &[]);
        assert!(chat.mirror.is_none() && !chat.input_sent);
    }

    #[test]
    fn messages_follow_the_message_schema() {
        let call = ToolCall::new("call_1", "add", r#"{"a":1}"#);
        let messages = [
            Message::user("say \"hi\"\n"),
            Message::assistant(vec![Content::ToolCall(call.clone())]),
            Message::tool_results([ToolResult::success(&call, "2")]),
        ];
        assert_eq!(
            messages_json(&messages),
            concat!(
                r#"[{"role":"user","parts":[{"type":"text","content":"say \"hi\"\n"}]},"#,
                r#"{"role":"assistant","parts":[{"type":"tool_call","id":"call_1","#,
                r#""name":"add","arguments":"{\"a\":1}"}]},"#,
                r#"{"role":"tool","parts":[{"type":"tool_call_response","id":"call_1","#,
                r#""response":"2"}]}]"#,
            )
        );
        assert_eq!(
            system_json("be\tbrief\u{1}"),
            r#"[{"type":"text","content":"be\tbrief\u0001"}]"#
        );
    }

    #[test]
    fn redacted_thinking_is_left_out() {
        let parts = [
            Content::Thinking(forge_core::Thinking::redacted("opaque")),
            Content::text("ok"),
        ];
        let mut out = String::new();
        parts_json(&mut out, &parts);
        assert_eq!(out, r#"[{"type":"text","content":"ok"}]"#);
        let response = ModelResponse::new(parts.to_vec(), StopReason::EndTurn);
        assert_eq!(response.stop_reason.as_str(), "stop");
    }
}
