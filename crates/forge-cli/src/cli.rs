//! Command-line arguments.

use std::{net::SocketAddr, path::PathBuf};

use clap::{Args, Parser, Subcommand, ValueEnum};
use forge_providers::ProviderKind;

/// forge: an async AI-agent framework. Without a configuration file, `run`
/// and `load` use the built-in emulator: no key, no network.
#[derive(Debug, Parser)]
#[command(name = "forge", version, about)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run one conversation, streamed to the terminal.
    Run(RunArgs),
    /// Run many conversations concurrently and report throughput and latency.
    Load(LoadArgs),
    /// Serve the Anthropic, OpenAI and Gemini emulator until interrupted.
    Emulate(EmulateArgs),
}

impl Command {
    /// The export options of a command that runs conversations; `emulate`
    /// has none and never exports.
    pub(crate) fn export(&self) -> Option<&ExportArgs> {
        match self {
            Self::Run(args) => Some(&args.export),
            Self::Load(args) => Some(&args.export),
            Self::Emulate(_) => None,
        }
    }
}

/// A wire dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Dialect {
    /// Anthropic Messages.
    Anthropic,
    /// OpenAI Chat Completions.
    Openai,
    /// Gemini generateContent.
    #[value(alias = "gemini")]
    Google,
}

impl Dialect {
    pub(crate) fn kind(self) -> ProviderKind {
        match self {
            Self::Anthropic => ProviderKind::Anthropic,
            Self::Openai => ProviderKind::OpenAi,
            Self::Google => ProviderKind::Google,
        }
    }
}

/// Where the model comes from.
#[derive(Debug, Clone, Args)]
pub(crate) struct ModelArgs {
    /// A TOML file: provider deployments, plus an optional `[agent]` table.
    pub(crate) config: Option<PathBuf>,
    /// The wire dialect to speak to the emulator (ignored with a config).
    #[arg(long, value_enum, default_value = "anthropic")]
    pub(crate) provider: Dialect,
    /// An emulator already listening at this address (`forge emulate`),
    /// instead of the in-process one.
    #[arg(long, value_name = "ADDR")]
    pub(crate) emulator: Option<SocketAddr>,
    /// Speak HTTP/1.1 to the emulator instead of h2c.
    #[arg(long)]
    pub(crate) http1: bool,
    /// The in-process emulator's time to first token, in milliseconds.
    #[arg(long, value_name = "MS")]
    pub(crate) first_token_ms: Option<u64>,
    /// The in-process emulator's seed.
    #[arg(long, default_value_t = 42)]
    pub(crate) seed: u64,
}

/// Where telemetry goes.
#[derive(Debug, Clone, Args)]
pub(crate) struct ExportArgs {
    /// Export traces and metrics to this OTLP collector (overrides
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`; other `OTEL_*` variables still apply).
    #[arg(long, value_name = "URL")]
    pub(crate) otlp: Option<String>,
}

/// `forge run`.
#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    #[command(flatten)]
    pub(crate) model: ModelArgs,
    #[command(flatten)]
    pub(crate) export: ExportArgs,
    /// The user's message (default: one that needs two tools at once).
    #[arg(long)]
    pub(crate) prompt: Option<String>,
    /// The directory the file tools may read (default: the current one).
    #[arg(long, value_name = "DIR")]
    pub(crate) root: Option<PathBuf>,
}

/// `forge load`.
#[derive(Debug, Args)]
pub(crate) struct LoadArgs {
    #[command(flatten)]
    pub(crate) model: ModelArgs,
    #[command(flatten)]
    pub(crate) export: ExportArgs,
    /// How many conversations (default: one per workload entry).
    #[arg(long, conflicts_with = "duration")]
    pub(crate) conversations: Option<u64>,
    /// Start conversations for this many seconds instead of a fixed count.
    #[arg(long, value_name = "SECS")]
    pub(crate) duration: Option<f64>,
    /// Conversations in flight at once.
    #[arg(long, default_value_t = 64)]
    pub(crate) concurrency: usize,
    /// Prompts, one per line (`FILE`), or `bfcl:PATH` for a BFCL v4 data file.
    #[arg(long)]
    pub(crate) workload: Option<String>,
    /// Write the figures as JSON to this file.
    #[arg(long, value_name = "PATH")]
    pub(crate) json: Option<PathBuf>,
    /// Write the emulator script of a BFCL workload here (for `forge emulate --script`).
    #[arg(long, value_name = "PATH")]
    pub(crate) write_script: Option<PathBuf>,
    /// Hide the progress bar.
    #[arg(long)]
    pub(crate) quiet: bool,
}

/// `forge emulate`.
#[derive(Debug, Args)]
pub(crate) struct EmulateArgs {
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:8787")]
    pub(crate) listen: SocketAddr,
    /// A JSON-lines script of per-conversation turns.
    #[arg(long, value_name = "FILE")]
    pub(crate) script: Option<PathBuf>,
    /// Seeded faults, e.g. `rate=0.05,kinds=rate_limited|server_error`.
    #[arg(long, value_name = "SPEC")]
    pub(crate) faults: Option<String>,
    /// The seed of every random choice.
    #[arg(long, default_value_t = 42)]
    pub(crate) seed: u64,
    /// Time to first token, in milliseconds.
    #[arg(long, value_name = "MS")]
    pub(crate) first_token_ms: Option<u64>,
    /// Delay between tokens, in milliseconds.
    #[arg(long, value_name = "MS")]
    pub(crate) token_ms: Option<u64>,
    /// Words in a default-policy answer.
    #[arg(long)]
    pub(crate) answer_words: Option<usize>,
}
