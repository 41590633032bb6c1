//! The registry: tools by name, each with its compiled validation.

use std::{
    collections::HashMap,
    hash::{BuildHasher, Hasher},
    sync::Arc,
};

use forge_core::{BoxFuture, DynTool, ErrorKind, Tool, ToolOptions, ToolSpec};
use serde_json::Value;

use crate::{
    Error,
    attempt::{self, Attempted, Policy},
    check, schema,
};

/// Registries up to this many tools are searched by a scan, not the map.
const SCAN_MAX: usize = 8;

/// A failure the model reads: a kind and a message naming the problem.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) kind: ErrorKind,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// The tool's own error, reported with the tool's message.
    pub(crate) fn from_tool(error: &forge_core::Error) -> Self {
        Self::new(error.kind(), error.message())
    }

    fn invalid(path: &str, detail: impl std::fmt::Display) -> Self {
        let message = if path.is_empty() {
            format!("invalid arguments: {detail}")
        } else {
            format!("invalid arguments at `{path}`: {detail}")
        };
        Self::new(ErrorKind::InvalidArguments, message)
    }

    fn not_json(error: &serde_json::Error) -> Self {
        let message = format!("arguments are not valid JSON: {error}");
        Self::new(ErrorKind::InvalidArguments, message)
    }
}

/// A registered tool behind one object-safe interface.
pub(crate) trait Handler: Send + Sync {
    /// Validates `args` and, if they pass, returns the attempts to run.
    fn start<'a>(
        &'a self,
        args: &'a str,
        policy: &'a Policy,
    ) -> Result<BoxFuture<'a, Attempted>, Failure>;
}

/// How a typed tool's arguments are validated.
enum TypedValidation {
    /// One pass: serde plus the compiled constraint tree.
    Native(schema::Tree),
    /// The schema uses keywords the tree does not cover: `jsonschema` on a
    /// `Value`, then a strict serde parse.
    Fallback(jsonschema::Validator),
}

struct TypedHandler<T> {
    tool: T,
    validation: TypedValidation,
}

impl<T: Tool> TypedHandler<T> {
    fn parse(&self, args: &str) -> Result<T::Args, Failure> {
        match &self.validation {
            TypedValidation::Native(tree) => {
                let cx = check::Cx::new(tree);
                check::from_str(args, &cx).map_err(|e| serde_failure(&e, &cx.pointer()))
            }
            TypedValidation::Fallback(validator) => {
                let value = parse_value(args)?;
                if !validator.is_valid(&value) {
                    return Err(schema_failure(validator, &value));
                }
                serde_json::from_str(args).map_err(|e| serde_failure(&e, ""))
            }
        }
    }
}

impl<T: Tool> Handler for TypedHandler<T> {
    fn start<'a>(
        &'a self,
        args: &'a str,
        policy: &'a Policy,
    ) -> Result<BoxFuture<'a, Attempted>, Failure> {
        let first = self.parse(args)?;
        Ok(Box::pin(attempt::run(
            policy,
            first,
            move || self.parse(args),
            |a| self.tool.call(a),
            encode,
        )))
    }
}

struct DynHandler {
    tool: Arc<dyn DynTool>,
    validator: jsonschema::Validator,
}

impl DynHandler {
    fn parse(&self, args: &str) -> Result<Value, Failure> {
        let value = parse_value(args)?;
        if self.validator.is_valid(&value) {
            Ok(value)
        } else {
            Err(schema_failure(&self.validator, &value))
        }
    }
}

impl Handler for DynHandler {
    fn start<'a>(
        &'a self,
        args: &'a str,
        policy: &'a Policy,
    ) -> Result<BoxFuture<'a, Attempted>, Failure> {
        let first = self.parse(args)?;
        Ok(Box::pin(attempt::run(
            policy,
            first,
            move || self.parse(args),
            |a| self.tool.call(a),
            encode,
        )))
    }
}

