//! The typed path never accepts what `jsonschema` rejects for the same schema.
//!
//! Generated argument texts go both ways: through the dispatcher to a typed
//! tool, and through `jsonschema` with the schema schemars derives for the
//! same type. Typed acceptance must imply `jsonschema` acceptance. Where the
//! typed path is stricter, the generator tags the input, and every tag is in
//! [`STRICTER`] with its reason; `typed_is_stricter_exactly_here` pins one
//! example of each.

use std::sync::LazyLock;

use forge_core::{Error, Labels, Tool, ToolCall};
use forge_dispatch::{Dispatcher, Registry};
use proptest::prelude::*;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

/// An integer field written as a float with no fraction (`5.0`, `1e1`):
/// JSON Schema's `integer` accepts it, serde's integer types do not.
const INT_AS_FLOAT: u32 = 1;
/// A key given twice: `jsonschema` sees the parsed `Value`, where the last
/// one silently wins; serde's derived structs reject a duplicate field.
const DUPLICATE_KEY: u32 = 2;
/// An integer beyond the Rust type's range where the schema states no bound
/// (schemars gives `u32` a `minimum` of 0 but no `maximum`).
const OUTSIDE_RUST_RANGE: u32 = 4;

/// Every way the typed path may be stricter than `jsonschema`.
const STRICTER: u32 = INT_AS_FLOAT | DUPLICATE_KEY | OUTSIDE_RUST_RANGE;

