//! Where the process installs its tracing subscriber and its exporters.
//!
//! This is the one place a subscriber is installed. It has up to two layers:
//!
//! - with `RUST_LOG` set, human-readable events, and every span as it closes
//!   (with its fields and timing), on stderr;
//! - for `forge run` and `forge load`, with `--otlp URL` or
//!   `OTEL_EXPORTER_OTLP_ENDPOINT` (or a per-signal `…_TRACES_ENDPOINT` /
//!   `…_METRICS_ENDPOINT`) set, forge-telemetry's layer: forge's spans to
//!   OTLP and the GenAI metrics derived from them. Its dispatch observer,
//!   given to every dispatcher, feeds the tool metrics. The other `OTEL_*`
//!   variables (protocol, timeout, service name, sampler, …) are read by
//!   [`forge_telemetry::Telemetry::from_env`]; `--otlp` only replaces the
//!   endpoint.
//!
//! With neither, nothing is installed and no exporter is built: no thread, no
//! socket, no cost on the hot path.
//!
//! The exporters run on forge-telemetry's own thread and runtime.
//! [`Telemetry::finish`] flushes and stops them; `main` calls it after the
//! async runtime's `block_on` has returned, so its blocking wait never runs on
//! a runtime worker. It is bounded by about twice the export timeout
//! (`OTEL_EXPORTER_OTLP_TIMEOUT`, 3 s by default): an unreachable or silent
//! collector costs one warning line on stderr, never the command's success.

use std::{env, io::IsTerminal as _, sync::Arc};

use anyhow::Context as _;
use forge_core::{DispatchObservation, DispatchObserver};
use forge_telemetry::TelemetryGuard;
use tracing::Level;
use tracing_subscriber::{
    EnvFilter, Layer, Registry, filter::Targets, fmt::format::FmtSpan, prelude::*,
};

use crate::cli::ExportArgs;

/// Variables that name a collector; any one of them turns export on.
const ENDPOINT_VARS: [&str; 3] = [
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
];

/// The crates whose spans (and the events inside them) are exported.
const EXPORTED_TARGETS: [&str; 3] = ["forge_agent", "forge_providers", "forge_dispatch"];

type BoxedLayer = Box<dyn Layer<Registry> + Send + Sync>;

/// Keeps the installed telemetry alive until [`finish`](Self::finish).
#[derive(Debug)]
pub(crate) struct Telemetry {
    guard: Option<TelemetryGuard>,
}

impl Telemetry {
    /// The observer to give every dispatcher, when exporting.
    pub(crate) fn dispatch_observer(&self) -> Option<Arc<dyn DispatchObserver>> {
        let guard = self.guard.as_ref()?;
        Some(guard.dispatch_observer())
    }

    /// Flushes and stops the exporters, if any; blocks for at most about
    /// twice the export timeout. Call it outside the async runtime.
    pub(crate) fn finish(self) {
        let Some(guard) = self.guard else {
            return;
        };
        if let Err(error) = guard.shutdown() {
            let error = anyhow::Error::from(error);
            eprintln!("forge: warning: telemetry not exported: {error:#}");
        }
    }
}

/// Installs the process's subscriber, exporting when `export` (the options of
/// `run` or `load`) or the environment names a collector.
///
/// # Errors
///
/// When the OTLP settings are invalid (an endpoint that is not an
/// `http(s)://` URL, an unknown `OTEL_EXPORTER_OTLP_PROTOCOL`, …), or a
/// subscriber is already installed.
pub(crate) fn install(export: Option<&ExportArgs>) -> anyhow::Result<Telemetry> {
    let guard = export.map(exporter).transpose()?.flatten();
    let mut layers: Vec<BoxedLayer> = Vec::new();
    if let Ok(filter) = EnvFilter::try_from_default_env() {
        let fmt = tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .with_span_events(FmtSpan::CLOSE);
        layers.push(fmt.with_filter(filter).boxed());
    }
    if let Some(guard) = &guard {
        let mut targets = EXPORTED_TARGETS.iter().fold(Targets::new(), |t, target| {
            t.with_target(*target, Level::INFO)
        });
        if guard.captures_content() {
            // Prompts, arguments and results: only when the user asked.
            targets = targets.with_target(forge_telemetry::CONTENT_TARGET, Level::TRACE);
        }
        layers.push(guard.layer().with_filter(targets).boxed());
    }
    if !layers.is_empty() {
        tracing_subscriber::registry().with(layers).try_init()?;
    }
    Ok(Telemetry { guard })
}

/// Builds the exporters when a collector is named, by `--otlp` first.
fn exporter(export: &ExportArgs) -> anyhow::Result<Option<TelemetryGuard>> {
    let config = forge_telemetry::Telemetry::from_env();
    let config = match &export.otlp {
        Some(url) => config.otlp_endpoint(url),
        None if endpoint_in_env() => config,
        None => return Ok(None),
    };
    let guard = config.build().context("setting up OTLP export")?;
    Ok(Some(guard))
}

fn endpoint_in_env() -> bool {
    ENDPOINT_VARS
        .iter()
        .any(|name| env::var(name).is_ok_and(|value| !value.trim().is_empty()))
}

/// `first`, plus `second` when there is one: a dispatcher takes one observer.
pub(crate) fn observe_both(
    first: Arc<dyn DispatchObserver>,
    second: Option<Arc<dyn DispatchObserver>>,
) -> Arc<dyn DispatchObserver> {
    match second {
        Some(second) => Arc::new(Both(first, second)),
        None => first,
    }
}

/// Hands every observation to two observers, in order.
struct Both(Arc<dyn DispatchObserver>, Arc<dyn DispatchObserver>);

impl DispatchObserver for Both {
    fn on_dispatch(&self, observation: &DispatchObservation<'_>) {
        self.0.on_dispatch(observation);
        self.1.on_dispatch(observation);
    }
}
