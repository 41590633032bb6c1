//! [`DispatchMetrics`]: the dispatch observer that feeds the tool metrics.
//!
//! Implementation details: `on_dispatch` runs on the dispatch hot path, where a
//! typed dispatch costs a few hundred nanoseconds, so it must neither look up
//! an attribute set nor do a contended atomic operation per call.
//!
//! - Each (tool, outcome) pair gets one [`Cell`], created once under a mutex:
//!   its attributes and a *bound* duration histogram (the SDK resolves the
//!   attribute set once, at bind time).
//! - Everything a dispatch records goes into a per-thread [`Shard`] of its
//!   cell: the totals behind the counters (dispatches, input and output
//!   bytes) and, per duration bucket, a count and a sum. Only the owning
//!   thread writes a shard (a relaxed load and store, no locked instruction).
//! - When metrics are collected (on the telemetry thread), observable
//!   counters sum the shards, and a callback replays each bucket's new
//!   durations into the SDK histogram as their mean, clamped into the bucket.
//!   Counts, bucket counts and the sum come out exact; the histogram's min
//!   and max are those of the bucket means. The SDK update (a mutex and a
//!   bucket search, about 25 ns) thus runs on the telemetry thread, not on
//!   the dispatch.
//! - A short per-thread most-recently-used list finds the cell and shard again
//!   by observer, outcome and tool name, so a dispatch costs a few comparisons,
//!   a bucket search and five plain stores.

use std::{
    cell::RefCell,
    collections::HashMap,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
};

use forge_core::{DispatchObservation, DispatchObserver, Outcome};
use opentelemetry::{
    KeyValue,
    metrics::{BoundHistogram, Histogram, Meter, ObservableCounter},
};

use crate::instruments::{self, TOOL_DURATION_BUCKETS};

/// Duration buckets: one per bound and one above the last.
const BUCKETS: usize = TOOL_DURATION_BUCKETS.len() + 1;

/// [`TOOL_DURATION_BUCKETS`] in nanoseconds, so the hot path compares integers.
const BOUNDS_NANOS: [u64; BUCKETS - 1] = [
    10_000,
    100_000,
    1_000_000,
    5_000_000,
    10_000_000,
    20_000_000,
    40_000_000,
    80_000_000,
    160_000_000,
    320_000_000,
    640_000_000,
    1_280_000_000,
    2_560_000_000,
    5_120_000_000,
    10_240_000_000,
    20_480_000_000,
    40_960_000_000,
];

/// Distinct (tool, outcome) pairs kept apart; later ones share one cell whose
/// tool name is `_OTHER`, so hallucinated tool names cannot grow memory.
const MAX_CELLS: usize = 1_024;
/// Entries in each thread's most-recently-used list.
const MRU_LEN: usize = 8;
/// The tool name of the overflow cell.
const OVERFLOW: &str = "_OTHER";

static NEXT_ID: AtomicUsize = AtomicUsize::new(1);

/// Records every tool dispatch into `gen_ai.execute_tool.duration` (s),
/// `forge.tool.dispatches` ({dispatch}, by `forge.dispatch.outcome`) and
/// `forge.tool.input_bytes` / `forge.tool.output_bytes` (By).
///
/// Get one from [`TelemetryGuard::dispatch_observer`](crate::TelemetryGuard::dispatch_observer)
/// and hand it to forge-dispatch's `Dispatcher::builder(..).observer(..)`.
pub struct DispatchMetrics {
    id: usize,
    duration: Histogram<f64>,
    cells: Arc<Mutex<Cells>>,
    _totals: [ObservableCounter<u64>; 3],
    _replay: ObservableCounter<u64>,
}

impl std::fmt::Debug for DispatchMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DispatchMetrics")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Every cell, by tool name, then outcome.
#[derive(Default)]
struct Cells {
    by_tool: HashMap<Box<str>, Vec<(Outcome, Arc<Cell>)>>,
    count: usize,
}

/// The instruments of one (tool, outcome) pair.
struct Cell {
    attributes: Vec<KeyValue>,
    duration: BoundHistogram<f64>,
    /// One per thread that dispatched this (tool, outcome). A thread that
    /// exits leaves its shard (about 600 bytes) behind, totals included;
    /// runtimes keep their worker threads, so this stays small.
    shards: Mutex<Vec<Arc<Shard>>>,
}

/// One thread's records for one cell; written only by that thread.
#[derive(Default)]
struct Shard {
    dispatches: AtomicU64,
    input_bytes: AtomicU64,
    output_bytes: AtomicU64,
    /// Durations per bucket: how many, and their sum in nanoseconds.
    counts: [AtomicU64; BUCKETS],
    sums: [AtomicU64; BUCKETS],
    /// What the collector has replayed so far; touched only by the collector.
    replayed: Mutex<[(u64, u64); BUCKETS]>,
}