fn encode<O: serde::Serialize>(out: &O) -> Result<String, Failure> {
    serde_json::to_string(out).map_err(|e| {
        let message = format!("the tool's result could not be encoded as JSON: {e}");
        Failure::new(ErrorKind::ToolFailed, message)
    })
}

fn parse_value(args: &str) -> Result<Value, Failure> {
    serde_json::from_str(args).map_err(|e| Failure::not_json(&e))
}

/// A serde error: syntax errors say "not valid JSON", data errors name the path.
fn serde_failure(error: &serde_json::Error, path: &str) -> Failure {
    match error.classify() {
        serde_json::error::Category::Data => Failure::invalid(path, error),
        _ => Failure::not_json(error),
    }
}

/// The longest single schema error in a message: each one may quote the
/// offending value, and up to 8 of them are reported, so a long value must
/// not be repeated whole.
const MAX_DETAIL: usize = 300;

/// Shortens `text` to at most `max` bytes on a character boundary, marking
/// the cut.
fn cut(text: &mut String, max: usize) {
    if text.len() <= max {
        return;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push('…');
}

/// The full error list, built only once `is_valid` said no.
fn schema_failure(validator: &jsonschema::Validator, value: &Value) -> Failure {
    let mut details = Vec::new();
    for error in validator.iter_errors(value).take(8) {
        let path = error.instance_path().as_str().to_owned();
        let path = if path.is_empty() {
            "(root)".into()
        } else {
            path
        };
        let mut detail = format!("at `{path}`: {error}");
        cut(&mut detail, MAX_DETAIL);
        details.push(detail);
    }
    if details.is_empty() {
        details.push("the arguments do not match the schema".into());
    }
    let message = format!("invalid arguments: {}", details.join("; "));
    Failure::new(ErrorKind::InvalidArguments, message)
}

/// One registered tool.
pub(crate) struct Entry {
    pub(crate) name: Arc<str>,
    pub(crate) options: ToolOptions,
    pub(crate) handler: Box<dyn Handler>,
}

/// The tools a [`Dispatcher`](crate::Dispatcher) can run, by name.
///
/// Built once with [`Registry::builder`]; every schema is compiled at
/// registration so dispatch never compiles anything.
pub struct Registry {
    pub(crate) entries: Box<[Entry]>,
    index: HashMap<Box<str>, usize, FxBuild>,
    specs: Arc<[ToolSpec]>,
}

impl Registry {
    /// Starts an empty registry.
    pub fn builder() -> RegistryBuilder {
        RegistryBuilder {
            entries: Vec::new(),
            specs: Vec::new(),
            error: None,
        }
    }

    /// The specs the model is shown, in registration order.
    pub fn specs(&self) -> Arc<[ToolSpec]> {
        Arc::clone(&self.specs)
    }

    /// The number of tools.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no tool is registered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The index of the tool named `name`.
    ///
    /// A few names are found faster by a scan that compares lengths first
    /// (usually one compare per name) than by hashing; larger registries use
    /// the map.
    #[inline]
    pub(crate) fn lookup(&self, name: &str) -> Option<usize> {
        if self.entries.len() <= SCAN_MAX {
            let key = name.as_bytes();
            return self.entries.iter().position(|e| {
                let n = e.name.as_bytes();
                n.len() == key.len() && n.iter().zip(key).all(|(a, b)| a == b)
            });
        }
        self.index.get(name).copied()
    }

    /// The sorted list of valid names, for the unknown-tool message.
    pub(crate) fn names(&self) -> String {
        let mut names: Vec<&str> = self.entries.iter().map(|e| &*e.name).collect();
        names.sort_unstable();
        names.join(", ")
    }
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.entries.iter().map(|e| &*e.name).collect();
        f.debug_struct("Registry").field("tools", &names).finish()
    }
}

/// Builds a [`Registry`]; see [`Registry::builder`].
#[must_use = "a builder does nothing until `build` is called"]
pub struct RegistryBuilder {
    entries: Vec<Entry>,
    specs: Vec<ToolSpec>,
    error: Option<Error>,
}

