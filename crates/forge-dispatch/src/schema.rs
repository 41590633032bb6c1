//! Compiles a tool's JSON Schema into the constraint tree the typed path checks.
//!
//! # Implementation details
//!
//! Typed tools deserialize the raw arguments straight into their Rust type.
//! serde already enforces types, required fields and unknown fields for
//! derived types, but not what schemars adds from attributes: numeric bounds,
//! string lengths, patterns, array sizes. This module turns the schema into a
//! small arena of [`Node`]s, one per subschema, that [`crate::check`] consults
//! while serde runs, so both happen in one pass over the bytes.
//!
//! Only the keywords schemars emits for plain data types are understood. Any
//! other keyword makes [`compile`] return `Err`, and the tool falls back to
//! full `jsonschema` validation of a parsed `Value` plus a strict serde parse:
//! slower, never laxer.

use std::{collections::HashMap, sync::Arc};

use serde_json::{Map, Value};

/// Index of a [`Node`] in a [`Tree`].
pub(crate) type NodeId = usize;

/// JSON type bits of [`Node::types`].
pub(crate) mod ty {
    pub(crate) const NULL: u8 = 1;
    pub(crate) const BOOL: u8 = 2;
    pub(crate) const INT: u8 = 4;
    pub(crate) const NUM: u8 = 8;
    pub(crate) const STR: u8 = 16;
    pub(crate) const ARR: u8 = 32;
    pub(crate) const OBJ: u8 = 64;
    pub(crate) const ALL: u8 = 127;
}

/// The compiled constraints of one schema, root first.
#[derive(Debug)]
pub(crate) struct Tree {
    nodes: Vec<Node>,
}

impl Tree {
    pub(crate) fn root(&self) -> &Node {
        &self.nodes[0]
    }

    pub(crate) fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id]
    }
}

/// The constraints of one subschema. `any` means "accepts everything": the
/// checker then hands the value to serde untouched.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub(crate) any: bool,
    pub(crate) types: u8,
    pub(crate) num: Option<NumRule>,
    pub(crate) text: Option<TextRule>,
    pub(crate) array: Option<ArrayRule>,
    pub(crate) object: Option<ObjectRule>,
    pub(crate) allowed: Option<Arc<[Value]>>,
}

impl Default for Node {
    fn default() -> Self {
        Self {
            any: true,
            types: ty::ALL,
            num: None,
            text: None,
            array: None,
            object: None,
            allowed: None,
        }
    }
}

/// `minimum`, `maximum`, their exclusive forms and `multipleOf`.
#[derive(Debug, Clone, Default)]
pub(crate) struct NumRule {
    pub(crate) min: Option<f64>,
    pub(crate) max: Option<f64>,
    pub(crate) exclusive_min: Option<f64>,
    pub(crate) exclusive_max: Option<f64>,
    pub(crate) multiple_of: Option<f64>,
}

/// `minLength`, `maxLength` (in code points) and `pattern`.
#[derive(Debug, Clone, Default)]
pub(crate) struct TextRule {
    pub(crate) min_len: Option<usize>,
    pub(crate) max_len: Option<usize>,
    pub(crate) pattern: Option<Arc<Pattern>>,
}

/// A `pattern`, checked by a one-keyword `jsonschema` validator so the regex
/// dialect is exactly the one the dynamic path uses.
#[derive(Debug)]
pub(crate) struct Pattern {
    pub(crate) source: String,
    pub(crate) validator: jsonschema::Validator,
}

/// `items`, `minItems`, `maxItems`.
#[derive(Debug, Clone, Default)]
pub(crate) struct ArrayRule {
    pub(crate) items: Option<NodeId>,
    pub(crate) min_items: Option<usize>,
    pub(crate) max_items: Option<usize>,
}

/// `properties`, `required`, `additionalProperties`, `min/maxProperties`.
#[derive(Debug, Clone)]
pub(crate) struct ObjectRule {
    pub(crate) props: Arc<[Prop]>,
    pub(crate) required_mask: u64,
    pub(crate) additional: Additional,
    pub(crate) min_props: Option<usize>,
    pub(crate) max_props: Option<usize>,
}

