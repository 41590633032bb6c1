//! Making sure every tool call in the history has an answer.
//!
//! OpenAI rejects a request in which an assistant tool call has no `tool`
//! message, Anthropic one in which a `tool_use` has no `tool_result`. A
//! caller that lost a result (a crash, a cancelled batch) would otherwise be
//! stuck; the missing answers are filled in as failures the model can read.

use std::borrow::Cow;

use forge_core::{Content, ErrorKind, Message, Role, ToolResult};

const MISSING: &str = "no result was recorded for this tool call";

/// `messages`, with a failure result added for every unanswered call.
pub(crate) fn answer_every_call(messages: &[Message]) -> Cow<'_, [Message]> {
    if (0..messages.len()).all(|i| missing(messages, i).is_empty()) {
        return Cow::Borrowed(messages);
    }
    let mut out = Vec::with_capacity(messages.len() + 1);
    for (i, message) in messages.iter().enumerate() {
        out.push(message.clone());
        let absent = missing(messages, i);
        if absent.is_empty() {
            continue;
        }
        let results = absent.into_iter().map(|(id, name)| {
            let call = forge_core::ToolCall::new(id, name, "");
            Content::ToolResult(ToolResult::failure(&call, ErrorKind::ToolFailed, MISSING))
        });
        match messages.get(i + 1) {
            Some(next) if next.role == Role::Tool => {
                let mut merged = next.clone();
                merged.content.extend(results);
                out.push(merged);
                // The original next message is replaced by the merged one.
                return finish(out, &messages[i + 2..]);
            }
            _ => out.push(Message::new(Role::Tool, results.collect())),
        }
    }
    Cow::Owned(out)
}

fn finish<'a>(mut out: Vec<Message>, rest: &[Message]) -> Cow<'a, [Message]> {
    match answer_every_call(rest) {
        Cow::Borrowed(rest) => out.extend_from_slice(rest),
        Cow::Owned(rest) => out.extend(rest),
    }
    Cow::Owned(out)
}

/// The `(id, name)` of calls in `messages[i]` that `messages[i + 1]` does not answer.
fn missing(messages: &[Message], i: usize) -> Vec<(String, String)> {
    let message = &messages[i];
    if message.role != Role::Assistant {
        return Vec::new();
    }
    let answered = |id: &str| {
        messages.get(i + 1).is_some_and(|next| {
            next.role == Role::Tool
                && next
                    .content
                    .iter()
                    .any(|c| matches!(c, Content::ToolResult(r) if r.call_id == id))
        })
    };
    message
        .tool_calls()
        .filter(|call| !answered(&call.id))
        .map(|call| (call.id.clone(), call.name.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use forge_core::ToolCall;

    fn assistant(ids: &[&str]) -> Message {
        let calls = ids
            .iter()
            .map(|id| Content::ToolCall(ToolCall::new(*id, "t", "{}")))
            .collect();
        Message::assistant(calls)
    }

    fn results(ids: &[&str]) -> Message {
        Message::tool_results(
            ids.iter()
                .map(|id| ToolResult::success(&ToolCall::new(*id, "t", "{}"), "1")),
        )
    }

    fn answered_ids(m: &Message) -> Vec<&str> {
        m.content
            .iter()
            .filter_map(|c| match c {
                Content::ToolResult(r) => Some(r.call_id.as_str()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_complete_history_is_borrowed() {
        let h = vec![
            Message::user("q"),
            assistant(&["a", "b"]),
            results(&["b", "a"]),
        ];
        assert!(matches!(answer_every_call(&h), Cow::Borrowed(_)));
    }

    #[test]
    fn missing_results_are_added_to_the_tool_message() {
        let h = vec![
            assistant(&["a", "b"]),
            results(&["a"]),
            Message::user("next"),
        ];
        let fixed = answer_every_call(&h);
        assert_eq!(fixed.len(), 3);
        assert_eq!(answered_ids(&fixed[1]), ["a", "b"]);
        assert!(
            fixed[1]
                .content
                .iter()
                .any(|c| matches!(c, Content::ToolResult(r) if r.is_error()))
        );
    }

    #[test]
    fn a_missing_tool_message_is_inserted() {
        let h = vec![assistant(&["a"]), Message::user("next"), assistant(&["c"])];
        let fixed = answer_every_call(&h);
        assert_eq!(fixed.len(), 5);
        assert_eq!(answered_ids(&fixed[1]), ["a"]);
        assert_eq!(answered_ids(&fixed[4]), ["c"]);
    }
}
