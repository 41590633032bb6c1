//! Times full-pipeline dispatches one by one and prints latency percentiles.
//!
//! ```sh
//! cargo run --release -p forge-bench --bin dispatch_latency -- [iterations [case filter]]
//! ```
//!
//! For each of: the floor (parse into the struct + direct call) and the full
//! typed pipeline, on one thread and on two threads sharing one dispatcher,
//! it records every operation's duration (TSC clock via quanta, read twice
//! per operation, about 7 ns included) into an HDR histogram and prints
//! p50 / p99 / p99.9 / max and the throughput (for two threads, the
//! aggregate over both). `iterations` is per thread, default 1 000 000.
//! This is a plain binary, not a divan bench, so bench gates never parse it.

use std::{
    io::{self, Write},
    time::Instant,
};

use forge_bench::dispatch_fixture::{self as fx, PAYLOAD};
use forge_core::Labels;
use hdrhistogram::Histogram;

/// One thread's latencies and its wall time.
struct Run {
    hist: Histogram<u64>,
    seconds: f64,
    ops: u64,
}

fn main() -> io::Result<()> {
    let iterations = std::env::args()
        .nth(1)
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(1_000_000);
    let only = std::env::args().nth(2).unwrap_or_default();
    let dispatcher = fx::dispatcher();
    let call = fx::call("lookup");
    let labels = Labels::default();
    let clock = quanta::Clock::new();

    let floor = || measure(&clock, iterations, || fx::floor(PAYLOAD) as usize);
    let typed = || {
        measure(&clock, iterations, || {
            fx::run_now(dispatcher.dispatch(&call, &labels))
                .content()
                .len()
        })
    };

    let mut out = io::stdout().lock();
    writeln!(out, "dispatch_latency: {iterations} operations per thread")?;
    writeln!(
        out,
        "{:<24} {:>8} {:>8} {:>8} {:>9} {:>12}",
        "case", "p50 ns", "p99 ns", "p99.9 ns", "max ns", "ops/s"
    )?;
    // Warm up caches, the allocator and the dispatcher's shards.
    measure(&clock, iterations / 10, || fx::floor(PAYLOAD) as usize);
    for (name, threads, run) in [
        ("floor, 1 thread", 1, &floor as &(dyn Fn() -> Run + Sync)),
        ("typed pipeline, 1 thread", 1, &typed),
        ("floor, 2 threads", 2, &floor),
        ("typed pipeline, 2 threads", 2, &typed),
    ] {
        if !name.contains(only.as_str()) {
            continue;
        }
        let runs = on_threads(threads, run);
        report(&mut out, name, &runs)?;
    }
    Ok(())
}

fn on_threads(threads: usize, run: &(dyn Fn() -> Run + Sync)) -> Vec<Run> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads).map(|_| scope.spawn(run)).collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a bench thread panicked"))
            .collect()
    })
}

fn measure(clock: &quanta::Clock, iterations: u64, mut op: impl FnMut() -> usize) -> Run {
    let mut hist = new_histogram();
    let mut sink = 0usize;
    let start = Instant::now();
    for _ in 0..iterations {
        let t0 = clock.raw();
        sink = sink.wrapping_add(std::hint::black_box(op()));
        let t1 = clock.raw();
        hist.saturating_record(clock.delta_as_nanos(t0, t1).max(1));
    }
    std::hint::black_box(sink);
    Run {
        hist,
        seconds: start.elapsed().as_secs_f64(),
        ops: iterations,
    }
}

/// 1 ns to 60 s at 3 significant figures, allocated up front so recording
/// never resizes inside the timed loop.
fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid bounds")
}

fn report(out: &mut impl Write, name: &str, runs: &[Run]) -> io::Result<()> {
    let mut all = new_histogram();
    let mut throughput = 0.0;
    for run in runs {
        all.add(&run.hist).expect("auto-resizing histograms add");
        #[expect(clippy::cast_precision_loss, reason = "op counts are far below 2^52")]
        let ops = run.ops as f64;
        throughput += ops / run.seconds;
    }
    writeln!(
        out,
        "{:<24} {:>8} {:>8} {:>8} {:>9} {:>12.0}",
        name,
        all.value_at_quantile(0.5),
        all.value_at_quantile(0.99),
        all.value_at_quantile(0.999),
        all.max(),
        throughput
    )
}
