//! The forge tool-dispatch pipeline: lookup, validation, timeouts, retries, panic isolation and per-tool aggregates.
