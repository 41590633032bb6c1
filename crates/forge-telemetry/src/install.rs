//! Building the providers and exporters, and the [`TelemetryGuard`] that owns them.

use std::{
    sync::{Arc, OnceLock, atomic::AtomicBool, mpsc},
    thread,
    time::Duration,
};

use forge_core::ErrorKind;
use opentelemetry::{
    InstrumentationScope,
    metrics::{Meter, MeterProvider as _},
    trace::TracerProvider as _,
};
use opentelemetry_otlp::{
    MetricExporter, SpanExporter, WithExportConfig, WithHttpConfig as _, WithTonicConfig as _,
};
use opentelemetry_sdk::{
    Resource,
    metrics::{SdkMeterProvider, periodic_reader_with_async_runtime::PeriodicReader},
    runtime,
    trace::{
        BatchConfigBuilder, Sampler, SdkTracer, SdkTracerProvider,
        span_processor_with_async_runtime::BatchSpanProcessor,
    },
};
use tracing::Subscriber;
use tracing_opentelemetry::OpenTelemetryLayer;
use tracing_subscriber::{Layer, layer::SubscriberExt as _, registry::LookupSpan};

use crate::{
    DispatchMetrics, Error, GenAiMetricsLayer, Protocol, Telemetry, config::DEFAULT_SERVICE_NAME,
    content::ContentLayer, filter::ExportFilter, instruments::SpanInstruments,
    runtime::ExportRuntime, tls::TlsRoots,
};

/// The semantic conventions version forge's attribute names follow.
pub const SCHEMA_URL: &str = "https://opentelemetry.io/schemas/1.41.1";

/// The instrumentation scope of every forge span and metric.
const SCOPE: &str = "forge";

impl Telemetry {
    /// Builds the providers and exporters without installing anything
    /// globally; compose [`TelemetryGuard::layer`] into your own subscriber.
    ///
    /// Nothing connects yet: an unreachable collector shows up only as failed
    /// exports, on the telemetry thread.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`] for an invalid variable, endpoint or protocol, or
    /// a CA file (`ca_file`, `OTEL_EXPORTER_OTLP_CERTIFICATE`) that cannot be
    /// read or holds no certificate; [`ErrorKind::Other`] when an exporter or the telemetry thread cannot be
    /// created.
    pub fn build(self) -> Result<TelemetryGuard, Error> {
        self.check()?;
        let runtime = ExportRuntime::start().map_err(|e| {
            Error::new(ErrorKind::Other, "cannot start the telemetry thread").with_source(e)
        })?;
        // The exporters' clients and the processors' tasks live on the
        // telemetry runtime.
        let tls = TlsRoots::load(self.ca_file.as_deref())?;
        let providers = {
            let _entered = runtime.handle().enter();
            let resource = self.resource();
            let tracer_provider = self.tracer_provider(resource.clone(), &tls)?;
            let meter_provider = self.meter_provider(resource, &tls)?;
            (tracer_provider, meter_provider)
        };
        Ok(TelemetryGuard::new(self, providers, runtime))
    }

    /// Builds, then installs the tracer and meter providers as the
    /// OpenTelemetry globals and a subscriber of [`TelemetryGuard::layer`] as
    /// the global `tracing` default.
    ///
    /// # Errors
    ///
    /// As [`build`](Self::build); also [`ErrorKind::Config`] when a global
    /// `tracing` subscriber is already set.
    pub fn install(self) -> Result<TelemetryGuard, Error> {
        let guard = self.build()?;
        let subscriber = tracing_subscriber::registry().with(guard.layer());
        tracing::subscriber::set_global_default(subscriber).map_err(|e| {
            Error::config("a global tracing subscriber is already installed").with_source(e)
        })?;
        opentelemetry::global::set_tracer_provider(guard.tracer_provider.clone());
        opentelemetry::global::set_meter_provider(guard.meter_provider.clone());
        Ok(guard)
    }

    fn resource(&self) -> Resource {
        let builder = Resource::builder().with_schema_url([], SCHEMA_URL);
        match &self.service_name {
            Some(name) => builder.with_service_name(name.clone()),
            None if std::env::var_os("OTEL_SERVICE_NAME").is_some() => builder,
            None => builder.with_service_name(DEFAULT_SERVICE_NAME),
        }
        .build()
    }

