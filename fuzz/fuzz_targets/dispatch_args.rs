//! Fuzz target: see [`forge_fuzz`]'s harness of the same name.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| forge_fuzz::dispatch::dispatch_args(data));
