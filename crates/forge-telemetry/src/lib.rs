//! OpenTelemetry GenAI spans and metrics for forge, exported over OTLP.
//!
//! forge's library crates only emit `tracing` spans whose fields are the
//! OpenTelemetry attribute names (`chat {model}` from forge-providers,
//! `invoke_agent {agent}` and `execute_tool {tool}` from forge-agent). This
//! crate is where they become telemetry:
//!
//! - [`Telemetry`] configures tracer and meter providers with OTLP exporters
//!   (HTTP/protobuf or gRPC), from the standard `OTEL_*` variables or code, and
//!   returns a [`TelemetryGuard`] that flushes on shutdown;
//! - [`TelemetryGuard::layer`] turns spans into OTel spans
//!   (tracing-opentelemetry) and derives the GenAI metrics from them
//!   ([`GenAiMetricsLayer`]): `gen_ai.client.operation.duration`,
//!   `gen_ai.client.token.usage`, time to first chunk, time per output chunk,
//!   and forge's queue wait, stream completion and output tokens per second;
//! - [`TelemetryGuard::dispatch_observer`] is a [`forge_core::DispatchObserver`]
//!   ([`DispatchMetrics`]) feeding `gen_ai.execute_tool.duration` and forge's
//!   dispatches by outcome and input/output bytes.
//!
//! Exports run on a thread of their own with short timeouts and a bounded
//! queue: an unreachable collector costs bounded memory and bounded shutdown
//! time and never blocks the agent. `https://` collectors are verified
//! against Mozilla's roots or a CA file ([`Telemetry::ca_file`]).
//!
//! Content (prompts, answers, tool arguments and results) is exported only
//! when capture is switched on ([`Telemetry::capture_content`]): forge-agent
//! emits it as TRACE events on [`CONTENT_TARGET`], which only then become
//! attributes of their `chat` and `execute_tool` spans; with capture off the
//! target is disabled and nothing is serialised. Attributes naming
//! credentials are always removed.
//!
//! # Examples
//!
//! ```no_run
//! # fn main() -> Result<(), forge_telemetry::Error> {
//! use forge_telemetry::{Protocol, Telemetry};
//!
//! let guard = Telemetry::from_env()
//!     .otlp_endpoint("http://127.0.0.1:4317")
//!     .protocol(Protocol::Grpc)
//!     .install()?;
//! let _observer = guard.dispatch_observer(); // give it to the dispatcher
//! tracing::info_span!("invoke_agent", otel.name = "invoke_agent demo").in_scope(|| {});
//! guard.shutdown()?;
//! # Ok(())
//! # }
//! ```

mod config;
mod content;
mod error;
mod fields;
mod filter;
mod install;
mod instruments;
mod layer;
mod observer;
mod runtime;
mod tls;
mod tokens;

pub use config::{Protocol, Telemetry};
pub use content::CONTENT_TARGET;
pub use error::Error;
pub use install::{SCHEMA_URL, TelemetryGuard};
pub use layer::GenAiMetricsLayer;
pub use observer::DispatchMetrics;
