//! Always-on per-tool aggregates: counters and HDR histograms.
//!
//! # Implementation details
//!
//! Recording into an HDR histogram needs exclusive access, so each tool's
//! [`Aggregate`] holds several shards, each on its own cache line behind its
//! own mutex. A thread always records into the shard its thread number picks;
//! with more shards than cores two threads rarely share one, so the mutex is
//! almost always uncontended (one atomic swap each way). Readers lock the
//! shards one at a time and merge them; a snapshot is therefore not atomic
//! across shards, which is fine for monitoring.

use std::{
    cell::Cell,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use forge_core::{ErrorKind, Outcome};
use hdrhistogram::Histogram;

/// Significant figures of every duration histogram.
const SIGFIG: u8 = 3;

/// One tool's shards.
pub(crate) struct Aggregate {
    shards: Box<[Padded<ShardSlot>]>,
}

/// A shard, allocated on first use so idle threads' slots cost nothing.
type ShardSlot = Mutex<Option<Box<Shard>>>;

/// Keeps each shard on its own pair of cache lines (adjacent-line prefetch).
#[repr(align(128))]
struct Padded<T>(T);

#[derive(Clone)]
struct Shard {
    successes: u64,
    failures: Vec<(ErrorKind, u64)>,
    attempts: u64,
    input_bytes: u64,
    output_bytes: u64,
    nanos: Histogram<u64>,
}

impl Shard {
    fn new() -> Self {
        Self {
            successes: 0,
            failures: Vec::new(),
            attempts: 0,
            input_bytes: 0,
            output_bytes: 0,
            nanos: new_histogram(),
        }
    }

    fn merge(&mut self, other: &Shard) {
        self.successes += other.successes;
        for &(kind, n) in &other.failures {
            bump(&mut self.failures, kind, n);
        }
        self.attempts += other.attempts;
        self.input_bytes += other.input_bytes;
        self.output_bytes += other.output_bytes;
        // Both histograms auto-resize, so adding cannot go out of range.
        let _ = self.nanos.add(&other.nanos);
    }
}

fn new_histogram() -> Histogram<u64> {
    Histogram::new(SIGFIG).expect("3 significant figures is a valid precision")
}

fn bump(failures: &mut Vec<(ErrorKind, u64)>, kind: ErrorKind, n: u64) {
    match failures.iter_mut().find(|(k, _)| *k == kind) {
        Some((_, count)) => *count += n,
        None => failures.push((kind, n)),
    }
}

/// What one dispatch adds to its tool's aggregate.
pub(crate) struct Sample {
    pub(crate) nanos: u64,
    pub(crate) input_bytes: usize,
    pub(crate) output_bytes: usize,
    pub(crate) outcome: Outcome,
    pub(crate) attempts: u32,
}

impl Aggregate {
    pub(crate) fn new(shards: usize) -> Self {
        let shards = (0..shards).map(|_| Padded(Mutex::new(None))).collect();
        Self { shards }
    }

    /// The shard count for this machine: a power of two, at least four and
    /// at least twice the available parallelism.
    pub(crate) fn default_shards() -> usize {
        let cores = std::thread::available_parallelism().map_or(4, usize::from);
        (cores * 2).next_power_of_two().clamp(4, 64)
    }

    #[inline]
    pub(crate) fn record(&self, sample: &Sample) {
        let shard = &self.shards[thread_slot() & (self.shards.len() - 1)].0;
        let mut guard = shard.lock().unwrap_or_else(PoisonError::into_inner);
        let shard = guard.get_or_insert_with(|| Box::new(Shard::new()));
        match sample.outcome {
            Outcome::Success => shard.successes += 1,
            Outcome::Failure(kind) => bump(&mut shard.failures, kind, 1),
            _ => bump(&mut shard.failures, ErrorKind::Other, 1),
        }
        shard.attempts += u64::from(sample.attempts);
        shard.input_bytes += sample.input_bytes as u64;
        shard.output_bytes += sample.output_bytes as u64;
        // The histogram auto-resizes (`saturating_record` would clamp
        // instead); it only refuses values beyond i64::MAX / 2 ns, 146 years.
        let _ = shard.nanos.record(sample.nanos.max(1));
    }

    pub(crate) fn snapshot(&self, name: Arc<str>) -> ToolStats {
        let mut total = Shard::new();
        for shard in &*self.shards {
            let guard = shard.0.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(shard) = guard.as_deref() {
                total.merge(shard);
            }
        }
        ToolStats { name, total }
    }
}

/// This thread's shard number, assigned round-robin on first use.
#[inline]
fn thread_slot() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SLOT: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    SLOT.with(|slot| match slot.get() {
        usize::MAX => {
            let assigned = NEXT.fetch_add(1, Ordering::Relaxed) & (usize::MAX >> 1);
            slot.set(assigned);
            assigned
        }
        assigned => assigned,
    })
}

