//! Streaming events, and folding them back into a whole response.

use crate::{Content, ModelResponse, StopReason, Text, Thinking, ToolCall, Usage};

/// One event of a streamed model answer.
///
/// Providers assemble tool calls and thinking blocks before emitting them:
/// a consumer never sees partial JSON arguments.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// The response began.
    Start {
        /// The provider's response id.
        id: Option<String>,
        /// The model that answers.
        model: Option<String>,
    },
    /// A piece of answer text.
    TextDelta {
        /// The text.
        text: String,
        /// An opaque signature attached to the text part (Gemini).
        signature: Option<String>,
    },
    /// A piece of reasoning text, for display; the whole block follows as
    /// [`StreamEvent::Thinking`].
    ThinkingDelta {
        /// The text.
        text: String,
    },
    /// A complete thinking block with its signature.
    Thinking(Thinking),
    /// The model started a tool call; its arguments follow in [`StreamEvent::ToolCall`].
    ToolCallStart {
        /// The call id.
        id: String,
        /// The tool's name.
        name: String,
    },
    /// A complete tool call.
    ToolCall(ToolCall),
    /// Usage so far; later events replace earlier ones.
    Usage(Usage),
    /// The answer ended normally.
    Finish {
        /// Why.
        stop_reason: StopReason,
    },
}

impl StreamEvent {
    /// Whether this event carries answer content (text, thinking or a tool
    /// call). A stream may be retried only before its first content event.
    pub fn is_content(&self) -> bool {
        matches!(
            self,
            Self::TextDelta { .. }
                | Self::ThinkingDelta { .. }
                | Self::Thinking(_)
                | Self::ToolCallStart { .. }
                | Self::ToolCall(_)
        )
    }
}

/// Folds [`StreamEvent`]s into a [`ModelResponse`].
///
/// # Examples
///
/// ```
/// use forge_core::{ResponseBuilder, StopReason, StreamEvent};
///
/// let mut builder = ResponseBuilder::default();
/// builder.push(StreamEvent::TextDelta { text: "Hel".into(), signature: None });
/// builder.push(StreamEvent::TextDelta { text: "lo".into(), signature: None });
/// builder.push(StreamEvent::Finish { stop_reason: StopReason::EndTurn });
/// let response = builder.finish().expect("finished");
/// assert_eq!(response.to_message().text(), "Hello");
/// ```
#[derive(Debug, Default)]
pub struct ResponseBuilder {
    id: Option<String>,
    model: Option<String>,
    content: Vec<Content>,
    usage: Usage,
    stop_reason: Option<StopReason>,
}

impl ResponseBuilder {
    /// Applies one event.
    pub fn push(&mut self, event: StreamEvent) {
        match event {
            StreamEvent::Start { id, model } => {
                self.id = id;
                self.model = model;
            }
            StreamEvent::TextDelta { text, signature } => self.push_text(text, signature),
            StreamEvent::ThinkingDelta { .. } | StreamEvent::ToolCallStart { .. } => {}
            StreamEvent::Thinking(thinking) => self.content.push(Content::Thinking(thinking)),
            StreamEvent::ToolCall(call) => self.content.push(Content::ToolCall(call)),
            StreamEvent::Usage(usage) => self.usage = usage,
            StreamEvent::Finish { stop_reason } => self.stop_reason = Some(stop_reason),
        }
    }

    /// The tool calls received so far.
    pub fn tool_calls(&self) -> impl Iterator<Item = &ToolCall> {
        self.content.iter().filter_map(|c| match c {
            Content::ToolCall(call) => Some(call),
            _ => None,
        })
    }

    /// The response, or `None` if no [`StreamEvent::Finish`] arrived.
    pub fn finish(self) -> Option<ModelResponse> {
        let stop_reason = self.stop_reason?;
        let mut response = ModelResponse::new(self.content, stop_reason);
        response.id = self.id;
        response.model = self.model;
        response.usage = self.usage;
        Some(response)
    }

    fn push_text(&mut self, text: String, signature: Option<String>) {
        // Consecutive deltas extend one text part; a signature starts a part of
        // its own, since it belongs to exactly one provider part.
        if signature.is_none()
            && let Some(Content::Text(last)) = self.content.last_mut()
        {
            last.text.push_str(&text);
            return;
        }
        let mut part = Text::new(text);
        part.signature = signature;
        self.content.push(Content::Text(part));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_calls_keep_their_order() {
        let mut b = ResponseBuilder::default();
        b.push(StreamEvent::TextDelta {
            text: "a".into(),
            signature: None,
        });
        b.push(StreamEvent::ToolCall(ToolCall::new("1", "t", "{}")));
        b.push(StreamEvent::TextDelta {
            text: "b".into(),
            signature: None,
        });
        b.push(StreamEvent::Finish {
            stop_reason: StopReason::ToolUse,
        });
        let r = b.finish().unwrap();
        assert_eq!(r.content.len(), 3);
        assert_eq!(r.to_message().tool_calls().count(), 1);
    }

    #[test]
    fn without_finish_there_is_no_response() {
        let mut b = ResponseBuilder::default();
        b.push(StreamEvent::TextDelta {
            text: "a".into(),
            signature: None,
        });
        assert!(b.finish().is_none());
    }

    #[test]
    fn later_usage_replaces_earlier() {
        let mut b = ResponseBuilder::default();
        b.push(StreamEvent::Usage(Usage::new(10, 1)));
        b.push(StreamEvent::Usage(Usage::new(10, 7)));
        b.push(StreamEvent::Finish {
            stop_reason: StopReason::EndTurn,
        });
        assert_eq!(b.finish().unwrap().usage.output_tokens, 7);
    }
}
