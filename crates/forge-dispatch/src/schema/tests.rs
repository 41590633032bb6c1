//! Which schemars outputs take the native path.

use schemars::JsonSchema;
use serde::Deserialize;

use super::compile;

#[derive(Deserialize, JsonSchema)]
enum Mode {
    A,
    B,
}

#[derive(Deserialize, JsonSchema)]
enum Documented {
    /// The first.
    A,
    /// The second.
    B,
}

#[derive(Deserialize, JsonSchema)]
#[expect(dead_code, reason = "only its schema is used")]
struct Inner {
    #[schemars(range(min = 1))]
    n: u8,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[expect(dead_code, reason = "only its schema is used")]
struct Plain {
    #[schemars(length(max = 5), regex(pattern = "^a"))]
    s: String,
    #[schemars(range(min = 0.0, max = 1.0))]
    f: f64,
    o: Option<String>,
    m: Mode,
    d: Documented,
    om: Option<Mode>,
    v: Vec<Inner>,
    map: std::collections::HashMap<String, Inner>,
    nested: Inner,
    value: serde_json::Value,
}

#[derive(Deserialize, JsonSchema)]
#[expect(dead_code, reason = "only its schema is used")]
enum Data {
    A { x: u8 },
    B(String),
}

#[derive(Deserialize, JsonSchema)]
#[expect(dead_code, reason = "only its schema is used")]
struct WithSet {
    s: std::collections::HashSet<u8>,
}

#[test]
fn plain_data_types_compile_natively() {
    let schema = schemars::schema_for!(Plain).to_value();
    let tree = compile(&schema).unwrap_or_else(|e| panic!("{e:?}\n{schema:#}"));
    assert!(!tree.root().any);
}

#[test]
fn data_enums_and_sets_fall_back() {
    assert!(compile(&schemars::schema_for!(Data).to_value()).is_err());
    assert!(compile(&schemars::schema_for!(WithSet).to_value()).is_err());
}
