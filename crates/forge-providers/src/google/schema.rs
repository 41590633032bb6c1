//! JSON Schema to Gemini's OpenAPI subset: `$ref`s inlined, type arrays
//! turned into `nullable`, and only the keywords Gemini knows kept.

use serde_json::{Map, Value};

/// Keywords Gemini's `Schema` accepts.
const KEPT: &[&str] = &[
    "type",
    "format",
    "title",
    "description",
    "nullable",
    "enum",
    "items",
    "minItems",
    "maxItems",
    "properties",
    "required",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "minimum",
    "maximum",
    "anyOf",
    "default",
    "example",
    "propertyOrdering",
];

/// How deep `$ref`s are followed before a recursive type is cut off.
const MAX_DEPTH: usize = 16;

/// Converts the tool's schema `root`.
pub(super) fn to_openapi(root: &Value) -> Value {
    convert(root, root, 0)
}

fn convert(schema: &Value, root: &Value, depth: usize) -> Value {
    let Value::Object(map) = schema else {
        return Value::Object(Map::new());
    };
    if depth > MAX_DEPTH {
        return serde_json::json!({ "type": "object" });
    }
    if let Some(target) = map
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| resolve(root, r))
    {
        let mut inlined = convert(target, root, depth + 1);
        if let (Value::Object(out), Some(d)) = (&mut inlined, map.get("description")) {
            out.insert("description".into(), d.clone());
        }
        return inlined;
    }
    let mut out = Map::new();
    for (key, value) in map {
        match key.as_str() {
            "type" => set_type(&mut out, value),
            "const" => {
                out.insert("enum".into(), Value::Array(vec![value.clone()]));
            }
            "properties" => {
                let props = value.as_object().into_iter().flatten();
                let props = props.map(|(k, v)| (k.clone(), convert(v, root, depth + 1)));
                out.insert(key.clone(), Value::Object(props.collect()));
            }
            "items" => {
                out.insert(key.clone(), convert(value, root, depth + 1));
            }
            "anyOf" | "oneOf" => any_of(&mut out, value, root, depth),
            k if KEPT.contains(&k) => {
                out.entry(key.clone()).or_insert_with(|| value.clone());
            }
            _ => {}
        }
    }
    Value::Object(out)
}

/// `#/$defs/Name` or `#/definitions/Name` (any JSON pointer into the root).
fn resolve<'a>(root: &'a Value, reference: &str) -> Option<&'a Value> {
    root.pointer(reference.strip_prefix('#')?)
}

fn set_type(out: &mut Map<String, Value>, value: &Value) {
    let Value::Array(types) = value else {
        out.insert("type".into(), value.clone());
        return;
    };
    let (nulls, others): (Vec<&Value>, Vec<&Value>) =
        types.iter().partition(|t| t.as_str() == Some("null"));
    if !nulls.is_empty() {
        out.insert("nullable".into(), Value::Bool(true));
    }
    match others.as_slice() {
        [] => {}
        [one] => {
            out.insert("type".into(), (*one).clone());
        }
        many => {
            let branches = many
                .iter()
                .map(|t| serde_json::json!({ "type": t }))
                .collect();
            out.insert("anyOf".into(), Value::Array(branches));
        }
    }
}

/// `anyOf`/`oneOf`: a `null` branch becomes `nullable`; one branch left is inlined.
fn any_of(out: &mut Map<String, Value>, value: &Value, root: &Value, depth: usize) {
    let branches = value.as_array().into_iter().flatten();
    let (nulls, others): (Vec<&Value>, Vec<&Value>) =
        branches.partition(|b| b.get("type").and_then(Value::as_str) == Some("null"));
    if !nulls.is_empty() {
        out.insert("nullable".into(), Value::Bool(true));
    }
    let mut converted: Vec<Value> = others.iter().map(|b| convert(b, root, depth + 1)).collect();
    if converted.len() == 1 {
        if let Some(Value::Object(only)) = converted.pop() {
            for (k, v) in only {
                out.entry(k).or_insert(v);
            }
        }
    } else if !converted.is_empty() {
        out.insert("anyOf".into(), Value::Array(converted));
    }
}

/// Whether a converted schema describes no arguments at all.
pub(super) fn is_empty_object(schema: &Value) -> bool {
    let props = schema.get("properties").and_then(Value::as_object);
    props.is_none_or(Map::is_empty) && schema.get("anyOf").is_none()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn refs_are_inlined_and_type_arrays_become_nullable() {
        let schema = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "point": { "$ref": "#/$defs/Point" },
                "label": { "type": ["string", "null"] },
                "mode": { "oneOf": [{ "const": "a" }, { "type": "null" }] }
            },
            "required": ["point"],
            "$defs": { "Point": { "type": "object", "properties": { "x": { "type": "number" } } } }
        });
        let out = to_openapi(&schema);
        assert_eq!(
            out,
            json!({
                "type": "object",
                "properties": {
                    "point": { "type": "object", "properties": { "x": { "type": "number" } } },
                    "label": { "type": "string", "nullable": true },
                    "mode": { "enum": ["a"], "nullable": true }
                },
                "required": ["point"]
            })
        );
    }

    #[test]
    fn recursive_refs_are_cut_off() {
        let schema = json!({
            "type": "object",
            "properties": { "next": { "$ref": "#" } }
        });
        let out = to_openapi(&schema);
        assert!(out.pointer("/properties/next/properties/next").is_some());
    }
}
