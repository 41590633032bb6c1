//! Objects: key resolution (unknown, required, counts) and per-property checks.
//!
//! # Implementation details
//!
//! serde's derived visitors identify a field from the key string without
//! telling anyone which one it was, so [`KeySeed`] wraps the key's
//! deserializer and resolves the same string against the schema's
//! properties on its way through; the next value is then checked against
//! that property's node.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, Error as _, MapAccess, Visitor};

use super::{CheckedSeed, Cx, Seg};
use crate::schema::{Additional, Node, NodeId, ObjectRule, Prop};

/// Which schema the value after the current key must satisfy.
#[derive(Default)]
enum Current {
    #[default]
    Free,
    Prop(usize),
    Extra(Box<str>),
}

/// Key bookkeeping of one object: which property comes next, which required
/// ones were seen, how many keys there were.
struct Keys<'c> {
    node: &'c Node,
    current: Current,
    /// The node the current key's value must satisfy, resolved with the key.
    value: Option<NodeId>,
    seen: u64,
    count: usize,
}

impl Keys<'_> {
    #[inline]
    fn resolve(&mut self, key: &str) -> Result<(), String> {
        self.count += 1;
        let Some(rule) = &self.node.object else {
            return Ok(());
        };
        if let Some(max) = rule.max_props
            && self.count > max
        {
            return Err(format!("object has more than {max} properties"));
        }
        if let Some(i) = find(&rule.props, key.as_bytes()) {
            let prop = &rule.props[i];
            self.seen |= prop.bit;
            self.value = prop.node;
            self.current = Current::Prop(i);
            return Ok(());
        }
        self.resolve_extra(rule.additional, key)
    }

    /// A key that names no property: allowed, checked, or refused.
    #[cold]
    fn resolve_extra(&mut self, additional: Additional, key: &str) -> Result<(), String> {
        self.current = match additional {
            Additional::Allow => Current::Free,
            Additional::Schema(id) => {
                self.value = Some(id);
                Current::Extra(key.into())
            }
            Additional::Deny => return Err(format!("unknown field `{key}`")),
        };
        Ok(())
    }

    #[inline]
    fn finish(&self) -> Result<(), String> {
        let Some(rule) = &self.node.object else {
            return Ok(());
        };
        if rule.required_mask & !self.seen != 0 {
            return Err(self.missing(rule));
        }
        if let Some(min) = rule.min_props
            && self.count < min
        {
            return Err(format!("object has fewer than {min} properties"));
        }
        Ok(())
    }

    #[cold]
    fn missing(&self, rule: &ObjectRule) -> String {
        let missing = rule.required_mask & !self.seen;
        let prop = rule.props.iter().find(|p| p.bit & missing != 0);
        let name = prop.map_or("?", |p| &p.name);
        format!("missing required field `{name}`")
    }

    fn current_name(&self) -> Box<str> {
        match &self.current {
            Current::Prop(i) => self
                .node
                .object
                .as_ref()
                .map_or("?".into(), |r| r.props[*i].name.clone()),
            Current::Extra(name) => name.clone(),
            Current::Free => "?".into(),
        }
    }
}

/// The property named `key`: lengths first (one compare rules most out),
/// then the bytes; property lists are short.
#[inline]
fn find(props: &[Prop], key: &[u8]) -> Option<usize> {
    props.iter().position(|p| {
        let name = p.name.as_bytes();
        name.len() == key.len() && name.iter().zip(key).all(|(a, b)| a == b)
    })
}

/// Checks keys (unknown, required, count) and each value.
pub(super) struct CheckedMap<'c, A> {
    map: A,
    cx: &'c Cx<'c>,
    keys: Keys<'c>,
}

impl<'c, A> CheckedMap<'c, A> {
    pub(super) fn new(map: A, cx: &'c Cx<'c>, node: &'c Node) -> Self {
        let keys = Keys {
            node,
            current: Current::Free,
            value: None,
            seen: 0,
            count: 0,
        };
        Self { map, cx, keys }
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for CheckedMap<'_, A> {
    type Error = A::Error;

    #[inline]
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        self.keys.current = Current::Free;
        self.keys.value = None;
        let capture = KeySeed {
            seed,
            keys: &mut self.keys,
        };
        let next = self.map.next_key_seed(capture)?;
        if next.is_none() {
            self.keys.finish().map_err(A::Error::custom)?;
        }
        Ok(next)
    }

    #[inline]
    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, A::Error> {
        let seed = CheckedSeed {
            seed,
            cx: self.cx,
            node: self.keys.value,
        };
        self.map
            .next_value_seed(seed)
            .inspect_err(|_| self.cx.push(Seg::Key(self.keys.current_name())))
    }

