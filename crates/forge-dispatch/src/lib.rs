//! The forge tool-dispatch pipeline: lookup, validation, timeouts, retries,
//! panic isolation and per-tool aggregates.
//!
//! A [`Registry`] holds the tools, each with its schema compiled once at
//! registration. A [`Dispatcher`] runs tool calls through every stage:
//!
//! 1. **lookup** — an unknown name is answered with the list of valid names;
//! 2. **limits** — truncated calls, arguments over 1 MiB or nested deeper
//!    than 64 levels are refused before parsing;
//! 3. **validation** — typed tools ([`forge_core::Tool`]) deserialize the raw
//!    bytes straight into their argument type while the schemars schema's
//!    remaining constraints (bounds, lengths, patterns, enums, array sizes,
//!    unknown fields) are checked in the same pass; dynamic tools
//!    ([`forge_core::DynTool`]) are checked by a `jsonschema` validator;
//! 4. **the handler**, under its timeout, with its panics caught, retried
//!    with jittered backoff only for errors it marks retryable and never
//!    when it is marked non-idempotent;
//! 5. **the result limit** (1 MiB of JSON);
//! 6. **one observation** into the built-in per-tool aggregates
//!    ([`Dispatcher::stats`]) and to the optional
//!    [`DispatchObserver`](forge_core::DispatchObserver).
//!
//! Every failure is a [`ToolResult`](forge_core::ToolResult) whose message
//! the model can read, naming the JSON path (a JSON Pointer) where one
//! applies. Dispatch never panics and never returns `Err`.
//!
//! # Examples
//!
//! ```
//! use forge_core::{Error, Labels, Tool, ToolCall};
//! use forge_dispatch::{Dispatcher, Registry};
//! use schemars::JsonSchema;
//! use serde::Deserialize;
//!
//! #[derive(Deserialize, JsonSchema)]
//! #[serde(deny_unknown_fields)]
//! struct AddArgs {
//!     #[schemars(range(max = 1000))]
//!     a: i64,
//!     b: i64,
//! }
//!
//! struct Add;
//!
//! impl Tool for Add {
//!     type Args = AddArgs;
//!     type Output = i64;
//!
//!     fn name(&self) -> &str {
//!         "add"
//!     }
//!
//!     fn description(&self) -> &str {
//!         "Adds two integers."
//!     }
//!
//!     async fn call(&self, args: AddArgs) -> Result<i64, Error> {
//!         Ok(args.a + args.b)
//!     }
//! }
//!
//! # fn main() -> Result<(), forge_dispatch::Error> {
//! let registry = Registry::builder().tool(Add).build()?;
//! let dispatcher = Dispatcher::builder(registry).concurrency(16).build();
//! # let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
//! # rt.block_on(async {
//! let labels = Labels::default().provider("anthropic");
//!
//! let ok = dispatcher
//!     .dispatch(&ToolCall::new("c1", "add", r#"{"a": 2, "b": 3}"#), &labels)
//!     .await;
//! assert_eq!(ok.content(), "5");
//!
//! let bad = dispatcher
//!     .dispatch(&ToolCall::new("c2", "add", r#"{"a": 2000, "b": 3}"#), &labels)
//!     .await;
//! assert!(bad.is_error());
//! assert!(bad.content().contains("/a"), "{}", bad.content());
//!
//! assert_eq!(dispatcher.stats().tool("add").unwrap().calls(), 2);
//! # });
//! # Ok(())
//! # }
//! ```

mod attempt;
mod check;
mod dispatcher;
mod error;
mod limits;
mod registry;
mod schema;
mod stats;

pub use dispatcher::{Dispatcher, DispatcherBuilder};
pub use error::Error;
pub use registry::{Registry, RegistryBuilder};
pub use stats::{Stats, ToolStats};