/// One named property; `bit` is its bit in the required mask, or 0.
#[derive(Debug)]
pub(crate) struct Prop {
    pub(crate) name: Box<str>,
    pub(crate) node: Option<NodeId>,
    pub(crate) bit: u64,
}

/// What `additionalProperties` allows.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Additional {
    Allow,
    Deny,
    Schema(NodeId),
}

/// Why a schema cannot take the native path.
#[derive(Debug)]
pub(crate) struct Unsupported(pub(crate) String);

/// Keywords that never constrain a value.
const ANNOTATIONS: &[&str] = &[
    "$schema",
    "$id",
    "$comment",
    "$defs",
    "definitions",
    "title",
    "description",
    "default",
    "examples",
    "format",
    "deprecated",
    "readOnly",
    "writeOnly",
    "contentEncoding",
    "contentMediaType",
];

/// Compiles `schema` into a [`Tree`].
pub(crate) fn compile(schema: &Value) -> Result<Tree, Unsupported> {
    let mut compiler = Compiler {
        root: schema,
        nodes: vec![Node::default()],
        refs: HashMap::new(),
    };
    let root = compiler.build(schema)?;
    compiler.nodes[0] = root;
    Ok(Tree {
        nodes: compiler.nodes,
    })
}

struct Compiler<'s> {
    root: &'s Value,
    nodes: Vec<Node>,
    refs: HashMap<&'s str, NodeId>,
}

impl<'s> Compiler<'s> {
    /// Compiles a subschema into a new arena slot, or `None` when it accepts anything.
    fn child(&mut self, schema: &'s Value) -> Result<Option<NodeId>, Unsupported> {
        if let Some(Value::String(reference)) = schema.get("$ref")
            && only_annotations_besides(schema, "$ref")
        {
            return self.reference(reference).map(Some);
        }
        let node = self.build(schema)?;
        if node.any {
            return Ok(None);
        }
        self.nodes.push(node);
        Ok(Some(self.nodes.len() - 1))
    }

    fn reference(&mut self, reference: &'s str) -> Result<NodeId, Unsupported> {
        if let Some(&id) = self.refs.get(reference) {
            return Ok(id);
        }
        let target = resolve(self.root, reference)
            .ok_or_else(|| Unsupported(format!("unresolvable $ref `{reference}`")))?;
        // Reserve the slot first so recursive types terminate.
        let id = self.nodes.len();
        self.nodes.push(Node::default());
        self.refs.insert(reference, id);
        self.nodes[id] = self.build(target)?;
        Ok(id)
    }

    fn build(&mut self, schema: &'s Value) -> Result<Node, Unsupported> {
        let map = match schema {
            Value::Bool(true) => return Ok(Node::default()),
            Value::Object(map) => map,
            _ => {
                return Err(Unsupported(
                    "a schema that is not an object or `true`".into(),
                ));
            }
        };
        if let Some(Value::String(reference)) = map.get("$ref") {
            if only_annotations_besides(schema, "$ref") {
                let id = self.reference(reference)?;
                return Ok(self.nodes[id].clone());
            }
            return Err(Unsupported("`$ref` beside other keywords".into()));
        }
        if let Some(node) = self.combinator(map)? {
            return Ok(node);
        }
        let mut node = Node::default();
        for (key, value) in map {
            self.keyword(&mut node, map, key, value)?;
        }
        node.any = node.types == ty::ALL
            && node.num.is_none()
            && node.text.is_none()
            && node.array.is_none()
            && node.object.is_none()
            && node.allowed.is_none();
        Ok(node)
    }

