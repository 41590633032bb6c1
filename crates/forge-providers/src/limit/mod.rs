//! Per-deployment limits: concurrency, a bounded wait queue, and request and
//! token rates, as a [`Model`] wrapping any other.
//!
//! [`LimitedModel`] admits each call in three steps, in this order:
//!
//! 1. a concurrency permit (a tokio [`Semaphore`], first come first served),
//!    held until the answer is complete or, for a stream, until the stream
//!    is dropped;
//! 2. one request from the requests-per-minute budget;
//! 3. the request's tokens from the tokens-per-minute budget: its estimated
//!    prompt tokens ([`ModelRequest::estimated_prompt_tokens`]) plus its
//!    `max_tokens`, i.e. its worst case, charged up front so the limit is
//!    never exceeded. Nothing is refunded when the answer is shorter.
//!
//! A caller that cannot pass a step at once takes a place in the wait queue
//! for the rest of its admission. The queue is bounded by
//! [`LimitConfig::max_queue`]: a caller finding it full fails at once with
//! [`ErrorKind::QueueFull`], so waiting never grows memory without bound.
//!
//! The time spent waiting is the *queue wait*. It is recorded as the field
//! `forge.queue_wait` (seconds, `f64`) on the current span if that span
//! declares it, emitted as a `debug` event on the target
//! `forge_providers::limit`, and made available to the wrapped model through
//! [`queue_wait`] while it runs, so an adapter can record it on the `chat`
//! span it creates.
//!
//! # Examples
//!
//! ```
//! use std::sync::Arc;
//!
//! use forge_core::{
//!     BoxFuture, Content, Error, EventStream, Model, ModelRequest, ModelResponse, StopReason,
//! };
//! use forge_providers::limit::{LimitConfig, LimitedModel};
//!
//! struct Echo;
//!
//! impl Model for Echo {
//!     fn complete(&self, _: ModelRequest) -> BoxFuture<'_, Result<ModelResponse, Error>> {
//!         Box::pin(async {
//!             Ok(ModelResponse::new(vec![Content::text("hi")], StopReason::EndTurn))
//!         })
//!     }
//!
//!     fn stream(&self, _: ModelRequest) -> EventStream<'_> {
//!         Box::pin(futures_util::stream::empty())
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! let limits = LimitConfig::new().max_concurrency(4).max_queue(16);
//! let model = LimitedModel::new("echo", Arc::new(Echo), &limits);
//! let answer = model.complete(ModelRequest::default()).await?;
//! assert_eq!(answer.to_message().text(), "hi");
//! # Ok::<(), Error>(())
//! # }).unwrap();
//! ```

mod config;
mod rate;

use std::{
    fmt,
    num::NonZeroU32,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use forge_core::{
    BoxFuture, Error, ErrorKind, EventStream, Model, ModelRequest, ModelResponse, StreamEvent,
};
use futures_core::Stream;
use futures_util::FutureExt as _;
use tokio::{
    sync::{OwnedSemaphorePermit, Semaphore},
    time::Instant,
};

pub use config::LimitConfig;
use rate::PerMinute;

tokio::task_local! {
    static QUEUE_WAIT: Duration;
}

/// The queue wait of the [`LimitedModel`] call that is running the current
/// code, if any.
///
/// An adapter wrapped in a [`LimitedModel`] calls this inside
/// [`Model::complete`] or while its stream is polled, and records the value
/// as `forge.queue_wait` on its `chat` span.
///
/// # Examples
///
/// ```
/// // Outside a limited call there is no queue wait.
/// assert_eq!(forge_providers::limit::queue_wait(), None);
/// ```
pub fn queue_wait() -> Option<Duration> {
    QUEUE_WAIT.try_with(|wait| *wait).ok()
}

/// A [`Model`] that applies a deployment's [`LimitConfig`] before every call
/// to the model it wraps.
///
/// Cheap to share behind an `Arc`; the limits are shared by every caller of
/// one `LimitedModel`.
pub struct LimitedModel {
    name: Arc<str>,
    inner: Arc<dyn Model>,
    limits: Limits,
}

struct Limits {
    permits: Option<Arc<Semaphore>>,
    waiting: AtomicUsize,
    max_queue: usize,
    requests: Option<PerMinute>,
    tokens: Option<PerMinute>,
}

impl fmt::Debug for LimitedModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LimitedModel")
            .field("name", &self.name)
            .field("queued", &self.queued())
            .finish_non_exhaustive()
    }
}

