//! Fault injection: the failure kinds and the `--faults` spec grammar.

use std::{fmt, str::FromStr, time::Duration};

use crate::{Error, rng::Rng};

/// One way a response can fail, with each dialect's realistic status,
/// headers and body.
///
/// | name | Anthropic | OpenAI | Gemini |
/// |---|---|---|---|
/// | `rate_limited` | 429 `rate_limit_error`, `retry-after: S`, RFC 3339 `anthropic-ratelimit-*-reset` | 429 `rate_limit_exceeded`, `retry-after: S`, Go-duration `x-ratelimit-reset-*` | 429 `RESOURCE_EXHAUSTED` with `RetryInfo.retryDelay` in the body, no header |
/// | `rate_limited_date` | as `rate_limited`, `retry-after` as an HTTP date | same | as `rate_limited`, plus an HTTP-date `retry-after` |
/// | `rate_limited_ms` | as `rate_limited`, `retry-after-ms` only | same | as `rate_limited`, plus `retry-after-ms` |
/// | `quota_exhausted` | 400 `invalid_request_error` (credit balance too low: what Anthropic sends) | 429 `insufficient_quota` | 429 `RESOURCE_EXHAUSTED` with a per-day `QuotaFailure`, no `RetryInfo` |
/// | `server_error` | 500 `api_error` | 500 `server_error` | 500 `INTERNAL` |
/// | `unavailable` | 503 `api_error` | 503 `server_error` | 503 `UNAVAILABLE` |
/// | `gateway_timeout` | 504 `timeout_error` | 504 | 504 `DEADLINE_EXCEEDED` |
/// | `overloaded` | 529 `overloaded_error` | 503 (engine overloaded) | 503 `UNAVAILABLE` (model overloaded) |
/// | `not_found` | 404 `not_found_error` (`model: NAME`) | 404 `model_not_found` | 404 `NOT_FOUND` |
/// | `auth` | 401 `authentication_error` | 401 `invalid_api_key` | 400 `INVALID_ARGUMENT`, reason `API_KEY_INVALID` |
/// | `error_after_ok` | HTTP 200, then an `error` event (`overloaded_error`), then close | 200, then a `data: {"error":…}` frame, no `[DONE]` | 200, then a `data: {"error":…}` frame |
/// | `stream_truncated` | 200, the stream ends cleanly midway without its terminator | same | same (no final `finishReason` chunk) |
/// | `connection_reset` | 200, the connection is aborted midway | same | same |
/// | `no_response` | the request is read and never answered | same | same |
/// | `stall` | 200, some frames, then silence forever | same | same |
/// | `malformed_chunk` | 200, one frame's JSON is cut short | same | same |
/// | `oversized` | 200, one event (or the whole body) of `oversize` bytes | same | same |
/// | `content_filtered` | 200, no content, `stop_reason: "refusal"` | 200, no content, `finish_reason: "content_filter"` | 200, no `candidates`, `promptFeedback.blockReason: "SAFETY"` |
///
/// On a non-streaming request the stream kinds act on the JSON body:
/// `error_after_ok`, `stream_truncated` and `malformed_chunk` send the body
/// cut in half, `connection_reset` aborts it midway and `stall` sends half and
/// then nothing.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultKind {
    /// 429 rate limit, `retry-after` in seconds (Gemini: `RetryInfo`).
    RateLimited,
    /// 429 rate limit, `retry-after` as an HTTP date.
    RateLimitedDate,
    /// 429 rate limit, `retry-after-ms`.
    RateLimitedMs,
    /// Quota or billing exhausted: never worth retrying.
    QuotaExhausted,
    /// HTTP 500.
    ServerError,
    /// HTTP 503.
    Unavailable,
    /// HTTP 504.
    GatewayTimeout,
    /// Anthropic 529 `overloaded_error`; 503 in the other dialects.
    Overloaded,
    /// A rejected API key.
    Auth,
    /// The model does not exist (HTTP 404).
    NotFound,
    /// An error event after HTTP 200.
    ErrorAfterOk,
    /// The stream ends cleanly before its terminator.
    StreamTruncated,
    /// The connection is aborted mid-stream.
    ConnectionReset,
    /// The request is accepted and never answered.
    NoResponse,
    /// The stream stops midway and stays open.
    Stall,
    /// One chunk carries invalid JSON.
    MalformedChunk,
    /// One event or body is larger than any sane limit.
    Oversized,
    /// The safety filter blocks the exchange: a complete 200 answer with no
    /// content.
    ContentFiltered,
}

