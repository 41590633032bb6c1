//! Where the process installs its tracing subscriber.
//!
//! This is the one place a subscriber is installed. Today it writes
//! human-readable events, and every span as it closes (with its fields and
//! timing), to stderr when `RUST_LOG` is set. OTLP export
//! (`--otlp URL`, `OTEL_EXPORTER_OTLP_ENDPOINT`) plugs in here through
//! forge-telemetry: build its layer and add it to the registry below, and
//! keep its guard in [`Telemetry`] so spans are flushed on exit.

use std::io::IsTerminal as _;

use tracing_subscriber::{EnvFilter, fmt::format::FmtSpan, prelude::*};

/// Keeps the installed telemetry alive; dropping it flushes and shuts down.
#[derive(Debug)]
pub(crate) struct Telemetry {
    _private: (),
}

/// Installs the process's subscriber.
pub(crate) fn install() -> anyhow::Result<Telemetry> {
    if let Ok(filter) = EnvFilter::try_from_default_env() {
        let fmt = tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .with_span_events(FmtSpan::CLOSE);
        tracing_subscriber::registry()
            .with(fmt.with_filter(filter))
            .try_init()?;
    }
    Ok(Telemetry { _private: () })
}
