//! Tool conversion cached per tool, and reversible tool-name mapping.
//!
//! Implementation notes: a [`ToolSpec`] keeps its schema behind an `Arc`, so
//! the schema's address identifies the tool for as long as any clone of the
//! spec lives. The cache keeps a clone of each spec it converted, which pins
//! that address: a new tool can never reuse it while the entry exists. An
//! agent offers the same specs every turn, so after the first turn a request
//! costs one lock and one lookup per tool. The cache is bounded; when full it
//! is cleared and refilled.

use std::{
    borrow::Cow,
    collections::HashMap,
    sync::{Arc, Mutex},
};

use forge_core::{Error, ToolSpec};
use serde_json::value::RawValue;

const CACHE_CAPACITY: usize = 1024;

/// Whether a tool name is acceptable as it is to a dialect.
pub(crate) type NameRule = fn(&str) -> bool;

/// A tool in a dialect's wire form, serialized once.
#[derive(Debug)]
pub(crate) struct WireTool {
    pub(crate) wire_name: String,
    pub(crate) json: Box<RawValue>,
}

/// Maps forge tool names to a dialect's names and back, for one request.
#[derive(Debug, Default)]
pub(crate) struct NameMap {
    rule: Option<NameRule>,
    to_wire: HashMap<String, String>,
    from_wire: HashMap<String, String>,
}

impl NameMap {
    /// The name to send for tool `name`.
    pub(crate) fn to_wire<'a>(&'a self, name: &'a str) -> Cow<'a, str> {
        if let Some(wire) = self.to_wire.get(name) {
            return Cow::Borrowed(wire);
        }
        match self.rule {
            Some(rule) if !rule(name) => Cow::Owned(sanitize(name, rule)),
            _ => Cow::Borrowed(name),
        }
    }

    /// The forge name of a tool the model called as `wire`.
    pub(crate) fn to_forge(&self, wire: &str) -> String {
        self.from_wire
            .get(wire)
            .cloned()
            .unwrap_or_else(|| wire.to_owned())
    }
}

/// Converted tools by schema address; see the module notes.
type Entries = HashMap<usize, Vec<(ToolSpec, Arc<WireTool>)>>;

/// A dialect's cache of converted tools.
#[derive(Debug, Default)]
pub(crate) struct ToolCache {
    entries: Mutex<Entries>,
}

impl ToolCache {
    /// The wire form of every tool (converted by `convert` on a miss), and
    /// the name map for the request.
    pub(crate) fn convert(
        &self,
        tools: &[ToolSpec],
        rule: NameRule,
        convert: impl Fn(&ToolSpec, &str) -> Result<Box<RawValue>, Error>,
    ) -> Result<(Vec<Arc<WireTool>>, NameMap), Error> {
        let mut names = NameMap {
            rule: Some(rule),
            ..NameMap::default()
        };
        let mut out = Vec::with_capacity(tools.len());
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        for spec in tools {
            let wire = match lookup(&entries, spec) {
                Some(hit) => hit,
                None => {
                    let wire_name = sanitize(spec.name(), rule);
                    let json = convert(spec, &wire_name)?;
                    let wire = Arc::new(WireTool { wire_name, json });
                    insert(&mut entries, spec, wire.clone());
                    wire
                }
            };
            if wire.wire_name != spec.name() {
                names
                    .to_wire
                    .insert(spec.name().to_owned(), wire.wire_name.clone());
                names
                    .from_wire
                    .insert(wire.wire_name.clone(), spec.name().to_owned());
            }
            out.push(wire);
        }
        Ok((out, names))
    }
}

fn key(spec: &ToolSpec) -> usize {
    std::ptr::from_ref(spec.parameters()) as usize
}

fn lookup(entries: &Entries, spec: &ToolSpec) -> Option<Arc<WireTool>> {
    entries.get(&key(spec))?.iter().find_map(|(s, wire)| {
        (s.name() == spec.name() && s.description() == spec.description()).then(|| wire.clone())
    })
}

fn insert(entries: &mut Entries, spec: &ToolSpec, wire: Arc<WireTool>) {
    if entries.len() >= CACHE_CAPACITY {
        entries.clear();
    }
    entries
        .entry(key(spec))
        .or_default()
        .push((spec.clone(), wire));
}

/// `name` if `rule` accepts it, else a deterministic safe name: forbidden
/// characters become `_`, and a hash of the original keeps it unique.
pub(crate) fn sanitize(name: &str, rule: NameRule) -> String {
    if rule(name) {
        return name.to_owned();
    }
    let mut safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(55)
        .collect();
    if !safe.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        safe.insert(0, '_');
        safe.truncate(55);
    }
    safe.push_str(&format!("_{:08x}", fnv1a(name.as_bytes())));
    safe
}

fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

/// OpenAI's and Anthropic's rule: `^[a-zA-Z0-9_-]{1,64}$`.
pub(crate) fn plain_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(v: serde_json::Value) -> Box<RawValue> {
        RawValue::from_string(v.to_string()).unwrap()
    }

    #[test]
    fn forbidden_names_map_reversibly() {
        let spec = ToolSpec::new("math_toolkit.sum_of_multiples", "d", serde_json::json!({}));
        let cache = ToolCache::default();
        let (wire, names) = cache
            .convert(std::slice::from_ref(&spec), plain_name, |_, n| {
                Ok(raw(n.into()))
            })
            .unwrap();
        let wire_name = &wire[0].wire_name;
        assert!(plain_name(wire_name), "{wire_name}");
        assert_eq!(names.to_wire(spec.name()), wire_name.as_str());
        assert_eq!(names.to_forge(wire_name), spec.name());
        assert_eq!(names.to_forge("other"), "other");
    }

    #[test]
    fn conversion_runs_once_per_tool() {
        let spec = ToolSpec::new("t", "d", serde_json::json!({"type": "object"}));
        let cache = ToolCache::default();
        let calls = std::sync::atomic::AtomicUsize::new(0);
        for _ in 0..3 {
            cache
                .convert(std::slice::from_ref(&spec), plain_name, |_, n| {
                    calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    Ok(raw(n.into()))
                })
                .unwrap();
        }
        assert_eq!(calls.into_inner(), 1);
    }

    #[test]
    fn long_and_colliding_names_stay_distinct_and_valid() {
        let a = sanitize(&"a.".repeat(60), plain_name);
        let b = sanitize(&"a:".repeat(60), plain_name);
        assert!(plain_name(&a) && plain_name(&b));
        assert_ne!(a, b);
    }
}
