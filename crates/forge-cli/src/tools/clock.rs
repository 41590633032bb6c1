//! The clock: the current UTC time.

use std::time::{SystemTime, UNIX_EPOCH};

use forge_core::{Error, Tool};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The clock takes no arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClockArgs {}

/// What the clock reports.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub(crate) struct Now {
    /// RFC 3339, UTC, whole seconds.
    utc: String,
    /// Seconds since the Unix epoch.
    unix: u64,
}

/// Reads the system clock.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock;

impl Tool for Clock {
    type Args = ClockArgs;
    type Output = Now;

    fn name(&self) -> &str {
        "clock"
    }

    fn description(&self) -> &str {
        "A clock: returns the current date and time in UTC."
    }

    async fn call(&self, _args: ClockArgs) -> Result<Now, Error> {
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|_| Error::tool("the system clock is before 1970"))?
            .as_secs();
        Ok(now_at(unix))
    }
}

fn now_at(unix: u64) -> Now {
    let days = i64::try_from(unix / 86_400).unwrap_or(i64::MAX);
    let secs = unix % 86_400;
    let (year, month, day) = civil_from_days(days);
    let utc = format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    );
    Now { utc, unix }
}

/// The proleptic Gregorian date of a day count since 1970-01-01
/// (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let month = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(now_at(0).utc, "1970-01-01T00:00:00Z");
        assert_eq!(now_at(951_782_400).utc, "2000-02-29T00:00:00Z");
        assert_eq!(now_at(1_796_306_130).utc, "2026-12-03T13:55:30Z");
    }
}
