//! What a load run sends: prompts for the built-in agent, or BFCL entries.

use std::{io::Write as _, path::Path, sync::Arc};

use anyhow::Context as _;
use forge_agent::{Agent, Conversation};
use forge_core::DispatchObserver;
use forge_dispatch::{Dispatcher, Registry};
use forge_emulator::{Script, ScriptTurn};
use serde_json::json;

use super::bfcl::{self, EchoTool, Entry};
use crate::{model::Backend, run, tools};

/// The text the scripted model answers with after a BFCL entry's calls.
const BFCL_ANSWER: &str = "All requested calls were made; their results are above.";

/// A load run's conversations.
pub(crate) enum Workload {
    /// Prompts for the built-in agent (default policy of the emulator).
    Prompts(Vec<String>),
    /// BFCL entries with scripted ground-truth calls.
    Bfcl(Vec<Entry>),
}

impl Workload {
    /// Reads `--workload`: `bfcl:PATH`, a file of prompts, or the default prompt.
    pub(crate) fn read(spec: Option<&str>) -> anyhow::Result<Self> {
        match spec {
            None => Ok(Self::Prompts(vec![run::DEFAULT_PROMPT.to_owned()])),
            Some(spec) => match spec.strip_prefix("bfcl:") {
                Some(path) => Ok(Self::Bfcl(bfcl::load(Path::new(path), None)?)),
                None => read_prompts(Path::new(spec)),
            },
        }
    }

    /// The name shown in the report.
    pub(crate) fn describe(&self) -> String {
        match self {
            Self::Prompts(prompts) => format!("{} prompt(s), built-in tools", prompts.len()),
            Self::Bfcl(entries) => format!("BFCL, {} entries", entries.len()),
        }
    }

    /// How many distinct conversations the workload holds.
    pub(crate) fn len(&self) -> usize {
        match self {
            Self::Prompts(prompts) => prompts.len(),
            Self::Bfcl(entries) => entries.len(),
        }
    }

    /// Flagged ground-truth calls of every entry, `(entry, tool, why)`.
    pub(crate) fn flagged(&self) -> Vec<&(String, String)> {
        match self {
            Self::Prompts(_) => Vec::new(),
            Self::Bfcl(entries) => entries.iter().flat_map(|e| &e.flagged).collect(),
        }
    }

    /// Validation failures expected from flagged ground truth, for the
    /// conversation numbered `n`.
    pub(crate) fn expected_invalid(&self, n: u64) -> u64 {
        match self {
            Self::Prompts(_) => 0,
            Self::Bfcl(entries) => entries[self.index(n)].flagged.len() as u64,
        }
    }

    fn index(&self, n: u64) -> usize {
        usize::try_from(n % self.len().max(1) as u64).unwrap_or(0)
    }

    /// The emulator script of a BFCL workload: one scripted conversation per entry.
    pub(crate) fn script(&self) -> Option<Script> {
        let Self::Bfcl(entries) = self else {
            return None;
        };
        let mut script = Script::new();
        for (index, entry) in entries.iter().enumerate() {
            let mut calls = ScriptTurn::new();
            for (name, args) in &entry.calls {
                calls = calls.call(name.as_str(), args.clone());
            }
            let id = bfcl_id(index);
            script.push(id.clone(), calls);
            script.push(id, ScriptTurn::new().text(BFCL_ANSWER));
        }
        Some(script)
    }

    /// Writes the script in the emulator's JSON-lines format.
    pub(crate) fn write_script(&self, path: &Path) -> anyhow::Result<()> {
        let Self::Bfcl(entries) = self else {
            anyhow::bail!("--write-script needs a bfcl: workload");
        };
        let mut out = std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        );
        for (index, entry) in entries.iter().enumerate() {
            let calls: Vec<_> = entry
                .calls
                .iter()
                .map(|(name, args)| json!({"name": name, "arguments": args}))
                .collect();
            let id = bfcl_id(index);
            writeln!(
                out,
                "{}",
                json!({"conversation": id, "turn": 0, "calls": calls})
            )?;
            writeln!(
                out,
                "{}",
                json!({"conversation": id, "turn": 1, "text": BFCL_ANSWER})
            )?;
        }
        out.flush()?;
        Ok(())
    }

    /// One agent per distinct tool set: one for prompts, one per BFCL entry.
    pub(crate) fn agents(
        &self,
        backend: &Backend,
        observer: Arc<dyn DispatchObserver>,
    ) -> anyhow::Result<Vec<Agent>> {
        match self {
            Self::Prompts(_) => {
                let root = std::env::current_dir()?;
                let registry = tools::builtin_registry(&root)?;
                let dispatcher = Dispatcher::builder(registry).observer(observer).build();
                Ok(vec![run::build_agent(backend, dispatcher)])
            }
            Self::Bfcl(entries) => entries
                .iter()
                .map(|entry| bfcl_agent(backend, entry, observer.clone()))
                .collect(),
        }
    }

    /// Conversation number `n` and the agent that runs it.
    pub(crate) fn conversation<'a>(
        &self,
        n: u64,
        agents: &'a [Agent],
    ) -> (&'a Agent, Conversation) {
        let index = self.index(n);
        match self {
            Self::Prompts(prompts) => {
                let conversation = Conversation::new(prompts[index].as_str());
                (&agents[0], conversation.with_id(format!("load-{n}")))
            }
            Self::Bfcl(entries) => {
                let conversation = Conversation::new(entries[index].prompt.as_str());
                (&agents[index], conversation.with_id(bfcl_id(index)))
            }
        }
    }
}

/// The conversation id of BFCL entry `index`. Conversations of the same entry
/// share it: the emulator picks the turn from the request, not from state.
fn bfcl_id(index: usize) -> String {
    format!("bfcl-{index}")
}

fn bfcl_agent(
    backend: &Backend,
    entry: &Entry,
    observer: Arc<dyn DispatchObserver>,
) -> anyhow::Result<Agent> {
    let mut registry = Registry::builder();
    for spec in &entry.tools {
        registry = registry.dyn_tool(EchoTool::shared(spec.clone()));
    }
    let registry = registry
        .build()
        .with_context(|| format!("BFCL entry {}: registering its tools", entry.id))?;
    let dispatcher = Dispatcher::builder(registry).observer(observer).build();
    let agent = Agent::builder(backend.model.clone(), dispatcher)
        .name("bfcl")
        .provider(backend.provider)
        .max_steps(4)
        .build();
    Ok(agent)
}

fn read_prompts(path: &Path) -> anyhow::Result<Workload> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the workload {}", path.display()))?;
    let prompts: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect();
    anyhow::ensure!(!prompts.is_empty(), "{} holds no prompt", path.display());
    Ok(Workload::Prompts(prompts))
}
