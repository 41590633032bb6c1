//! The dispatcher: one tool call, or one model turn's batch of them.

use std::{collections::HashSet, panic::AssertUnwindSafe, sync::Arc, time::Duration};

use forge_core::{
    BoxFuture, DispatchObservation, DispatchObserver, ErrorKind, Labels, Outcome, ToolCall,
    ToolResult, ToolSpec,
};
use futures_util::{FutureExt, StreamExt, stream};

use crate::{
    Registry,
    attempt::{Attempted, Policy},
    limits::Limits,
    registry::Failure,
    stats::{Aggregate, Sample, Stats},
};

/// Runs tool calls through the full pipeline; see the [crate docs](crate).
///
/// Cheap to clone (one `Arc`), `Send` and `Sync`.
#[derive(Clone)]
pub struct Dispatcher {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    policies: Box<[Policy]>,
    stats: Box<[Aggregate]>,
    unknown: Aggregate,
    observer: Option<Arc<dyn DispatchObserver>>,
    concurrency: usize,
    limits: Limits,
    clock: quanta::Clock,
}

impl Dispatcher {
    /// Starts a dispatcher over `registry` with default settings: batch
    /// concurrency 16, a 30 s timeout per attempt, up to 3 attempts for
    /// retryable errors of idempotent tools, 1 MiB argument and result
    /// limits, nesting depth 64.
    pub fn builder(registry: Registry) -> DispatcherBuilder {
        DispatcherBuilder {
            registry,
            observer: None,
            concurrency: 16,
            default_timeout: Duration::from_secs(30),
            max_attempts: 3,
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            limits: Limits::default(),
        }
    }

    /// The specs the model is shown, in registration order.
    pub fn specs(&self) -> Arc<[ToolSpec]> {
        self.inner.registry.specs()
    }

    /// A snapshot of the per-tool aggregates (counts by outcome, attempts,
    /// bytes, and duration percentiles).
    pub fn stats(&self) -> Stats {
        let inner = &*self.inner;
        let tools = inner
            .registry
            .entries
            .iter()
            .zip(&*inner.stats)
            .map(|(entry, agg)| agg.snapshot(Arc::clone(&entry.name)))
            .collect();
        let unknown = inner.unknown.snapshot("".into());
        Stats { tools, unknown }
    }

    /// Runs one tool call: lookup, limits, validation, the handler under its
    /// timeout with retries and panic isolation, the result limit, and one
    /// observation.
    ///
    /// Every failure becomes a [`ToolResult`] whose message the model can
    /// read; this never panics.
    ///
    /// # Errors
    ///
    /// None as a `Result`: failures are [`ToolResult`]s with a
    /// [`forge_core::ToolOutcome::Failure`] outcome whose kind is one of
    /// `UnknownTool`, `TruncatedCall`, `ArgumentsTooLarge`,
    /// `InvalidArguments`, `Timeout`, `ToolPanicked`, `ResultTooLarge`, or
    /// the tool's own error kind.
    ///
    /// # Panics
    ///
    /// Never; a panicking handler becomes a `ToolPanicked` result.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe in the sense that dropping the future leaves the
    /// dispatcher consistent: the handler's future is dropped at its current
    /// await point and nothing is recorded for the call. Whether the tool's
    /// side effects happened is up to the tool.
    ///
    /// # Examples
    ///
    /// See the [crate docs](crate).
    pub async fn dispatch(&self, call: &ToolCall, labels: &Labels) -> ToolResult {
        let inner = &*self.inner;
        let start = inner.clock.raw();
        let index = inner.registry.lookup(&call.name);
        // The checks and the validating parse run synchronously; only the
        // attempts are awaited. Both are guarded against panics.
        let started = std::panic::catch_unwind(AssertUnwindSafe(|| inner.start(index, call)));
        let (result, attempts) = match started {
            Ok(Ok(running)) => match AssertUnwindSafe(running).catch_unwind().await {
                Ok(done) => (done.result, done.attempts),
                Err(_) => (Err(unexpected_panic()), 0),
            },
            Ok(Err(failure)) => (Err(failure), 0),
            Err(_) => (Err(unexpected_panic()), 0),
        };
        let nanos = inner.clock.delta_as_nanos(start, inner.clock.raw());
        inner.finish(call, labels, index, nanos, result, attempts)
    }

