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