    /// `anyOf: [X, {type: null}]` (schemars' `Option<T>`) and `oneOf` of consts
    /// (a documented unit enum); `None` when neither keyword is present.
    fn combinator(&mut self, map: &'s Map<String, Value>) -> Result<Option<Node>, Unsupported> {
        let (keyword, branches) = match (map.get("anyOf"), map.get("oneOf")) {
            (Some(Value::Array(b)), None) => ("anyOf", b),
            (None, Some(Value::Array(b))) => ("oneOf", b),
            (None, None) => return Ok(None),
            _ => return Err(Unsupported("`anyOf` with `oneOf`".into())),
        };
        if map
            .keys()
            .any(|k| k != keyword && !ANNOTATIONS.contains(&k.as_str()))
        {
            return Err(Unsupported(format!("`{keyword}` beside other keywords")));
        }
        if let Some(values) = branches.iter().map(const_of).collect::<Option<Vec<_>>>() {
            return Ok(Some(Node {
                any: false,
                allowed: Some(values.into()),
                ..Node::default()
            }));
        }
        match branches.as_slice() {
            [x, null] | [null, x] if is_null_schema(null) && keyword == "anyOf" => {
                let mut node = self.build(x)?;
                if node.any {
                    return Ok(Some(node));
                }
                node.types |= ty::NULL;
                if let Some(allowed) = &node.allowed {
                    let mut values = allowed.to_vec();
                    values.push(Value::Null);
                    node.allowed = Some(values.into());
                }
                Ok(Some(node))
            }
            _ => Err(Unsupported(format!("general `{keyword}`"))),
        }
    }

    fn keyword(
        &mut self,
        node: &mut Node,
        map: &'s Map<String, Value>,
        key: &str,
        value: &'s Value,
    ) -> Result<(), Unsupported> {
        match key {
            "type" => node.types = types(value)?,
            "enum" => node.allowed = Some(scalars(value)?),
            "const" => node.allowed = Some(scalars(&Value::Array(vec![value.clone()]))?),
            "minimum" => num(node).min = Some(number(value)?),
            "maximum" => num(node).max = Some(number(value)?),
            "exclusiveMinimum" => num(node).exclusive_min = Some(number(value)?),
            "exclusiveMaximum" => num(node).exclusive_max = Some(number(value)?),
            "multipleOf" => num(node).multiple_of = Some(number(value)?),
            "minLength" => text(node).min_len = Some(count(value)?),
            "maxLength" => text(node).max_len = Some(count(value)?),
            "pattern" => text(node).pattern = Some(pattern(value)?),
            "minItems" => array(node).min_items = Some(count(value)?),
            "maxItems" => array(node).max_items = Some(count(value)?),
            "items" => array(node).items = self.child(value)?,
            "uniqueItems" if value == &Value::Bool(false) => {}
            "properties" | "required" | "additionalProperties" => {
                if node.object.is_none() {
                    node.object = Some(self.object(map)?);
                }
            }
            "minProperties" | "maxProperties" => {
                if node.object.is_none() {
                    node.object = Some(self.object(map)?);
                }
            }
            _ if ANNOTATIONS.contains(&key) => {}
            _ => return Err(Unsupported(format!("keyword `{key}`"))),
        }
        Ok(())
    }

