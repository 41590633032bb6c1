//! Replays the committed `dispatch_args` fuzz corpus
//! (`fuzz/corpus/dispatch_args/`) through the same harness the cargo-fuzz
//! target runs, so plain `cargo test` keeps every seed and finding passing.

#[path = "../../../fuzz/src/dispatch.rs"]
mod harness;

use std::path::Path;

#[test]
fn dispatch_args_corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/dispatch_args");
    let entries = std::fs::read_dir(&dir).expect("the corpus directory is committed");
    let mut replayed = 0;
    for entry in entries {
        let path = entry.expect("a readable directory entry").path();
        let data = std::fs::read(&path).expect("a readable corpus file");
        let outcome = std::panic::catch_unwind(|| harness::dispatch_args(&data));
        assert!(
            outcome.is_ok(),
            "dispatch_args failed on {}",
            path.display()
        );
        replayed += 1;
    }
    assert!(replayed > 0, "{} is empty", dir.display());
}

/// Finding F4 of the `dispatch_args` fuzz target: a long `text` (3,992
/// bytes of input after minimising, kept in the corpus) that breaks both
/// `maxLength` and `pattern` of the schema tool came back in an
/// `invalid_arguments` message quoting it once per error, more than 4 KiB
/// over the arguments. Each error is now cut, so the value is never quoted
/// whole and the message stays small.
#[test]
fn schema_errors_quote_a_long_value_once_per_error() {
    let arguments = format!("{{\"text\":\"{}\"}}", "9".repeat(5000));
    let result = harness::answer(&forge_core::ToolCall::new("f4", "echo", arguments.as_str()));

    assert!(result.is_error());
    let content = result.content();
    assert!(content.contains("/text"), "names the field: {content:.300}");
    assert!(!content.contains(&"9".repeat(400)), "{content:.300}");
    assert!(content.len() < 4096, "{} bytes", content.len());

    let mut input = vec![1_u8];
    input.extend_from_slice(arguments.as_bytes());
    harness::dispatch_args(&input);
}