impl LimitedModel {
    /// Wraps `inner`, the deployment called `name`, in `limits`.
    ///
    /// The rate budgets start full.
    pub fn new(name: impl Into<Arc<str>>, inner: Arc<dyn Model>, limits: &LimitConfig) -> Self {
        let limits = Limits {
            permits: limits
                .max_concurrency
                .map(|n| Arc::new(Semaphore::new(n.get()))),
            waiting: AtomicUsize::new(0),
            max_queue: limits.max_queue,
            requests: limits.requests_per_minute.map(PerMinute::new),
            tokens: limits.tokens_per_minute.map(PerMinute::new),
        };
        Self {
            name: name.into(),
            inner,
            limits,
        }
    }

    /// The deployment's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How many callers are waiting right now.
    pub fn queued(&self) -> usize {
        self.limits.waiting.load(Ordering::Acquire)
    }

    /// How many more calls may start without waiting for a permit, or `None`
    /// when concurrency is unlimited.
    pub fn available_permits(&self) -> Option<usize> {
        self.limits.permits.as_ref().map(|s| s.available_permits())
    }

    /// Waits for every limit, then measures and reports the wait.
    async fn admit(&self, request: &ModelRequest) -> Result<Admission, Error> {
        let started = Instant::now();
        let deadline = request.timeout.map(|t| started + t);
        let mut slot = None;

        let permit = self.acquire_permit(&mut slot, deadline).await?;
        if let Some(requests) = &self.limits.requests {
            self.take(requests, NonZeroU32::MIN, &mut slot, deadline)
                .await?;
        }
        if let Some(tokens) = &self.limits.tokens {
            self.take(tokens, token_cost(request), &mut slot, deadline)
                .await?;
        }
        drop(slot);

        let wait = started.elapsed();
        report_wait(&self.name, wait);
        Ok(Admission {
            wait,
            deadline,
            _permit: permit,
        })
    }

    async fn acquire_permit<'a>(
        &'a self,
        slot: &mut Option<QueueSlot<'a>>,
        deadline: Option<Instant>,
    ) -> Result<Option<OwnedSemaphorePermit>, Error> {
        let Some(semaphore) = &self.limits.permits else {
            return Ok(None);
        };
        if let Ok(permit) = Arc::clone(semaphore).try_acquire_owned() {
            return Ok(Some(permit));
        }

        self.enter_queue(slot)?;
        let acquire = Arc::clone(semaphore).acquire_owned();
        let permit = match deadline {
            Some(deadline) => tokio::time::timeout_at(deadline, acquire)
                .await
                .map_err(|_elapsed| self.queue_timeout())?,
            None => acquire.await,
        };
        Ok(Some(permit.expect("a limiter's semaphore is never closed")))
    }

    /// Takes `cells` from `budget`, sleeping until they are there.
    ///
    /// Fails with [`ErrorKind::RateLimited`] (with its `retry_after`) when the
    /// wait would outlast the request's deadline, so a router can fall back
    /// at once instead of waiting in vain.
    async fn take<'a>(
        &'a self,
        budget: &PerMinute,
        cells: NonZeroU32,
        slot: &mut Option<QueueSlot<'a>>,
        deadline: Option<Instant>,
    ) -> Result<(), Error> {
        // Each turn sleeps until the budget said it would have the cells; a
        // competing caller taking them first only costs another turn.
        loop {
            let wait = match budget.try_take(cells) {
                Ok(()) => return Ok(()),
                Err(wait) => wait,
            };
            if deadline.is_some_and(|d| Instant::now() + wait > d) {
                return Err(self.rate_limited(wait));
            }
            self.enter_queue(slot)?;
            tokio::time::sleep(wait).await;
        }
    }

    fn enter_queue<'a>(&'a self, slot: &mut Option<QueueSlot<'a>>) -> Result<(), Error> {
        if slot.is_none() {
            *slot = Some(
                QueueSlot::enter(&self.limits.waiting, self.limits.max_queue)
                    .ok_or_else(|| self.queue_full())?,
            );
        }
        Ok(())
    }

    fn queue_full(&self) -> Error {
        let message = format!(
            "deployment {}: wait queue is full ({} waiting)",
            self.name, self.limits.max_queue
        );
        Error::new(ErrorKind::QueueFull, message)
    }

    fn queue_timeout(&self) -> Error {
        let message = format!(
            "deployment {}: no concurrency permit before the request's timeout",
            self.name
        );
        Error::new(ErrorKind::Timeout, message)
    }

    fn rate_limited(&self, wait: Duration) -> Error {
        let message = format!(
            "deployment {}: local rate limit reached for longer than the request's timeout",
            self.name
        );
        Error::new(ErrorKind::RateLimited, message).with_retry_after(wait)
    }
}

