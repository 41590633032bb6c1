//! Progress events a conversation reports while it runs.

use forge_core::{ToolCall, ToolResult};

use crate::TurnReport;

/// Something that happened in a running conversation.
///
/// Events borrow from the conversation: a sink that keeps them must copy what
/// it needs.
#[non_exhaustive]
#[derive(Debug, Clone, Copy)]
pub enum AgentEvent<'a> {
    /// A model call is about to start; `step` counts from 1.
    TurnStarted {
        /// The model call's number in this conversation.
        step: u32,
    },
    /// A piece of answer text arrived.
    TextDelta(&'a str),
    /// A piece of visible reasoning arrived.
    ThinkingDelta(&'a str),
    /// The model began a tool call; its arguments are still streaming.
    ToolCallStarted {
        /// The call id.
        id: &'a str,
        /// The tool's name.
        name: &'a str,
    },
    /// The model call ended.
    TurnFinished(&'a TurnReport),
    /// A tool call is being dispatched (every call of a turn is announced
    /// before any result arrives: they run as one batch).
    ToolDispatched(&'a ToolCall),
    /// A tool call was answered.
    ToolResult(&'a ToolResult),
}

/// Receives a conversation's [`AgentEvent`]s, on the conversation's task.
///
/// Implementations must be cheap and must not block. Any
/// `Fn(&AgentEvent<'_>) + Send + Sync` closure is a sink.
pub trait EventSink: Send + Sync {
    /// Called once per event, in order.
    fn on_event(&self, event: &AgentEvent<'_>);
}

impl<F> EventSink for F
where
    F: Fn(&AgentEvent<'_>) + Send + Sync,
{
    fn on_event(&self, event: &AgentEvent<'_>) {
        self(event);
    }
}

/// A sink that ignores every event.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoEvents;

impl EventSink for NoEvents {
    fn on_event(&self, _event: &AgentEvent<'_>) {}
}
