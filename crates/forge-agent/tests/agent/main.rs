//! forge-agent's integration tests: the loop against a scripted model double
//! (no sockets) and end to end through the real adapters against
//! the emulator on loopback.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns: a panic is a test failure with a line number"
)]

mod conversation;
mod emulator;
mod support;