    /// Runs one model turn's tool calls concurrently, at most
    /// [`concurrency`](DispatcherBuilder::concurrency) at a time, and returns
    /// one result per call in call order.
    ///
    /// Every call id is answered, even when siblings fail, time out or
    /// panic. A call whose id repeats an earlier call's id in the same batch
    /// is answered with `DuplicateCallId` and not run; the first one runs.
    ///
    /// The calls run as concurrent futures on the calling task (no spawning),
    /// which suits tools that wait on I/O; a CPU-heavy tool should move its
    /// work to a blocking pool itself.
    ///
    /// # Errors
    ///
    /// None as a `Result`; see [`Dispatcher::dispatch`].
    ///
    /// # Panics
    ///
    /// Never.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future drops every in-flight call at its
    /// current await point; nothing keeps running in the background, and
    /// results of calls that had already finished are discarded.
    ///
    /// # Examples
    ///
    /// ```
    /// # use forge_core::{Labels, ToolCall};
    /// # async fn demo(dispatcher: forge_dispatch::Dispatcher) {
    /// let calls = [
    ///     ToolCall::new("a", "add", r#"{"a": 1, "b": 2}"#),
    ///     ToolCall::new("b", "nope", "{}"),
    /// ];
    /// let results = dispatcher.dispatch_batch(&calls, &Labels::default()).await;
    /// assert_eq!(results[0].call_id, "a");
    /// assert_eq!(results[1].call_id, "b");
    /// # }
    /// ```
    pub async fn dispatch_batch(&self, calls: &[ToolCall], labels: &Labels) -> Vec<ToolResult> {
        let duplicate = duplicates(calls);
        let mut slots: Vec<Option<ToolResult>> = vec![None; calls.len()];
        let runs = calls.iter().enumerate().map(|(i, call)| {
            let duplicate = duplicate[i];
            async move {
                if duplicate {
                    (i, self.inner.reject_duplicate(call, labels))
                } else {
                    (i, self.dispatch(call, labels).await)
                }
            }
        });
        let mut done = stream::iter(runs).buffer_unordered(self.inner.concurrency);
        while let Some((i, result)) = done.next().await {
            slots[i] = Some(result);
        }
        slots
            .into_iter()
            .map(|slot| slot.expect("buffer_unordered yields every call exactly once"))
            .collect()
    }
}

/// Marks each call whose id an earlier call in the batch already used.
fn duplicates(calls: &[ToolCall]) -> Vec<bool> {
    let mut seen = HashSet::with_capacity(calls.len());
    calls.iter().map(|c| !seen.insert(c.id.as_str())).collect()
}

impl Inner {
    /// Lookup result, truncation, limits and validation; on success, the
    /// attempts to await.
    fn start<'a>(
        &'a self,
        index: Option<usize>,
        call: &'a ToolCall,
    ) -> Result<BoxFuture<'a, Attempted>, Failure> {
        let Some(i) = index else {
            return Err(self.unknown_tool(&call.name));
        };
        if call.truncated {
            let message = "the call was cut short by the model's output limit and was not run; \
                           retry with shorter arguments";
            return Err(Failure::new(ErrorKind::TruncatedCall, message));
        }
        self.limits.check_arguments(&call.arguments)?;
        let entry = &self.registry.entries[i];
        entry.handler.start(&call.arguments, &self.policies[i])
    }

    fn unknown_tool(&self, name: &str) -> Failure {
        let names = self.registry.names();
        let message = format!("unknown tool `{name}`; the available tools are: {names}");
        Failure::new(ErrorKind::UnknownTool, message)
    }

    fn reject_duplicate(&self, call: &ToolCall, labels: &Labels) -> ToolResult {
        let id = &call.id;
        let message =
            format!("call id `{id}` is used by an earlier call in this turn; this one was not run");
        let failure = Failure::new(ErrorKind::DuplicateCallId, message);
        let index = self.registry.lookup(&call.name);
        self.finish(call, labels, index, 0, Err(failure), 0)
    }

    /// Builds the result, records the sample and tells the observer.
    fn finish(
        &self,
        call: &ToolCall,
        labels: &Labels,
        index: Option<usize>,
        nanos: u64,
        result: Result<String, Failure>,
        attempts: u32,
    ) -> ToolResult {
        let (outcome, output_bytes, tool_result) = match result {
            Ok(output) => (
                Outcome::Success,
                output.len(),
                ToolResult::success(call, output),
            ),
            Err(Failure { kind, message }) => {
                tracing::debug!(
                    target: "forge_dispatch",
                    tool = %call.name,
                    call_id = %call.id,
                    error.type = kind.as_str(),
                    attempts,
                    "tool call failed"
                );
                let result = ToolResult::failure(call, kind, message);
                (Outcome::Failure(kind), 0, result)
            }
        };
        let sample = Sample {
            nanos,
            input_bytes: call.arguments.len(),
            output_bytes,
            outcome,
            attempts,
        };
        index
            .map_or(&self.unknown, |i| &self.stats[i])
            .record(&sample);
        if let Some(observer) = &self.observer {
            observe(&**observer, call, labels, &sample);
        }
        tool_result
    }
}

