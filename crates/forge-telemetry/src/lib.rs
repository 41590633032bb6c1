//! OpenTelemetry GenAI spans and metrics for forge, exported over OTLP.
