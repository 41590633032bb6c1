//! Implementation details: one deployment's circuit breaker.
//!
//! States and transitions:
//!
//! - `Closed { failures }`: calls pass. A retryable failure counts; reaching
//!   the threshold opens the breaker. A success resets the count.
//! - `Open { until }`: calls are refused until `until`. The cooldown is the
//!   failure's `retry_after` when it named one, else the configured cooldown.
//!   A later failure (a call that was already in flight) moves `until` only
//!   forward: the later deadline always wins.
//! - `HalfOpen { probing }`: after `until`, exactly one call (the probe) is
//!   let through. Its success closes the breaker; its retryable failure opens
//!   it again; any other ending (a non-retryable error, or the probe being
//!   dropped) lets the next caller probe.
//!
//! An exhausted quota opens the breaker at once, whatever the count: it is
//! this deployment's quota and it will not come back within seconds.
//!
//! Every change that ends a probe or may let a waiting caller through is
//! announced on the router's shared [`Notify`], which callers waiting for a
//! cooling deployment listen to besides their timer.

use std::{
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use forge_core::Error;
use tokio::{sync::Notify, time::Instant};

use super::BreakerConfig;

/// The observable state of a deployment's circuit breaker.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls pass.
    Closed,
    /// Calls are refused until the instant, which is on tokio's clock.
    Open {
        /// When the cooldown ends.
        until: Instant,
    },
    /// One probe call may pass (or is passing).
    HalfOpen,
}

#[derive(Debug, Clone, Copy)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { probing: bool },
}

/// Whether a deployment can take a call now.
pub(crate) enum Availability<'a> {
    /// Yes: report the outcome through the attempt.
    Ready(Attempt<'a>),
    /// Not before this instant.
    CoolingUntil(Instant),
    /// Another caller's probe is deciding.
    Probing,
}

pub(crate) struct Breaker {
    config: BreakerConfig,
    state: Mutex<State>,
    changed: Arc<Notify>,
}

impl Breaker {
    pub(crate) fn new(config: BreakerConfig, changed: Arc<Notify>) -> Self {
        Self {
            config,
            state: Mutex::new(State::Closed { failures: 0 }),
            changed,
        }
    }

    pub(crate) fn state(&self) -> BreakerState {
        match *self.lock() {
            State::Closed { .. } => BreakerState::Closed,
            State::Open { until } => BreakerState::Open { until },
            State::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// Asks to make a call at `now`.
    pub(crate) fn try_acquire(&self, now: Instant) -> Availability<'_> {
        let mut state = self.lock();
        let probe = match *state {
            State::Closed { .. } => false,
            State::Open { until } if now < until => return Availability::CoolingUntil(until),
            State::HalfOpen { probing: true } => return Availability::Probing,
            State::Open { .. } | State::HalfOpen { probing: false } => {
                *state = State::HalfOpen { probing: true };
                true
            }
        };
        Availability::Ready(Attempt {
            breaker: self,
            probe,
            settled: false,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave a torn `State` (it is
        // `Copy` and replaced whole), so a poisoned lock is still usable.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn cooldown(&self, error: &Error) -> Duration {
        error.retry_after().unwrap_or(self.config.cooldown)
    }

    fn on_success(&self, probe: bool) {
        let mut state = self.lock();
        match *state {
            // An answer that started before the breaker opened does not
            // override the server's request to wait.
            State::Open { .. } => {}
            State::HalfOpen { .. } if !probe => {}
            _ => *state = State::Closed { failures: 0 },
        }
        drop(state);
        self.changed.notify_waiters();
    }

    fn on_failure(&self, error: &Error) {
        let open_now = error.is_quota_exhausted();
        let until = Instant::now() + self.cooldown(error);
        let mut state = self.lock();
        *state = match *state {
            State::Closed { failures } => {
                let failures = failures.saturating_add(1);
                if open_now || failures >= self.config.failure_threshold {
                    State::Open { until }
                } else {
                    State::Closed { failures }
                }
            }
            State::Open { until: old } => State::Open {
                until: old.max(until),
            },
            State::HalfOpen { .. } => State::Open { until },
        };
        drop(state);
        // Callers waiting on a probe learn the new cooldown at once.
        self.changed.notify_waiters();
    }

    /// Ends an attempt that says nothing about the deployment's health.
    fn on_neutral(&self, probe: bool) {
        if !probe {
            return;
        }
        let mut state = self.lock();
        if let State::HalfOpen { probing: true } = *state {
            *state = State::HalfOpen { probing: false };
        }
        drop(state);
        self.changed.notify_waiters();
    }
}

/// One admitted call; reports its outcome to the breaker exactly once.
///
/// Dropped without an outcome (the caller gave up), it counts as neutral, so
/// a cancelled probe never leaves the breaker stuck half-open.
pub(crate) struct Attempt<'a> {
    breaker: &'a Breaker,
    probe: bool,
    settled: bool,
}

impl Attempt<'_> {
    /// Reports how the call ended.
    pub(crate) fn settle(mut self, outcome: Result<(), &Error>) {
        self.settled = true;
        match outcome {
            Ok(()) => self.breaker.on_success(self.probe),
            Err(e) if counts_against(e) => self.breaker.on_failure(e),
            Err(_) => self.breaker.on_neutral(self.probe),
        }
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if !self.settled {
            self.breaker.on_neutral(self.probe);
        }
    }
}

/// Whether a failure says the deployment is unhealthy: a retryable failure
/// or an exhausted quota. Invalid requests, auth failures, a full local queue
/// and the like say nothing about it.
fn counts_against(error: &Error) -> bool {
    error.is_retryable() || error.is_quota_exhausted()
}
