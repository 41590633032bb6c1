//! Implementation details: governor rate limiters driven by tokio's clock.
//!
//! governor's own clocks read the system time, which tokio's paused test
//! clock cannot steer. [`TokioClock`] measures time as the [`Duration`] since
//! the limiter was made, on [`tokio::time::Instant`], so a paused runtime
//! drives refills exactly as it drives `sleep`. Waiting is done by the caller
//! with `tokio::time::sleep`, never by governor's timer.

use std::{num::NonZeroU32, time::Duration};

use governor::{
    Quota, RateLimiter, clock::Clock, middleware::NoOpMiddleware, state::InMemoryState,
    state::NotKeyed,
};
use tokio::time::Instant;

/// A governor clock reading tokio's (possibly paused) clock.
#[derive(Debug, Clone, Copy)]
struct TokioClock {
    start: Instant,
}

impl Clock for TokioClock {
    type Instant = Duration;

    fn now(&self) -> Duration {
        Instant::now().saturating_duration_since(self.start)
    }
}

type Gcra = RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<Duration>>;

/// A per-minute budget of cells (requests or tokens) with a burst of one
/// minute's worth.
pub(crate) struct PerMinute {
    limiter: Gcra,
    clock: TokioClock,
    capacity: NonZeroU32,
}

impl PerMinute {
    /// A budget of `per_minute` cells a minute.
    pub(crate) fn new(per_minute: NonZeroU32) -> Self {
        let clock = TokioClock {
            start: Instant::now(),
        };
        let limiter = RateLimiter::direct_with_clock(Quota::per_minute(per_minute), clock);
        Self {
            limiter,
            clock,
            capacity: per_minute,
        }
    }

    /// Takes `cells` (clamped to the burst size, so a large request waits for
    /// a full bucket instead of never passing) if they are there now;
    /// otherwise takes nothing and says how long to wait before asking again.
    pub(crate) fn try_take(&self, cells: NonZeroU32) -> Result<(), Duration> {
        let cells = cells.min(self.capacity);
        match self.limiter.check_n(cells) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => Err(not_until.wait_time_from(self.clock.now())),
            // Unreachable after clamping; waiting a full minute is the safe answer.
            Err(_insufficient) => Err(Duration::from_secs(60)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn burst_then_refill_follows_tokio_time() {
        let rpm = PerMinute::new(NonZeroU32::new(2).unwrap());
        let one = NonZeroU32::MIN;
        assert!(rpm.try_take(one).is_ok());
        assert!(rpm.try_take(one).is_ok());
        let wait = rpm.try_take(one).unwrap_err();
        assert_eq!(wait, Duration::from_secs(30));
        tokio::time::advance(wait).await;
        assert!(rpm.try_take(one).is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn oversized_request_waits_for_a_full_bucket() {
        let tpm = PerMinute::new(NonZeroU32::new(100).unwrap());
        assert!(tpm.try_take(NonZeroU32::new(1_000).unwrap()).is_ok());
        let wait = tpm.try_take(NonZeroU32::new(1_000).unwrap()).unwrap_err();
        assert_eq!(wait, Duration::from_secs(60));
    }
}
