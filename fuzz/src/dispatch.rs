//! Fuzz harness for forge-dispatch's argument path: limits, JSON parsing,
//! typed deserialization with schema checks, and `jsonschema` validation.
//!
//! Shared by the fuzz target and by the corpus replay test
//! `crates/forge-dispatch/tests/fuzz_corpus.rs`, which includes this file by
//! path. The first input byte picks the tool (and whether the call is marked
//! truncated); the rest, if UTF-8, is the raw `arguments` string.

#![allow(unreachable_pub, reason = "included by path into a test crate too")]

use std::sync::{Arc, OnceLock};

use forge_core::{BoxFuture, DynTool, Error, Labels, Tool, ToolCall, ToolResult, ToolSpec};
use forge_dispatch::{Dispatcher, Registry};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

/// The typed tool's arguments: a bounded string, an enum, a bounded integer.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LookupArgs {
    #[schemars(length(min = 1, max = 64))]
    query: String,
    mode: Mode,
    #[schemars(range(min = 1, max = 100))]
    limit: u32,
    #[serde(default)]
    #[schemars(length(max = 3))]
    tags: Vec<String>,
}

/// How a lookup matches.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
enum Mode {
    Exact,
    Prefix,
}

struct Lookup;

impl Tool for Lookup {
    type Args = LookupArgs;
    type Output = String;

    fn name(&self) -> &str {
        "lookup"
    }

    fn description(&self) -> &str {
        "Looks a word up."
    }

    async fn call(&self, args: LookupArgs) -> Result<String, Error> {
        Ok(format!(
            "{}:{:?}:{}:{}",
            args.query,
            args.mode,
            args.limit,
            args.tags.len()
        ))
    }
}

struct Echo(ToolSpec);

impl DynTool for Echo {
    fn spec(&self) -> &ToolSpec {
        &self.0
    }

    fn call(&self, args: Value) -> BoxFuture<'_, Result<Value, Error>> {
        Box::pin(async move { Ok(args["text"].clone()) })
    }
}

fn echo() -> Arc<dyn DynTool> {
    let schema = json!({
        "type": "object",
        "properties": {
            "text": { "type": "string", "maxLength": 16, "pattern": "^[a-z ]*$" },
            "times": { "type": "integer", "minimum": 1, "maximum": 3 },
            "items": { "type": "array", "items": { "type": "integer" }, "maxItems": 2 }
        },
        "required": ["text"],
        "additionalProperties": false
    });
    Arc::new(Echo(ToolSpec::new("echo", "Repeats text.", schema)))
}

struct Harness {
    runtime: tokio::runtime::Runtime,
    dispatcher: Dispatcher,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let registry = Registry::builder().tool(Lookup).dyn_tool(echo()).build();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build();
        Harness {
            runtime: runtime.expect("a current-thread runtime builds"),
            dispatcher: Dispatcher::builder(registry.expect("the schemas compile")).build(),
        }
    })
}

/// Dispatches `call` through the harness's registry (`lookup`, `echo`).
pub fn answer(call: &ToolCall) -> ToolResult {
    let harness = harness();
    harness
        .runtime
        .block_on(harness.dispatcher.dispatch(call, &Labels::default()))
}

/// Dispatches one fuzzed call: it is always answered, under its own id, with
/// a bounded message; a typed success implies serde accepts the arguments.
pub fn dispatch_args(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(arguments) = std::str::from_utf8(rest) else {
        return;
    };
    let tool = ["lookup", "echo", "missing"][usize::from(selector % 3)];
    let mut call = ToolCall::new("fuzz", tool, arguments);
    if selector & 0x80 != 0 {
        call = call.into_truncated();
    }
    let result = answer(&call);
    assert_eq!(result.call_id, "fuzz");
    assert!(
        result.content().len() <= message_bound(arguments.len()),
        "{} bytes of message for {} bytes of arguments",
        result.content().len(),
        arguments.len()
    );
    if call.truncated || tool == "missing" {
        assert!(result.is_error(), "{tool} call ran: {}", result.content());
    }
    if tool == "lookup" && !result.is_error() {
        let parsed = serde_json::from_str::<LookupArgs>(arguments);
        assert!(
            parsed.is_ok(),
            "dispatch accepted what serde rejects: {parsed:?}"
        );
    }
}

/// The longest message a call may get back: the arguments once (an error may
/// quote the offending value) plus 4 KiB. A schema rejection lists up to 8
/// errors, each cut to 300 bytes (finding F4 in docs/reliability.md: they used
/// to quote a long value whole, once per error).
pub fn message_bound(arguments: usize) -> usize {
    arguments + 4096
}