    fn tracer_provider(
        &self,
        resource: Resource,
        tls: &TlsRoots,
    ) -> Result<SdkTracerProvider, Error> {
        let mut builder = SdkTracerProvider::builder().with_resource(resource);
        if let Some(ratio) = self.sampling_ratio {
            let root = Sampler::TraceIdRatioBased(ratio);
            builder = builder.with_sampler(Sampler::ParentBased(Box::new(root)));
        }
        if !self.traces {
            return Ok(builder.with_sampler(Sampler::AlwaysOff).build());
        }
        let exporter = match self.protocol {
            Protocol::Grpc => self
                .endpoint_for(SpanExporter::builder().with_tonic(), "/v1/traces")
                .with_tls_config(tls.grpc())
                .build(),
            Protocol::HttpProtobuf => self
                .endpoint_for(SpanExporter::builder().with_http(), "/v1/traces")
                .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                .with_shared_http_client(tls.http_client(self.export_timeout)?)
                .build(),
        }
        .map_err(exporter_error)?;
        let config = BatchConfigBuilder::default()
            .with_max_queue_size(self.max_queue_size)
            .with_max_export_timeout(self.export_timeout)
            .with_scheduled_delay(Duration::from_millis(500))
            .build();
        let batch = BatchSpanProcessor::builder(exporter, runtime::Tokio)
            .with_batch_config(config)
            .build();
        let filter = ExportFilter::new(batch, self.capture_content);
        Ok(builder.with_span_processor(filter).build())
    }

    fn meter_provider(
        &self,
        resource: Resource,
        tls: &TlsRoots,
    ) -> Result<SdkMeterProvider, Error> {
        let builder = SdkMeterProvider::builder().with_resource(resource);
        if !self.metrics {
            return Ok(builder.build());
        }
        let exporter = match self.protocol {
            Protocol::Grpc => self
                .endpoint_for(MetricExporter::builder().with_tonic(), "/v1/metrics")
                .with_tls_config(tls.grpc())
                .build(),
            Protocol::HttpProtobuf => self
                .endpoint_for(MetricExporter::builder().with_http(), "/v1/metrics")
                .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                .with_shared_http_client(tls.http_client(self.export_timeout)?)
                .build(),
        }
        .map_err(exporter_error)?;
        let reader = PeriodicReader::builder(exporter, runtime::Tokio)
            .with_interval(self.metric_interval)
            .with_timeout(self.export_timeout)
            .build();
        Ok(builder.with_reader(reader).build())
    }

    fn endpoint_for<B: WithExportConfig>(&self, builder: B, http_path: &str) -> B {
        let builder = builder.with_timeout(self.export_timeout);
        match self.signal_endpoint(http_path) {
            Some(endpoint) => builder.with_endpoint(endpoint),
            None => builder,
        }
    }
}

fn exporter_error(error: opentelemetry_otlp::ExporterBuildError) -> Error {
    Error::new(ErrorKind::Other, "cannot build the OTLP exporter").with_source(error)
}

/// Owns the installed telemetry; flushes and shuts it down when dropped.
///
/// Keep it alive for as long as the program runs, and call
/// [`shutdown`](Self::shutdown) before exiting to see whether the last spans
/// and metrics got out. Dropping it does the same and ignores the outcome.
/// Either way shutdown takes at most about twice the export timeout.
pub struct TelemetryGuard {
    tracer_provider: SdkTracerProvider,
    meter_provider: SdkMeterProvider,
    meter: Meter,
    instruments: Arc<SpanInstruments>,
    observer: OnceLock<Arc<DispatchMetrics>>,
    observer_attached: Arc<AtomicBool>,
    capture_content: bool,
    metrics: bool,
    export_timeout: Duration,
    runtime: Option<ExportRuntime>,
}

impl std::fmt::Debug for TelemetryGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelemetryGuard")
            .field("capture_content", &self.capture_content)
            .field("export_timeout", &self.export_timeout)
            .finish_non_exhaustive()
    }
}

impl TelemetryGuard {
    fn new(
        config: Telemetry,
        (tracer_provider, meter_provider): (SdkTracerProvider, SdkMeterProvider),
        runtime: ExportRuntime,
    ) -> Self {
        let meter = meter_provider.meter_with_scope(scope());
        let instruments = Arc::new(SpanInstruments::new(&meter));
        Self {
            tracer_provider,
            meter_provider,
            meter,
            instruments,
            observer: OnceLock::new(),
            observer_attached: Arc::new(AtomicBool::new(false)),
            capture_content: config.capture_content,
            metrics: config.metrics,
            export_timeout: config.export_timeout,
            runtime: Some(runtime),
        }
    }