    fn size_hint(&self) -> Option<usize> {
        self.map.size_hint()
    }
}

/// Resolves the key while the real seed deserializes it.
struct KeySeed<'k, 'c, S> {
    seed: S,
    keys: &'k mut Keys<'c>,
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for KeySeed<'_, '_, S> {
    type Value = S::Value;

    #[inline]
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<S::Value, D::Error> {
        self.seed.deserialize(KeyDe {
            de,
            keys: self.keys,
        })
    }
}

/// A key deserializer that resolves the key on its way through.
struct KeyDe<'k, 'c, D> {
    de: D,
    keys: &'k mut Keys<'c>,
}

macro_rules! forward_key {
    ($($method:ident($($arg:ident: $ty:ty),*)),* $(,)?) => {$(
        #[inline]
        fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, D::Error> {
            self.de.$method($($arg,)* KeyVisitor { visitor, keys: self.keys })
        }
    )*};
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for KeyDe<'_, '_, D> {
    type Error = D::Error;

    forward_key! {
        deserialize_any(), deserialize_bool(), deserialize_i8(), deserialize_i16(),
        deserialize_i32(), deserialize_i64(), deserialize_i128(), deserialize_u8(),
        deserialize_u16(), deserialize_u32(), deserialize_u64(), deserialize_u128(),
        deserialize_f32(), deserialize_f64(), deserialize_char(), deserialize_str(),
        deserialize_string(), deserialize_bytes(), deserialize_byte_buf(),
        deserialize_option(), deserialize_unit(), deserialize_seq(), deserialize_map(),
        deserialize_identifier(), deserialize_ignored_any(),
        deserialize_unit_struct(name: &'static str),
        deserialize_newtype_struct(name: &'static str),
        deserialize_tuple(len: usize),
        deserialize_tuple_struct(name: &'static str, len: usize),
        deserialize_struct(name: &'static str, fields: &'static [&'static str]),
        deserialize_enum(name: &'static str, variants: &'static [&'static str]),
    }

    fn is_human_readable(&self) -> bool {
        self.de.is_human_readable()
    }
}

/// Resolves string keys; a key read as a number or boolean (from the key's
/// text) is resolved by its display form.
struct KeyVisitor<'k, 'c, V> {
    visitor: V,
    keys: &'k mut Keys<'c>,
}

impl<V> KeyVisitor<'_, '_, V> {
    #[inline]
    fn resolve<E: de::Error>(&mut self, key: &str) -> Result<(), E> {
        self.keys.resolve(key).map_err(E::custom)
    }
}

impl<'de, V: Visitor<'de>> Visitor<'de> for KeyVisitor<'_, '_, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.visitor.expecting(f)
    }

    #[inline]
    fn visit_str<E: de::Error>(mut self, v: &str) -> Result<V::Value, E> {
        self.resolve(v)?;
        self.visitor.visit_str(v)
    }

    #[inline]
    fn visit_borrowed_str<E: de::Error>(mut self, v: &'de str) -> Result<V::Value, E> {
        self.resolve(v)?;
        self.visitor.visit_borrowed_str(v)
    }

    fn visit_string<E: de::Error>(mut self, v: String) -> Result<V::Value, E> {
        self.resolve(&v)?;
        self.visitor.visit_string(v)
    }

    fn visit_bytes<E: de::Error>(mut self, v: &[u8]) -> Result<V::Value, E> {
        self.resolve(&String::from_utf8_lossy(v))?;
        self.visitor.visit_bytes(v)
    }

    fn visit_borrowed_bytes<E: de::Error>(mut self, v: &'de [u8]) -> Result<V::Value, E> {
        self.resolve(&String::from_utf8_lossy(v))?;
        self.visitor.visit_borrowed_bytes(v)
    }

    fn visit_i64<E: de::Error>(mut self, v: i64) -> Result<V::Value, E> {
        self.resolve(&v.to_string())?;
        self.visitor.visit_i64(v)
    }

    fn visit_u64<E: de::Error>(mut self, v: u64) -> Result<V::Value, E> {
        self.resolve(&v.to_string())?;
        self.visitor.visit_u64(v)
    }

    fn visit_f64<E: de::Error>(mut self, v: f64) -> Result<V::Value, E> {
        self.resolve(&v.to_string())?;
        self.visitor.visit_f64(v)
    }

    fn visit_bool<E: de::Error>(mut self, v: bool) -> Result<V::Value, E> {
        self.resolve(&v.to_string())?;
        self.visitor.visit_bool(v)
    }
}
