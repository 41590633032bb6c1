//! Implementation details: one request's way through its fallback chain.
//!
//! A [`Plan`] tries each deployment of the chain at most once, in order,
//! skipping deployments whose breaker refuses calls. When every deployment
//! not yet tried is cooling, it waits for the earliest cooldown to end (or
//! for any breaker to change) as long as that is within the request's
//! deadline; past it, it fails at once with a typed error instead of waiting
//! in vain.

use std::{pin::pin, time::Duration};

use forge_core::{Error, ErrorKind, ModelRequest};
use tokio::time::Instant;

use super::{Router, breaker::Attempt, breaker::Availability};

pub(crate) struct Plan {
    chain: Vec<usize>,
    tried: Vec<bool>,
    /// The request's own deadline, if it has a timeout.
    deadline: Option<Instant>,
    /// The latest instant worth waiting for a cooling deployment.
    wait_limit: Instant,
    last_error: Option<Error>,
}

/// What to do when no deployment can take the call now.
enum Idle {
    /// Sleep until this instant or until a breaker changes.
    WaitUntil(Instant),
    /// Give up with this error.
    Fail(Error),
}

impl Plan {
    pub(crate) fn new(router: &Router, request: &ModelRequest) -> Self {
        let chain = router.chain_for(request).to_vec();
        let now = Instant::now();
        let deadline = request.timeout.map(|t| now + t);
        Self {
            tried: vec![false; chain.len()],
            chain,
            deadline,
            wait_limit: deadline.unwrap_or(now + router.max_wait),
            last_error: None,
        }
    }

    /// The request for the next attempt: the caller's, with what is left of
    /// its timeout.
    pub(crate) fn attempt_request(&self, request: &ModelRequest) -> ModelRequest {
        let mut request = request.clone();
        if let Some(deadline) = self.deadline {
            request.timeout = Some(deadline.saturating_duration_since(Instant::now()));
        }
        request
    }

    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Remembers a failure that fell back; it is the source of the final
    /// error if nothing else works.
    pub(crate) fn record_failure(&mut self, error: Error) {
        self.last_error = Some(error);
    }

    /// Waits for the next deployment of the chain that can take the call.
    ///
    /// # Errors
    ///
    /// The last failure once every deployment was tried; a timeout once the
    /// request's deadline has passed; [`ErrorKind::Overloaded`] with a
    /// `retry_after` when every remaining deployment cools past the deadline.
    pub(crate) async fn next<'r>(
        &mut self,
        router: &'r Router,
    ) -> Result<(usize, Attempt<'r>), Error> {
        // Each turn either returns or sleeps until a cooldown ends, a breaker
        // changes or the wait limit passes; the limit bounds the loop.
        loop {
            let changed = router.changed.notified();
            let mut changed = pin!(changed);
            changed.as_mut().enable();

            let idle = match self.scan(router) {
                Ok(ready) => return Ok(ready),
                Err(idle) => idle,
            };
            match idle {
                Idle::Fail(error) => return Err(error),
                Idle::WaitUntil(wake) => {
                    tracing::debug!(
                        target: "forge_providers::router",
                        wait_seconds = wake.saturating_duration_since(Instant::now()).as_secs_f64(),
                        "every deployment is cooling; waiting"
                    );
                    let _woken = tokio::time::timeout_at(wake, changed).await;
                }
            }
        }
    }

    /// Looks for a deployment that can take the call now.
    fn scan<'r>(&mut self, router: &'r Router) -> Result<(usize, Attempt<'r>), Idle> {
        let now = Instant::now();
        if self.deadline.is_some_and(|d| now >= d) {
            return Err(Idle::Fail(self.timed_out()));
        }
        let mut earliest: Option<Instant> = None;
        let mut probing = false;
        let mut untried = false;
        for (pos, &index) in self.chain.iter().enumerate() {
            if self.tried[pos] {
                continue;
            }
            untried = true;
            match router.deployments[index].breaker.try_acquire(now) {
                Availability::Ready(attempt) => {
                    self.tried[pos] = true;
                    return Ok((index, attempt));
                }
                Availability::CoolingUntil(until) => {
                    earliest = Some(earliest.map_or(until, |e| e.min(until)));
                }
                Availability::Probing => probing = true,
            }
        }
        Err(self.idle(now, untried, earliest, probing))
    }

    fn idle(
        &mut self,
        now: Instant,
        untried: bool,
        earliest: Option<Instant>,
        probing: bool,
    ) -> Idle {
        if !untried {
            return Idle::Fail(self.exhausted());
        }
        match earliest {
            Some(until) if until <= self.wait_limit => Idle::WaitUntil(until),
            _ if probing && now < self.wait_limit => Idle::WaitUntil(self.wait_limit),
            Some(until) => Idle::Fail(self.cooling(until - now)),
            None => Idle::Fail(self.timed_out()),
        }
    }

    fn exhausted(&mut self) -> Error {
        self.last_error
            .take()
            .unwrap_or_else(|| Error::new(ErrorKind::Other, "the route has no deployment"))
    }

    fn timed_out(&mut self) -> Error {
        if let Some(last) = self.last_error.take() {
            if last.is_timeout() {
                return last;
            }
            let error = Error::new(ErrorKind::Timeout, "the request's deadline passed");
            return error.with_source(last);
        }
        Error::new(
            ErrorKind::Timeout,
            "no deployment became available before the request's deadline",
        )
    }

    fn cooling(&mut self, wait: Duration) -> Error {
        let error = Error::new(
            ErrorKind::Overloaded,
            "every deployment of the route is cooling down past the request's deadline",
        )
        .with_retry_after(wait);
        match self.last_error.take() {
            Some(last) => error.with_source(last),
            None => error,
        }
    }
}
