//! One-pass typed validation: serde deserializes while the schema is checked.
//!
//! # Implementation details
//!
//! [`Checked`] wraps a serde `Deserializer` and the [`Node`] of the value it
//! is about to produce. Every visitor call passes through [`CheckedVisitor`],
//! which checks the JSON type and the node's constraints before handing the
//! value on to the real visitor; maps and sequences are wrapped so that each
//! element is checked against its own node. Subtrees whose node accepts
//! anything are not wrapped at all.
//!
//! The JSON path of a failure costs nothing on success: each map or sequence
//! layer an error passes through on its way out pushes its key or index into
//! [`Cx::path`], innermost first.

use std::{cell::RefCell, fmt};

use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, Error as _, MapAccess, SeqAccess, Visitor,
    value::{BorrowedStrDeserializer, MapAccessDeserializer, StrDeserializer, StringDeserializer},
};
use serde_json::Value;

use crate::schema::{Node, NodeId, Tree, ty};

mod keys;

use keys::CheckedMap;

/// Shared state of one typed parse.
pub(crate) struct Cx<'t> {
    pub(crate) tree: &'t Tree,
    path: RefCell<Vec<Seg>>,
}

/// One step of a JSON path.
enum Seg {
    Key(Box<str>),
    Index(usize),
}

impl<'t> Cx<'t> {
    pub(crate) fn new(tree: &'t Tree) -> Self {
        Self {
            tree,
            path: RefCell::new(Vec::new()),
        }
    }

    fn push(&self, seg: Seg) {
        self.path.borrow_mut().push(seg);
    }

    /// The failure's JSON Pointer (RFC 6901), outermost first; `""` is the root.
    pub(crate) fn pointer(&self) -> String {
        let mut out = String::new();
        for seg in self.path.borrow().iter().rev() {
            out.push('/');
            match seg {
                Seg::Key(k) => out.push_str(&k.replace('~', "~0").replace('/', "~1")),
                Seg::Index(i) => out.push_str(&i.to_string()),
            }
        }
        out
    }
}

/// Deserializes `T` from `json` while enforcing `cx.tree`.
pub(crate) fn from_str<'a, T: de::Deserialize<'a>>(
    json: &'a str,
    cx: &Cx<'_>,
) -> Result<T, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(json);
    let root = cx.tree.root();
    let value = if root.any {
        T::deserialize(&mut de)?
    } else {
        T::deserialize(Checked {
            de: &mut de,
            cx,
            node: root,
        })?
    };
    de.end()?;
    Ok(value)
}

/// A deserializer whose output must satisfy `node`.
struct Checked<'c, D> {
    de: D,
    cx: &'c Cx<'c>,
    node: &'c Node,
}

/// Wraps `seed` so its value is checked against `node` (if constrained).
struct CheckedSeed<'c, S> {
    seed: S,
    cx: &'c Cx<'c>,
    node: Option<NodeId>,
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for CheckedSeed<'_, S> {
    type Value = S::Value;

    #[inline]
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<S::Value, D::Error> {
        match self.node.map(|id| self.cx.tree.node(id)) {
            Some(node) if !node.any => self.seed.deserialize(Checked {
                de,
                cx: self.cx,
                node,
            }),
            _ => self.seed.deserialize(de),
        }
    }
}