#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
enum Mode {
    Exact,
    Prefix,
    Fuzzy,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[expect(dead_code, reason = "only deserialized")]
struct Strict {
    #[schemars(length(min = 1, max = 8))]
    query: String,
    mode: Mode,
    #[schemars(range(min = 1, max = 100))]
    limit: u32,
    #[serde(default)]
    #[schemars(length(max = 3))]
    tags: Vec<String>,
}

#[derive(Deserialize, JsonSchema)]
#[expect(dead_code, reason = "only deserialized")]
struct Loose {
    #[schemars(range(min = 0.0, max = 1.0))]
    ratio: f64,
    count: u32,
    #[schemars(length(max = 5))]
    note: Option<String>,
    #[schemars(length(min = 1))]
    flags: Vec<bool>,
    #[schemars(regex(pattern = r"^[A-Z]{3}$"))]
    code: String,
}

struct Accept<A>(&'static str, std::marker::PhantomData<fn() -> A>);

impl<A> Tool for Accept<A>
where
    A: serde::de::DeserializeOwned + JsonSchema + Send + 'static,
{
    type Args = A;
    type Output = ();

    fn name(&self) -> &str {
        self.0
    }

    fn description(&self) -> &str {
        "Accepts valid arguments."
    }

    async fn call(&self, _: A) -> Result<(), Error> {
        Ok(())
    }
}

struct Harness {
    rt: tokio::runtime::Runtime,
    dispatcher: Dispatcher,
    strict: jsonschema::Validator,
    loose: jsonschema::Validator,
}

static HARNESS: LazyLock<Harness> = LazyLock::new(|| {
    let strict = Accept::<Strict>("strict", std::marker::PhantomData);
    let loose = Accept::<Loose>("loose", std::marker::PhantomData);
    let validator = |tool: &dyn Fn() -> forge_core::ToolSpec| {
        jsonschema::validator_for(tool().parameters()).expect("schemars schemas compile")
    };
    let strict_v = validator(&|| forge_core::typed_tool_spec(&strict));
    let loose_v = validator(&|| forge_core::typed_tool_spec(&loose));
    let registry = Registry::builder()
        .tool(strict)
        .tool(loose)
        .build()
        .expect("two distinct names");
    Harness {
        rt: tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a current-thread runtime builds"),
        dispatcher: Dispatcher::builder(registry).build(),
        strict: strict_v,
        loose: loose_v,
    }
});

/// (typed accepts, jsonschema accepts)
fn verdicts(tool: &str, args: &str) -> (bool, bool) {
    let h = &*HARNESS;
    let call = ToolCall::new("p", tool, args);
    let typed = !h
        .rt
        .block_on(h.dispatcher.dispatch(&call, &Labels::default()))
        .is_error();
    let validator = if tool == "strict" {
        &h.strict
    } else {
        &h.loose
    };
    let schema = serde_json::from_str::<Value>(args).is_ok_and(|v| validator.is_valid(&v));
    (typed, schema)
}

/// One field: its raw JSON text (or absent) and the tags it carries.
type Field = (Option<String>, u32);

fn f(text: &str) -> Field {
    (Some(text.to_owned()), 0)
}

fn tagged(text: &str, tag: u32) -> Field {
    (Some(text.to_owned()), tag)
}

fn missing() -> Field {
    (None, 0)
}

fn pick(options: Vec<Field>) -> BoxedStrategy<Field> {
    proptest::sample::select(options).boxed()
}

fn int_field(lo: i64, hi: i64) -> BoxedStrategy<Field> {
    prop_oneof![
        (lo..=hi).prop_map(|n| f(&n.to_string())),
        (lo..=hi).prop_map(|n| tagged(&format!("{n}.0"), INT_AS_FLOAT)),
        (1i64..=9).prop_map(|n| tagged(&format!("{n}e1"), INT_AS_FLOAT)),
        Just(f("5.5")),
        Just(f("\"5\"")),
        Just(f("null")),
        Just(missing()),
    ]
    .boxed()
}

fn string_field(words: &[&str]) -> BoxedStrategy<Field> {
    let mut options: Vec<Field> = words.iter().map(|w| f(&format!("\"{w}\""))).collect();
    options.extend([f("7"), f("null"), f("[\"a\"]"), f("{\"a\": 1}"), missing()]);
    pick(options)
}

/// Renders the fields as an object, maybe with an extra key and a
/// duplicated key.
fn render(
    fields: Vec<(&'static str, Field)>,
    extra: bool,
    duplicate: Option<usize>,
) -> (String, u32) {
    let mut tags = 0;
    let mut parts = Vec::new();
    for (key, (text, tag)) in &fields {
        if let Some(text) = text {
            parts.push(format!("\"{key}\": {text}"));
            tags |= tag;
        }
    }
    if let Some(i) = duplicate.filter(|&i| i < parts.len()) {
        let again = parts[i].clone();
        parts.push(again);
        tags |= DUPLICATE_KEY;
    }
    if extra {
        parts.push("\"extra\": true".into());
    }
    (format!("{{{}}}", parts.join(", ")), tags)
}

fn strict_case() -> impl Strategy<Value = (String, u32)> {
    let query = string_field(&[
        "a",
        "rust",
        "eight888",
        "nine99999",
        "",
        "éééééééé",
        "ééééééééé",
    ]);
    let mode = pick(vec![
        f("\"exact\""),
        f("\"fuzzy\""),
        f("\"other\""),
        f("{\"exact\": null}"),
        f("1"),
        f("null"),
        missing(),
    ]);
    let tags = pick(vec![
        f("[]"),
        f("[\"a\", \"b\", \"c\"]"),
        f("[\"a\", \"b\", \"c\", \"d\"]"),
        f("[1]"),
        f("\"a\""),
        missing(),
    ]);
    let dup = prop_oneof![4 => Just(None), 1 => (0usize..4).prop_map(Some)];
    (query, mode, int_field(-2, 110), tags, any::<bool>(), dup).prop_map(
        |(query, mode, limit, tags, extra, dup)| {
            let fields = vec![
                ("query", query),
                ("mode", mode),
                ("limit", limit),
                ("tags", tags),
            ];
            render(fields, extra, dup)
        },
    )
}

fn loose_case() -> impl Strategy<Value = (String, u32)> {
    let ratio = prop_oneof![
        (-50i32..150).prop_map(|n| f(&format!("{}", f64::from(n) / 100.0))),
        Just(f("0")),
        Just(f("1")),
        Just(f("\"0.5\"")),
        Just(missing()),
    ];
    let count = prop_oneof![
        int_field(-3, 10),
        Just(tagged("4294967296", OUTSIDE_RUST_RANGE)),
        Just(tagged("5000000000", OUTSIDE_RUST_RANGE)),
        Just(f("4294967295")),
    ];
    let note = string_field(&["", "hey", "12345", "123456", "ééééé"]);
    let flags = pick(vec![
        f("[]"),
        f("[true]"),
        f("[true, false]"),
        f("[1]"),
        f("true"),
        missing(),
    ]);
    let code = string_field(&["ABC", "abc", "ABCD", "AB"]);
    let dup = prop_oneof![4 => Just(None), 1 => (0usize..5).prop_map(Some)];
    (ratio, count, note, flags, code, any::<bool>(), dup).prop_map(
        |(ratio, count, note, flags, code, extra, dup)| {
            let fields = vec![
                ("ratio", ratio),
                ("count", count),
                ("note", note),
                ("flags", flags),
                ("code", code),
            ];
            render(fields, extra, dup)
        },
    )
}

fn agree(tool: &str, args: &str, tags: u32) -> Result<(), TestCaseError> {
    let (typed, schema) = verdicts(tool, args);
    prop_assert!(
        !typed || schema,
        "typed accepted what jsonschema rejects: {args}"
    );
    if schema && !typed {
        prop_assert!(
            tags & STRICTER != 0,
            "typed is stricter for no listed reason: {args}"
        );
    }
    if schema && tags == 0 {
        prop_assert!(typed, "typed rejected a plain valid input: {args}");
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    #[test]
    fn strict_struct_never_laxer((args, tags) in strict_case()) {
        agree("strict", &args, tags)?;
    }

    #[test]
    fn loose_struct_never_laxer((args, tags) in loose_case()) {
        agree("loose", &args, tags)?;
    }
}

/// One pinned example of every listed reason: typed rejects, jsonschema accepts.
#[test]
fn typed_is_stricter_exactly_here() {
    let cases = [
        // INT_AS_FLOAT
        ("strict", r#"{"query": "a", "mode": "exact", "limit": 5.0}"#),
        ("strict", r#"{"query": "a", "mode": "exact", "limit": 1e1}"#),
        // DUPLICATE_KEY
        (
            "strict",
            r#"{"query": "a", "mode": "exact", "limit": 5, "limit": 6}"#,
        ),
        // OUTSIDE_RUST_RANGE
        (
            "loose",
            r#"{"ratio": 0.5, "count": 4294967296, "flags": [true], "code": "ABC"}"#,
        ),
    ];
    for (tool, args) in cases {
        assert_eq!(verdicts(tool, args), (false, true), "{args}");
    }
}

/// Cases where serde alone would be laxer than the schema; the typed path
/// must still reject them.
#[test]
fn typed_is_never_laxer_where_serde_alone_would_be() {
    let cases = [
        // An enum variant in serde's map form is not a string.
        (
            "strict",
            r#"{"query": "a", "mode": {"exact": null}, "limit": 5}"#,
        ),
        // A struct given as an array is not an object.
        ("strict", r#"["a", "exact", 5]"#),
        // Code points, not bytes: 9 "é" are 18 bytes and 9 characters.
        (
            "strict",
            r#"{"query": "ééééééééé", "mode": "exact", "limit": 5}"#,
        ),
        // Unknown fields in a non-deny struct are fine, but must still be
        // valid JSON; bounds on floats and patterns are enforced.
        (
            "loose",
            r#"{"ratio": 1.5, "count": 1, "flags": [true], "code": "ABC"}"#,
        ),
        (
            "loose",
            r#"{"ratio": 0.5, "count": 1, "flags": [true], "code": "abc"}"#,
        ),
        (
            "loose",
            r#"{"ratio": 0.5, "count": 1, "flags": [], "code": "ABC"}"#,
        ),
    ];
    for (tool, args) in cases {
        assert_eq!(verdicts(tool, args), (false, false), "{args}");
    }
    let valid = r#"{"query": "éééééééé", "mode": "exact", "limit": 5}"#;
    assert_eq!(verdicts("strict", valid), (true, true));
}
