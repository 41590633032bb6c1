//! Schema validation of the 3-field arguments object: jsonschema vs valico,
//! next to serde parsing into the struct and into a `Value`.
//!
//! The schema is written out in draft-7-compatible form (enum inline, no
//! `$defs`) so both validators check exactly the same constraints.

use std::hint::black_box;

use forge_bench::dispatch_fixture::{LookupArgs, PAYLOAD};
use serde_json::{Value, json};

fn main() {
    divan::main();
}

fn schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "query": { "type": "string" },
            "mode": { "type": "string", "enum": ["exact", "prefix", "fuzzy"] },
            "limit": { "type": "integer", "minimum": 1, "maximum": 100 }
        },
        "required": ["query", "mode", "limit"],
        "additionalProperties": false
    })
}

fn instance() -> Value {
    serde_json::from_str(PAYLOAD).expect("the payload is valid JSON")
}

#[divan::bench(sample_count = 2000, sample_size = 500)]
fn serde_into_struct() -> LookupArgs {
    serde_json::from_str(black_box(PAYLOAD)).expect("valid")
}

#[divan::bench(sample_count = 2000, sample_size = 500)]
fn serde_into_value() -> Value {
    serde_json::from_str(black_box(PAYLOAD)).expect("valid")
}

#[divan::bench(sample_count = 2000, sample_size = 500)]
fn jsonschema_is_valid(bencher: divan::Bencher<'_, '_>) {
    let validator = jsonschema::validator_for(&schema()).expect("compiles");
    let value = instance();
    bencher.bench_local(|| validator.is_valid(black_box(&value)));
}

#[divan::bench(sample_count = 2000, sample_size = 500)]
fn jsonschema_validate(bencher: divan::Bencher<'_, '_>) {
    let validator = jsonschema::validator_for(&schema()).expect("compiles");
    let value = instance();
    bencher.bench_local(|| validator.validate(black_box(&value)).is_ok());
}

#[divan::bench(sample_count = 200, sample_size = 10)]
fn jsonschema_compile() -> jsonschema::Validator {
    jsonschema::validator_for(black_box(&schema())).expect("compiles")
}

#[divan::bench(sample_count = 1000, sample_size = 50)]
fn valico_validate(bencher: divan::Bencher<'_, '_>) {
    let mut scope = valico::json_schema::Scope::new();
    let validator = scope.compile_and_return(schema(), false).expect("compiles");
    let value = instance();
    bencher.bench_local(|| validator.validate(black_box(&value)).is_valid());
}
