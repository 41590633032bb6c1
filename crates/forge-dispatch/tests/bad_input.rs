//! Every bad input becomes a tool-result error the model can read.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers too: a panic is a failure with a line"
)]

mod common;

use common::{Big, Echo, Lookup};
use forge_core::{ErrorKind, Labels, ToolCall};
use forge_dispatch::{Dispatcher, Registry};

fn dispatcher() -> Dispatcher {
    let registry = Registry::builder()
        .tool(Lookup)
        .tool(Big)
        .dyn_tool(Echo::new())
        .build()
        .unwrap();
    Dispatcher::builder(registry).max_depth(8).build()
}

/// Dispatches `args` to `tool` and checks the failure kind and that the
/// message mentions every `needle`.
#[track_caller]
fn check(tool: &str, args: &str, kind: ErrorKind, needles: &[&str]) {
    let call = ToolCall::new("id", tool, args);
    check_call(&call, kind, needles);
}

#[track_caller]
fn check_call(call: &ToolCall, kind: ErrorKind, needles: &[&str]) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let result = rt.block_on(dispatcher().dispatch(call, &Labels::default()));
    assert_eq!(result.call_id, call.id);
    assert_eq!(result.error_kind(), Some(kind), "{}", result.content());
    for needle in needles {
        assert!(
            result.content().contains(needle),
            "{:?} lacks {needle:?}",
            result.content()
        );
    }
}

const GOOD: &str = r#"{"query": "rust", "mode": "exact", "limit": 5}"#;

