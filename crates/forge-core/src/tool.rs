//! Tool calls, tool results, tool specs and the two tool traits.

use std::{future::Future, sync::Arc, time::Duration};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::{BoxFuture, Error, ErrorKind};

/// A request from the model to run a tool.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The call id the result must echo. Providers that send none get a minted one.
    pub id: String,
    /// The tool's name, as forge registered it (dialect name mapping undone).
    pub name: String,
    /// The arguments as raw JSON text, exactly as the model produced them.
    pub arguments: String,
    /// An opaque provider signature attached to this call (Gemini's
    /// `thoughtSignature`), sent back unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// Whether the model's output limit cut the arguments short. A truncated
    /// call is answered with [`ErrorKind::TruncatedCall`] and never run.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

impl ToolCall {
    /// A complete call.
    pub fn new(
        id: impl Into<String>,
        name: impl Into<String>,
        arguments: impl Into<String>,
    ) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            arguments: arguments.into(),
            signature: None,
            truncated: false,
        }
    }

    /// Attaches an opaque provider signature.
    #[must_use]
    pub fn with_signature(mut self, signature: Option<String>) -> Self {
        self.signature = signature;
        self
    }

    /// Marks the call as cut short by the output token limit.
    #[must_use]
    pub fn into_truncated(mut self) -> Self {
        self.truncated = true;
        self
    }
}

/// The answer to one [`ToolCall`].
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolResult {
    /// The id of the call this answers.
    pub call_id: String,
    /// The tool's name.
    pub name: String,
    /// The tool's output as JSON text, or the failure the model gets to read.
    pub outcome: ToolOutcome,
}

/// What a tool call produced.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ToolOutcome {
    /// The tool's output, serialized as JSON text.
    Success {
        /// JSON text.
        output: String,
    },
    /// The call failed; `message` is written for the model to read.
    Failure {
        /// The classified failure.
        kind: ErrorKind,
        /// What went wrong, naming the offending JSON path where there is one.
        message: String,
    },
}

impl ToolResult {
    /// A successful result carrying JSON text.
    pub fn success(call: &ToolCall, output: impl Into<String>) -> Self {
        Self::new(
            &call.id,
            &call.name,
            ToolOutcome::Success {
                output: output.into(),
            },
        )
    }

    /// A failed result.
    pub fn failure(call: &ToolCall, kind: ErrorKind, message: impl Into<String>) -> Self {
        let message = message.into();
        Self::new(&call.id, &call.name, ToolOutcome::Failure { kind, message })
    }

    /// A result for `call_id` of tool `name`.
    pub fn new(call_id: &str, name: &str, outcome: ToolOutcome) -> Self {
        Self {
            call_id: call_id.to_owned(),
            name: name.to_owned(),
            outcome,
        }
    }

    /// Whether the call failed.
    pub fn is_error(&self) -> bool {
        matches!(self.outcome, ToolOutcome::Failure { .. })
    }

    /// The text the model reads: the JSON output, or the failure message.
    pub fn content(&self) -> &str {
        match &self.outcome {
            ToolOutcome::Success { output } => output,
            ToolOutcome::Failure { message, .. } => message,
        }
    }

    /// The failure kind, if the call failed.
    pub fn error_kind(&self) -> Option<ErrorKind> {
        match &self.outcome {
            ToolOutcome::Success { .. } => None,
            ToolOutcome::Failure { kind, .. } => Some(*kind),
        }
    }
}

/// What the model is told about a tool: its name, description and JSON Schema.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    name: Arc<str>,
    description: Arc<str>,
    parameters: Arc<serde_json::Value>,
}

impl ToolSpec {
    /// A spec from its parts; `parameters` is a JSON Schema for the arguments object.
    pub fn new(
        name: impl Into<Arc<str>>,
        description: impl Into<Arc<str>>,
        parameters: serde_json::Value,
    ) -> Self {
        Self {
            name: name.into(),
            description: description.into(),
            parameters: Arc::new(parameters),
        }
    }

    /// The tool's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What the tool does, for the model.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The JSON Schema of the arguments object.
    pub fn parameters(&self) -> &serde_json::Value {
        &self.parameters
    }
}

/// How the dispatcher treats a tool.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ToolOptions {
    /// The longest one attempt may run; `None` uses the dispatcher's default.
    pub timeout: Option<Duration>,
    /// Whether running the tool twice with the same arguments is harmless.
    /// Non-idempotent tools are never retried.
    pub idempotent: bool,
    /// The most attempts for errors the tool marks retryable; `None` uses the
    /// dispatcher's default.
    pub max_attempts: Option<u32>,
}

impl Default for ToolOptions {
    fn default() -> Self {
        Self {
            timeout: None,
            idempotent: true,
            max_attempts: None,
        }
    }
}

impl ToolOptions {
    /// Sets the per-attempt timeout.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Marks the tool as having side effects that must not repeat.
    #[must_use]
    pub fn non_idempotent(mut self) -> Self {
        self.idempotent = false;
        self
    }

    /// Sets the most attempts for retryable errors.
    #[must_use]
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = Some(attempts);
        self
    }
}

/// A tool whose arguments are a Rust type.
///
/// The JSON Schema the model sees is derived from [`Tool::Args`] by schemars;
/// the dispatcher deserializes the model's raw arguments straight into it and
/// enforces the schema's remaining constraints before [`Tool::call`] runs.
pub trait Tool: Send + Sync + 'static {
    /// The arguments object.
    type Args: DeserializeOwned + JsonSchema + Send + 'static;
    /// What the tool returns; serialized to JSON for the model.
    type Output: Serialize + Send + 'static;

    /// The tool's name, unique within a registry.
    fn name(&self) -> &str;

    /// What the tool does, for the model.
    fn description(&self) -> &str;

    /// How the dispatcher treats this tool.
    fn options(&self) -> ToolOptions {
        ToolOptions::default()
    }

    /// Runs the tool.
    ///
    /// # Errors
    ///
    /// Whatever the tool reports; mark transient failures with
    /// [`Error::retryable`] to have the dispatcher retry them.
    ///
    /// # Cancel safety
    ///
    /// The dispatcher drops this future on timeout or cancellation, so a tool
    /// must leave nothing half-done when dropped at an await point.
    fn call(&self, args: Self::Args) -> impl Future<Output = Result<Self::Output, Error>> + Send;
}

/// The [`ToolSpec`] of a typed tool, with the schema schemars derives for its arguments.
pub fn typed_tool_spec<T: Tool>(tool: &T) -> ToolSpec {
    let schema = schemars::schema_for!(T::Args);
    ToolSpec::new(tool.name(), tool.description(), schema.to_value())
}

/// A tool described at run time by a JSON Schema: defined in configuration,
/// by a remote server, or by a data set. Object safe.
pub trait DynTool: Send + Sync + 'static {
    /// Name, description and JSON Schema.
    fn spec(&self) -> &ToolSpec;

    /// How the dispatcher treats this tool.
    fn options(&self) -> ToolOptions {
        ToolOptions::default()
    }

    /// Runs the tool on arguments that already satisfy [`DynTool::spec`]'s schema.
    ///
    /// # Errors
    ///
    /// Whatever the tool reports; mark transient failures with
    /// [`Error::retryable`] to have the dispatcher retry them.
    ///
    /// # Cancel safety
    ///
    /// As for [`Tool::call`]: the future may be dropped at any await point.
    fn call(&self, args: serde_json::Value) -> BoxFuture<'_, Result<serde_json::Value, Error>>;
}