macro_rules! forward_checked {
    ($($method:ident($($arg:ident: $ty:ty),*)),* $(,)?) => {$(
        #[inline]
        fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, D::Error> {
            let visitor = CheckedVisitor { visitor, cx: self.cx, node: self.node };
            self.de.$method($($arg,)* visitor)
        }
    )*};
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Checked<'_, D> {
    type Error = D::Error;

    forward_checked! {
        deserialize_any(), deserialize_bool(), deserialize_i8(), deserialize_i16(),
        deserialize_i32(), deserialize_i64(), deserialize_i128(), deserialize_u8(),
        deserialize_u16(), deserialize_u32(), deserialize_u64(), deserialize_u128(),
        deserialize_f32(), deserialize_f64(), deserialize_char(), deserialize_str(),
        deserialize_string(), deserialize_bytes(), deserialize_byte_buf(),
        deserialize_option(), deserialize_unit(), deserialize_seq(), deserialize_map(),
        deserialize_identifier(),
        deserialize_unit_struct(name: &'static str),
        deserialize_newtype_struct(name: &'static str),
        deserialize_tuple(len: usize),
        deserialize_tuple_struct(name: &'static str, len: usize),
        deserialize_struct(name: &'static str, fields: &'static [&'static str]),
    }

    #[inline]
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        // Route through `deserialize_any` so the checker sees whether the
        // variant came as a string or as an object.
        let visitor = EnumVisitor {
            visitor,
            cx: self.cx,
            node: self.node,
        };
        self.de.deserialize_any(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        // An ignored value must still satisfy its schema.
        let visitor = CheckedVisitor {
            visitor,
            cx: self.cx,
            node: self.node,
        };
        self.de.deserialize_any(visitor)
    }

    fn is_human_readable(&self) -> bool {
        self.de.is_human_readable()
    }
}

/// The kind of a visited JSON value.
#[derive(Clone, Copy)]
enum Kind {
    Null,
    Bool,
    Int,
    Float(f64),
    Str,
    Arr,
    Obj,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Null => "null",
            Kind::Bool => "boolean",
            Kind::Int | Kind::Float(_) => "number",
            Kind::Str => "string",
            Kind::Arr => "array",
            Kind::Obj => "object",
        }
    }
}

#[inline]
fn check_type<E: de::Error>(node: &Node, kind: Kind) -> Result<(), E> {
    let ok = match kind {
        Kind::Null => node.types & ty::NULL != 0,
        Kind::Bool => node.types & ty::BOOL != 0,
        Kind::Int => node.types & (ty::INT | ty::NUM) != 0,
        Kind::Float(x) => {
            node.types & ty::NUM != 0 || (node.types & ty::INT != 0 && x.fract() == 0.0)
        }
        Kind::Str => node.types & ty::STR != 0,
        Kind::Arr => node.types & ty::ARR != 0,
        Kind::Obj => node.types & ty::OBJ != 0,
    };
    if ok {
        Ok(())
    } else {
        Err(wrong_type(node, kind))
    }
}

#[cold]
#[inline(never)]
fn wrong_type<E: de::Error>(node: &Node, kind: Kind) -> E {
    E::custom(format_args!(
        "expected {}, found {}",
        type_names(node.types),
        kind.name()
    ))
}

fn type_names(types: u8) -> String {
    let names = [
        (ty::NULL, "null"),
        (ty::BOOL, "boolean"),
        (ty::NUM, "number"),
        (ty::INT, "integer"),
        (ty::STR, "string"),
        (ty::ARR, "array"),
        (ty::OBJ, "object"),
    ];
    let mut out: Vec<&str> = Vec::new();
    for (bit, name) in names {
        if types & bit != 0 && !(bit == ty::INT && types & ty::NUM != 0) {
            out.push(name);
        }
    }
    out.join(" or ")
}

#[inline]
fn check_allowed<E: de::Error>(node: &Node, matches: impl Fn(&Value) -> bool) -> Result<(), E> {
    match &node.allowed {
        Some(allowed) if !allowed.iter().any(matches) => Err(not_allowed(allowed)),
        _ => Ok(()),
    }
}

#[cold]
#[inline(never)]
fn not_allowed<E: de::Error>(allowed: &[Value]) -> E {
    let list = Value::Array(allowed.to_vec());
    E::custom(format_args!("value is not one of {list}"))
}

#[inline]
fn check_number<E: de::Error>(node: &Node, kind: Kind, x: f64) -> Result<(), E> {
    check_type(node, kind)?;
    check_allowed(node, |v| v.as_f64() == Some(x))?;
    let Some(rule) = &node.num else {
        return Ok(());
    };
    let fail = |what: &str, bound: f64| Err(out_of_range(x, what, bound));
    if let Some(min) = rule.min.filter(|&m| x < m) {
        return fail("less than the minimum of", min);
    }
    if let Some(max) = rule.max.filter(|&m| x > m) {
        return fail("greater than the maximum of", max);
    }
    if let Some(min) = rule.exclusive_min.filter(|&m| x <= m) {
        return fail("less than or equal to the exclusive minimum of", min);
    }
    if let Some(max) = rule.exclusive_max.filter(|&m| x >= m) {
        return fail("greater than or equal to the exclusive maximum of", max);
    }
    if let Some(m) = rule.multiple_of.filter(|&m| (x / m).fract() != 0.0) {
        return fail("not a multiple of", m);
    }
    Ok(())
}

#[cold]
#[inline(never)]
fn out_of_range<E: de::Error>(x: f64, what: &str, bound: f64) -> E {
    E::custom(format_args!("{x} is {what} {bound}"))
}

#[inline]
fn check_str<E: de::Error>(node: &Node, s: &str) -> Result<(), E> {
    check_type(node, Kind::Str)?;
    check_allowed(node, |v| v.as_str() == Some(s))?;
    match &node.text {
        Some(rule) => check_text(rule, s),
        None => Ok(()),
    }
}

/// `minLength`, `maxLength` and `pattern`.
fn check_text<E: de::Error>(rule: &crate::schema::TextRule, s: &str) -> Result<(), E> {
    // Byte length bounds the code-point count from above, so most strings
    // are decided without counting.
    let too_short = rule
        .min_len
        .is_some_and(|min| s.len() < min || s.chars().count() < min);
    let too_long = rule
        .max_len
        .is_some_and(|max| s.len() > max && s.chars().count() > max);
    if too_short {
        let min = rule.min_len.unwrap_or_default();
        return Err(E::custom(format_args!(
            "string is shorter than {min} characters"
        )));
    }
    if too_long {
        let max = rule.max_len.unwrap_or_default();
        return Err(E::custom(format_args!(
            "string is longer than {max} characters"
        )));
    }
    if let Some(p) = &rule.pattern
        && !p.validator.is_valid(&Value::String(s.to_owned()))
    {
        let source = &p.source;
        return Err(E::custom(format_args!(
            "string does not match the pattern `{source}`"
        )));
    }
    Ok(())
}

#[inline]
fn check_scalar<E: de::Error>(node: &Node, kind: Kind) -> Result<(), E> {
    check_type(node, kind)?;
    check_allowed(node, |v| match kind {
        Kind::Null => v.is_null(),
        _ => false,
    })
}

/// Checks each visited value against `node`, then forwards it.
struct CheckedVisitor<'c, V> {
    visitor: V,
    cx: &'c Cx<'c>,
    node: &'c Node,
}

impl<'de, V: Visitor<'de>> Visitor<'de> for CheckedVisitor<'_, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.visitor.expecting(f)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<V::Value, E> {
        check_type(self.node, Kind::Bool)?;
        check_allowed(self.node, |a| a.as_bool() == Some(v))?;
        self.visitor.visit_bool(v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<V::Value, E> {
        #[expect(
            clippy::cast_precision_loss,
            reason = "bounds are compared as JSON numbers"
        )]
        check_number(self.node, Kind::Int, v as f64)?;
        self.visitor.visit_i64(v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<V::Value, E> {
        #[expect(
            clippy::cast_precision_loss,
            reason = "bounds are compared as JSON numbers"
        )]
        check_number(self.node, Kind::Int, v as f64)?;
        self.visitor.visit_u64(v)
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<V::Value, E> {
        #[expect(
            clippy::cast_precision_loss,
            reason = "bounds are compared as JSON numbers"
        )]
        check_number(self.node, Kind::Int, v as f64)?;
        self.visitor.visit_i128(v)
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<V::Value, E> {
        #[expect(
            clippy::cast_precision_loss,
            reason = "bounds are compared as JSON numbers"
        )]
        check_number(self.node, Kind::Int, v as f64)?;
        self.visitor.visit_u128(v)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<V::Value, E> {
        check_number(self.node, Kind::Float(v), v)?;
        self.visitor.visit_f64(v)
    }

    fn visit_char<E: de::Error>(self, v: char) -> Result<V::Value, E> {
        check_str(self.node, v.encode_utf8(&mut [0; 4]))?;
        self.visitor.visit_char(v)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<V::Value, E> {
        check_str(self.node, v)?;
        self.visitor.visit_str(v)
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<V::Value, E> {
        check_str(self.node, v)?;
        self.visitor.visit_borrowed_str(v)
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<V::Value, E> {
        check_str(self.node, &v)?;
        self.visitor.visit_string(v)
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<V::Value, E> {
        check_bytes(self.node, v)?;
        self.visitor.visit_bytes(v)
    }

    fn visit_borrowed_bytes<E: de::Error>(self, v: &'de [u8]) -> Result<V::Value, E> {
        check_bytes(self.node, v)?;
        self.visitor.visit_borrowed_bytes(v)
    }

    fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<V::Value, E> {
        check_bytes(self.node, &v)?;
        self.visitor.visit_byte_buf(v)
    }

    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        check_scalar(self.node, Kind::Null)?;
        self.visitor.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        check_scalar(self.node, Kind::Null)?;
        self.visitor.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, de: D) -> Result<V::Value, D::Error> {
        let (cx, node) = (self.cx, self.node);
        self.visitor.visit_some(Checked { de, cx, node })
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, de: D) -> Result<V::Value, D::Error> {
        let (cx, node) = (self.cx, self.node);
        self.visitor.visit_newtype_struct(Checked { de, cx, node })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        check_scalar(self.node, Kind::Arr)?;
        let rule = self.node.array.clone().unwrap_or_default();
        self.visitor.visit_seq(CheckedSeq {
            seq,
            cx: self.cx,
            rule,
            count: 0,
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        check_scalar(self.node, Kind::Obj)?;
        self.visitor
            .visit_map(CheckedMap::new(map, self.cx, self.node))
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
        self.visitor.visit_enum(data)
    }
}

fn check_bytes<E: de::Error>(node: &Node, v: &[u8]) -> Result<(), E> {
    match std::str::from_utf8(v) {
        Ok(s) => check_str(node, s),
        Err(_) => check_type(node, Kind::Str),
    }
}

/// Checks a unit-variant string or a `{"Variant": …}` object, then hands the
/// variant to the real enum visitor.
struct EnumVisitor<'c, V> {
    visitor: V,
    cx: &'c Cx<'c>,
    node: &'c Node,
}

impl<'de, V: Visitor<'de>> Visitor<'de> for EnumVisitor<'_, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.visitor.expecting(f)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<V::Value, E> {
        check_str(self.node, v)?;
        self.visitor.visit_enum(StrDeserializer::<E>::new(v))
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<V::Value, E> {
        check_str(self.node, v)?;
        self.visitor
            .visit_enum(BorrowedStrDeserializer::<E>::new(v))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<V::Value, E> {
        check_str(self.node, &v)?;
        self.visitor.visit_enum(StringDeserializer::<E>::new(v))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        check_scalar(self.node, Kind::Obj)?;
        let map = CheckedMap::new(map, self.cx, self.node);
        self.visitor.visit_enum(MapAccessDeserializer::new(map))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _seq: A) -> Result<V::Value, A::Error> {
        check_scalar(self.node, Kind::Arr)?;
        Err(A::Error::invalid_type(de::Unexpected::Seq, &self))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<V::Value, E> {
        check_scalar(self.node, Kind::Bool)?;
        Err(E::invalid_type(de::Unexpected::Bool(v), &self))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<V::Value, E> {
        check_scalar(self.node, Kind::Int)?;
        Err(E::invalid_type(de::Unexpected::Signed(v), &self))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<V::Value, E> {
        check_scalar(self.node, Kind::Int)?;
        Err(E::invalid_type(de::Unexpected::Unsigned(v), &self))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<V::Value, E> {
        check_scalar(self.node, Kind::Float(v))?;
        Err(E::invalid_type(de::Unexpected::Float(v), &self))
    }

    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        check_scalar(self.node, Kind::Null)?;
        Err(E::invalid_type(de::Unexpected::Unit, &self))
    }
}

/// Checks sequence length and each element.
struct CheckedSeq<'c, A> {
    seq: A,
    cx: &'c Cx<'c>,
    rule: crate::schema::ArrayRule,
    count: usize,
}

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for CheckedSeq<'_, A> {
    type Error = A::Error;

    fn next_element_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, A::Error> {
        let index = self.count;
        let seed = CheckedSeed {
            seed,
            cx: self.cx,
            node: self.rule.items,
        };
        let element = self
            .seq
            .next_element_seed(seed)
            .inspect_err(|_| self.cx.push(Seg::Index(index)))?;
        match element {
            Some(_) if self.rule.max_items.is_some_and(|max| index >= max) => {
                let max = self.rule.max_items.unwrap_or_default();
                Err(A::Error::custom(format_args!(
                    "array has more than {max} items"
                )))
            }
            None if self.rule.min_items.is_some_and(|min| index < min) => {
                let min = self.rule.min_items.unwrap_or_default();
                Err(A::Error::custom(format_args!(
                    "array has fewer than {min} items"
                )))
            }
            Some(v) => {
                self.count += 1;
                Ok(Some(v))
            }
            None => Ok(None),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        self.seq.size_hint()
    }
}
