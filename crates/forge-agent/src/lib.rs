//! The forge agent loop: model turns, batched tool dispatch, stop conditions
//! and many concurrent conversations.
//!
//! An [`Agent`] pairs an `Arc<dyn forge_core::Model>` with a
//! [`forge_dispatch::Dispatcher`]. [`Agent::run`] drives one
//! [`Conversation`]: each step streams a model call, runs every tool call of
//! that turn as one concurrent batch, appends every result (each call id is
//! answered before the next model call) and calls the model again. A
//! conversation stops on a final answer, the step limit, a named stop tool,
//! or the token budget. Invalid tool calls go back to the model as tool
//! errors, bounded by a retry budget per call and per run.
//!
//! Conversations share nothing but the agent, so one runtime runs thousands
//! of them at once; each holds only its transcript, bounded by the step
//! limit. Progress is observable through an [`EventSink`].
//!
//! Every conversation runs inside an `invoke_agent` tracing span; the model's
//! `chat` spans and one `execute_tool` span per tool call are its children.
//! Prompts, answers and tool payloads are emitted only as TRACE events on the
//! `forge::content` target, and serialised only when a subscriber enables
//! that target (forge-telemetry does when content capture is on).
//!
//! # Examples
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use forge_agent::{Agent, AgentEvent, Conversation};
//! use forge_dispatch::{Dispatcher, Registry};
//!
//! # async fn demo(model: Arc<dyn forge_core::Model>) -> Result<(), Box<dyn std::error::Error>> {
//! let registry = Registry::builder().build()?;
//! let agent = Agent::builder(model, Dispatcher::builder(registry).build())
//!     .system("Answer briefly.")
//!     .max_steps(4)
//!     .build();
//! let print = |event: &AgentEvent<'_>| {
//!     if let AgentEvent::TextDelta(text) = event {
//!         print!("{text}");
//!     }
//! };
//! let output = agent
//!     .run_with_events(Conversation::new("Hello").with_id("c-1"), &print)
//!     .await?;
//! assert!(!output.turns.is_empty());
//! # Ok(())
//! # }
//! ```

mod agent;
mod budget;
mod content;
mod error;
mod event;
mod report;
mod run;
mod tools;

pub use agent::{Agent, AgentBuilder, Conversation};
pub use error::Error;
pub use event::{AgentEvent, EventSink, NoEvents};
pub use report::{RunOutput, StopCause, TurnReport};
