//! What to export and where: the [`Telemetry`] builder and its environment variables.

use std::{env, path::PathBuf, time::Duration};

use crate::Error;

/// The default service name when neither code nor `OTEL_SERVICE_NAME` names one.
pub(crate) const DEFAULT_SERVICE_NAME: &str = "forge";

/// The OTLP transport.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// OTLP over gRPC (default port 4317).
    Grpc,
    /// OTLP over HTTP with protobuf bodies (default port 4318); the OTel default.
    HttpProtobuf,
}

impl Protocol {
    /// Parses an `OTEL_EXPORTER_OTLP_PROTOCOL` value.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](forge_core::ErrorKind::Config) for `http/json`
    /// (not built in) and for anything unknown.
    pub fn parse(value: &str) -> Result<Self, Error> {
        match value.trim().to_ascii_lowercase().as_str() {
            "grpc" => Ok(Self::Grpc),
            "http/protobuf" => Ok(Self::HttpProtobuf),
            other => Err(Error::config(format!(
                "unsupported OTLP protocol {other:?}: use \"grpc\" or \"http/protobuf\""
            ))),
        }
    }

    /// The value as `OTEL_EXPORTER_OTLP_PROTOCOL` spells it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Grpc => "grpc",
            Self::HttpProtobuf => "http/protobuf",
        }
    }
}

/// Configures and installs forge's telemetry: tracer and meter providers with
/// OTLP exporters, the `tracing` layers, and the dispatch observer.
///
/// Start from [`Telemetry::from_env`], override in code (code wins over the
/// environment), then [`install`](Telemetry::install) it as the global
/// `tracing` subscriber, or [`build`](Telemetry::build) it and compose
/// [`TelemetryGuard::layer`](crate::TelemetryGuard::layer) with your own layers.
///
/// # Examples
///
/// ```no_run
/// # fn main() -> Result<(), forge_telemetry::Error> {
/// let guard = forge_telemetry::Telemetry::from_env()
///     .otlp_endpoint("http://127.0.0.1:4318")
///     .service_name("forge-cli")
///     .install()?;
/// // ... run the agent ...
/// guard.shutdown()?; // flushes; bounded by the export timeout
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Telemetry {
    pub(crate) endpoint: Option<String>,
    pub(crate) protocol: Protocol,
    pub(crate) service_name: Option<String>,
    pub(crate) sampling_ratio: Option<f64>,
    pub(crate) export_timeout: Duration,
    pub(crate) metric_interval: Duration,
    pub(crate) max_queue_size: usize,
    pub(crate) capture_content: bool,
    pub(crate) ca_file: Option<PathBuf>,
    pub(crate) traces: bool,
    pub(crate) metrics: bool,
    pub(crate) env_error: Option<String>,
}

