//! Choosing the model: a configured provider, an external emulator, or the
//! emulator started in-process.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context as _;
use forge_core::Model;
use forge_emulator::{Emulator, EmulatorHandle, Latency, Script};
use forge_providers::{DeploymentConfig, ProviderKind};

use crate::{
    cli::ModelArgs,
    config::{self, AgentSection},
};

/// The model name the emulator is asked for.
const EMULATED_MODEL: &str = "forge-emulated";

/// A model ready to use, and what came with it.
pub(crate) struct Backend {
    pub(crate) model: Arc<dyn Model>,
    /// `gen_ai.provider.name` of the deployment.
    pub(crate) provider: &'static str,
    /// Where requests go, for people.
    pub(crate) target: String,
    /// The `[agent]` table of the configuration, if any.
    pub(crate) agent: AgentSection,
    /// The in-process emulator, kept alive as long as the model is used.
    pub(crate) emulator: Option<EmulatorHandle>,
}

impl Backend {
    /// Stops the in-process emulator, if one runs.
    pub(crate) async fn shutdown(self) {
        drop(self.model);
        if let Some(emulator) = self.emulator {
            emulator.shutdown().await;
        }
    }
}

/// Builds the model `args` describe; `script` goes to an in-process emulator.
pub(crate) async fn backend(
    args: &ModelArgs,
    script: Option<Script>,
    pacing: Latency,
) -> anyhow::Result<Backend> {
    if let Some(path) = &args.config {
        let config = config::read(path)?;
        let provider = config
            .providers
            .default_deployment()
            .map_or("unknown", |d| d.provider.as_str());
        let target = config
            .providers
            .default_deployment()
            .map_or_else(String::new, |d| d.base_url().to_owned());
        let model = config.providers.build()?;
        return Ok(Backend {
            model,
            provider,
            target: format!("the configured deployment at {target}"),
            agent: config.agent,
            emulator: None,
        });
    }
    let kind = args.provider.kind();
    let (addr, emulator) = match args.emulator {
        Some(addr) => (addr, None),
        None => {
            let handle = start_emulator(args, script, pacing).await?;
            (handle.addr(), Some(handle))
        }
    };
    let target = match emulator {
        Some(_) => format!("the in-process emulator at {addr}"),
        None => format!("the emulator at {addr}"),
    };
    let deployment = emulator_deployment(kind, addr, !args.http1);
    let model = forge_providers::connect(&deployment)?;
    Ok(Backend {
        model,
        provider: kind.as_str(),
        target,
        agent: AgentSection::default(),
        emulator,
    })
}

async fn start_emulator(
    args: &ModelArgs,
    script: Option<Script>,
    mut pacing: Latency,
) -> anyhow::Result<EmulatorHandle> {
    let mut builder = Emulator::builder().seed(args.seed);
    if let Some(script) = script {
        builder = builder.script(script);
    }
    if let Some(ms) = args.first_token_ms {
        pacing.first_token = Duration::from_millis(ms);
    }
    builder = builder.latency(pacing);
    let loopback: SocketAddr = ([127, 0, 0, 1], 0).into();
    builder
        .bind(loopback)
        .start()
        .await
        .context("starting the in-process emulator")
}

/// A deployment pointing at an emulator on `addr`, in dialect `kind`.
pub(crate) fn emulator_deployment(
    kind: ProviderKind,
    addr: SocketAddr,
    h2c: bool,
) -> DeploymentConfig {
    let mut deployment = DeploymentConfig::new(kind, EMULATED_MODEL);
    let base = format!("http://{addr}");
    deployment.base_url = Some(match kind {
        ProviderKind::OpenAi => format!("{base}/v1"),
        _ => base,
    });
    deployment.http2_prior_knowledge = h2c;
    deployment
}