impl Shard {
    /// Adds `n` without a locked instruction: this thread is the only writer.
    fn bump(total: &AtomicU64, n: u64) {
        total.store(
            total.load(Ordering::Relaxed).wrapping_add(n),
            Ordering::Relaxed,
        );
    }

    /// Records one duration: the sum first, then the count (released), so a
    /// collector that sees a count also sees its value in the sum. Durations
    /// are mostly short, so a linear scan finds the bucket in a step or two.
    fn record_duration(&self, nanos: u64) {
        let bucket = BOUNDS_NANOS
            .iter()
            .position(|&bound| nanos <= bound)
            .unwrap_or(BUCKETS - 1);
        Self::bump(&self.sums[bucket], nanos);
        let count = &self.counts[bucket];
        count.store(count.load(Ordering::Relaxed) + 1, Ordering::Release);
    }

    /// Replays the durations recorded since the last call into `histogram`.
    fn replay(&self, histogram: &BoundHistogram<f64>) {
        let mut replayed = self.replayed.lock().unwrap_or_else(PoisonError::into_inner);
        for (bucket, done) in replayed.iter_mut().enumerate() {
            let count = self.counts[bucket].load(Ordering::Acquire);
            let sum = self.sums[bucket].load(Ordering::Relaxed);
            let new = count - done.0;
            if new == 0 {
                continue;
            }
            let mean_nanos = sum.wrapping_sub(done.1) as f64 / new as f64;
            let mean = clamp_into(bucket, mean_nanos / 1e9);
            for _ in 0..new {
                histogram.record(mean);
            }
            *done = (count, sum);
        }
    }
}

/// `value` moved into bucket `bucket` (`(bound[b-1], bound[b]]`) if rounding
/// or a racing writer pushed it out.
fn clamp_into(bucket: usize, value: f64) -> f64 {
    let above = |bound: f64| f64::from_bits(bound.to_bits() + 1);
    let low = bucket
        .checked_sub(1)
        .map_or(0.0, |b| above(TOOL_DURATION_BUCKETS[b]));
    let high = TOOL_DURATION_BUCKETS
        .get(bucket)
        .copied()
        .unwrap_or(f64::MAX);
    value.clamp(low, high)
}

/// Which total of a [`Shard`] an observable counter reports.
type Total = fn(&Shard) -> &AtomicU64;

/// One entry of a thread's most-recently-used list.
struct Recent {
    observer: usize,
    outcome: Outcome,
    tool: Box<str>,
    cell: Arc<Cell>,
    shard: Arc<Shard>,
}

thread_local! {
    static RECENT: RefCell<Vec<Recent>> = const { RefCell::new(Vec::new()) };
}

impl DispatchMetrics {
    pub(crate) fn new(meter: &Meter) -> Self {
        let cells = Arc::new(Mutex::new(Cells::default()));
        let totals: [(&'static str, &'static str, &'static str, Total); 3] = [
            (
                "forge.tool.dispatches",
                "{dispatch}",
                "Tool dispatches by forge.dispatch.outcome.",
                |s| &s.dispatches,
            ),
            (
                "forge.tool.input_bytes",
                "By",
                "Bytes of tool arguments.",
                |s| &s.input_bytes,
            ),
            (
                "forge.tool.output_bytes",
                "By",
                "Bytes of tool results.",
                |s| &s.output_bytes,
            ),
        ];
        Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            duration: instruments::tool_duration(meter),
            _totals: totals.map(|(name, unit, description, total)| {
                observable_total(meter, &cells, (name, unit, description), total)
            }),
            _replay: replay_durations(meter, &cells),
            cells,
        }
    }

    /// Runs `record` on this thread's shard of the dispatch's cell.
    fn with_shard(&self, tool: &str, outcome: Outcome, record: impl FnOnce(&Cell, &Shard)) {
        RECENT.with_borrow_mut(|recent| {
            let hit = recent
                .iter()
                .position(|r| r.observer == self.id && r.outcome == outcome && *r.tool == *tool);
            if let Some(index) = hit {
                let r = &recent[index];
                return record(&r.cell, &r.shard);
            }
            let cell = self.lookup(tool, outcome);
            let shard = Arc::new(Shard::default());
            cell.shards
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(Arc::clone(&shard));
            record(&cell, &shard);
            if recent.len() == MRU_LEN {
                recent.pop();
            }
            let entry = Recent {
                observer: self.id,
                outcome,
                tool: tool.into(),
                cell,
                shard,
            };
            recent.insert(0, entry);
        });
    }