impl Telemetry {
    /// Settings from the standard variables, with forge's short timeouts.
    ///
    /// Reads `OTEL_EXPORTER_OTLP_PROTOCOL` (`http/protobuf` by default, or
    /// `grpc`), `OTEL_EXPORTER_OTLP_TIMEOUT` (ms, default 3 000) and
    /// `OTEL_METRIC_EXPORT_INTERVAL` (ms, default 10 000), and
    /// `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT` (`true` turns on
    /// content capture), `OTEL_EXPORTER_OTLP_CERTIFICATE` (a PEM file of CA
    /// certificates to trust for `https://` endpoints, besides Mozilla's
    /// roots), and `OTEL_TRACES_EXPORTER` / `OTEL_METRICS_EXPORTER`
    /// (`otlp`, the default, or `none`). The exporters themselves read
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` (and the per-signal `…_TRACES_ENDPOINT`,
    /// `…_METRICS_ENDPOINT`), `OTEL_EXPORTER_OTLP_HEADERS`; the SDK reads
    /// `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER`
    /// and `OTEL_TRACES_SAMPLER_ARG`. An invalid value is reported by
    /// [`build`](Self::build), not here.
    pub fn from_env() -> Self {
        let mut env_error = None;
        let protocol = match env_var("OTEL_EXPORTER_OTLP_PROTOCOL") {
            None => Protocol::HttpProtobuf,
            Some(value) => Protocol::parse(&value).unwrap_or_else(|error| {
                env_error = Some(format!("OTEL_EXPORTER_OTLP_PROTOCOL: {error}"));
                Protocol::HttpProtobuf
            }),
        };
        let export_timeout = env_millis("OTEL_EXPORTER_OTLP_TIMEOUT", 3_000, &mut env_error);
        let metric_interval = env_millis("OTEL_METRIC_EXPORT_INTERVAL", 10_000, &mut env_error);
        let capture_content = env_var("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
        let traces = env_exporter("OTEL_TRACES_EXPORTER", &mut env_error);
        let metrics = env_exporter("OTEL_METRICS_EXPORTER", &mut env_error);
        Self {
            endpoint: None,
            protocol,
            service_name: None,
            sampling_ratio: None,
            export_timeout,
            metric_interval,
            max_queue_size: 2_048,
            capture_content,
            ca_file: env_var("OTEL_EXPORTER_OTLP_CERTIFICATE").map(PathBuf::from),
            traces,
            metrics,
            env_error,
        }
    }

    /// Exports to this collector: the base URL for OTLP/HTTP (the signal paths
    /// `/v1/traces` and `/v1/metrics` are appended), or the gRPC endpoint.
    /// Overrides `OTEL_EXPORTER_OTLP_ENDPOINT`.
    #[must_use]
    pub fn otlp_endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }

    /// Chooses the transport. Overrides `OTEL_EXPORTER_OTLP_PROTOCOL`.
    #[must_use]
    pub fn protocol(mut self, protocol: Protocol) -> Self {
        self.protocol = protocol;
        self
    }

    /// Sets `service.name`. Overrides `OTEL_SERVICE_NAME`; the default is `forge`.
    #[must_use]
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = Some(name.into());
        self
    }

    /// Samples this fraction of new traces (parent-based: children follow
    /// their parent). Overrides `OTEL_TRACES_SAMPLER`; clamped to `0.0..=1.0`.
    #[must_use]
    pub fn sampling_ratio(mut self, ratio: f64) -> Self {
        self.sampling_ratio = Some(ratio.clamp(0.0, 1.0));
        self
    }

    /// The longest one export may take. It also bounds shutdown: at most
    /// about twice this (spans and metrics), however the collector behaves.
    #[must_use]
    pub fn export_timeout(mut self, timeout: Duration) -> Self {
        self.export_timeout = timeout;
        self
    }

    /// How often metrics are exported.
    #[must_use]
    pub fn metric_interval(mut self, interval: Duration) -> Self {
        self.metric_interval = interval;
        self
    }

    /// The most finished spans kept while waiting for export; more are dropped
    /// (and counted) rather than held, so an unreachable collector costs
    /// bounded memory.
    #[must_use]
    pub fn max_queue_size(mut self, spans: usize) -> Self {
        self.max_queue_size = spans.max(1);
        self
    }

    /// Exports prompts, answers, tool arguments and results, as the
    /// `gen_ai.input.messages`, `gen_ai.output.messages`,
    /// `gen_ai.system_instructions`, `gen_ai.tool.call.arguments` and
    /// `gen_ai.tool.call.result` attributes of the `chat` and `execute_tool`
    /// spans. Overrides `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`.
    ///
    /// Off by default: then the [`CONTENT_TARGET`](crate::CONTENT_TARGET)
    /// events are disabled (forge-agent serialises nothing) and those
    /// attributes are removed from every span before export. Keys and
    /// credentials are removed either way.
    #[must_use]
    pub fn capture_content(mut self, capture: bool) -> Self {
        self.capture_content = capture;
        self
    }

    /// Trusts the CA certificates in this PEM file for `https://`
    /// endpoints, in addition to Mozilla's roots (webpki-roots); for a
    /// collector with a private CA. Overrides `OTEL_EXPORTER_OTLP_CERTIFICATE`.
    /// The file is read by [`build`](Self::build).
    #[must_use]
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(path.into());
        self
    }

    /// Exports spans (the default) or not. Overrides `OTEL_TRACES_EXPORTER`.
    #[must_use]
    pub fn traces(mut self, export: bool) -> Self {
        self.traces = export;
        self
    }

    /// Exports metrics (the default) or not; turn them off for trace-only
    /// backends such as Arize Phoenix. Overrides `OTEL_METRICS_EXPORTER`.
    #[must_use]
    pub fn metrics(mut self, export: bool) -> Self {
        self.metrics = export;
        self
    }

    pub(crate) fn check(&self) -> Result<(), Error> {
        if let Some(error) = &self.env_error {
            return Err(Error::config(error.clone()));
        }
        if let Some(endpoint) = &self.endpoint
            && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
        {
            return Err(Error::config(format!(
                "OTLP endpoint {endpoint:?} must start with http:// or https://"
            )));
        }
        Ok(())
    }

    /// The endpoint to give an exporter for one signal, if set in code.
    pub(crate) fn signal_endpoint(&self, http_path: &str) -> Option<String> {
        let base = self.endpoint.as_deref()?;
        Some(match self.protocol {
            Protocol::Grpc => base.to_owned(),
            Protocol::HttpProtobuf => format!("{}{http_path}", base.trim_end_matches('/')),
        })
    }
}

fn env_var(name: &str) -> Option<String> {
    env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// `otlp` (or unset) exports, `none` does not; anything else is an error.
fn env_exporter(name: &str, error: &mut Option<String>) -> bool {
    match env_var(name)
        .map(|v| v.trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("otlp") => true,
        Some("none") => false,
        Some(other) => {
            *error = Some(format!(
                "{name}: {other:?} is not supported: use \"otlp\" or \"none\""
            ));
            true
        }
    }
}

fn env_millis(name: &str, default: u64, error: &mut Option<String>) -> Duration {
    let millis = match env_var(name) {
        None => default,
        Some(value) => value.trim().parse().unwrap_or_else(|_| {
            *error = Some(format!("{name}: {value:?} is not a number of milliseconds"));
            default
        }),
    };
    Duration::from_millis(millis)
}
