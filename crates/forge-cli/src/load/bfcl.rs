//! BFCL v4 entries as conversations: dynamic tools, scripted ground-truth calls.
//!
//! A BFCL data file holds one JSON object per line: `id`, `question` (a list
//! of turns, each a list of `{role, content}` messages) and `function` (tool
//! definitions whose `parameters` use Python type names). The matching
//! ground-truth file under `possible_answer/` holds `{id, ground_truth}`,
//! where `ground_truth` is a list of `{tool: {argument: [alternatives]}}`.
//!
//! Each entry becomes a conversation offering its functions as dynamic tools
//! (types mapped to JSON Schema by [`to_json_schema`]) and a script whose first
//! turn makes the ground-truth calls in parallel, with the first acceptable
//! value of each argument (`""` first means "leave it out"), and whose second
//! turn answers in text. Ground-truth calls that violate their own tool's
//! schema are flagged before the run: they are expected to fail validation.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::Arc,
};

use anyhow::{Context as _, bail, ensure};
use forge_core::{BoxFuture, DynTool, Error, ToolSpec};
use serde::Deserialize;
use serde_json::{Map, Value, json};

/// One BFCL entry, ready to run.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// The BFCL id, e.g. `parallel_multiple_0`.
    pub(crate) id: String,
    /// The user's question (system messages folded in front).
    pub(crate) prompt: String,
    /// The entry's tools.
    pub(crate) tools: Vec<ToolSpec>,
    /// The ground-truth calls, `(tool, arguments)`.
    pub(crate) calls: Vec<(String, Value)>,
    /// Ground-truth calls that violate their own schema: `(tool, why)`.
    pub(crate) flagged: Vec<(String, String)>,
}

#[derive(Deserialize)]
struct RawEntry {
    id: String,
    question: Vec<Vec<RawMessage>>,
    function: Vec<RawFunction>,
}

#[derive(Deserialize)]
struct RawMessage {
    content: String,
}

#[derive(Deserialize)]
struct RawFunction {
    name: String,
    #[serde(default)]
    description: String,
    parameters: Value,
}

#[derive(Deserialize)]
struct RawAnswer {
    id: String,
    ground_truth: Vec<Map<String, Value>>,
}

/// Reads a BFCL data file and its ground truth (`possible_answer/<same name>`
/// beside it, or `answers` when given).
pub(crate) fn load(path: &Path, answers: Option<&Path>) -> anyhow::Result<Vec<Entry>> {
    let answers = answers.map_or_else(|| answer_path(path), Path::to_path_buf);
    let data = std::fs::read_to_string(path)
        .with_context(|| format!("reading the BFCL file {}", path.display()))?;
    let truth = std::fs::read_to_string(&answers)
        .with_context(|| format!("reading the BFCL ground truth {}", answers.display()))?;
    let mut truth = parse_answers(&truth)?;
    let mut entries = Vec::new();
    for (number, line) in data
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let raw: RawEntry = serde_json::from_str(line)
            .with_context(|| format!("{} line {}", path.display(), number + 1))?;
        let Some(calls) = truth.remove(&raw.id) else {
            bail!("no ground truth for `{}` in {}", raw.id, answers.display());
        };
        entries.push(entry(raw, calls)?);
    }
    ensure!(
        !entries.is_empty(),
        "{} holds no BFCL entries",
        path.display()
    );
    Ok(entries)
}

fn answer_path(path: &Path) -> PathBuf {
    let name = path.file_name().unwrap_or_default();
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    dir.join("possible_answer").join(name)
}

fn parse_answers(text: &str) -> anyhow::Result<HashMap<String, Vec<Map<String, Value>>>> {
    let mut answers = HashMap::new();
    for (number, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let raw: RawAnswer = serde_json::from_str(line)
            .with_context(|| format!("ground truth line {}", number + 1))?;
        answers.insert(raw.id, raw.ground_truth);
    }
    Ok(answers)
}

fn entry(raw: RawEntry, truth: Vec<Map<String, Value>>) -> anyhow::Result<Entry> {
    let prompt = prompt_of(&raw.question);
    let tools: Vec<ToolSpec> = raw
        .function
        .into_iter()
        .map(|f| ToolSpec::new(f.name, f.description, to_json_schema(&f.parameters)))
        .collect();
    let mut calls = Vec::new();
    for call in truth {
        for (name, args) in call {
            calls.push((name, pick_arguments(&args)));
        }
    }
    let flagged = flag_invalid(&raw.id, &tools, &calls)?;
    Ok(Entry {
        id: raw.id,
        prompt,
        tools,
        calls,
        flagged,
    })
}

