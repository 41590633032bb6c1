//! Default-policy arguments: values from the prompt where the schema allows,
//! otherwise values derived from the schema.
//!
//! Implementation notes: the prompt is scanned once into pools of numbers,
//! quoted strings, capitalised words and plain words. The `required`
//! properties are filled in their listed order (every property, in key order,
//! when the schema has no `required` list); each takes the next unused pool
//! value its type accepts. `$ref`s into `$defs` /
//! `definitions` are followed; `anyOf`/`oneOf`/`allOf` use their first branch;
//! type arrays use their first non-null type. Nesting deeper than
//! [`MAX_DEPTH`] yields `{}`.

use serde_json::{Map, Number, Value, json};

const MAX_DEPTH: usize = 8;
/// Array length when the schema asks for none in particular.
const MAX_DERIVED_ITEMS: u64 = 3;
/// Caps on schema-demanded sizes, so a hostile schema cannot make the
/// emulator build a huge value.
const MAX_ITEMS: u64 = 64;
const MAX_STRING: usize = 4096;

/// Builds a call's arguments for `schema` from the user text.
pub(crate) fn arguments_for(schema: &Value, user_text: &str) -> Value {
    let mut pool = Pool::scan(user_text);
    match fill(schema, schema, "arguments", &mut pool, 0) {
        value @ Value::Object(_) => value,
        _ => Value::Object(Map::new()),
    }
}

/// Values found in the prompt, each usable once.
#[derive(Debug, Default)]
struct Pool {
    numbers: Vec<f64>,
    quoted: Vec<String>,
    proper: Vec<String>,
    words: Vec<String>,
}

impl Pool {
    fn scan(text: &str) -> Self {
        let (quoted, rest) = take_quoted(text);
        let mut pool = Self {
            quoted,
            ..Self::default()
        };
        for (index, raw) in rest.split_whitespace().enumerate() {
            let word = raw.trim_matches(|ch: char| !ch.is_alphanumeric() && ch != '-' && ch != '.');
            let word = word.trim_end_matches('.');
            if word.is_empty() {
                continue;
            }
            if let Ok(number) = word.parse::<f64>() {
                pool.numbers.push(number);
                continue;
            }
            let capital = word.chars().next().is_some_and(char::is_uppercase);
            if capital && index > 0 && word != "I" && word.chars().all(char::is_alphanumeric) {
                pool.proper.push(word.to_owned());
            }
            pool.words.push(word.to_owned());
        }
        pool
    }

    fn take_number(&mut self, integer: bool, schema: &Value) -> Option<f64> {
        let (min, max) = bounds(schema);
        let at = self.numbers.iter().position(|&n| {
            (!integer || n.fract() == 0.0)
                && min.is_none_or(|m| n >= m)
                && max.is_none_or(|m| n <= m)
        })?;
        Some(self.numbers.remove(at))
    }

    fn take_enum(&mut self, options: &[Value]) -> Option<Value> {
        for (at, word) in self.words.iter().enumerate() {
            let hit = options.iter().find(|option| match option {
                Value::String(s) => s.eq_ignore_ascii_case(word),
                Value::Number(n) => n.to_string() == *word,
                _ => false,
            });
            if let Some(hit) = hit {
                let hit = hit.clone();
                self.words.remove(at);
                return Some(hit);
            }
        }
        None
    }

    fn take_string(&mut self) -> Option<String> {
        if !self.quoted.is_empty() {
            return Some(self.quoted.remove(0));
        }
        if !self.proper.is_empty() {
            return Some(self.proper.remove(0));
        }
        None
    }
}

/// Splits out `"…"`, `“…”` and `'…'` strings; returns them and the rest.
fn take_quoted(text: &str) -> (Vec<String>, String) {
    let mut quoted = Vec::new();
    let mut rest = String::with_capacity(text.len());
    let mut chars = text.char_indices().peekable();
    let mut prev = ' ';
    while let Some((index, ch)) = chars.next() {
        let close = match ch {
            '"' => Some('"'),
            '“' => Some('”'),
            '\'' if prev.is_whitespace() || prev == '(' => Some('\''),
            _ => None,
        };
        let found = close.and_then(|close| {
            let start = index + ch.len_utf8();
            text[start..]
                .find(close)
                .map(|len| (start, start + len, close))
        });
        match found {
            Some((start, end, close)) => {
                quoted.push(text[start..end].to_owned());
                rest.push(' ');
                while chars.peek().is_some_and(|&(at, _)| at <= end) {
                    chars.next();
                }
                prev = close;
            }
            None => {
                rest.push(ch);
                prev = ch;
            }
        }
    }
    (quoted, rest)
}

fn bounds(schema: &Value) -> (Option<f64>, Option<f64>) {
    let get = |key: &str| schema.get(key).and_then(Value::as_f64);
    let min = get("minimum").or_else(|| get("exclusiveMinimum").map(|m| m + 1.0));
    let max = get("maximum").or_else(|| get("exclusiveMaximum").map(|m| m - 1.0));
    (min, max)
}