/// A panic outside the tool's own future (validation, encoding).
#[cold]
fn unexpected_panic() -> Failure {
    let message = "validating the arguments failed unexpectedly (panic)";
    Failure::new(ErrorKind::ToolPanicked, message)
}

fn observe(observer: &dyn DispatchObserver, call: &ToolCall, labels: &Labels, sample: &Sample) {
    let mut observation = DispatchObservation::new(&call.name, &call.id, labels);
    observation.duration = Duration::from_nanos(sample.nanos);
    observation.input_bytes = sample.input_bytes;
    observation.output_bytes = sample.output_bytes;
    observation.outcome = sample.outcome;
    observation.attempts = sample.attempts;
    // An observer must not panic; if one does, the dispatch still answers.
    let _ = std::panic::catch_unwind(AssertUnwindSafe(|| observer.on_dispatch(&observation)));
}

/// Configures a [`Dispatcher`]; see [`Dispatcher::builder`].
#[must_use = "a builder does nothing until `build` is called"]
pub struct DispatcherBuilder {
    registry: Registry,
    observer: Option<Arc<dyn DispatchObserver>>,
    concurrency: usize,
    default_timeout: Duration,
    max_attempts: u32,
    backoff: Duration,
    max_backoff: Duration,
    limits: Limits,
}

impl DispatcherBuilder {
    /// Sends every observation to `observer` too (after the built-in aggregates).
    pub fn observer(mut self, observer: Arc<dyn DispatchObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// The most calls of one batch running at once (at least 1; default 16).
    pub fn concurrency(mut self, limit: usize) -> Self {
        self.concurrency = limit.max(1);
        self
    }

    /// The timeout per attempt for tools that set none (default 30 s).
    pub fn default_timeout(mut self, timeout: Duration) -> Self {
        self.default_timeout = timeout;
        self
    }

    /// Attempts for retryable errors of tools that set none (at least 1; default 3).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The first retry's base wait, doubled per retry and jittered (default 100 ms).
    pub fn backoff(mut self, base: Duration) -> Self {
        self.backoff = base;
        self
    }

    /// The longest wait between attempts (default 5 s).
    pub fn max_backoff(mut self, max: Duration) -> Self {
        self.max_backoff = max;
        self
    }

    /// The largest accepted arguments text, in bytes (default 1 MiB).
    pub fn max_argument_bytes(mut self, bytes: usize) -> Self {
        self.limits.max_argument_bytes = bytes;
        self
    }

    /// The deepest accepted nesting of arrays and objects (default 64).
    pub fn max_depth(mut self, depth: usize) -> Self {
        self.limits.max_depth = depth;
        self
    }

    /// The largest accepted result, in bytes of JSON (default 1 MiB).
    pub fn max_result_bytes(mut self, bytes: usize) -> Self {
        self.limits.max_result_bytes = bytes;
        self
    }

    /// Finishes the dispatcher.
    pub fn build(self) -> Dispatcher {
        let policies = self
            .registry
            .entries
            .iter()
            .map(|e| self.policy(e.options))
            .collect();
        let shards = Aggregate::default_shards();
        let stats = (0..self.registry.len())
            .map(|_| Aggregate::new(shards))
            .collect();
        let inner = Inner {
            policies,
            stats,
            unknown: Aggregate::new(shards),
            observer: self.observer,
            concurrency: self.concurrency,
            limits: self.limits,
            clock: quanta::Clock::new(),
            registry: self.registry,
        };
        Dispatcher {
            inner: Arc::new(inner),
        }
    }

    fn policy(&self, options: forge_core::ToolOptions) -> Policy {
        let max_attempts = if options.idempotent {
            options.max_attempts.unwrap_or(self.max_attempts).max(1)
        } else {
            1
        };
        Policy {
            timeout: options.timeout.unwrap_or(self.default_timeout),
            max_attempts,
            backoff: self.backoff,
            max_backoff: self.max_backoff,
            max_result_bytes: self.limits.max_result_bytes,
        }
    }
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("registry", &self.inner.registry)
            .field("concurrency", &self.inner.concurrency)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for DispatcherBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DispatcherBuilder")
            .field("registry", &self.registry)
            .field("concurrency", &self.concurrency)
            .finish_non_exhaustive()
    }
}
