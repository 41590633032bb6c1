//! The vocabulary every forge crate speaks.
//!
//! `forge-core` holds types and traits only: conversation [`Message`]s and their
//! [`Content`] parts, [`ToolCall`]s and [`ToolResult`]s, [`ToolSpec`]s, token
//! [`Usage`], [`StopReason`]s, streaming [`StreamEvent`]s, the failure
//! [`ErrorKind`]s that cross crate boundaries, and the narrow traits the other
//! crates implement:
//!
//! - [`Tool`]: a typed tool whose arguments are a Rust type with a schemars schema;
//! - [`DynTool`]: an object-safe tool described by a JSON Schema at run time;
//! - [`Model`]: an object-safe model (providers, the router, test doubles);
//! - [`DispatchObserver`]: receives one [`DispatchObservation`] per tool dispatch.
//!
//! It never does I/O and depends on no HTTP or runtime crate.
//!
//! # Examples
//!
//! A typed tool:
//!
//! ```
//! use forge_core::{Error, Tool};
//! use schemars::JsonSchema;
//! use serde::Deserialize;
//!
//! #[derive(Deserialize, JsonSchema)]
//! struct AddArgs {
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
//! let spec = forge_core::typed_tool_spec(&Add);
//! assert_eq!(spec.name(), "add");
//! assert_eq!(spec.parameters()["required"], serde_json::json!(["a", "b"]));
//! ```

mod error;
mod message;
mod model;
mod observe;
mod stream;
mod tool;
mod usage;

pub use error::{Error, ErrorKind};
pub use message::{Content, Message, Role, Text, Thinking};
pub use model::{BoxFuture, EventStream, Model, ModelRequest, ModelResponse};
pub use observe::{DispatchObservation, DispatchObserver, Labels, Outcome};
pub use stream::{ResponseBuilder, StreamEvent};
pub use tool::{
    DynTool, Tool, ToolCall, ToolOptions, ToolOutcome, ToolResult, ToolSpec, typed_tool_spec,
};
pub use usage::{StopReason, Usage};
