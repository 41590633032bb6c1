//! The serde-deserializable routing configuration: rules, breaker, and the
//! bundle of both.

use std::time::Duration;

use forge_core::ModelRequest;
use serde::{Deserialize, Serialize};

/// One routing rule: which deployment serves the requests it matches, and
/// where they fall back to.
///
/// A rule matches when every condition that is set holds; a rule with no
/// condition matches everything. Deserializes from TOML such as:
///
/// ```toml
/// deployment = "claude-large"
/// min_prompt_tokens = 50000
/// fallback = ["gemini-long"]
/// ```
///
/// # Examples
///
/// ```
/// use forge_providers::router::RouteConfig;
///
/// let rule = RouteConfig::new("cheap").route("summarize").tools(false);
/// assert_eq!(rule.deployment, "cheap");
/// assert_eq!(rule.route.as_deref(), Some("summarize"));
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// The deployment that serves matching requests first.
    pub deployment: String,
    /// Matches requests whose [`ModelRequest::route`] tag equals this.
    #[serde(default)]
    pub route: Option<String>,
    /// Matches requests estimated at this many prompt tokens or more
    /// ([`ModelRequest::estimated_prompt_tokens`]).
    #[serde(default)]
    pub min_prompt_tokens: Option<usize>,
    /// Matches requests estimated at this many prompt tokens or fewer.
    #[serde(default)]
    pub max_prompt_tokens: Option<usize>,
    /// Matches requests that offer tools (`true`) or offer none (`false`).
    #[serde(default)]
    pub tools: Option<bool>,
    /// Deployments to try, in order, after [`RouteConfig::deployment`] fails
    /// with a failure that falls back; the router's global fallback chain
    /// follows these.
    #[serde(default)]
    pub fallback: Vec<String>,
}

impl RouteConfig {
    /// A rule sending every request to `deployment`.
    pub fn new(deployment: impl Into<String>) -> Self {
        Self {
            deployment: deployment.into(),
            route: None,
            min_prompt_tokens: None,
            max_prompt_tokens: None,
            tools: None,
            fallback: Vec::new(),
        }
    }

    /// Matches only requests tagged `tag`.
    #[must_use]
    pub fn route(mut self, tag: impl Into<String>) -> Self {
        self.route = Some(tag.into());
        self
    }

    /// Matches only requests of at least `tokens` estimated prompt tokens.
    #[must_use]
    pub fn min_prompt_tokens(mut self, tokens: usize) -> Self {
        self.min_prompt_tokens = Some(tokens);
        self
    }

    /// Matches only requests of at most `tokens` estimated prompt tokens.
    #[must_use]
    pub fn max_prompt_tokens(mut self, tokens: usize) -> Self {
        self.max_prompt_tokens = Some(tokens);
        self
    }

    /// Matches only requests that offer tools (`true`) or offer none (`false`).
    #[must_use]
    pub fn tools(mut self, offered: bool) -> Self {
        self.tools = Some(offered);
        self
    }

    /// Sets this rule's own fallback deployments, in order.
    #[must_use]
    pub fn fallback<I, S>(mut self, deployments: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.fallback = deployments.into_iter().map(Into::into).collect();
        self
    }

    /// Whether `request` satisfies every condition of this rule.
    pub fn matches(&self, request: &ModelRequest) -> bool {
        let tag_ok = self
            .route
            .as_deref()
            .is_none_or(|tag| request.route.as_deref() == Some(tag));
        let tools_ok = self
            .tools
            .is_none_or(|offered| offered != request.tools.is_empty());
        tag_ok && tools_ok && self.size_matches(request)
    }

    fn size_matches(&self, request: &ModelRequest) -> bool {
        if self.min_prompt_tokens.is_none() && self.max_prompt_tokens.is_none() {
            return true;
        }
        let tokens = request.estimated_prompt_tokens();
        self.min_prompt_tokens.is_none_or(|min| tokens >= min)
            && self.max_prompt_tokens.is_none_or(|max| tokens <= max)
    }
}

/// The circuit breaker every deployment of a router gets.
///
/// Deserializes from TOML such as `failure_threshold = 3` and
/// `cooldown_ms = 30000`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// use forge_providers::router::BreakerConfig;
///
/// let breaker = BreakerConfig::new().failure_threshold(5).cooldown(Duration::from_secs(10));
/// assert_eq!(breaker.failure_threshold, 5);
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BreakerConfig {
    /// Consecutive retryable failures that open the breaker (at least 1).
    pub failure_threshold: u32,
    /// How long an open breaker cools when the failure that opened it named
    /// no `retry_after`; in TOML, `cooldown_ms`.
    #[serde(rename = "cooldown_ms", with = "millis")]
    pub cooldown: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failure_threshold: 3,
            cooldown: Duration::from_secs(30),
        }
    }
}

impl BreakerConfig {
    /// Three failures, thirty seconds.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the consecutive failures that open the breaker.
    #[must_use]
    pub fn failure_threshold(mut self, failures: u32) -> Self {
        self.failure_threshold = failures;
        self
    }

    /// Sets the default cooldown.
    #[must_use]
    pub fn cooldown(mut self, cooldown: Duration) -> Self {
        self.cooldown = cooldown;
        self
    }
}

/// Everything about a router except its deployments, as one TOML table.
///
/// ```toml
/// fallback = ["openai-mini"]
/// max_wait_ms = 20000
///
/// [breaker]
/// failure_threshold = 3
/// cooldown_ms = 30000
///
/// [[routes]]
/// deployment = "claude"
/// tools = true
/// ```
///
/// Apply it with [`crate::router::RouterBuilder::config`].
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RouterConfig {
    /// The rules, first match wins.
    pub routes: Vec<RouteConfig>,
    /// The global fallback chain, tried after a rule's own.
    pub fallback: Vec<String>,
    /// The breaker of every deployment.
    pub breaker: BreakerConfig,
    /// The longest a request without a timeout waits for a cooling
    /// deployment; in TOML, `max_wait_ms`.
    #[serde(rename = "max_wait_ms", with = "millis")]
    pub max_wait: Duration,
}

/// The default wait for a cooling deployment when a request has no timeout.
pub(crate) const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(60);

impl Default for RouterConfig {
    fn default() -> Self {
        Self {
            routes: Vec::new(),
            fallback: Vec::new(),
            breaker: BreakerConfig::default(),
            max_wait: DEFAULT_MAX_WAIT,
        }
    }
}

/// Durations as whole milliseconds in configuration files.
mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(value: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(value.as_millis()).unwrap_or(u64::MAX))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}
