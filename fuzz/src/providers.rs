//! Fuzz harnesses for forge-providers: the SSE decoder and each adapter's
//! whole stream decoding (SSE framing plus the provider's assembly).
//!
//! Shared by the fuzz targets and by the corpus replay test
//! `crates/forge-providers/tests/fuzz_corpus.rs`, which includes this file by
//! path, so a corpus file means the same thing in both.
//!
//! Each harness is differential as well as crash-seeking: the first input
//! byte picks a read size, and the events decoded from the body in one read
//! must equal those decoded from it split into reads of that size.

#![allow(unreachable_pub, reason = "included by path into a test crate too")]

use std::collections::VecDeque;

use forge_core::{ErrorKind, ResponseBuilder, StreamEvent};
use forge_providers::{ProviderKind, StreamDecoder, sse::SseDecoder};

/// The read size (1..=64) chosen by the first byte, and the body after it.
fn split_input(data: &[u8]) -> (usize, &[u8]) {
    match data.split_first() {
        Some((&first, rest)) => (usize::from(first % 64) + 1, rest),
        None => (1, data),
    }
}

type SseOutcome = Result<(Vec<(String, String)>, bool), ErrorKind>;

fn collect_sse(pieces: &[&[u8]], limit: usize) -> SseOutcome {
    let mut decoder = SseDecoder::new(limit);
    let mut events = Vec::new();
    for piece in pieces {
        let pushed = decoder.feed(piece, |event| {
            events.push((event.event.to_owned(), event.data.to_owned()));
            Ok(())
        });
        pushed.map_err(|error| error.kind())?;
    }
    Ok((events, decoder.has_partial_event()))
}

/// The SSE decoder: never panics, chunking never changes the events, and a
/// small event limit fails cleanly.
pub fn sse_decoder(data: &[u8]) {
    let (stride, body) = split_input(data);
    let pieces: Vec<&[u8]> = body.chunks(stride).collect();
    let whole = collect_sse(&[body], usize::MAX);
    let split = collect_sse(&pieces, usize::MAX);
    assert_eq!(
        whole, split,
        "read size {stride} changed the decoded events"
    );
    if let Err(kind) = collect_sse(&pieces, 64) {
        assert!(
            matches!(
                kind,
                ErrorKind::ResponseTooLarge | ErrorKind::MalformedResponse
            ),
            "{kind:?}"
        );
    }
}

fn decode(kind: ProviderKind, pieces: &[&[u8]]) -> Result<Vec<StreamEvent>, ErrorKind> {
    let mut decoder = StreamDecoder::new(kind).expect("every vendor is compiled in");
    let mut out = VecDeque::new();
    for piece in pieces {
        decoder.feed(piece, &mut out).map_err(|e| e.kind())?;
    }
    decoder.finish(&mut out).map_err(|e| e.kind())?;
    Ok(normalize_minted_ids(out.into()))
}

/// Ids the adapters mint for calls that came without one are random per
/// stream (stable within it), so two decodings differ there by design:
/// number them in order of appearance before comparing.
fn normalize_minted_ids(mut events: Vec<StreamEvent>) -> Vec<StreamEvent> {
    let mut minted: Vec<String> = Vec::new();
    let mut rename = |id: &mut String| {
        if !id.starts_with("call_forge_") {
            return;
        }
        let index = minted.iter().position(|m| m == id).unwrap_or_else(|| {
            minted.push(id.clone());
            minted.len() - 1
        });
        *id = format!("minted-{index}");
    };
    for event in &mut events {
        match event {
            StreamEvent::ToolCallStart { id, .. } => rename(id),
            StreamEvent::ToolCall(call) => rename(&mut call.id),
            _ => {}
        }
    }
    events
}

/// One provider's stream decoding: never panics, chunking never changes the
/// result, and the events fold into a response without panicking.
pub fn stream(kind: ProviderKind, data: &[u8]) {
    let (stride, body) = split_input(data);
    let pieces: Vec<&[u8]> = body.chunks(stride).collect();
    let whole = decode(kind, &[body]);
    let split = decode(kind, &pieces);
    assert_eq!(
        whole, split,
        "read size {stride} changed the decoded stream"
    );
    if let Ok(events) = whole {
        let mut builder = ResponseBuilder::default();
        for event in events {
            builder.push(event);
        }
        let _ = builder.finish();
    }
}