/// A snapshot of every tool's aggregates, from [`Dispatcher::stats`](crate::Dispatcher::stats).
#[non_exhaustive]
#[derive(Clone)]
pub struct Stats {
    pub(crate) tools: Vec<ToolStats>,
    pub(crate) unknown: ToolStats,
}

impl Stats {
    /// Every registered tool, in registration order.
    pub fn tools(&self) -> &[ToolStats] {
        &self.tools
    }

    /// The tool named `name`, if it is registered.
    pub fn tool(&self, name: &str) -> Option<&ToolStats> {
        self.tools.iter().find(|t| t.name() == name)
    }

    /// Calls that named no registered tool, all counted together.
    pub fn unknown_tools(&self) -> &ToolStats {
        &self.unknown
    }
}

impl std::fmt::Debug for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stats")
            .field("tools", &self.tools)
            .field("unknown", &self.unknown)
            .finish()
    }
}

/// One tool's merged aggregates.
#[derive(Clone)]
pub struct ToolStats {
    name: Arc<str>,
    total: Shard,
}

impl ToolStats {
    /// The tool's name (empty for [`Stats::unknown_tools`]).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Dispatches recorded, whatever their outcome.
    pub fn calls(&self) -> u64 {
        self.total.successes + self.failures()
    }

    /// Dispatches that succeeded.
    pub fn successes(&self) -> u64 {
        self.total.successes
    }

    /// Dispatches that failed, of any kind.
    pub fn failures(&self) -> u64 {
        self.total.failures.iter().map(|&(_, n)| n).sum()
    }

    /// Dispatches that failed with `kind`.
    pub fn failures_of(&self, kind: ErrorKind) -> u64 {
        let found = self.total.failures.iter().find(|(k, _)| *k == kind);
        found.map_or(0, |&(_, n)| n)
    }

    /// Failure counts by kind, in first-seen order.
    pub fn failures_by_kind(&self) -> &[(ErrorKind, u64)] {
        &self.total.failures
    }

    /// Handler invocations, retries included.
    pub fn attempts(&self) -> u64 {
        self.total.attempts
    }

    /// Total argument bytes received.
    pub fn input_bytes(&self) -> u64 {
        self.total.input_bytes
    }

    /// Total result bytes produced.
    pub fn output_bytes(&self) -> u64 {
        self.total.output_bytes
    }

    /// The dispatch duration at `quantile` (0.0 to 1.0), e.g. `0.99` for p99.
    pub fn duration_at(&self, quantile: f64) -> Duration {
        Duration::from_nanos(self.total.nanos.value_at_quantile(quantile))
    }

    /// The longest dispatch recorded.
    pub fn max_duration(&self) -> Duration {
        Duration::from_nanos(self.total.nanos.max())
    }

    /// The mean dispatch duration.
    pub fn mean_duration(&self) -> Duration {
        Duration::from_secs_f64(self.total.nanos.mean() / 1e9)
    }
}

impl std::fmt::Debug for ToolStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToolStats")
            .field("name", &self.name)
            .field("successes", &self.total.successes)
            .field("failures", &self.total.failures)
            .field("attempts", &self.total.attempts)
            .field("p50", &self.duration_at(0.5))
            .field("p99", &self.duration_at(0.99))
            .finish_non_exhaustive()
    }
}
