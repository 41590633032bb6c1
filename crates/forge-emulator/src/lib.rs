//! A wire-exact, deterministic offline emulator of the Anthropic, OpenAI and
//! Gemini APIs.
//!
//! [`Emulator`] starts a real HTTP server (hyper; HTTP/1.1 and HTTP/2 with
//! prior knowledge on one plain-TCP port, by default `127.0.0.1:0`) that
//! answers, streaming and not:
//!
//! - Anthropic Messages: `POST /v1/messages`;
//! - OpenAI Chat Completions: `POST /v1/chat/completions`;
//! - Gemini: `POST /v1beta/models/{model}:generateContent` and
//!   `:streamGenerateContent` (SSE with `?alt=sse`, one JSON array without).
//!
//! Responses carry the details real servers show: Anthropic `ping` events,
//! JSON padded with spaces before its final `}`, `partial_json` split
//! mid-key after a first `""` piece, cumulative usage in `message_delta`;
//! OpenAI `data:`-only frames, `finish_reason: null` until the last choice,
//! call ids and names only on a call's first fragment, the empty-`choices`
//! usage chunk with `stream_options.include_usage`, `[DONE]`; Gemini frames
//! separated by `\r\n\r\n`, calls without ids, one call per chunk, a
//! `thoughtSignature` on the first call of a parallel set, running
//! `usageMetadata` totals and a final chunk with `parts: [{"text": ""}]`.
//!
//! Frames due at the same moment (no latency between them) leave in one
//! write, as from a real server's buffered writer, so clients see several
//! events in one read; [`Latency::between_tokens`] spaces content frames.
//!
//! Requests are checked as the real servers check them, and rejected with
//! 400 in the dialect's error format: Anthropic `max_tokens` and the
//! `anthropic-version` header required, every `tool_use` id answered by a
//! `tool_result` in the next user message and no stray results, `thinking`
//! blocks sent back with their text and signature unchanged; OpenAI every
//! `tool_call_id` answered, no empty `tool_calls`, `arguments` a string,
//! tool names matching
//! `^[a-zA-Z0-9_-]+$` (at most 64), strict schemas closed and fully
//! required; Gemini function responses matching the calls one to one,
//! `response` an object, valid function names, no `$ref` or type arrays in
//! `parameters`, and (for Gemini 3 and unknown model names; not for
//! `gemini-1*`/`gemini-2*`) the `thoughtSignature` echoed on the first call
//! of each step of the current turn.
//!
//! # The scripted model
//!
//! Replies are deterministic for a seed ([`EmulatorBuilder::seed`]): ids,
//! split points, padding and fault draws come from a generator seeded by the
//! seed, the conversation and the turn, never from the clock or the order in
//! which concurrent requests arrive. (Rate-limit reset and date headers use
//! the wall clock, as they must.)
//!
//! **Script policy.** A [`Script`] (JSON lines, see its docs) gives, per
//! conversation id (header `x-forge-conversation-id`, [`CONVERSATION_HEADER`])
//! and turn, the thinking, text and calls to emit and the faults to inject.
//! Call arguments may be any JSON (wrong types included) or raw text that is
//! not JSON at all.
//!
//! **Default policy**, for requests no script covers:
//!
//! 1. When the last message holds tool results, answer with text that quotes
//!    each result: `Here is what the tools returned. NAME returned: CONTENT.`
//!    (`failed with` for results marked as errors), padded with filler words
//!    to [`Latency::answer_words`].
//! 2. Otherwise, when tools are offered, pick those whose name appears in the
//!    last user text (as a word, or with `_`, `-`, `.` read as spaces), or
//!    one of whose description words of five letters or more appears there
//!    as a word; if none matches, the first tool. Say `I will use A and B.`
//!    and call every picked tool, in parallel, once each.
//! 3. Otherwise answer `You asked: …` with the first twelve words of the
//!    user text, padded likewise.
//!
//! Call arguments fill the schema's `required` properties (all properties
//! when it lists none), in order, from the last user text where the type
//! allows: numbers for `integer`/`number` (within `minimum`/`maximum`; all
//! remaining numbers for numeric arrays), quoted strings and then
//! capitalised words for `string`, words equal to an `enum` value for enums.
//! Everything else is derived from the schema: `const`, the first `enum`
//! value, the lower bound (or 1) for numbers, `true`, a sample per string
//! `format` or `"example NAME"` fitted to `minLength`/`maxLength`,
//! `minItems` items (at least one), nested objects recursively; `$ref`s are
//! followed and `anyOf`/`oneOf`/`allOf` take their first non-null branch.
//!
//! A request's `max_tokens` (`max_completion_tokens`, `maxOutputTokens`)
//! cuts a longer text answer, drops its calls and reports the max-tokens stop
//! reason.
//!
//! # Faults
//!
//! A seeded [`FaultSpec`] (`"rate=0.05,kinds=rate_limited|server_error"`) or
//! a script's `faults` make attempts fail with any [`FaultKind`], each with
//! the dialect's realistic status, headers and body.
//!
//! # Examples
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//!
//! use forge_emulator::{Dialect, Emulator, FaultSpec, Latency, Script};
//!
//! let script = Script::parse(
//!     r#"{"conversation":"c1","calls":[{"name":"add","arguments":{"a":"two"}}]}"#,
//! )?;
//! let emulator = Emulator::builder()
//!     .seed(42)
//!     .script(script)
//!     .faults("rate=0.05,kinds=rate_limited|server_error".parse::<FaultSpec>()?)
//!     .latency(Latency {
//!         first_token: Duration::from_millis(5),
//!         between_tokens: Duration::ZERO,
//!         answer_words: 20,
//!     })
//!     .start()
//!     .await?;
//! let anthropic = emulator.base_url(Dialect::Anthropic); // + /v1/messages
//! assert!(anthropic.starts_with("http://127.0.0.1:"));
//! emulator.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod args;
mod body;
mod convo;
mod dialect;
mod emulator;
mod error;
mod fault;
mod policy;
mod rng;
mod script;
mod service;

pub use emulator::{Dialect, Emulator, EmulatorBuilder, EmulatorHandle, Latency};
pub use error::Error;
pub use fault::{FaultKind, FaultSpec};
pub use script::{Script, ScriptTurn};

/// The request header that carries the conversation id scripts are keyed on.
pub const CONVERSATION_HEADER: &str = service::CONVERSATION_HEADER;
