//! Load with faults, CI-sized: `forge load` against a `forge emulate` that
//! fails 5 % of requests with a mix of transient faults. Every conversation
//! ends (answered or with a typed error), no tool call of a completed model
//! turn goes unanswered (by counts, and by `forge load`'s ledger of the
//! agents' events), and no task outlives the run.
//!
//! The full-size run (`--duration 60 --concurrency 1000`) and its figures
//! are in `docs/reliability.md`.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns: a panic is a test failure with a line number"
)]

use std::{
    io::{BufRead, BufReader},
    net::SocketAddr,
    process::{Child, Command, Stdio},
};

use serde_json::Value;

/// Transient faults that resolve within a second: no `no_response` or
/// `stall`, whose first-chunk and idle timeouts would dominate a CI run.
const FAULTS: &str = "rate=0.05,retry_after=50ms,kinds=rate_limited|rate_limited_ms|server_error|\
                      unavailable|overloaded|error_after_ok|stream_truncated|connection_reset|\
                      malformed_chunk";

/// A `forge emulate` child, killed on drop.
struct Emulate {
    child: Child,
    addr: SocketAddr,
}

impl Emulate {
    fn start() -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_forge"))
            .args([
                "emulate",
                "--listen",
                "127.0.0.1:0",
                "--faults",
                FAULTS,
                "--seed",
                "7",
            ])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let first = lines.next().unwrap().unwrap();
        let addr = first
            .rsplit("http://")
            .next()
            .unwrap()
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("no address in {first:?}"));
        // Keep draining stderr so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Self { child, addr }
    }
}

impl Drop for Emulate {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn load(emulator: SocketAddr, provider: &str) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("load.json");
    let output = Command::new(env!("CARGO_BIN_EXE_forge"))
        .args([
            "load",
            "--quiet",
            "--conversations",
            "200",
            "--concurrency",
            "100",
        ])
        .args([
            "--provider",
            provider,
            "--emulator",
            &emulator.to_string(),
            "--json",
        ])
        .arg(&json)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "forge load failed: {stderr}");
    serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap()
}

#[track_caller]
fn check(figures: &Value) {
    let get = |key: &str| {
        figures[key]
            .as_u64()
            .unwrap_or_else(|| panic!("{key}: {figures}"))
    };
    let (conversations, succeeded, failed) =
        (get("conversations"), get("succeeded"), get("failed"));
    assert_eq!(conversations, 200);
    assert_eq!(
        succeeded + failed,
        conversations,
        "every conversation ended"
    );
    let errors: u64 = figures["errors"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(
        errors, failed,
        "every failure is classified: {}",
        figures["errors"]
    );
    assert!(
        failed > 0,
        "5 % faults failed no conversation: the faults were not injected"
    );
    assert!(succeeded > conversations / 2, "{figures}");
    // Each default conversation is a turn of two parallel calls, then an
    // answer. `model_turns` counts 2 per success and, per failure, the step
    // that failed (1 or 2); so the conversations that failed in their answer
    // turn number `turns - 2 * succeeded - failed`, and every completed call
    // turn (a success's or such a failure's) must have dispatched both calls.
    let turns = get("model_turns");
    let failed_in_answer_turn = turns - 2 * succeeded - failed;
    let call_turns = succeeded + failed_in_answer_turn;
    assert_eq!(
        get("tool_dispatches"),
        2 * call_turns,
        "a tool result was lost: {figures}"
    );
    assert_eq!(get("validation_failures"), 0);
    // The same from the agents' events: every `ToolDispatched` id got its
    // `ToolResult`, and every call of a successful transcript its result.
    assert_eq!(get("lost_tool_results"), 0, "{figures}");
    assert_eq!(get("unanswered_calls_in_transcripts"), 0, "{figures}");
    assert_eq!(
        get("tool_results_returned"),
        get("tool_calls_dispatched"),
        "{figures}"
    );
    assert_eq!(get("tool_calls_dispatched"), get("tool_dispatches"));
    // Every task the run spawned ended, the shared HTTP client's pool
    // included (`forge load` releases it after the last conversation).
    assert_eq!(get("leaked_tasks"), 0, "tasks outlived the run: {figures}");
}

#[test]
fn load_with_five_percent_faults_loses_no_tool_result() {
    let emulator = Emulate::start();
    for provider in ["anthropic", "openai", "google"] {
        check(&load(emulator.addr, provider));
    }
}