    fn object(&mut self, map: &'s Map<String, Value>) -> Result<ObjectRule, Unsupported> {
        let properties = match map.get("properties") {
            Some(Value::Object(p)) => Some(p),
            None => None,
            Some(_) => return Err(Unsupported("non-object `properties`".into())),
        };
        let required: Vec<&str> = match map.get("required") {
            Some(Value::Array(r)) => r.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let mut props = Vec::new();
        for (name, schema) in properties.into_iter().flatten() {
            let node = self.child(schema)?;
            props.push(Prop {
                name: name.as_str().into(),
                node,
                bit: 0,
            });
        }
        for name in &required {
            if !props.iter().any(|p| &*p.name == *name) {
                props.push(Prop {
                    name: (*name).into(),
                    node: None,
                    bit: 0,
                });
            }
        }
        if required.len() > 64 {
            return Err(Unsupported("more than 64 required properties".into()));
        }
        let mut required_mask = 0;
        for (i, name) in required.iter().enumerate() {
            let bit = 1u64 << i;
            required_mask |= bit;
            if let Some(p) = props.iter_mut().find(|p| &*p.name == *name) {
                p.bit |= bit;
            }
        }
        let additional = match map.get("additionalProperties") {
            None | Some(Value::Bool(true)) => Additional::Allow,
            Some(Value::Bool(false)) => Additional::Deny,
            Some(schema) => match self.child(schema)? {
                Some(id) => Additional::Schema(id),
                None => Additional::Allow,
            },
        };
        Ok(ObjectRule {
            props: props.into(),
            required_mask,
            additional,
            min_props: map.get("minProperties").map(count).transpose()?,
            max_props: map.get("maxProperties").map(count).transpose()?,
        })
    }
}

fn num(node: &mut Node) -> &mut NumRule {
    node.num.get_or_insert_with(NumRule::default)
}

fn text(node: &mut Node) -> &mut TextRule {
    node.text.get_or_insert_with(TextRule::default)
}

fn array(node: &mut Node) -> &mut ArrayRule {
    node.array.get_or_insert_with(ArrayRule::default)
}

fn only_annotations_besides(schema: &Value, keyword: &str) -> bool {
    schema.as_object().is_some_and(|m| {
        m.keys()
            .all(|k| k == keyword || ANNOTATIONS.contains(&k.as_str()))
    })
}

fn is_null_schema(schema: &Value) -> bool {
    schema.get("type") == Some(&Value::String("null".into()))
        && only_annotations_besides(schema, "type")
}

/// The single scalar a `{const: x}` or `{enum: [x]}` branch allows.
fn const_of(schema: &Value) -> Option<Value> {
    let map = schema.as_object()?;
    let value = match (map.get("const"), map.get("enum")) {
        (Some(v), None) => v.clone(),
        (None, Some(Value::Array(values))) if values.len() == 1 => values[0].clone(),
        _ => return None,
    };
    let allowed = ["const", "enum", "type"];
    let plain = map
        .keys()
        .all(|k| allowed.contains(&k.as_str()) || ANNOTATIONS.contains(&k.as_str()));
    let scalar = !(value.is_array() || value.is_object());
    (plain && scalar && map.get("type").is_none_or(|t| t == "string")).then_some(value)
}

fn resolve<'s>(root: &'s Value, reference: &str) -> Option<&'s Value> {
    let pointer = reference.strip_prefix('#')?;
    root.pointer(pointer)
}

fn types(value: &Value) -> Result<u8, Unsupported> {
    let one = |name: &str| match name {
        "null" => Ok(ty::NULL),
        "boolean" => Ok(ty::BOOL),
        "integer" => Ok(ty::INT),
        "number" => Ok(ty::NUM | ty::INT),
        "string" => Ok(ty::STR),
        "array" => Ok(ty::ARR),
        "object" => Ok(ty::OBJ),
        other => Err(Unsupported(format!("type `{other}`"))),
    };
    match value {
        Value::String(name) => one(name),
        Value::Array(names) => names.iter().try_fold(0, |acc, name| {
            let name = name.as_str().ok_or(Unsupported("non-string type".into()))?;
            Ok(acc | one(name)?)
        }),
        _ => Err(Unsupported("malformed `type`".into())),
    }
}

fn scalars(value: &Value) -> Result<Arc<[Value]>, Unsupported> {
    let values = value
        .as_array()
        .ok_or(Unsupported("non-array `enum`".into()))?;
    if values.iter().any(|v| v.is_array() || v.is_object()) {
        return Err(Unsupported("`enum` with structured values".into()));
    }
    Ok(values.as_slice().into())
}

fn number(value: &Value) -> Result<f64, Unsupported> {
    value
        .as_f64()
        .ok_or_else(|| Unsupported("non-numeric bound".into()))
}

fn count(value: &Value) -> Result<usize, Unsupported> {
    value
        .as_u64()
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| Unsupported("non-integer count".into()))
}

fn pattern(value: &Value) -> Result<Arc<Pattern>, Unsupported> {
    let source = value
        .as_str()
        .ok_or_else(|| Unsupported("non-string `pattern`".into()))?;
    let schema = serde_json::json!({ "pattern": source });
    let validator = jsonschema::validator_for(&schema)
        .map_err(|e| Unsupported(format!("pattern `{source}` does not compile: {e}")))?;
    Ok(Arc::new(Pattern {
        source: source.to_owned(),
        validator,
    }))
}

#[cfg(test)]
mod tests;
