//! Dispatching one turn's tool calls, each inside its `execute_tool` span.
//!
//! Implementation details: the calls of a turn run concurrently, at most
//! [`TURN_CONCURRENCY`] at a time, and their results come back in call order.
//! Each call's future is instrumented with its own `execute_tool` span whose
//! parent is the conversation's `invoke_agent` span, so tool spans are
//! siblings of the model's `chat` spans. A call id repeated within the turn
//! is answered with [`ErrorKind::DuplicateCallId`] and not run, so every id
//! the model sent is answered exactly once per occurrence.

use forge_core::{ErrorKind, Labels, ToolCall, ToolResult};
use forge_dispatch::Dispatcher;
use futures_util::{StreamExt, stream};
use tracing::{Instrument, Span, field::Empty};

use crate::content;

/// The most tool calls of one turn in flight together.
const TURN_CONCURRENCY: usize = 16;

pub(crate) async fn dispatch_turn(
    dispatcher: &Dispatcher,
    calls: &[ToolCall],
    labels: &Labels,
    parent: &Span,
) -> Vec<ToolResult> {
    // A plain loop rather than an iterator of closures: the futures' type
    // stays nameable, which keeps the conversation future `Send` for spawn.
    let mut runs = Vec::with_capacity(calls.len());
    for (index, call) in calls.iter().enumerate() {
        let duplicate = calls[..index].iter().any(|earlier| earlier.id == call.id);
        let span = tool_span(parent, call);
        runs.push(dispatch_one(dispatcher, call, labels, duplicate).instrument(span));
    }
    if runs.len() == 1 {
        let mut single = Vec::with_capacity(1);
        for run in runs {
            single.push(run.await);
        }
        return single;
    }
    stream::iter(runs)
        .buffered(TURN_CONCURRENCY)
        .collect()
        .await
}

async fn dispatch_one(
    dispatcher: &Dispatcher,
    call: &ToolCall,
    labels: &Labels,
    duplicate: bool,
) -> ToolResult {
    content::tool_arguments(call);
    let result = if duplicate {
        let message = format!("call id `{}` was already used in this turn", call.id);
        ToolResult::failure(call, ErrorKind::DuplicateCallId, message)
    } else {
        dispatcher.dispatch(call, labels).await
    };
    content::tool_result(&result);
    if let Some(kind) = result.error_kind() {
        let span = Span::current();
        span.record("error.type", kind.as_str());
        span.record("otel.status_code", "ERROR");
    }
    result
}

fn tool_span(parent: &Span, call: &ToolCall) -> Span {
    tracing::info_span!(
        target: "forge_agent::tool",
        parent: parent,
        "execute_tool",
        otel.name = %format_args!("execute_tool {}", call.name),
        otel.kind = "internal",
        gen_ai.operation.name = "execute_tool",
        gen_ai.tool.name = %call.name,
        gen_ai.tool.call.id = %call.id,
        gen_ai.tool.type = "function",
        error.type = Empty,
        otel.status_code = Empty,
    )
}
