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
/// across the first reads used to be kept as part of the first field name,
/// so the first event was lost. Every split of the BOM must now decode both
/// events, exactly as the whole body does.
#[test]
fn sse_bom_split_across_reads_is_stripped() {
    let body = "\u{feff}data: first\n\ndata: second\n\n".as_bytes();
    for first in 0..=3 {
        for second in first..=3 {
            let mut decoder = forge_providers::sse::SseDecoder::new(1 << 20);
            let mut seen = Vec::new();
            for piece in [&body[..first], &body[first..second], &body[second..]] {
                let fed = decoder.feed(piece, |event| {
                    seen.push(event.data.to_owned());
                    Ok(())
                });
                fed.expect("the bytes are valid UTF-8 once joined");
            }
            assert_eq!(
                seen,
                ["first", "second"],
                "reads split at {first}, {second}"
            );
            assert!(!decoder.has_partial_event());
        }
    }
    for stride in 1..=3_u8 {
        let mut input = vec![stride - 1];
        input.extend_from_slice(body);
        harness::sse_decoder(&input);
        harness::stream(ProviderKind::OpenAi, &input);
    }
}

/// Finding F3 of the `stream_anthropic` fuzz target (input minimised by
/// `cargo fuzz tmin`, kept in the corpus): a `content_block_stop` naming block
/// 666666666600000 made the Anthropic assembler grow its block list to that
/// length, an allocation that aborted the process. An index past the next
/// block is now a malformed stream, however large.
#[test]
fn anthropic_block_index_far_beyond_the_blocks() {
    for index in ["666666666600000", "1048576", "1"] {
        let event = format!("data: {{\"type\": \"content_block_stop\", \"index\": {index}}}\n\n");
        let mut decoder = forge_providers::StreamDecoder::new(ProviderKind::Anthropic)
            .expect("every vendor is compiled in");
        let mut out = std::collections::VecDeque::new();

        let error = decoder
            .feed(event.as_bytes(), &mut out)
            .expect_err("an index past the next block");

        assert_eq!(
            error.kind(),
            forge_core::ErrorKind::MalformedResponse,
            "{index}"
        );
        assert!(error.to_string().contains(index), "{error}");
    }

    // The next block (here the first) is still accepted without a start.
    let mut decoder = forge_providers::StreamDecoder::new(ProviderKind::Anthropic)
        .expect("every vendor is compiled in");
    let mut out = std::collections::VecDeque::new();
    let next = "data: {\"type\": \"content_block_stop\", \"index\": 0}\n\n";
    assert!(decoder.feed(next.as_bytes(), &mut out).is_ok());
}
