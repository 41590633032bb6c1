//! Retry policy: full-jitter exponential backoff that defers to the
//! server's requested wait.
//!
//! backon's `ExponentialBuilder` (without its own jitter, which only adds
//! up to one delay on top) produces the capped exponential ceilings; each
//! wait is then drawn uniformly from `[0, ceiling]` ("full jitter"). When
//! the server named a wait (`retry-after`, `retry-after-ms`, Gemini's
//! `RetryInfo.retryDelay`), that wait is used instead, unless it exceeds
//! `max_retry_after`, in which case the error is returned at once so a
//! router can fall back rather than stall.

use std::time::{Duration, SystemTime};

use backon::{BackoffBuilder, ExponentialBuilder};
use http::HeaderMap;
use rand::Rng;
use tokio::time::Instant;

use crate::config::RetryConfig;

/// A retry schedule for one call.
#[derive(Debug)]
pub(crate) struct Backoff {
    ceilings: backon::ExponentialBackoff,
    max_retry_after: Duration,
}

impl Backoff {
    pub(crate) fn new(config: &RetryConfig) -> Self {
        let ceilings = ExponentialBuilder::new()
            .with_min_delay(config.initial_backoff)
            .with_max_delay(config.max_backoff)
            .with_max_times(config.max_retries as usize)
            .build();
        Self {
            ceilings,
            max_retry_after: config.max_retry_after,
        }
    }

    /// How long to wait before retrying after `error`, or `None` to give up:
    /// the error is not retryable, attempts are exhausted, the server's wait
    /// is too long, or the wait would end past `deadline`.
    pub(crate) fn next_wait(
        &mut self,
        error: &forge_core::Error,
        deadline: Option<Instant>,
    ) -> Option<Duration> {
        if !error.is_retryable() {
            return None;
        }
        let ceiling = self.ceilings.next()?;
        let wait = match error.retry_after() {
            Some(asked) if asked > self.max_retry_after => return None,
            Some(asked) => asked,
            None => full_jitter(ceiling),
        };
        match deadline {
            Some(at) if Instant::now() + wait >= at => None,
            _ => Some(wait),
        }
    }
}

fn full_jitter(ceiling: Duration) -> Duration {
    let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(rand::rng().random_range(0..=nanos))
}