fn prompt_of(question: &[Vec<RawMessage>]) -> String {
    let first = question.first().map(Vec::as_slice).unwrap_or_default();
    // System messages come first in BFCL; they read fine folded into the prompt.
    let parts: Vec<&str> = first.iter().map(|m| m.content.as_str()).collect();
    parts.join("\n\n")
}

/// Maps a BFCL parameter schema (Python type names) to JSON Schema.
///
/// `dict` becomes `object`, `float` `number`, `tuple` `array`, `any` no type
/// at all; JSON Schema names pass through. Non-schema keys (`optional`) are
/// dropped; `properties`, `items` and `additionalProperties` are mapped
/// recursively.
pub(crate) fn to_json_schema(schema: &Value) -> Value {
    let Value::Object(object) = schema else {
        return json!({});
    };
    let mut out = Map::new();
    for (key, value) in object {
        match key.as_str() {
            "type" => {
                if let Some(mapped) = map_type(value) {
                    out.insert(key.clone(), mapped);
                }
            }
            "properties" => {
                let Value::Object(props) = value else {
                    continue;
                };
                let props = props
                    .iter()
                    .map(|(name, prop)| (name.clone(), to_json_schema(prop)))
                    .collect();
                out.insert(key.clone(), Value::Object(props));
            }
            "items" | "additionalProperties" if value.is_object() => {
                out.insert(key.clone(), to_json_schema(value));
            }
            "optional" => {}
            _ => {
                out.insert(key.clone(), value.clone());
            }
        }
    }
    Value::Object(out)
}

fn map_type(value: &Value) -> Option<Value> {
    let name = match value {
        Value::String(name) => name.as_str(),
        Value::Array(names) => {
            let mapped: Vec<Value> = names.iter().filter_map(map_type).collect();
            return (mapped.len() == names.len()).then_some(Value::Array(mapped));
        }
        _ => return None,
    };
    let mapped = match name {
        "dict" | "object" => "object",
        "float" | "number" => "number",
        "tuple" | "list" | "array" => "array",
        "integer" | "int" => "integer",
        "boolean" | "bool" => "boolean",
        "string" | "str" => "string",
        "null" | "None" => "null",
        _ => return None, // `any` and unknown names: no constraint
    };
    Some(Value::String(mapped.into()))
}

/// The first acceptable value of each argument; `""` first means "omit".
pub(crate) fn pick_arguments(args: &Value) -> Value {
    let Value::Object(args) = args else {
        return json!({});
    };
    let mut out = Map::new();
    for (name, alternatives) in args {
        if let Some(value) = pick(alternatives) {
            out.insert(name.clone(), value);
        }
    }
    Value::Object(out)
}

fn pick(alternatives: &Value) -> Option<Value> {
    let Value::Array(list) = alternatives else {
        return Some(alternatives.clone());
    };
    let first = list.first()?;
    match first {
        Value::String(s) if s.is_empty() => None,
        // The fields of a dict-typed argument are lists of alternatives again.
        Value::Object(_) => Some(pick_arguments(first)),
        other => Some(other.clone()),
    }
}

/// Validates every ground-truth call against its tool's schema, independently
/// of the dispatcher, and lists the ones that fail.
fn flag_invalid(
    id: &str,
    tools: &[ToolSpec],
    calls: &[(String, Value)],
) -> anyhow::Result<Vec<(String, String)>> {
    let mut flagged = Vec::new();
    for (name, args) in calls {
        let Some(spec) = tools.iter().find(|t| t.name() == name) else {
            flagged.push((
                name.clone(),
                format!("{id}: `{name}` is not among the entry's tools"),
            ));
            continue;
        };
        let validator = jsonschema::validator_for(spec.parameters())
            .with_context(|| format!("{id}: the schema of `{name}` does not compile"))?;
        if let Some(error) = validator.iter_errors(args).next() {
            let at = error.instance_path().to_string();
            flagged.push((name.clone(), format!("{id}: `{name}` at `{at}`: {error}")));
        }
    }
    Ok(flagged)
}

/// A BFCL tool: validated arguments in, a small JSON echo out.
pub(crate) struct EchoTool {
    spec: ToolSpec,
}

impl EchoTool {
    pub(crate) fn shared(spec: ToolSpec) -> Arc<dyn DynTool> {
        Arc::new(Self { spec })
    }
}

impl DynTool for EchoTool {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    fn call(&self, args: Value) -> BoxFuture<'_, Result<Value, Error>> {
        let name = self.spec.name();
        Box::pin(async move { Ok(json!({ "tool": name, "arguments": args })) })
    }
}

#[cfg(test)]
mod tests;