impl Model for LimitedModel {
    /// Waits for the limits, then calls the wrapped model with the request's
    /// remaining timeout.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::QueueFull`] when the caller would have to wait and the
    /// queue is full; [`ErrorKind::Timeout`] when no permit frees up before
    /// the request's timeout; [`ErrorKind::RateLimited`] when a rate budget
    /// refills only after it; otherwise whatever the wrapped model returns.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future gives back its queue place and permit at once;
    /// rate budget already taken is not returned.
    fn complete(&self, mut request: ModelRequest) -> BoxFuture<'_, Result<ModelResponse, Error>> {
        Box::pin(async move {
            let admission = self.admit(&request).await?;
            admission.shorten_timeout(&mut request);
            // The wait is visible both while the wrapped model builds its
            // future and while that future runs.
            let wait = admission.wait;
            let call = QUEUE_WAIT.sync_scope(wait, || self.inner.complete(request));
            let answer = QUEUE_WAIT.scope(wait, call).await;
            drop(admission);
            answer
        })
    }

    /// Waits for the limits, then streams from the wrapped model; the permit
    /// is held until the returned stream is dropped.
    ///
    /// An admission failure (see [`LimitedModel::complete`]) is the stream's
    /// only item.
    ///
    /// # Cancel safety
    ///
    /// Dropping the stream at any point gives back its queue place or permit.
    fn stream(&self, request: ModelRequest) -> EventStream<'_> {
        let open = async move {
            match self.admit(&request).await {
                Ok(admission) => self.open_stream(request, admission),
                Err(e) => Box::pin(futures_util::stream::once(async move { Err(e) })),
            }
        };
        Box::pin(open.flatten_stream())
    }
}

impl LimitedModel {
    fn open_stream(&self, mut request: ModelRequest, admission: Admission) -> EventStream<'_> {
        admission.shorten_timeout(&mut request);
        let inner = QUEUE_WAIT.sync_scope(admission.wait, || self.inner.stream(request));
        Box::pin(AdmittedStream { inner, admission })
    }
}

/// What an admitted call holds while it runs.
struct Admission {
    wait: Duration,
    deadline: Option<Instant>,
    _permit: Option<OwnedSemaphorePermit>,
}

impl Admission {
    /// Hands the wrapped model what is left of the request's timeout.
    fn shorten_timeout(&self, request: &mut ModelRequest) {
        if let Some(deadline) = self.deadline {
            request.timeout = Some(deadline.saturating_duration_since(Instant::now()));
        }
    }
}

/// A stream that keeps its [`Admission`] (and so its permit) until dropped.
struct AdmittedStream<'a> {
    inner: EventStream<'a>,
    admission: Admission,
}

impl Stream for AdmittedStream<'_> {
    type Item = Result<StreamEvent, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        QUEUE_WAIT.sync_scope(this.admission.wait, || this.inner.as_mut().poll_next(cx))
    }
}

/// A place in the wait queue, given back on drop.
struct QueueSlot<'a> {
    waiting: &'a AtomicUsize,
}

impl<'a> QueueSlot<'a> {
    /// Takes a place if fewer than `bound` callers wait.
    fn enter(waiting: &'a AtomicUsize, bound: usize) -> Option<Self> {
        let before = waiting.fetch_add(1, Ordering::AcqRel);
        if before >= bound {
            waiting.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Self { waiting })
    }
}

impl Drop for QueueSlot<'_> {
    fn drop(&mut self) {
        self.waiting.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The worst-case tokens of a request: its prompt estimate plus its output
/// limit, at least one.
fn token_cost(request: &ModelRequest) -> NonZeroU32 {
    let prompt = u64::try_from(request.estimated_prompt_tokens()).unwrap_or(u64::MAX);
    let output = u64::from(request.max_tokens.unwrap_or(0));
    let total = u32::try_from(prompt.saturating_add(output)).unwrap_or(u32::MAX);
    NonZeroU32::new(total).unwrap_or(NonZeroU32::MIN)
}

fn report_wait(name: &str, wait: Duration) {
    let seconds = wait.as_secs_f64();
    tracing::Span::current().record("forge.queue_wait", seconds);
    tracing::debug!(
        target: "forge_providers::limit",
        deployment = name,
        forge.queue_wait = seconds,
        "admitted"
    );
}
