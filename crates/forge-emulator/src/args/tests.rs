//! Unit tests for default-policy arguments.

use serde_json::json;

use super::arguments_for;

#[test]
fn prompt_values_fill_matching_types() {
    let schema = json!({"type": "object", "required": ["city", "days", "unit"],
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}});
    let args = arguments_for(
        &schema,
        "Forecast for Paris over 3 days in Fahrenheit please",
    );
    assert_eq!(
        args,
        json!({"city": "Paris", "days": 3, "unit": "fahrenheit"})
    );
}

#[test]
fn quoted_strings_come_before_capitalised_words() {
    let schema = json!({"type": "object", "required": ["path"],
        "properties": {"path": {"type": "string"}}});
    let args = arguments_for(&schema, "Please Read \"notes/todo.txt\" now");
    assert_eq!(args, json!({"path": "notes/todo.txt"}));
}

#[test]
fn bounds_reject_prompt_numbers_and_derive_values() {
    let schema = json!({"type": "object", "required": ["n", "x"],
        "properties": {"n": {"type": "integer", "minimum": 10, "maximum": 20},
            "x": {"type": "number", "minimum": 0.5}}});
    let args = arguments_for(&schema, "use 99 and 15");
    assert_eq!(args, json!({"n": 15, "x": 99.0}));
    let args = arguments_for(&schema, "no numbers here");
    assert_eq!(args, json!({"n": 10, "x": 0.5}));
}

#[test]
fn schema_only_values_for_every_type() {
    let schema = json!({"type": "object", "required": ["b", "e", "s", "d", "l", "o", "c"],
        "properties": {
            "b": {"type": "boolean"},
            "e": {"enum": ["low", "high"]},
            "s": {"type": "string", "minLength": 12},
            "d": {"type": "string", "format": "date"},
            "l": {"type": "array", "items": {"type": "string"}, "minItems": 2},
            "o": {"type": "object", "properties": {"k": {"type": "integer"}}, "required": ["k"]},
            "c": {"const": "fixed"}}});
    let args = arguments_for(&schema, "do it");
    assert_eq!(
        args,
        json!({"b": true, "e": "low", "s": "example sxxx", "d": "2026-01-01",
               "l": ["example l", "example l"], "o": {"k": 1}, "c": "fixed"})
    );
}

#[test]
fn numeric_arrays_take_every_prompt_number() {
    let schema = json!({"type": "object", "required": ["values"],
        "properties": {"values": {"type": "array", "items": {"type": "number"}}}});
    let args = arguments_for(&schema, "average of 1, 2.5 and 4");
    assert_eq!(args, json!({"values": [1.0, 2.5, 4.0]}));
}

#[test]
fn refs_and_any_of_are_followed() {
    let schema = json!({"type": "object", "required": ["p"],
        "properties": {"p": {"$ref": "#/$defs/P"}},
        "$defs": {"P": {"anyOf": [{"type": "null"}, {"type": "integer", "minimum": 7}]}}});
    assert_eq!(arguments_for(&schema, ""), json!({"p": 7}));
}

#[test]
fn hostile_sizes_and_depth_are_capped() {
    let schema = json!({"type": "object", "required": ["l", "s"],
        "properties": {"l": {"type": "array", "items": {"type": "integer"}, "minItems": 1000000000u64},
            "s": {"type": "string", "minLength": 1000000000u64}}});
    let args = arguments_for(&schema, "");
    assert_eq!(args["l"].as_array().map(Vec::len), Some(64));
    assert_eq!(args["s"].as_str().map(str::len), Some(4096));
    let recursive = json!({"$ref": "#/$defs/N", "$defs": {"N": {"type": "object",
        "required": ["next"], "properties": {"next": {"$ref": "#/$defs/N"}}}}});
    let value = arguments_for(&recursive, "");
    assert!(value.is_object());
}

#[test]
fn non_object_schemas_give_an_empty_object() {
    assert_eq!(arguments_for(&json!({"type": "string"}), "x"), json!({}));
    assert_eq!(arguments_for(&json!(null), "x"), json!({}));
}
