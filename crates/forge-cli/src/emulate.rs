//! `forge emulate`: the emulator as a standalone server.

use std::time::Duration;

use anyhow::Context as _;
use forge_emulator::{Emulator, FaultSpec, Latency, Script};

use crate::cli::EmulateArgs;

pub(crate) async fn emulate(args: EmulateArgs) -> anyhow::Result<()> {
    let mut builder = Emulator::builder().seed(args.seed).bind(args.listen);
    if let Some(path) = &args.script {
        let script = Script::from_path(path)?;
        builder = builder.script(script);
    }
    if let Some(spec) = &args.faults {
        let faults: FaultSpec = spec.parse().context("--faults")?;
        builder = builder.faults(faults);
    }
    builder = builder.latency(latency(&args));
    let emulator = builder.start().await.context("starting the emulator")?;
    let addr = emulator.addr();
    eprintln!("forge emulator listening on http://{addr}");
    eprintln!("  anthropic: http://{addr}/v1/messages");
    eprintln!("  openai:    http://{addr}/v1/chat/completions (base URL http://{addr}/v1)");
    eprintln!("  gemini:    http://{addr}/v1beta/models/MODEL:generateContent");
    eprintln!("press Ctrl-C to stop");
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    emulator.shutdown().await;
    Ok(())
}

fn latency(args: &EmulateArgs) -> Latency {
    let mut latency = Latency::default();
    if let Some(ms) = args.first_token_ms {
        latency.first_token = Duration::from_millis(ms);
    }
    if let Some(ms) = args.token_ms {
        latency.between_tokens = Duration::from_millis(ms);
    }
    if let Some(words) = args.answer_words {
        latency.answer_words = words;
    }
    latency
}
