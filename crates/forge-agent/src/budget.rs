//! Retry budgets for invalid tool calls.
//!
//! Implementation details: a tool call the model can correct (unknown tool,
//! invalid or oversized arguments, duplicate id, truncated call) goes back to
//! the model as a tool error. Two budgets bound how long that may go on: a
//! per-call budget, counted as consecutive invalid calls of one tool name
//! (a valid call of that tool resets it), and a per-run budget counting
//! every invalid call of the conversation.

use forge_core::{ErrorKind, ToolResult};

#[derive(Debug)]
pub(crate) struct InvalidBudget {
    per_call: u32,
    per_run: u32,
    total: u32,
    /// Consecutive invalid calls per tool name; a handful of entries at most.
    streaks: Vec<(String, u32)>,
}

impl InvalidBudget {
    pub(crate) fn new(per_call: u32, per_run: u32) -> Self {
        Self {
            per_call,
            per_run,
            total: 0,
            streaks: Vec::new(),
        }
    }

    pub(crate) fn total(&self) -> u32 {
        self.total
    }

    /// Records a turn's results; returns the kind and message of the first
    /// budget that ran out.
    pub(crate) fn record_all(&mut self, results: &[ToolResult]) -> Option<(ErrorKind, String)> {
        let mut exhausted = None;
        for result in results {
            let outcome = self.record(result);
            if exhausted.is_none() {
                exhausted = outcome;
            }
        }
        exhausted
    }

    fn record(&mut self, result: &ToolResult) -> Option<(ErrorKind, String)> {
        let invalid = result.error_kind().filter(|kind| is_invalid_call(*kind));
        let Some(kind) = invalid else {
            self.streaks.retain(|(name, _)| *name != result.name);
            return None;
        };
        self.total += 1;
        let streak = self.streak(&result.name);
        *streak += 1;
        let streak = *streak;
        if streak > self.per_call {
            let message = format!(
                "tool `{}` was called with invalid arguments {streak} times in a row \
                 (retry budget per call: {}): {}",
                result.name,
                self.per_call,
                result.content()
            );
            return Some((kind, message));
        }
        if self.total > self.per_run {
            let message = format!(
                "{} invalid tool calls in one conversation (retry budget per run: {}): {}",
                self.total,
                self.per_run,
                result.content()
            );
            return Some((kind, message));
        }
        None
    }

    fn streak(&mut self, name: &str) -> &mut u32 {
        let index = match self.streaks.iter().position(|(n, _)| n == name) {
            Some(index) => index,
            None => {
                self.streaks.push((name.to_owned(), 0));
                self.streaks.len() - 1
            }
        };
        &mut self.streaks[index].1
    }
}

/// Whether the model can correct a failure of this kind on its next turn.
pub(crate) fn is_invalid_call(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::UnknownTool
            | ErrorKind::InvalidArguments
            | ErrorKind::ArgumentsTooLarge
            | ErrorKind::DuplicateCallId
            | ErrorKind::TruncatedCall
    )
}

#[cfg(test)]
mod tests {
    use forge_core::ToolCall;

    use super::*;

    fn invalid(name: &str) -> ToolResult {
        let call = ToolCall::new("1", name, "{}");
        ToolResult::failure(&call, ErrorKind::InvalidArguments, "/a: not an integer")
    }

    fn valid(name: &str) -> ToolResult {
        ToolResult::success(&ToolCall::new("1", name, "{}"), "1")
    }

    #[test]
    fn per_call_budget_counts_consecutive_failures_of_one_tool() {
        let mut budget = InvalidBudget::new(1, 10);
        assert!(budget.record_all(&[invalid("a")]).is_none());
        assert!(budget.record_all(&[valid("a")]).is_none());
        assert!(budget.record_all(&[invalid("a")]).is_none());
        let (kind, message) = budget.record_all(&[invalid("a")]).unwrap();
        assert_eq!(kind, ErrorKind::InvalidArguments);
        assert!(message.contains("2 times in a row"), "{message}");
    }

    #[test]
    fn per_run_budget_counts_every_failure() {
        let mut budget = InvalidBudget::new(5, 2);
        assert!(budget.record_all(&[invalid("a"), invalid("b")]).is_none());
        let (_, message) = budget.record_all(&[invalid("c")]).unwrap();
        assert!(message.contains("retry budget per run: 2"), "{message}");
        assert_eq!(budget.total(), 3);
    }

    #[test]
    fn tool_failures_are_not_invalid_calls() {
        let mut budget = InvalidBudget::new(0, 0);
        let call = ToolCall::new("1", "a", "{}");
        let failed = ToolResult::failure(&call, ErrorKind::ToolFailed, "boom");
        assert!(budget.record_all(&[failed]).is_none());
        assert_eq!(budget.total(), 0);
    }
}