/// The wait a response's headers ask for: `retry-after-ms`, then
/// `retry-after` as seconds (fractions allowed) or an HTTP date.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let header = |name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(ms) = header("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        return seconds(ms / 1000.0);
    }
    let value = header("retry-after")?;
    if let Ok(secs) = value.parse::<f64>() {
        return seconds(secs);
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// The wait until an RFC 3339 timestamp such as `2026-12-03T19:00:30Z` or
/// `2026-12-03T20:00:30.5+01:00` (Anthropic's rate-limit reset headers);
/// zero when it has passed.
pub(crate) fn until_rfc3339(value: &str) -> Option<Duration> {
    let at = rfc3339_unix(value.trim())?;
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .ok()?;
    Some(Duration::try_from_secs_f64(at - now.as_secs_f64()).unwrap_or(Duration::ZERO))
}

/// Seconds since the Unix epoch of an RFC 3339 timestamp.
fn rfc3339_unix(v: &str) -> Option<f64> {
    let num = |range: std::ops::Range<usize>| v.get(range)?.parse::<i64>().ok();
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if v.get(4..5)? != "-" || !matches!(v.get(10..11)?, "T" | "t" | " ") {
        return None;
    }
    let rest = &v[19..];
    let zone_at = rest.find(['Z', 'z', '+', '-'])?;
    let fraction: f64 = match &rest[..zone_at] {
        "" => 0.0,
        f => format!("0{f}").parse().ok()?,
    };
    let offset = match &rest[zone_at..] {
        "Z" | "z" => 0,
        zone => {
            let sign = if zone.starts_with('-') { -1 } else { 1 };
            let hours: i64 = zone.get(1..3)?.parse().ok()?;
            let minutes: i64 = zone.get(4..6)?.parse().ok()?;
            sign * (hours * 3600 + minutes * 60)
        }
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset;
    Some(secs as f64 + fraction)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses a protobuf-JSON duration such as `"34.4s"` or `"1s"`.
pub(crate) fn proto_duration(value: &str) -> Option<Duration> {
    seconds(value.trim().strip_suffix('s')?.parse().ok()?)
}

fn seconds(secs: f64) -> Option<Duration> {
    Duration::try_from_secs_f64(secs).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use forge_core::{Error, ErrorKind};

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn retry_after_forms() {
        let secs = headers(&[("retry-after", "7")]);
        assert_eq!(retry_after(&secs), Some(Duration::from_secs(7)));
        let ms = headers(&[("retry-after-ms", "250"), ("retry-after", "9")]);
        assert_eq!(retry_after(&ms), Some(Duration::from_millis(250)));
        let date = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(30));
        let wait = retry_after(&headers(&[("retry-after", &date)])).unwrap();
        assert!(wait > Duration::from_secs(27) && wait <= Duration::from_secs(30));
        let past = headers(&[("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")]);
        assert_eq!(retry_after(&past), Some(Duration::ZERO));
        assert_eq!(retry_after(&headers(&[("retry-after", "soon")])), None);
    }

    #[test]
    fn rfc3339_timestamps() {
        assert_eq!(rfc3339_unix("1970-01-01T00:00:00Z"), Some(0.0));
        assert_eq!(rfc3339_unix("2026-12-03T19:00:30Z"), Some(1_796_324_430.0));
        assert_eq!(
            rfc3339_unix("2026-12-03T20:00:30.5+01:00"),
            Some(1_796_324_430.5)
        );
        assert_eq!(rfc3339_unix("yesterday"), None);
        assert_eq!(until_rfc3339("2015-10-21T07:28:00Z"), Some(Duration::ZERO));
        let soon = SystemTime::now() + Duration::from_secs(20);
        let secs = soon
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let days = secs / 86_400;
        let (h, m, s) = (secs % 86_400 / 3600, secs % 3600 / 60, secs % 60);
        // Build the date back from the day count to exercise the round trip.
        let stamp = civil_from_days(days as i64);
        let text = format!("{stamp}T{h:02}:{m:02}:{s:02}Z");
        let wait = until_rfc3339(&text).unwrap();
        assert!(
            wait > Duration::from_secs(17) && wait <= Duration::from_secs(20),
            "{text}: {wait:?}"
        );
    }

    fn civil_from_days(z: i64) -> String {
        let z = z + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = yoe + era * 400 + i64::from(m <= 2);
        format!("{y:04}-{m:02}-{d:02}")
    }

    #[test]
    fn proto_durations() {
        assert_eq!(proto_duration("34.4s"), Some(Duration::from_millis(34_400)));
        assert_eq!(proto_duration("1s"), Some(Duration::from_secs(1)));
        assert_eq!(proto_duration("12"), None);
    }

    fn policy(max_retries: u32) -> RetryConfig {
        RetryConfig {
            max_retries,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(400),
            max_retry_after: Duration::from_secs(5),
        }
    }

    #[test]
    fn full_jitter_stays_under_the_exponential_ceiling() {
        let err = Error::new(ErrorKind::ServerError, "500");
        let mut b = Backoff::new(&policy(4));
        let ceilings = [100, 200, 400, 400];
        for ceiling in ceilings {
            let wait = b.next_wait(&err, None).unwrap();
            assert!(
                wait <= Duration::from_millis(ceiling),
                "{wait:?} > {ceiling}ms"
            );
        }
        assert_eq!(b.next_wait(&err, None), None, "attempts are bounded");
    }

    #[test]
    fn quota_and_bad_requests_are_never_retried() {
        let mut b = Backoff::new(&policy(3));
        for kind in [
            ErrorKind::QuotaExhausted,
            ErrorKind::InvalidRequest,
            ErrorKind::Auth,
        ] {
            assert_eq!(b.next_wait(&Error::new(kind, "no"), None), None);
        }
    }

    #[test]
    fn the_servers_wait_wins_unless_too_long_or_past_the_deadline() {
        let asked =
            Error::new(ErrorKind::RateLimited, "429").with_retry_after(Duration::from_secs(2));
        assert_eq!(
            Backoff::new(&policy(3)).next_wait(&asked, None),
            Some(Duration::from_secs(2))
        );
        let long =
            Error::new(ErrorKind::RateLimited, "429").with_retry_after(Duration::from_secs(60));
        assert_eq!(Backoff::new(&policy(3)).next_wait(&long, None), None);
        let soon = Some(Instant::now() + Duration::from_secs(1));
        assert_eq!(Backoff::new(&policy(3)).next_wait(&asked, soon), None);
    }
}
