//! Divan benchmarks for forge, and the fixtures they share.
//!
//! The benchmarks live in `benches/`; run them with `cargo bench -p forge-bench`.
//! `src/bin/dispatch_latency.rs` is a plain binary that prints dispatch
//! latency percentiles from HDR histograms.

pub mod dispatch_fixture;