impl FaultKind {
    /// Every kind, in documentation order.
    pub const ALL: [FaultKind; 18] = [
        Self::RateLimited,
        Self::RateLimitedDate,
        Self::RateLimitedMs,
        Self::QuotaExhausted,
        Self::ServerError,
        Self::Unavailable,
        Self::GatewayTimeout,
        Self::Overloaded,
        Self::Auth,
        Self::NotFound,
        Self::ErrorAfterOk,
        Self::StreamTruncated,
        Self::ConnectionReset,
        Self::NoResponse,
        Self::Stall,
        Self::MalformedChunk,
        Self::Oversized,
        Self::ContentFiltered,
    ];

    /// The kinds a seeded rate picks from when the spec names none: the
    /// transient failures a client is expected to recover from.
    pub const TRANSIENT: [FaultKind; 6] = [
        Self::RateLimited,
        Self::ServerError,
        Self::Unavailable,
        Self::Overloaded,
        Self::ErrorAfterOk,
        Self::StreamTruncated,
    ];

    /// The kind's name in fault specs and scripts.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::RateLimited => "rate_limited",
            Self::RateLimitedDate => "rate_limited_date",
            Self::RateLimitedMs => "rate_limited_ms",
            Self::QuotaExhausted => "quota_exhausted",
            Self::ServerError => "server_error",
            Self::Unavailable => "unavailable",
            Self::GatewayTimeout => "gateway_timeout",
            Self::Overloaded => "overloaded",
            Self::Auth => "auth",
            Self::NotFound => "not_found",
            Self::ErrorAfterOk => "error_after_ok",
            Self::StreamTruncated => "stream_truncated",
            Self::ConnectionReset => "connection_reset",
            Self::NoResponse => "no_response",
            Self::Stall => "stall",
            Self::MalformedChunk => "malformed_chunk",
            Self::Oversized => "oversized",
            Self::ContentFiltered => "content_filtered",
        }
    }

    /// Whether the kind answers with an HTTP error status before any body.
    pub(crate) const fn is_status(self) -> bool {
        matches!(
            self,
            Self::RateLimited
                | Self::RateLimitedDate
                | Self::RateLimitedMs
                | Self::QuotaExhausted
                | Self::ServerError
                | Self::Unavailable
                | Self::GatewayTimeout
                | Self::Overloaded
                | Self::Auth
                | Self::NotFound
        )
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FaultKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let s = s.trim();
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| Error::config(format!("unknown fault kind `{s}`")))
    }
}

/// When and how the emulator injects faults.
///
/// Parsed from a comma-separated list of `key=value` items (the `forge
/// emulate --faults` syntax):
///
/// - `rate=P`: the probability, in `[0, 1]`, that a request fails;
/// - `kinds=a|b|c`: the [`FaultKind`]s to pick from, uniformly (default:
///   [`FaultKind::TRANSIENT`]);
/// - `retry_after=D`: the wait the rate-limit kinds announce, as seconds
///   (`2`, `0.5`) or with a unit (`1500ms`, `2s`); default 1 s;
/// - `at=N`: the frame index where the mid-stream kinds strike (default:
///   half-way through the stream);
/// - `oversize=BYTES`: the size of the `oversized` event or body (default
///   8 MiB);
/// - a bare kind name adds that kind.
///
/// Naming kinds without a `rate` means `rate=1`. `none` or an empty string
/// injects nothing. The choice is seeded: with the same emulator seed the same
/// request attempts fail. Attempts are counted per conversation and turn, so a
/// client's retry of a failed request draws again.
///
/// ```
/// use forge_emulator::{FaultKind, FaultSpec};
///
/// let spec: FaultSpec = "rate=0.05,kinds=rate_limited|server_error".parse().unwrap();
/// assert_eq!(spec.rate(), 0.05);
/// assert_eq!(spec.kinds(), &[FaultKind::RateLimited, FaultKind::ServerError]);
/// let always: FaultSpec = "stall,at=3".parse().unwrap();
/// assert_eq!(always.rate(), 1.0);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct FaultSpec {
    rate: f64,
    kinds: Vec<FaultKind>,
    retry_after: Duration,
    at: Option<usize>,
    oversize: usize,
}

const DEFAULT_OVERSIZE: usize = 8 << 20;

impl Default for FaultSpec {
    fn default() -> Self {
        Self::none()
    }
}

impl FaultSpec {
    /// A spec that injects nothing.
    pub fn none() -> Self {
        Self {
            rate: 0.0,
            kinds: FaultKind::TRANSIENT.to_vec(),
            retry_after: Duration::from_secs(1),
            at: None,
            oversize: DEFAULT_OVERSIZE,
        }
    }

    /// A spec that fails every request with `kind`.
    pub fn always(kind: FaultKind) -> Self {
        Self::none().with_rate(1.0).with_kinds([kind])
    }

    /// Sets the failure probability (clamped to `[0, 1]`).
    pub fn with_rate(mut self, rate: f64) -> Self {
        self.rate = rate.clamp(0.0, 1.0);
        self
    }

