//! Replays the committed fuzz corpora (`fuzz/corpus/<target>/`) through the
//! same harnesses the cargo-fuzz targets run, so plain `cargo test` keeps
//! every seed and every past finding passing.

#[path = "../../../fuzz/src/providers.rs"]
mod harness;

use std::path::Path;

use forge_providers::ProviderKind;

/// Runs `check` on every file of the target's corpus; there must be some.
fn replay(target: &str, check: impl Fn(&[u8]) + std::panic::RefUnwindSafe) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let entries = std::fs::read_dir(&dir).expect("the corpus directory is committed");
    let mut replayed = 0;
    for entry in entries {
        let path = entry.expect("a readable directory entry").path();
        let data = std::fs::read(&path).expect("a readable corpus file");
        let outcome = std::panic::catch_unwind(|| check(&data));
        assert!(outcome.is_ok(), "{} failed on {}", target, path.display());
        replayed += 1;
    }
    assert!(replayed > 0, "{} is empty", dir.display());
}

#[test]
fn sse_decoder_corpus() {
    replay("sse_decoder", harness::sse_decoder);
}

#[test]
fn stream_anthropic_corpus() {
    replay("stream_anthropic", |d| {
        harness::stream(ProviderKind::Anthropic, d)
    });
}

#[test]
fn stream_openai_corpus() {
    replay("stream_openai", |d| {
        harness::stream(ProviderKind::OpenAi, d)
    });
}

#[test]
fn stream_google_corpus() {
    replay("stream_google", |d| {
        harness::stream(ProviderKind::Google, d)
    });
}

/// Finding F1 of the `sse_decoder` fuzz target: a byte-order mark split
/// across the first two reads is not stripped, and the first event is lost.
// FIXME(F1): once `SseDecoder::skip_bom` keeps a partial BOM across reads,
// expect the event here and remove `known_bom_split` from the harness.
#[test]
fn sse_bom_split_across_reads() {
    let body = "\u{feff}data: first\n\ndata: second\n\n".as_bytes();
    let mut decoder = forge_providers::sse::SseDecoder::new(1 << 20);
    let mut seen = Vec::new();
    for piece in [&body[..2], &body[2..]] {
        let fed = decoder.feed(piece, |event| {
            seen.push(event.data.to_owned());
            Ok(())
        });
        fed.expect("the bytes are valid UTF-8 once joined");
    }
    assert_eq!(seen, ["second"], "today the first event is lost (F1)");
    assert!(harness::known_bom_split(2, body));
}
