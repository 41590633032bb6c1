//! `forge run`: one conversation, streamed to the terminal.

use std::{
    io::Write as _,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use forge_agent::{Agent, AgentEvent, Conversation, StopCause};
use forge_core::{DispatchObserver, ToolOutcome};
use forge_dispatch::Dispatcher;
use forge_emulator::Latency;

use crate::{cli::RunArgs, config::AgentSection, model, tools};

/// The default prompt: it names two tools, so the model calls both at once.
pub(crate) const DEFAULT_PROMPT: &str =
    "Use the calculator to work out \"(17 * 23) + 4\" and check the clock for the time.";

/// The default system prompt.
const DEFAULT_SYSTEM: &str = "You are forge's demo agent. Call the tools you need (several \
    at once when they are independent), then answer in one short paragraph that quotes \
    their results.";

/// The in-process emulator's pacing for `forge run`: slow enough to watch
/// the answer stream in.
const PACING: Latency = Latency {
    first_token: Duration::from_millis(120),
    between_tokens: Duration::from_millis(12),
    answer_words: 0,
};

/// The longest tool output shown on the terminal.
const SHOWN_OUTPUT: usize = 160;

/// Runs one conversation; `observer` (the telemetry's, when exporting) sees
/// every tool dispatch.
pub(crate) async fn run(
    args: RunArgs,
    observer: Option<Arc<dyn DispatchObserver>>,
) -> anyhow::Result<()> {
    let backend = model::backend(&args.model, None, PACING).await?;
    let section = &backend.agent;
    let root = files_root(args.root.as_deref(), section)?;
    let registry = tools::builtin_registry(&root)?;
    let mut dispatcher = Dispatcher::builder(registry);
    if let Some(observer) = observer {
        dispatcher = dispatcher.observer(observer);
    }
    let dispatcher = dispatcher.build();
    let agent = build_agent(&backend, dispatcher);
    let prompt = args
        .prompt
        .or_else(|| section.prompt.clone())
        .unwrap_or_else(|| DEFAULT_PROMPT.to_owned());

    announce(&backend, &prompt);
    let conversation = Conversation::new(prompt).with_id(conversation_id());
    let result = agent.run_with_events(conversation, &print_event).await;
    println!();
    backend.shutdown().await;
    let output = result?;
    let why = match &output.stop {
        StopCause::FinalAnswer => "final answer".to_owned(),
        StopCause::StepLimit => "step limit".to_owned(),
        StopCause::StopTool(result) => format!("stop tool {}", result.name),
        StopCause::TokenBudget => "token budget".to_owned(),
        _ => "other".to_owned(),
    };
    eprintln!(
        "-- {} model turns, {} tool calls, {} tokens in, {} out; stopped on {why}",
        output.turns.len(),
        output.tool_calls,
        output.usage.input_tokens,
        output.usage.output_tokens
    );
    Ok(())
}

pub(crate) fn build_agent(backend: &model::Backend, dispatcher: Dispatcher) -> Agent {
    let section = &backend.agent;
    let mut builder = Agent::builder(backend.model.clone(), dispatcher)
        .provider(backend.provider)
        .system(section.system.as_deref().unwrap_or(DEFAULT_SYSTEM));
    if let Some(name) = &section.name {
        builder = builder.name(name.as_str());
    }
    if let Some(steps) = section.max_steps {
        builder = builder.max_steps(steps);
    }
    if let Some(tokens) = section.max_tokens {
        builder = builder.max_tokens(tokens);
    }
    builder.build()
}

fn files_root(flag: Option<&Path>, section: &AgentSection) -> anyhow::Result<PathBuf> {
    match flag.or(section.files_root.as_deref()) {
        Some(root) => Ok(root.to_path_buf()),
        None => Ok(std::env::current_dir()?),
    }
}

fn conversation_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("run-{nanos:x}")
}

fn announce(backend: &model::Backend, prompt: &str) {
    eprintln!(
        "-- forge run: {} dialect, {}",
        backend.provider, backend.target
    );
    eprintln!("user> {prompt}");
}

fn print_event(event: &AgentEvent<'_>) {
    match event {
        AgentEvent::TextDelta(text) => {
            let mut out = std::io::stdout().lock();
            // A closed stdout is not worth failing the conversation for.
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
        }
        // End the streamed text line before the tool calls are listed.
        AgentEvent::TurnFinished(report) if report.tool_calls > 0 => println!(),
        AgentEvent::ToolDispatched(call) => {
            eprintln!("  -> {} {} {}", call.id, call.name, call.arguments);
        }
        AgentEvent::ToolResult(result) => {
            let (mark, text) = match &result.outcome {
                ToolOutcome::Success { output } => ("<-", output.as_str()),
                ToolOutcome::Failure { message, .. } => ("<- error", message.as_str()),
                _ => ("<-", ""),
            };
            eprintln!("  {mark} {} {}", result.call_id, shorten(text));
        }
        _ => {}
    }
}

fn shorten(text: &str) -> String {
    if text.len() <= SHOWN_OUTPUT {
        return text.to_owned();
    }
    let mut end = SHOWN_OUTPUT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}