    /// Sets the kinds to pick from.
    pub fn with_kinds(mut self, kinds: impl IntoIterator<Item = FaultKind>) -> Self {
        self.kinds = kinds.into_iter().collect();
        self
    }

    /// Sets the wait the rate-limit kinds announce.
    pub fn with_retry_after(mut self, wait: Duration) -> Self {
        self.retry_after = wait;
        self
    }

    /// Sets the frame index where mid-stream kinds strike.
    pub fn with_at(mut self, frame: usize) -> Self {
        self.at = Some(frame);
        self
    }

    /// Sets the size of the `oversized` event or body.
    pub fn with_oversize(mut self, bytes: usize) -> Self {
        self.oversize = bytes;
        self
    }

    /// The failure probability.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// The kinds a failure is picked from.
    pub fn kinds(&self) -> &[FaultKind] {
        &self.kinds
    }

    /// The wait the rate-limit kinds announce.
    pub fn retry_after(&self) -> Duration {
        self.retry_after
    }

    /// The frame index where mid-stream kinds strike, if fixed.
    pub fn at(&self) -> Option<usize> {
        self.at
    }

    /// The size of the `oversized` event or body.
    pub fn oversize(&self) -> usize {
        self.oversize
    }

    /// Draws this attempt's fault, if any.
    pub(crate) fn pick(&self, rng: &mut Rng) -> Option<FaultKind> {
        if self.kinds.is_empty() || self.rate <= 0.0 || rng.unit() >= self.rate {
            return None;
        }
        let index = rng.range(0, self.kinds.len() - 1);
        Some(self.kinds[index])
    }

    fn apply(
        &mut self,
        item: &str,
        saw_rate: &mut bool,
        saw_kinds: &mut bool,
    ) -> Result<(), Error> {
        let bad = |what: &str| Error::config(format!("invalid fault spec item `{item}`: {what}"));
        let Some((key, value)) = item.split_once('=') else {
            let kind = item.parse()?;
            self.push_kind(kind, saw_kinds);
            return Ok(());
        };
        match key.trim() {
            "rate" => {
                let rate: f64 = value.trim().parse().map_err(|_| bad("not a number"))?;
                if !(0.0..=1.0).contains(&rate) {
                    return Err(bad("rate must be within [0, 1]"));
                }
                self.rate = rate;
                *saw_rate = true;
            }
            "kinds" => {
                for name in value.split('|').filter(|name| !name.trim().is_empty()) {
                    self.push_kind(name.parse()?, saw_kinds);
                }
            }
            "retry_after" => {
                self.retry_after = parse_duration(value).ok_or_else(|| bad("bad duration"))?
            }
            "at" => self.at = Some(value.trim().parse().map_err(|_| bad("not an index"))?),
            "oversize" => self.oversize = value.trim().parse().map_err(|_| bad("not a size"))?,
            _ => return Err(bad("unknown key")),
        }
        Ok(())
    }

    fn push_kind(&mut self, kind: FaultKind, saw_kinds: &mut bool) {
        if !*saw_kinds {
            self.kinds.clear();
            *saw_kinds = true;
        }
        if !self.kinds.contains(&kind) {
            self.kinds.push(kind);
        }
    }
}

/// Parses `2`, `0.5`, `1500ms` or `2s`.
fn parse_duration(value: &str) -> Option<Duration> {
    let value = value.trim();
    let (number, scale) = if let Some(ms) = value.strip_suffix("ms") {
        (ms, 0.001)
    } else {
        (value.strip_suffix('s').unwrap_or(value), 1.0)
    };
    let seconds = number.trim().parse::<f64>().ok()? * scale;
    Duration::try_from_secs_f64(seconds).ok()
}

impl FromStr for FaultSpec {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let mut spec = Self::none();
        let s = s.trim();
        if s.is_empty() || s == "none" {
            return Ok(spec);
        }
        let (mut saw_rate, mut saw_kinds) = (false, false);
        for item in s.split(',').map(str::trim).filter(|item| !item.is_empty()) {
            spec.apply(item, &mut saw_rate, &mut saw_kinds)?;
        }
        if saw_kinds && !saw_rate {
            spec.rate = 1.0;
        }
        Ok(spec)
    }
}

impl fmt::Display for FaultSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kinds: Vec<&str> = self.kinds.iter().map(|kind| kind.as_str()).collect();
        write!(f, "rate={},kinds={}", self.rate, kinds.join("|"))?;
        write!(f, ",retry_after={}ms", self.retry_after.as_millis())?;
        if let Some(at) = self.at {
            write!(f, ",at={at}")?;
        }
        write!(f, ",oversize={}", self.oversize)
    }
}
