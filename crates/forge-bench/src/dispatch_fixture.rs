//! The tool, payloads and dispatchers the dispatch benchmarks share.
//!
//! The payload is the brief's 3-field arguments object: a string, an enum
//! and a bounded integer.

use std::{
    future::Future,
    pin::pin,
    sync::Arc,
    task::{Context, Poll, Waker},
};

use forge_core::{BoxFuture, DynTool, Error, Tool, ToolCall, ToolSpec};
use forge_dispatch::{Dispatcher, Registry};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

/// How a lookup matches.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Whole words.
    Exact,
    /// Word starts.
    Prefix,
    /// Anything close.
    Fuzzy,
}

/// The arguments: a string, an enum, a bounded integer.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LookupArgs {
    /// What to look up.
    pub query: String,
    /// How to match.
    pub mode: Mode,
    /// The most results.
    #[schemars(range(min = 1, max = 100))]
    pub limit: u32,
}

/// The 3-field arguments object every dispatch bench sends.
pub const PAYLOAD: &str = r#"{"query":"rust async runtime","mode":"prefix","limit":25}"#;

/// A typed tool that answers at once with a small number.
#[derive(Debug, Clone, Copy)]
pub struct Lookup;

impl Lookup {
    /// The work of the tool, shared by the typed tool and the floor.
    pub fn answer(args: &LookupArgs) -> u32 {
        let bonus = match args.mode {
            Mode::Exact => 0,
            Mode::Prefix => 1,
            Mode::Fuzzy => 2,
        };
        args.limit + bonus + u32::from(args.query.is_empty())
    }
}

impl Tool for Lookup {
    type Args = LookupArgs;
    type Output = u32;

    fn name(&self) -> &str {
        "lookup"
    }

    fn description(&self) -> &str {
        "Looks words up."
    }

    async fn call(&self, args: LookupArgs) -> Result<u32, Error> {
        Ok(Self::answer(&args))
    }
}

/// The same tool as a dynamic tool with the same (schemars) schema.
#[derive(Debug)]
pub struct DynLookup {
    spec: ToolSpec,
}

impl DynLookup {
    /// A dynamic twin of [`Lookup`], named `dyn_lookup`.
    pub fn new() -> Arc<Self> {
        let schema = forge_core::typed_tool_spec(&Lookup).parameters().clone();
        let spec = ToolSpec::new("dyn_lookup", "Looks words up.", schema);
        Arc::new(Self { spec })
    }
}

impl DynTool for DynLookup {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    fn call(&self, args: Value) -> BoxFuture<'_, Result<Value, Error>> {
        let limit = args["limit"].as_u64().unwrap_or_default();
        Box::pin(async move { Ok(Value::from(limit + 1)) })
    }
}

/// A tool with no arguments and no work: what routing alone costs.
#[derive(Debug, Clone, Copy)]
pub struct Noop;

/// No arguments.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct NoArgs {}

impl Tool for Noop {
    type Args = NoArgs;
    type Output = ();

    fn name(&self) -> &str {
        "noop"
    }

    fn description(&self) -> &str {
        "Does nothing."
    }

    async fn call(&self, _: NoArgs) -> Result<(), Error> {
        Ok(())
    }
}

/// A dispatcher with `lookup`, `dyn_lookup` and `noop` registered.
pub fn dispatcher() -> Dispatcher {
    let registry = Registry::builder()
        .tool(Lookup)
        .dyn_tool(DynLookup::new())
        .tool(Noop)
        .build()
        .expect("the bench registry is valid");
    Dispatcher::builder(registry).concurrency(8).build()
}

/// A call to `tool` with [`PAYLOAD`].
pub fn call(tool: &str) -> ToolCall {
    ToolCall::new("call_0", tool, PAYLOAD)
}

/// The floor: parse into the argument struct and call the tool directly.
pub fn floor(payload: &str) -> u32 {
    let args: LookupArgs = serde_json::from_str(payload).expect("the payload is valid");
    run_now(Lookup.call(args)).expect("the tool never fails")
}

/// Polls `fut` once and returns its output; every benchmarked future
/// finishes without waiting, so one poll is enough.
///
/// # Panics
///
/// If `fut` is not ready after one poll.
pub fn run_now<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("a benchmarked future waited"),
    }
}
