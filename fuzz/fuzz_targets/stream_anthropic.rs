//! Fuzz target: the Anthropic adapter's whole stream decoding of a byte stream.

#![no_main]

use forge_providers::ProviderKind;

libfuzzer_sys::fuzz_target!(|data: &[u8]| forge_fuzz::providers::stream(
    ProviderKind::Anthropic,
    data
));
