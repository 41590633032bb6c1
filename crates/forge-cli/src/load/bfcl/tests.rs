//! BFCL parsing, type mapping and ground-truth picking, on the sample under `tests/data`.

use std::path::Path;

use serde_json::json;

use super::*;

fn sample() -> Vec<Entry> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/BFCL_v4_sample_parallel_multiple.json");
    load(&path, None).unwrap()
}

#[test]
fn python_type_names_map_to_json_schema() {
    let schema = json!({
        "type": "dict",
        "properties": {
            "a": {"type": "float"},
            "b": {"type": "tuple", "items": {"type": "float"}},
            "c": {"type": "any", "optional": true, "description": "x"},
            "d": {"type": "dict", "properties": {"e": {"type": "integer"}}},
        },
        "required": ["a"],
    });
    let expected = json!({
        "type": "object",
        "properties": {
            "a": {"type": "number"},
            "b": {"type": "array", "items": {"type": "number"}},
            "c": {"description": "x"},
            "d": {"type": "object", "properties": {"e": {"type": "integer"}}},
        },
        "required": ["a"],
    });
    assert_eq!(to_json_schema(&schema), expected);
}

#[test]
fn first_alternative_wins_and_empty_string_omits() {
    let args = json!({
        "width": [2.5],
        "unit": ["", "m"],
        "budget": [{"min": [1], "max": [2, 3]}],
        "list": [[4, 6], [6, 4]],
        "nothing": [null],
    });
    let picked = pick_arguments(&args);
    let expected = json!({
        "width": 2.5,
        "budget": {"min": 1, "max": 2},
        "list": [4, 6],
        "nothing": null,
    });
    assert_eq!(picked, expected);
}

#[test]
fn the_sample_loads_with_its_ground_truth() {
    let entries = sample();
    assert_eq!(entries.len(), 4);
    let first = &entries[0];
    assert_eq!(first.tools.len(), 2);
    assert_eq!(first.tools[0].name(), "number_tools.sum_of_multiples");
    assert_eq!(first.calls.len(), 2);
    assert_eq!(
        first.calls[0].1,
        json!({"lower": 1, "upper": 500, "divisors": [4, 6]})
    );
    assert!(entries[1].prompt.contains("geometry assistant"));
    assert!(entries[1].prompt.contains("rectangle"));
}

#[test]
fn ground_truth_that_breaks_its_own_schema_is_flagged() {
    let entries = sample();
    let flagged: Vec<_> = entries.iter().flat_map(|e| e.flagged.iter()).collect();
    assert_eq!(flagged.len(), 1, "{flagged:?}");
    assert_eq!(flagged[0].0, "cinema.book");
    assert!(flagged[0].1.contains("seats"), "{}", flagged[0].1);
}

#[tokio::test]
async fn echo_tools_return_their_arguments() {
    let spec = ToolSpec::new("t.x", "d", json!({"type": "object"}));
    let tool = EchoTool::shared(spec);
    let out = tool.call(json!({"a": 1})).await.unwrap();
    assert_eq!(out, json!({"tool": "t.x", "arguments": {"a": 1}}));
}
