//! The configuration file: provider deployments plus an optional `[agent]` table.
//!
//! ```toml
//! [agent]
//! system = "Answer briefly."
//! prompt = "Use the calculator for \"2 ^ 10\"."
//! max_steps = 6
//! files_root = "."
//!
//! [deployments.main]
//! provider = "anthropic"
//! model = "claude-sonnet-4-5"
//! api_key_env = "ANTHROPIC_API_KEY"
//! ```
//!
//! Everything outside `[agent]` is forge-providers' configuration.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Deserialize;

/// The `[agent]` table.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct AgentSection {
    /// The agent's name in spans.
    pub(crate) name: Option<String>,
    /// The system prompt.
    pub(crate) system: Option<String>,
    /// The prompt `forge run` sends when `--prompt` is absent.
    pub(crate) prompt: Option<String>,
    /// The most model calls per conversation.
    pub(crate) max_steps: Option<u32>,
    /// The output token limit per model call.
    pub(crate) max_tokens: Option<u32>,
    /// The directory the file tools may read.
    pub(crate) files_root: Option<PathBuf>,
}

/// A parsed configuration file.
#[derive(Debug)]
pub(crate) struct FileConfig {
    pub(crate) agent: AgentSection,
    pub(crate) providers: forge_providers::Config,
}

/// Reads and splits a configuration file.
pub(crate) fn read(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the configuration {}", path.display()))?;
    parse(&text).with_context(|| format!("in {}", path.display()))
}

/// Splits TOML text into the `[agent]` table and the providers' configuration.
pub(crate) fn parse(text: &str) -> anyhow::Result<FileConfig> {
    let mut table: toml::Table = toml::from_str(text).context("invalid TOML")?;
    let agent = match table.remove("agent") {
        Some(value) => AgentSection::deserialize(value).context("invalid [agent] table")?,
        None => AgentSection::default(),
    };
    let rest = toml::to_string(&table).context("re-encoding the provider configuration")?;
    let providers = forge_providers::Config::from_toml_str(&rest)?;
    Ok(FileConfig { agent, providers })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_the_agent_table_from_the_deployments() {
        let config = parse(
            r#"
            [agent]
            system = "be brief"
            max_steps = 3

            [deployments.main]
            provider = "openai"
            model = "gpt-test"
            base_url = "http://127.0.0.1:9/v1"
            "#,
        )
        .unwrap();
        assert_eq!(config.agent.system.as_deref(), Some("be brief"));
        assert_eq!(config.agent.max_steps, Some(3));
        let main = config.providers.default_deployment().unwrap();
        assert_eq!(main.model, "gpt-test");
    }

    #[test]
    fn unknown_agent_keys_are_errors() {
        let error = parse("[agent]\nsystm = \"typo\"\n").unwrap_err();
        assert!(format!("{error:#}").contains("systm"), "{error:#}");
    }
}
