//! One deployment: a provider, a model and an endpoint, with its timeouts,
//! retry policy and limits.

use std::{path::PathBuf, time::Duration};

use serde::{Deserialize, Serialize};

use super::{ApiKey, duration};
use crate::limit::LimitConfig;

/// Which wire format a deployment speaks.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// Anthropic Messages (`/v1/messages`).
    Anthropic,
    /// OpenAI Chat Completions and compatible servers (`{base}/chat/completions`).
    #[serde(alias = "open_ai")]
    OpenAi,
    /// Gemini (`/v1beta/models/{model}:generateContent`).
    #[serde(alias = "gemini")]
    Google,
}

impl ProviderKind {
    /// The value of `gen_ai.provider.name`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Anthropic => "anthropic",
            Self::OpenAi => "openai",
            Self::Google => "gcp.gemini",
        }
    }

    /// The public endpoint used when no base URL is configured.
    pub const fn default_base_url(self) -> &'static str {
        match self {
            Self::Anthropic => "https://api.anthropic.com",
            Self::OpenAi => "https://api.openai.com/v1",
            Self::Google => "https://generativelanguage.googleapis.com",
        }
    }

    /// Parses `anthropic`, `openai` or `google` (also `gemini`).
    pub fn parse(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "anthropic" => Some(Self::Anthropic),
            "openai" | "open_ai" => Some(Self::OpenAi),
            "google" | "gemini" | "gcp.gemini" => Some(Self::Google),
            _ => None,
        }
    }
}

/// Connect, first-chunk, idle and total deadlines.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TimeoutConfig {
    /// TCP connect.
    #[serde(with = "duration")]
    pub connect: Duration,
    /// From sending a request to its first response chunk.
    #[serde(with = "duration")]
    pub first_chunk: Duration,
    /// The longest gap between two chunks of a response.
    #[serde(with = "duration")]
    pub idle: Duration,
    /// The whole call, retries included (a request's own timeout wins).
    #[serde(with = "duration::option")]
    pub total: Option<Duration>,
}

impl Default for TimeoutConfig {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(10),
            first_chunk: Duration::from_secs(120),
            idle: Duration::from_secs(60),
            total: Some(Duration::from_secs(600)),
        }
    }
}

/// How failed calls are retried.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryConfig {
    /// Retries after the first attempt (0 disables retrying).
    pub max_retries: u32,
    /// The first backoff ceiling; it doubles per retry.
    #[serde(with = "duration")]
    pub initial_backoff: Duration,
    /// The largest backoff ceiling.
    #[serde(with = "duration")]
    pub max_backoff: Duration,
    /// The longest server-requested wait honoured; a longer one fails the
    /// call at once (so a router can fall back).
    #[serde(with = "duration")]
    pub max_retry_after: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_retries: 3,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(20),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

/// HTTP-level limits.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// The largest non-streamed response body.
    pub max_body_bytes: usize,
    /// The largest single stream event.
    pub max_event_bytes: usize,
    /// Requests in flight to this host at once (over HTTP/1.1, connections);
    /// `None` means unbounded.
    pub max_connections_per_host: Option<usize>,
    /// Idle connections kept per host.
    pub pool_max_idle_per_host: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 32 << 20,
            max_event_bytes: 4 << 20,
            max_connections_per_host: None,
            pool_max_idle_per_host: 64,
        }
    }
}

/// A provider + model + endpoint, and how to talk to it.
///
/// # Examples
///
/// ```
/// use forge_providers::{DeploymentConfig, ProviderKind};
///
/// let mut d = DeploymentConfig::new(ProviderKind::OpenAi, "gpt-4.1-mini");
/// d.base_url = Some("http://127.0.0.1:8080/v1".into());
/// assert_eq!(d.base_url(), "http://127.0.0.1:8080/v1");
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentConfig {
    /// The wire format.
    pub provider: ProviderKind,
    /// The model name sent to the provider.
    pub model: String,
    /// The endpoint; the provider's public one when absent. OpenAI's includes `/v1`.
    #[serde(default)]
    pub base_url: Option<String>,
    /// The environment variable holding the API key. No key is sent when it
    /// is unset (fine for the emulator).
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// The output token limit when a request sets none (Anthropic requires one).
    #[serde(default = "default_max_tokens")]
    pub max_tokens: u32,
    /// Speak HTTP/2 without negotiation (h2c) to a plain-http endpoint.
    #[serde(default)]
    pub http2_prior_knowledge: bool,
    /// A PEM file of extra trusted CA certificates.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// OpenAI: send tools with `strict: true` (schemas tightened to match).
    #[serde(default)]
    pub strict_tools: bool,
    /// Gemini: send schemas whole as `parametersJsonSchema` instead of the
    /// OpenAPI-subset `parameters`.
    #[serde(default)]
    pub json_schema_parameters: bool,
    /// Deadlines.
    #[serde(default)]
    pub timeouts: TimeoutConfig,
    /// Retry policy.
    #[serde(default)]
    pub retry: RetryConfig,
    /// Concurrency and rate limits.
    #[serde(default)]
    pub limits: LimitConfig,
    /// HTTP-level limits.
    #[serde(default)]
    pub http: HttpConfig,
}

fn default_max_tokens() -> u32 {
    4096
}

impl DeploymentConfig {
    /// A deployment of `model` at `provider`'s public endpoint, with defaults.
    pub fn new(provider: ProviderKind, model: impl Into<String>) -> Self {
        Self {
            provider,
            model: model.into(),
            base_url: None,
            api_key_env: None,
            max_tokens: default_max_tokens(),
            http2_prior_knowledge: false,
            ca_file: None,
            strict_tools: false,
            json_schema_parameters: false,
            timeouts: TimeoutConfig::default(),
            retry: RetryConfig::default(),
            limits: LimitConfig::default(),
            http: HttpConfig::default(),
        }
    }

    /// The configured base URL, or the provider's public one, without a
    /// trailing `/`.
    pub fn base_url(&self) -> &str {
        self.base_url
            .as_deref()
            .unwrap_or(self.provider.default_base_url())
            .trim_end_matches('/')
    }

    /// The API key, read now from [`DeploymentConfig::api_key_env`].
    pub fn api_key(&self) -> Option<ApiKey> {
        self.api_key_env.as_deref().and_then(ApiKey::from_env)
    }
}