#[test]
fn good_arguments_succeed_on_both_paths() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let d = dispatcher();
    let typed = rt.block_on(d.dispatch(&ToolCall::new("1", "lookup", GOOD), &Labels::default()));
    assert_eq!(typed.content(), r#""rust:Exact:5""#);
    let args = r#"{"text": "hi there", "times": 2}"#;
    let dynamic = rt.block_on(d.dispatch(&ToolCall::new("2", "echo", args), &Labels::default()));
    assert_eq!(dynamic.content(), r#""hi there""#);
}

#[test]
fn unknown_tool_lists_valid_names() {
    check(
        "lokup",
        "{}",
        ErrorKind::UnknownTool,
        &["lokup", "big, echo, lookup"],
    );
}

#[test]
fn invalid_json() {
    let kind = ErrorKind::InvalidArguments;
    check("lookup", r#"{"query": "rust""#, kind, &["not valid JSON"]);
    check("lookup", r#"{"query": "rust",}"#, kind, &["not valid JSON"]);
    check("echo", "nope", kind, &["not valid JSON"]);
    check("lookup", "", kind, &["not valid JSON"]);
}

#[test]
fn trailing_garbage_is_invalid_json() {
    check(
        "lookup",
        &format!("{GOOD} x"),
        ErrorKind::InvalidArguments,
        &["not valid JSON"],
    );
}

#[test]
fn wrong_types_name_the_path() {
    let kind = ErrorKind::InvalidArguments;
    let args = r#"{"query": 7, "mode": "exact", "limit": 5}"#;
    check("lookup", args, kind, &["/query", "string"]);
    let args = r#"{"query": "a", "mode": "exact", "limit": "5"}"#;
    check("lookup", args, kind, &["/limit", "expected u32"]);
    check("lookup", "[1, 2]", kind, &["expected object"]);
    check("echo", r#"{"text": 7}"#, kind, &["/text", "string"]);
    check(
        "echo",
        r#"{"text": "a", "items": [1, "x"]}"#,
        kind,
        &["/items/1"],
    );
}

#[test]
fn missing_required_fields() {
    let kind = ErrorKind::InvalidArguments;
    check(
        "lookup",
        r#"{"query": "a", "mode": "exact"}"#,
        kind,
        &["limit"],
    );
    check("echo", "{}", kind, &["text"]);
}

#[test]
fn unknown_fields() {
    let kind = ErrorKind::InvalidArguments;
    let args = r#"{"query": "a", "mode": "exact", "limit": 5, "extra": 1}"#;
    check("lookup", args, kind, &["extra"]);
    check("echo", r#"{"text": "a", "extra": 1}"#, kind, &["extra"]);
}

#[test]
fn schema_constraints_typed() {
    let kind = ErrorKind::InvalidArguments;
    let args = r#"{"query": "a", "mode": "exact", "limit": 101}"#;
    check("lookup", args, kind, &["/limit", "maximum of 100"]);
    let args = r#"{"query": "a", "mode": "exact", "limit": 0}"#;
    check("lookup", args, kind, &["/limit", "minimum of 1"]);
    let args = r#"{"query": "", "mode": "exact", "limit": 1}"#;
    check("lookup", args, kind, &["/query", "shorter than 1"]);
    let args = r#"{"query": "a", "mode": "loose", "limit": 1}"#;
    check("lookup", args, kind, &["/mode", "exact"]);
    let args = r#"{"query": "a", "mode": "exact", "limit": 1, "tags": ["a","b","c","d"]}"#;
    check("lookup", args, kind, &["/tags", "more than 3 items"]);
}

#[test]
fn schema_constraints_dynamic() {
    let kind = ErrorKind::InvalidArguments;
    check(
        "echo",
        r#"{"text": "a", "times": 4}"#,
        kind,
        &["/times", "maximum"],
    );
    check("echo", r#"{"text": "ABC"}"#, kind, &["/text", "^[a-z ]*$"]);
    let long = r#"{"text": "aaaaaaaaaaaaaaaaaaaa"}"#;
    check("echo", long, kind, &["/text", "longer"]);
    check(
        "echo",
        r#"{"text": "a", "items": [1,2,3]}"#,
        kind,
        &["/items"],
    );
}

#[test]
fn arguments_over_the_size_limit() {
    let huge = format!(
        r#"{{"query": "{}", "mode": "exact", "limit": 5}}"#,
        "a".repeat(1 << 20)
    );
    check(
        "lookup",
        &huge,
        ErrorKind::ArgumentsTooLarge,
        &["over the limit of 1048576 bytes"],
    );
}

#[test]
fn nesting_deeper_than_the_limit() {
    let deep = format!(
        r#"{{"text": "a", "items": {}{}}}"#,
        "[".repeat(20),
        "]".repeat(20)
    );
    check(
        "echo",
        &deep,
        ErrorKind::ArgumentsTooLarge,
        &["nested deeper than the limit of 8"],
    );
    check("lookup", &deep, ErrorKind::ArgumentsTooLarge, &["nested"]);
}

#[test]
fn invalid_utf8_escapes() {
    // `ToolCall::arguments` is a `String`, so raw invalid UTF-8 cannot reach
    // the dispatcher; what can is an escape for a lone UTF-16 surrogate,
    // which encodes no Unicode scalar value.
    let kind = ErrorKind::InvalidArguments;
    let args = r#"{"query": "\ud800", "mode": "exact", "limit": 5}"#;
    check("lookup", args, kind, &["not valid JSON", "escape"]);
    check(
        "echo",
        r#"{"text": "\udc00"}"#,
        kind,
        &["not valid JSON", "escape"],
    );
}

#[test]
fn truncated_calls_are_not_run() {
    let call = ToolCall::new("t", "lookup", GOOD).into_truncated();
    check_call(&call, ErrorKind::TruncatedCall, &["cut short"]);
}

#[test]
fn results_over_the_size_limit() {
    let args = format!(r#"{{"bytes": {}}}"#, 1 << 20);
    check("big", &args, ErrorKind::ResultTooLarge, &["over the limit"]);
}

#[test]
fn duplicate_call_ids_in_a_batch() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let calls = [
        ToolCall::new("a", "lookup", GOOD),
        ToolCall::new("b", "lookup", GOOD),
        ToolCall::new("a", "lookup", GOOD),
    ];
    let results = rt.block_on(dispatcher().dispatch_batch(&calls, &Labels::default()));
    assert_eq!(results.len(), 3);
    assert!(!results[0].is_error());
    assert!(!results[1].is_error());
    assert_eq!(results[2].call_id, "a");
    assert_eq!(results[2].error_kind(), Some(ErrorKind::DuplicateCallId));
    assert!(results[2].content().contains("`a`"));
}

#[test]
fn duplicate_tool_names_are_a_config_error() {
    let err = Registry::builder()
        .tool(Lookup)
        .tool(Lookup)
        .build()
        .unwrap_err();
    assert!(err.is_config());
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.to_string().contains("lookup"));
}

#[test]
fn schema_that_does_not_compile_is_a_config_error() {
    struct Bad(forge_core::ToolSpec);
    impl forge_core::DynTool for Bad {
        fn spec(&self) -> &forge_core::ToolSpec {
            &self.0
        }
        fn call(
            &self,
            _: serde_json::Value,
        ) -> forge_core::BoxFuture<'_, Result<serde_json::Value, forge_core::Error>> {
            Box::pin(async { Ok(serde_json::Value::Null) })
        }
    }
    let schema = serde_json::json!({"type": "object", "minLength": "x"});
    let tool = std::sync::Arc::new(Bad(forge_core::ToolSpec::new("bad", "", schema)));
    let err = Registry::builder().dyn_tool(tool).build().unwrap_err();
    assert!(err.is_config());
    assert!(std::error::Error::source(&err).is_some());
}