    /// The cell of (tool, outcome), created on first use.
    fn lookup(&self, tool: &str, outcome: Outcome) -> Arc<Cell> {
        let mut cells = self.cells.lock().unwrap_or_else(PoisonError::into_inner);
        let name = if cells.count < MAX_CELLS || cells.by_tool.contains_key(tool) {
            tool
        } else {
            OVERFLOW
        };
        if let Some(cells) = cells.by_tool.get(name)
            && let Some((_, cell)) = cells.iter().find(|(o, _)| *o == outcome)
        {
            return Arc::clone(cell);
        }
        let cell = Arc::new(self.bind(name, outcome));
        cells.count += 1;
        cells
            .by_tool
            .entry(name.into())
            .or_default()
            .push((outcome, Arc::clone(&cell)));
        cell
    }

    fn bind(&self, tool: &str, outcome: Outcome) -> Cell {
        let mut attributes = vec![
            KeyValue::new("gen_ai.operation.name", "execute_tool"),
            KeyValue::new("gen_ai.tool.name", tool.to_owned()),
            KeyValue::new("forge.dispatch.outcome", outcome.as_str()),
        ];
        if let Outcome::Failure(kind) = outcome {
            attributes.push(KeyValue::new("error.type", kind.as_str()));
        }
        Cell {
            duration: self.duration.bind(&attributes),
            attributes,
            shards: Mutex::new(Vec::new()),
        }
    }
}

impl DispatchObserver for DispatchMetrics {
    fn on_dispatch(&self, observation: &DispatchObservation<'_>) {
        self.with_shard(observation.tool, observation.outcome, |_, shard| {
            let nanos = u64::try_from(observation.duration.as_nanos()).unwrap_or(u64::MAX);
            shard.record_duration(nanos);
            Shard::bump(&shard.dispatches, 1);
            Shard::bump(&shard.input_bytes, observation.input_bytes as u64);
            Shard::bump(&shard.output_bytes, observation.output_bytes as u64);
        });
    }
}

/// A cumulative counter reporting one total of every cell at collection.
fn observable_total(
    meter: &Meter,
    cells: &Arc<Mutex<Cells>>,
    (name, unit, description): (&'static str, &'static str, &'static str),
    total: Total,
) -> ObservableCounter<u64> {
    let cells = Arc::downgrade(cells);
    meter
        .u64_observable_counter(name)
        .with_unit(unit)
        .with_description(description)
        .with_callback(move |observer| {
            let Some(cells) = cells.upgrade() else { return };
            let cells = cells.lock().unwrap_or_else(PoisonError::into_inner);
            for (_, cell) in cells.by_tool.values().flatten() {
                let shards = cell.shards.lock().unwrap_or_else(PoisonError::into_inner);
                let sum = shards
                    .iter()
                    .map(|s| total(s).load(Ordering::Relaxed))
                    .fold(0u64, u64::wrapping_add);
                observer.observe(sum, &cell.attributes);
            }
        })
        .build()
}

/// Registers the collection-time replay of every shard's durations into the
/// cells' bound histograms.
///
/// The SDK runs every observable callback before it reads any instrument, so
/// the histogram is complete when collected. The instrument itself reports
/// nothing: it is only a hook (an observable counter with no observations is
/// not exported).
fn replay_durations(meter: &Meter, cells: &Arc<Mutex<Cells>>) -> ObservableCounter<u64> {
    let cells = Arc::downgrade(cells);
    meter
        .u64_observable_counter("forge.internal.replay")
        .with_callback(move |_| {
            let Some(cells) = cells.upgrade() else { return };
            let cells = cells.lock().unwrap_or_else(PoisonError::into_inner);
            for (_, cell) in cells.by_tool.values().flatten() {
                let shards = cell.shards.lock().unwrap_or_else(PoisonError::into_inner);
                for shard in shards.iter() {
                    shard.replay(&cell.duration);
                }
            }
        })
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nanosecond_bounds_match_the_exported_ones() {
        for (nanos, seconds) in BOUNDS_NANOS.iter().zip(TOOL_DURATION_BUCKETS) {
            assert_eq!(*nanos, (seconds * 1e9).round() as u64);
        }
    }

    #[test]
    fn clamped_means_stay_in_their_bucket() {
        for bucket in 0..BUCKETS {
            for value in [0.0, 1e-9, 0.003, 0.5, 7.0, 1e9] {
                let clamped = clamp_into(bucket, value);
                let landed = TOOL_DURATION_BUCKETS.partition_point(|&b| b < clamped);
                assert_eq!(landed, bucket, "{value} into {bucket}: {clamped}");
            }
        }
    }
}
