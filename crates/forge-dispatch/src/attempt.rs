//! One tool invocation: timeout, panic isolation, retries with jittered backoff.
//!
//! # Implementation details
//!
//! The timeout is lazy: the handler is polled once before any timer exists,
//! and a `tokio` sleep is created only if it returns `Pending`. A handler
//! that finishes without yielding (the common case for in-process tools)
//! therefore never touches the timer wheel, while a handler that waits is
//! bounded as usual. The deadline counts from that first `Pending`; a
//! handler that blocks its thread cannot be interrupted by any async timeout.

use std::{
    any::Any,
    cell::Cell,
    future::Future,
    panic::AssertUnwindSafe,
    pin::{Pin, pin},
    task::{Context, Poll},
    time::Duration,
};

use forge_core::ErrorKind;
use futures_util::FutureExt;

use crate::registry::Failure;

/// How the dispatcher runs one tool, resolved at build time.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Policy {
    pub(crate) timeout: Duration,
    pub(crate) max_attempts: u32,
    pub(crate) backoff: Duration,
    pub(crate) max_backoff: Duration,
    pub(crate) max_result_bytes: usize,
}

/// What the attempts produced: JSON output or a failure, and how many
/// times the handler ran.
pub(crate) struct Attempted {
    pub(crate) result: Result<String, Failure>,
    pub(crate) attempts: u32,
}

/// Runs `call` until it succeeds, fails for good, or runs out of attempts.
///
/// `first` is the validated argument value; later attempts get a fresh one
/// from `again`, so tools need not make their arguments `Clone`.
pub(crate) async fn run<A, Fut, Out>(
    policy: &Policy,
    first: A,
    mut again: impl FnMut() -> Result<A, Failure>,
    mut call: impl FnMut(A) -> Fut,
    mut encode: impl FnMut(&Out) -> Result<String, Failure>,
) -> Attempted
where
    Fut: Future<Output = Result<Out, forge_core::Error>>,
{
    let mut args = first;
    let mut attempts = 0;
    loop {
        attempts += 1;
        let fut = pin!(call(args));
        let outcome = AssertUnwindSafe(Deadline::new(fut, policy.timeout))
            .catch_unwind()
            .await;
        let error = match outcome {
            Ok(Ok(Ok(out))) => {
                let result = encode(&out).and_then(|json| limit_result(policy, json));
                return Attempted { result, attempts };
            }
            Ok(Ok(Err(error))) => error,
            Ok(Err(Elapsed)) => return Attempted::failed(timed_out(policy), attempts),
            Err(payload) => return Attempted::failed(panicked(&*payload), attempts),
        };
        if !error.is_retryable() || attempts >= policy.max_attempts {
            return Attempted::failed(Failure::from_tool(&error), attempts);
        }
        tracing::debug!(
            target: "forge_dispatch",
            attempt = attempts,
            error.type = error.kind().as_str(),
            "retrying tool call"
        );
        // Boxed: a `Sleep` is large, and keeping it out of this future's
        // state keeps the common no-retry path's future small to move.
        Box::pin(tokio::time::sleep(backoff(
            policy,
            attempts,
            error.retry_after(),
        )))
        .await;
        args = match again() {
            Ok(a) => a,
            Err(failure) => return Attempted::failed(failure, attempts),
        };
    }
}

impl Attempted {
    fn failed(failure: Failure, attempts: u32) -> Self {
        Self {
            result: Err(failure),
            attempts,
        }
    }
}

#[inline]
fn limit_result(policy: &Policy, json: String) -> Result<String, Failure> {
    if json.len() <= policy.max_result_bytes {
        return Ok(json);
    }
    Err(too_large(policy, &json))
}

#[cold]
#[inline(never)]
fn too_large(policy: &Policy, json: &str) -> Failure {
    let message = format!(
        "the tool's result is {} bytes, over the limit of {} bytes",
        json.len(),
        policy.max_result_bytes
    );
    Failure::new(ErrorKind::ResultTooLarge, message)
}

fn timed_out(policy: &Policy) -> Failure {
    let message = format!("the tool did not finish within {:?}", policy.timeout);
    Failure::new(ErrorKind::Timeout, message)
}

fn panicked(payload: &(dyn Any + Send)) -> Failure {
    let detail = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("no message");
    let message = format!("the tool failed unexpectedly (panic: {detail})");
    Failure::new(ErrorKind::ToolPanicked, message)
}

/// The wait before attempt `attempts + 1`: exponential from `policy.backoff`,
/// capped, with "equal jitter" (uniform in the upper half), and never shorter
/// than the wait the error asked for.
pub(crate) fn backoff(policy: &Policy, attempts: u32, asked: Option<Duration>) -> Duration {
    let exp = policy
        .backoff
        .saturating_mul(1 << attempts.saturating_sub(1).min(16));
    let ceiling = exp.min(policy.max_backoff);
    let half = ceiling / 2;
    let jittered = half + half.mul_f64(unit_random());
    asked.map_or(jittered, |a| a.max(jittered))
}

/// A uniform number in `[0, 1)` from a per-thread xorshift generator.
fn unit_random() -> f64 {
    thread_local! {
        static STATE: Cell<u64> = Cell::new(seed());
    }
    STATE.with(|s| {
        let mut x = s.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.set(x);
        #[expect(clippy::cast_precision_loss, reason = "53 random bits fit an f64")]
        let unit = (x >> 11) as f64 / (1u64 << 53) as f64;
        unit
    })
}

fn seed() -> u64 {
    let local = 0u8;
    let addr = std::ptr::addr_of!(local) as u64;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos().into());
    (addr ^ (nanos << 17)) | 1
}

/// The attempt's deadline passed.
pub(crate) struct Elapsed;

/// A timeout whose timer is created only when the handler first waits.
struct Deadline<'f, F> {
    fut: Pin<&'f mut F>,
    timeout: Duration,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<'f, F> Deadline<'f, F> {
    fn new(fut: Pin<&'f mut F>, timeout: Duration) -> Self {
        Self {
            fut,
            timeout,
            sleep: None,
        }
    }
}

impl<F: Future> Future for Deadline<'_, F> {
    type Output = Result<F::Output, Elapsed>;

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Poll::Ready(out) = self.fut.as_mut().poll(cx) {
            return Poll::Ready(Ok(out));
        }
        let timeout = self.timeout;
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed)),
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_jittered_capped_and_respects_retry_after() {
        let policy = Policy {
            timeout: Duration::from_secs(1),
            max_attempts: 5,
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(300),
            max_result_bytes: 10,
        };
        for attempt in 1..10 {
            let wait = backoff(&policy, attempt, None);
            assert!(wait <= Duration::from_millis(300), "{wait:?}");
            assert!(wait >= Duration::from_millis(50), "{wait:?}");
        }
        let asked = Duration::from_secs(2);
        assert_eq!(backoff(&policy, 1, Some(asked)), asked);
    }
}