impl RegistryBuilder {
    /// Adds a typed tool; its schema comes from schemars.
    pub fn tool<T: Tool>(self, tool: T) -> Self {
        let spec = forge_core::typed_tool_spec(&tool);
        let validation = match schema::compile(spec.parameters()) {
            Ok(tree) => TypedValidation::Native(tree),
            Err(schema::Unsupported(why)) => {
                tracing::debug!(target: "forge_dispatch", tool = spec.name(), why, "typed tool uses full jsonschema validation");
                match compile_validator(&spec) {
                    Ok(v) => TypedValidation::Fallback(v),
                    Err(e) => return self.fail(e),
                }
            }
        };
        let options = tool.options();
        let handler = Box::new(TypedHandler { tool, validation });
        self.push(spec, options, handler)
    }

    /// Adds a dynamic tool; its schema is compiled with `jsonschema` now.
    pub fn dyn_tool(self, tool: Arc<dyn DynTool>) -> Self {
        let spec = tool.spec().clone();
        let validator = match compile_validator(&spec) {
            Ok(v) => v,
            Err(e) => return self.fail(e),
        };
        let options = tool.options();
        let handler = Box::new(DynHandler { tool, validator });
        self.push(spec, options, handler)
    }

    /// Finishes the registry.
    ///
    /// # Errors
    ///
    /// A [`Config`](forge_core::ErrorKind::Config) error if two tools share a
    /// name, a name is empty, or a schema does not compile.
    pub fn build(self) -> Result<Registry, Error> {
        if let Some(error) = self.error {
            return Err(error);
        }
        let mut index = HashMap::with_hasher(FxBuild);
        for (i, entry) in self.entries.iter().enumerate() {
            if entry.name.is_empty() {
                return Err(Error::config("a tool has an empty name"));
            }
            if index.insert(Box::from(&*entry.name), i).is_some() {
                let name = &entry.name;
                return Err(Error::config(format!("two tools are named `{name}`")));
            }
        }
        Ok(Registry {
            entries: self.entries.into(),
            index,
            specs: self.specs.into(),
        })
    }

    fn push(mut self, spec: ToolSpec, options: ToolOptions, handler: Box<dyn Handler>) -> Self {
        self.entries.push(Entry {
            name: spec.name().into(),
            options,
            handler,
        });
        self.specs.push(spec);
        self
    }

    fn fail(mut self, error: Error) -> Self {
        self.error.get_or_insert(error);
        self
    }
}

impl std::fmt::Debug for RegistryBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryBuilder")
            .field("tools", &self.entries.len())
            .finish_non_exhaustive()
    }
}

fn compile_validator(spec: &ToolSpec) -> Result<jsonschema::Validator, Error> {
    jsonschema::validator_for(spec.parameters()).map_err(|e| {
        let name = spec.name();
        let message = format!("the schema of tool `{name}` does not compile");
        Error::config(message).with_source(e.to_string())
    })
}

/// A fast hasher for short tool names (the multiply-rotate scheme of rustc's
/// FxHash). Names come from the registry owner, so flooding is not a concern.
#[derive(Clone, Copy, Default)]
struct FxBuild;

impl BuildHasher for FxBuild {
    type Hasher = Fx;

    fn build_hasher(&self) -> Fx {
        Fx(0)
    }
}

struct Fx(u64);

impl Fx {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for Fx {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let word: [u8; 8] = chunk.try_into().expect("chunks_exact yields 8 bytes");
            self.add(u64::from_le_bytes(word));
        }
        let mut tail = [0u8; 8];
        let rest = chunks.remainder();
        tail[..rest.len()].copy_from_slice(rest);
        self.add(u64::from_le_bytes(tail));
    }

    fn write_u8(&mut self, byte: u8) {
        self.add(u64::from(byte));
    }

    fn finish(&self) -> u64 {
        self.0
    }
}
