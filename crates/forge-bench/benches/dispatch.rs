//! Dispatch benchmarks: route, floor, typed and dynamic pipelines, batch,
//! two contending threads, and the clocks.
//!
//! Every future here finishes on its first poll, so each bench polls once
//! (`run_now`) instead of going through an executor. Sub-microsecond benches
//! set explicit sample counts and sizes.

use std::hint::black_box;

use forge_bench::dispatch_fixture::{self as fx, PAYLOAD};
use forge_core::{Labels, ToolCall};

fn main() {
    divan::main();
}

const SAMPLES: u32 = 2000;
const SIZE: u32 = 500;

#[divan::bench(sample_count = SAMPLES, sample_size = SIZE)]
fn clock_std_instant() -> std::time::Instant {
    std::time::Instant::now()
}

#[divan::bench(sample_count = SAMPLES, sample_size = SIZE)]
fn clock_quanta_raw(bencher: divan::Bencher<'_, '_>) {
    let clock = quanta::Clock::new();
    bencher.bench_local(|| clock.raw());
}

/// Lookup + an empty arguments object + a no-op call, with every stage on.
#[divan::bench(sample_count = SAMPLES, sample_size = SIZE)]
fn route_noop(bencher: divan::Bencher<'_, '_>) {
    let d = fx::dispatcher();
    let call = ToolCall::new("call_0", "noop", "{}");
    let labels = Labels::default();
    bencher.bench_local(|| fx::run_now(d.dispatch(black_box(&call), &labels)));
}

/// Parse into the argument struct + direct call; nothing else.
#[divan::bench(sample_count = SAMPLES, sample_size = SIZE)]
fn floor() -> u32 {
    fx::floor(black_box(PAYLOAD))
}

/// The full pipeline, typed tool.
#[divan::bench(sample_count = SAMPLES, sample_size = SIZE)]
fn pipeline_typed(bencher: divan::Bencher<'_, '_>) {
    let d = fx::dispatcher();
    let call = fx::call("lookup");
    let labels = Labels::default();
    bencher.bench_local(|| fx::run_now(d.dispatch(black_box(&call), &labels)));
}

/// The full pipeline, dynamic tool (jsonschema `is_valid` on a `Value`).
#[divan::bench(sample_count = SAMPLES, sample_size = SIZE)]
fn pipeline_dynamic(bencher: divan::Bencher<'_, '_>) {
    let d = fx::dispatcher();
    let call = fx::call("dyn_lookup");
    let labels = Labels::default();
    bencher.bench_local(|| fx::run_now(d.dispatch(black_box(&call), &labels)));
}

/// One model turn of 8 typed calls through `dispatch_batch`.
#[divan::bench(sample_count = 500, sample_size = 100)]
fn batch_of_8(bencher: divan::Bencher<'_, '_>) {
    let d = fx::dispatcher();
    let calls: Vec<ToolCall> = (0..8)
        .map(|i| ToolCall::new(format!("call_{i}"), "lookup", PAYLOAD))
        .collect();
    let labels = Labels::default();
    bencher
        .counter(divan::counter::ItemsCount::new(8usize))
        .bench_local(|| fx::run_now(d.dispatch_batch(black_box(&calls), &labels)));
}

/// The typed pipeline on 1 and 2 threads sharing one dispatcher; with 2
/// threads, aggregate throughput is 2 / (time per dispatch).
#[divan::bench(threads = [1, 2], sample_count = SAMPLES, sample_size = SIZE)]
fn contended_typed(bencher: divan::Bencher<'_, '_>) {
    let d = fx::dispatcher();
    let call = fx::call("lookup");
    let labels = Labels::default();
    bencher.bench(|| fx::run_now(d.dispatch(black_box(&call), &labels)));
}

/// The floor on 1 and 2 threads, for the same comparison.
#[divan::bench(threads = [1, 2], sample_count = SAMPLES, sample_size = SIZE)]
fn contended_floor() -> u32 {
    fx::floor(black_box(PAYLOAD))
}
