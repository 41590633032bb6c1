//! Anthropic, OpenAI and Gemini adapters for forge over hyper and rustls,
//! with streaming, retries, limits and routing.
//!
//! Every adapter implements [`forge_core::Model`], so switching provider is a
//! configuration edit. Each vendor is a cargo feature (`anthropic`, `openai`,
//! `google`; all on by default) and a module of the same shape: `request`
//! (mapping), `wire` (serde types), `stream` (assembly), `error`
//! (classification). They share one HTTP transport (a pooled hyper client per
//! process, rustls with ring, HTTP/2 over ALPN or h2c), one SSE decoder,
//! retries with full-jitter backoff that honour the server's requested wait,
//! and the `chat` tracing span.
//!
//! # The public API
//!
//! - [`Config`] (`from_toml_str`, `from_path`, `FORGE_*` overrides) and
//!   [`Config::build`]: one deployment gives its adapter, several (or any
//!   route) give a [`router::Router`] with fallback and circuit breakers.
//! - [`DeploymentConfig`] (provider, model, base URL, `api_key_env`,
//!   timeouts, retry, limits, HTTP limits, h2c, extra CA) and [`connect`].
//! - [`ProviderKind`]; [`ApiKey`], which never prints itself.
//! - [`limit`]: per-deployment concurrency, queue and rate limits.
//! - [`StreamDecoder`] and [`sse`]: the stream decoding on its own, for
//!   benchmarks and replay.
//! - [`Error`]: the one error of configuration and set-up. Model calls fail
//!   with [`forge_core::Error`], classified by [`forge_core::ErrorKind`].
//!
//! Base URLs: Anthropic `http://host:port` (+ `/v1/messages`); OpenAI
//! includes `/v1` (+ `/chat/completions`); Gemini `http://host:port` (+
//! `/v1beta/models/{model}:generateContent` or
//! `:streamGenerateContent?alt=sse`). Every request carries the request's
//! conversation id in `x-forge-conversation-id`.
//!
//! # Examples
//!
//! ```no_run
//! use forge_core::{Message, ModelRequest};
//! use forge_providers::Config;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = Config::from_toml_str(
//!     r#"
//!     [deployments.main]
//!     provider = "anthropic"
//!     model = "claude-sonnet-4-5"
//!     api_key_env = "ANTHROPIC_API_KEY"
//!     "#,
//! )?;
//! let model = config.build()?;
//! let answer = model
//!     .complete(ModelRequest::new(vec![Message::user("Hello")]).max_tokens(256))
//!     .await?;
//! println!("{}", answer.to_message().text());
//! # Ok(())
//! # }
//! ```

#![cfg_attr(
    not(all(feature = "anthropic", feature = "openai", feature = "google")),
    allow(
        dead_code,
        unused_imports,
        unused_variables,
        unreachable_code,
        reason = "helpers shared by the vendors go unused when one is compiled out; \
                  the default build, with all three, checks them"
    )
)]

mod config;
mod decode;
mod error;
mod provider;
mod retry;
pub mod sse;
mod transport;

#[cfg(feature = "anthropic")]
mod anthropic;
#[cfg(feature = "google")]
mod google;
#[cfg(feature = "openai")]
mod openai;

pub mod limit;
pub mod router;

pub use config::{
    ApiKey, Config, DeploymentConfig, HttpConfig, ProviderKind, RetryConfig, TimeoutConfig, connect,
};
pub use decode::StreamDecoder;
pub use error::Error;

/// Releases the process's shared HTTP clients, so that their connection
/// pools close once the models still using them are dropped.
///
/// Every model built by [`connect`] shares one pooled client per transport
/// setting with every other model in the process. The pool keeps a
/// background task (idle-connection eviction) and, per open connection, the
/// connection's own tasks; they end when the last handle to the pool goes.
/// Call this at the end of a program or test that wants the runtime back to
/// its idle task count: models built afterwards get a fresh client, and
/// models built before keep working on the old one until they are dropped.
///
/// # Examples
///
/// ```
/// // After the last conversation, before checking the runtime is idle:
/// forge_providers::release_shared_clients();
/// ```
pub fn release_shared_clients() {
    transport::release_shared_clients();
}
