//! forge-agent's spans, in a test binary of their own.
//!
//! tracing caches each callsite's interest process-wide; a thread-local
//! subscriber installed while other tests run on other threads can miss spans
//! those threads registered first. Alone in its process the recorder sees every
//! span, so the assertions below are exact rather than flaky.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns: a panic is a test failure with a line number"
)]

mod spans;
#[path = "../agent/support.rs"]
#[allow(dead_code, reason = "shared helpers; this binary uses a subset")]
mod support;
