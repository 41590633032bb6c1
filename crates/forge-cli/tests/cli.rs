//! The `forge` binary end to end, on the in-process emulator (loopback only).

#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns: a panic is a test failure with a line number"
)]

use std::{path::Path, process::Command};

use serde_json::Value;

fn forge(args: &[&str]) -> std::process::Output {
    let output = Command::new(env!("CARGO_BIN_EXE_forge"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("RUST_LOG")
        .output()
        .expect("the forge binary starts");
    assert!(
        output.status.success(),
        "forge {args:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn load_json(args: &[&str]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("figures.json");
    let mut all = vec!["load", "--quiet", "--json", json.to_str().unwrap()];
    all.extend_from_slice(args);
    forge(&all);
    serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap()
}

#[test]
fn run_streams_an_answer_quoting_two_parallel_tool_results() {
    for provider in ["anthropic", "openai", "google"] {
        let output = forge(&["run", "--provider", provider]);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        // Both calls are announced before either result: one parallel batch.
        let calc = stderr.find(" calculator ").expect("calculator dispatched");
        let clock = stderr.find(" clock ").expect("clock dispatched");
        let first_result = stderr.find("  <- ").expect("a result");
        assert!(calc < first_result && clock < first_result, "{stderr}");
        assert!(
            stdout.contains("395"),
            "the answer quotes the calculator: {stdout}"
        );
        assert!(
            stdout.contains("utc"),
            "the answer quotes the clock: {stdout}"
        );
    }
}

#[test]
fn load_runs_many_conversations_and_reports_figures() {
    let figures = load_json(&["--conversations", "40", "--concurrency", "16"]);
    assert_eq!(figures["conversations"], 40);
    assert_eq!(figures["succeeded"], 40);
    assert_eq!(figures["model_turns"], 80);
    assert_eq!(figures["tool_dispatches"], 80);
    assert_eq!(figures["validation_failures"], 0);
    assert!(figures["dispatch_us"]["p50"].as_f64().unwrap() > 0.0);
    assert!(figures["peak_rss_mib"].as_f64().unwrap() > 0.0);

    let http1 = load_json(&["--conversations", "10", "--concurrency", "10", "--http1"]);
    assert_eq!(http1["succeeded"], 10);
}

#[test]
fn bfcl_sample_runs_in_every_dialect_and_flags_bad_ground_truth() {
    let data = Path::new("tests/data/BFCL_v4_sample_parallel_multiple.json");
    let workload = format!("bfcl:{}", data.display());
    for provider in ["anthropic", "openai", "google"] {
        let figures = load_json(&[
            "--workload",
            &workload,
            "--provider",
            provider,
            "--concurrency",
            "4",
        ]);
        assert_eq!(figures["conversations"], 4, "{provider}: {figures}");
        assert_eq!(figures["succeeded"], 4, "{provider}: {figures}");
        assert_eq!(figures["tool_dispatches"], 8, "{provider}: {figures}");
        assert_eq!(
            figures["flagged_ground_truth_calls"], 1,
            "{provider}: {figures}"
        );
        assert_eq!(figures["validation_failures"], 1, "{provider}: {figures}");
        assert_eq!(
            figures["unexpected_validation_failures"], 0,
            "{provider}: {figures}"
        );
    }
}

#[test]
fn bfcl_script_can_be_written_for_an_external_emulator() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("script.jsonl");
    let workload = "bfcl:tests/data/BFCL_v4_sample_parallel_multiple.json";
    forge(&[
        "load",
        "--quiet",
        "--workload",
        workload,
        "--write-script",
        script.to_str().unwrap(),
    ]);
    let text = std::fs::read_to_string(&script).unwrap();
    assert_eq!(text.lines().count(), 8);
    let first: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["conversation"], "bfcl-0");
    assert_eq!(first["calls"][0]["name"], "number_tools.sum_of_multiples");
}
