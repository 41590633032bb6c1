//! The serde-deserializable limits of one deployment.

use std::num::{NonZeroU32, NonZeroUsize};

use serde::{Deserialize, Serialize};

/// The default bound of a deployment's wait queue.
const DEFAULT_MAX_QUEUE: usize = 256;

/// The limits of one deployment: concurrency, wait queue and rates.
///
/// Every limit is optional except the queue bound, which always applies to
/// callers that have to wait. Deserializes from TOML such as:
///
/// ```toml
/// max_concurrency = 8
/// max_queue = 64
/// requests_per_minute = 500
/// tokens_per_minute = 200000
/// ```
///
/// # Examples
///
/// ```
/// use forge_providers::limit::LimitConfig;
///
/// let limits = LimitConfig::new().max_concurrency(8).requests_per_minute(500);
/// assert_eq!(limits.max_concurrency.map(|n| n.get()), Some(8));
/// assert_eq!(limits.max_queue, 256);
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitConfig {
    /// Calls in flight at once (a stream counts until it is dropped); `None`
    /// means unlimited.
    pub max_concurrency: Option<NonZeroUsize>,
    /// Callers allowed to wait for a permit or a rate limit at once; one more
    /// fails at once with [`forge_core::ErrorKind::QueueFull`]. Zero means
    /// callers never wait.
    pub max_queue: usize,
    /// Requests started per minute, with a burst of the same size.
    pub requests_per_minute: Option<NonZeroU32>,
    /// Tokens per minute, charged up front per request as its estimated
    /// prompt tokens plus its `max_tokens` (see [`crate::limit`]).
    pub tokens_per_minute: Option<NonZeroU32>,
}

impl Default for LimitConfig {
    fn default() -> Self {
        Self {
            max_concurrency: None,
            max_queue: DEFAULT_MAX_QUEUE,
            requests_per_minute: None,
            tokens_per_minute: None,
        }
    }
}

impl LimitConfig {
    /// No concurrency or rate limit, and a queue bound of 256.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the concurrency limit; `0` removes it.
    #[must_use]
    pub fn max_concurrency(mut self, permits: usize) -> Self {
        self.max_concurrency = NonZeroUsize::new(permits);
        self
    }

    /// Sets how many callers may wait at once.
    #[must_use]
    pub fn max_queue(mut self, waiting: usize) -> Self {
        self.max_queue = waiting;
        self
    }

    /// Sets the requests-per-minute limit; `0` removes it.
    #[must_use]
    pub fn requests_per_minute(mut self, requests: u32) -> Self {
        self.requests_per_minute = NonZeroU32::new(requests);
        self
    }

    /// Sets the tokens-per-minute limit; `0` removes it.
    #[must_use]
    pub fn tokens_per_minute(mut self, tokens: u32) -> Self {
        self.tokens_per_minute = NonZeroU32::new(tokens);
        self
    }

    /// Whether any limit beyond the queue bound is set.
    pub fn is_unlimited(&self) -> bool {
        self.max_concurrency.is_none()
            && self.requests_per_minute.is_none()
            && self.tokens_per_minute.is_none()
    }
}