fn resolve<'a>(schema: &'a Value, root: &'a Value) -> &'a Value {
    let mut current = schema;
    for _ in 0..MAX_DEPTH {
        let Some(target) = current.get("$ref").and_then(Value::as_str) else {
            break;
        };
        let Some(found) = target.strip_prefix('#').and_then(|ptr| root.pointer(ptr)) else {
            break;
        };
        current = found;
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(first) = current
            .get(key)
            .and_then(|v| v.as_array()?.iter().find(|b| !is_null(b)))
        {
            return resolve(first, root);
        }
    }
    current
}

fn is_null(schema: &Value) -> bool {
    schema.get("type").and_then(Value::as_str) == Some("null")
}

fn type_of(schema: &Value) -> &str {
    match schema.get("type") {
        Some(Value::String(name)) => name,
        Some(Value::Array(names)) => names
            .iter()
            .filter_map(Value::as_str)
            .find(|name| *name != "null")
            .unwrap_or("null"),
        _ if schema.get("properties").is_some() => "object",
        _ if schema.get("items").is_some() => "array",
        _ => "string",
    }
}

fn fill(schema: &Value, root: &Value, name: &str, pool: &mut Pool, depth: usize) -> Value {
    let schema = resolve(schema, root);
    if let Some(constant) = schema.get("const") {
        return constant.clone();
    }
    if let Some(options) = schema
        .get("enum")
        .and_then(Value::as_array)
        .filter(|o| !o.is_empty())
    {
        return pool
            .take_enum(options)
            .unwrap_or_else(|| options[0].clone());
    }
    match type_of(schema).to_ascii_lowercase().as_str() {
        "integer" => integer(schema, pool),
        "number" => number(schema, pool),
        "boolean" => Value::Bool(true),
        "null" => Value::Null,
        "array" => array(schema, root, name, pool, depth),
        "object" if depth < MAX_DEPTH => object(schema, root, pool, depth),
        "object" => json!({}),
        _ => string(schema, name, pool),
    }
}

fn integer(schema: &Value, pool: &mut Pool) -> Value {
    if let Some(n) = pool.take_number(true, schema) {
        return json!(n as i64);
    }
    let (min, max) = bounds(schema);
    let value = match (min, max) {
        (Some(min), _) => min.ceil(),
        (None, Some(max)) if max < 1.0 => max.floor(),
        _ => 1.0,
    };
    json!(value as i64)
}

fn number(schema: &Value, pool: &mut Pool) -> Value {
    let value = pool.take_number(false, schema).unwrap_or_else(|| {
        let (min, max) = bounds(schema);
        match (min, max) {
            (Some(min), _) => min,
            (None, Some(max)) if max < 1.5 => max,
            _ => 1.5,
        }
    });
    Number::from_f64(value).map_or(Value::Null, Value::Number)
}

fn string(schema: &Value, name: &str, pool: &mut Pool) -> Value {
    let format = schema.get("format").and_then(Value::as_str).unwrap_or("");
    let derived = match format {
        "date-time" => "2026-01-01T00:00:00Z",
        "date" => "2026-01-01",
        "time" => "12:00:00",
        "email" => "user@example.com",
        "uri" | "url" => "https://example.com/",
        "uuid" => "00000000-0000-4000-8000-000000000000",
        _ => "",
    };
    let mut value = match (derived.is_empty(), pool.take_string()) {
        (true, Some(found)) => found,
        (true, None) => format!("example {name}"),
        (false, _) => derived.to_owned(),
    };
    let get = |key: &str| schema.get(key).and_then(Value::as_u64).map(|n| n as usize);
    if let Some(max) = get("maxLength") {
        value = value.chars().take(max).collect();
    }
    if let Some(min) = get("minLength").map(|min| min.min(MAX_STRING)) {
        while value.chars().count() < min {
            value.push('x');
        }
    }
    Value::String(value)
}

fn array(schema: &Value, root: &Value, name: &str, pool: &mut Pool, depth: usize) -> Value {
    let items = schema.get("items").unwrap_or(&Value::Null);
    let get = |key: &str| schema.get(key).and_then(Value::as_u64);
    let min = get("minItems").unwrap_or(1);
    let max = get("maxItems").unwrap_or(u64::MAX).max(min);
    let item_type = type_of(resolve(items, root)).to_owned();
    let mut values = Vec::new();
    if matches!(item_type.as_str(), "number" | "integer") {
        let integer = item_type == "integer";
        while (values.len() as u64) < max.min(MAX_ITEMS) {
            let Some(n) = pool.take_number(integer, resolve(items, root)) else {
                break;
            };
            values.push(if integer { json!(n as i64) } else { json!(n) });
        }
    }
    let target = min
        .max(1)
        .min(MAX_DERIVED_ITEMS.max(min))
        .min(max)
        .min(MAX_ITEMS);
    while (values.len() as u64) < target {
        values.push(fill(items, root, name, pool, depth + 1));
    }
    Value::Array(values)
}

fn object(schema: &Value, root: &Value, pool: &mut Pool, depth: usize) -> Value {
    let empty = Map::new();
    let properties = schema
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|names| names.iter().filter_map(Value::as_str).collect())
        .unwrap_or_else(|| properties.keys().map(String::as_str).collect());
    let mut out = Map::new();
    for key in required {
        let property = properties.get(key).unwrap_or(&Value::Null);
        let value = fill(property, root, key, pool, depth + 1);
        out.insert(key.to_owned(), value);
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests;