    /// The layers to add to a `tracing` subscriber: spans to OpenTelemetry
    /// (tracing-opentelemetry), the GenAI metrics ([`GenAiMetricsLayer`]),
    /// and forge-agent's content events
    /// ([`CONTENT_TARGET`](crate::CONTENT_TARGET)) as span attributes.
    ///
    /// With content capture off, these layers disable the content target
    /// for the whole subscriber, so forge-agent serialises nothing and no
    /// other layer (a `fmt` layer at TRACE, say) sees content either. If you
    /// wrap this layer in a filter of your own, let `forge::content` at
    /// TRACE through when capture is on.
    pub fn layer<S>(&self) -> impl Layer<S> + 'static
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        // Every layer is always present (an `Option` layer that is `None`
        // would switch every other layer off through its level hint); a
        // switched-off signal has a tracer that samples nothing, or a metrics
        // layer that ignores every span. No per-layer filter: each costs
        // about 0.1 µs per span.
        let content = ContentLayer::new(self.otel_layer(), self.capture_content);
        self.otel_layer()
            .and_then(self.metrics_layer())
            .and_then(content)
    }

    fn otel_layer<S>(&self) -> OpenTelemetryLayer<S, SdkTracer>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let tracer = self.tracer_provider.tracer_with_scope(scope());
        tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_location(false)
            .with_threads(false)
            .with_tracked_inactivity(false)
            .with_target(false)
    }

    /// The metrics layer alone, for a subscriber that exports spans elsewhere.
    pub fn metrics_layer(&self) -> GenAiMetricsLayer {
        GenAiMetricsLayer::new(
            Arc::clone(&self.instruments),
            Arc::clone(&self.observer_attached),
            self.metrics,
        )
    }

    /// The dispatch observer to give forge-dispatch's dispatcher.
    ///
    /// Once asked for, it is the only source of `gen_ai.execute_tool.duration`
    /// (the metrics layer then stops deriving it from `execute_tool` spans), so
    /// each dispatch is counted once.
    pub fn dispatch_observer(&self) -> Arc<DispatchMetrics> {
        let observer = self
            .observer
            .get_or_init(|| Arc::new(DispatchMetrics::new(&self.meter)));
        self.observer_attached
            .store(true, std::sync::atomic::Ordering::Relaxed);
        Arc::clone(observer)
    }

    /// Whether prompts, answers and tool payloads may be exported.
    pub fn captures_content(&self) -> bool {
        self.capture_content
    }

    /// Exports everything recorded so far, waiting at most about twice the
    /// export timeout.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Timeout`] when the collector did not answer in time;
    /// [`ErrorKind::Connection`] when an export failed.
    pub fn force_flush(&self) -> Result<(), Error> {
        let tracer = self.tracer_provider.clone();
        let meter = self.meter_provider.clone();
        self.bounded("flush", move || {
            let spans = tracer.force_flush();
            let metrics = meter.force_flush();
            spans.and(metrics)
        })
    }

    /// Flushes and stops the exporters and the telemetry thread. Takes at most
    /// about twice the export timeout, whatever the collector does.
    ///
    /// It blocks the calling thread (the exports run on the telemetry
    /// thread, so this is safe on any runtime); in async code, call it at the
    /// end of `main` or through `spawn_blocking`.
    ///
    /// # Errors
    ///
    /// As [`force_flush`](Self::force_flush).
    pub fn shutdown(mut self) -> Result<(), Error> {
        self.stop()
    }

    fn stop(&mut self) -> Result<(), Error> {
        let Some(runtime) = self.runtime.take() else {
            return Ok(());
        };
        let tracer = self.tracer_provider.clone();
        let meter = self.meter_provider.clone();
        let timeout = self.export_timeout;
        let result = self.bounded("shutdown", move || {
            let spans = tracer.shutdown_with_timeout(timeout);
            let metrics = meter.shutdown_with_timeout(timeout);
            spans.and(metrics)
        });
        drop(runtime);
        result
    }

    /// Runs a blocking SDK call on a helper thread and waits for it at most
    /// twice the export timeout plus a margin.
    fn bounded<F>(&self, what: &'static str, call: F) -> Result<(), Error>
    where
        F: FnOnce() -> opentelemetry_sdk::error::OTelSdkResult + Send + 'static,
    {
        let (done_tx, done_rx) = mpsc::channel();
        thread::Builder::new()
            .name(format!("forge-telemetry-{what}"))
            .spawn(move || {
                let _ = done_tx.send(call());
            })
            .map_err(|e| Error::new(ErrorKind::Other, "cannot start a thread").with_source(e))?;
        let limit = self.export_timeout * 2 + Duration::from_millis(500);
        match done_rx.recv_timeout(limit) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(Error::new(
                ErrorKind::Connection,
                format!("telemetry {what} failed"),
            )
            .with_source(error)),
            Err(_) => Err(Error::timeout(format!(
                "telemetry {what} took longer than {limit:?}"
            ))),
        }
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        // Errors cannot be reported from drop; `shutdown` reports them.
        let _ = self.stop();
    }
}

fn scope() -> InstrumentationScope {
    InstrumentationScope::builder(SCOPE)
        .with_version(env!("CARGO_PKG_VERSION"))
        .with_schema_url(SCHEMA_URL)
        .build()
}
