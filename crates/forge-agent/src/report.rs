//! What a finished conversation reports.

use std::time::Duration;

use forge_core::{Message, StopReason, ToolResult, Usage};

/// Why a conversation stopped.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq)]
pub enum StopCause {
    /// The model answered without calling a tool.
    FinalAnswer,
    /// The step limit was reached while the model still called tools; the
    /// last turn's calls were answered as not run.
    StepLimit,
    /// The model called one of the agent's stop tools; its result is here.
    StopTool(ToolResult),
    /// The token budget was spent; the last turn's calls were answered as not run.
    TokenBudget,
}

/// One model call of a conversation.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq)]
pub struct TurnReport {
    /// The call's number, from 1.
    pub step: u32,
    /// From the request to the stream's end.
    pub duration: Duration,
    /// From the request to the first content event, if one arrived.
    pub time_to_first_token: Option<Duration>,
    /// Tool calls the model made in this turn.
    pub tool_calls: u32,
    /// Why the model stopped.
    pub stop_reason: StopReason,
    /// Tokens the provider counted for this call.
    pub usage: Usage,
}

/// A finished conversation.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct RunOutput {
    /// The whole transcript: the prompt, every assistant turn and every tool result.
    pub messages: Vec<Message>,
    /// The text of the last assistant turn.
    pub text: String,
    /// Why the conversation stopped.
    pub stop: StopCause,
    /// Tokens used over all model calls.
    pub usage: Usage,
    /// One report per model call, in order.
    pub turns: Vec<TurnReport>,
    /// Tool calls dispatched (or answered as not run).
    pub tool_calls: u32,
    /// Tool calls answered with a validation failure (unknown tool, invalid
    /// or oversized arguments, duplicate id, truncated call).
    pub invalid_calls: u32,
}
