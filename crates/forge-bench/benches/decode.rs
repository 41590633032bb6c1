//! Stream decoding: SSE bytes → forge stream events → assembled tool calls,
//! per provider, against a bare `serde_json` parse of the same JSON payloads
//! into a `Value` (the floor).
//!
//! Each fixture is one streamed answer written from the documented wire
//! formats: 48 text deltas, two tool calls (arguments split into pieces for
//! Anthropic and OpenAI, whole for Gemini), usage, and the terminator. Every
//! SSE event arrives as its own read, as on a real connection. The
//! allocation profiler counts allocations per iteration; divide by the
//! chunk count printed at start-up for allocations per chunk.

use std::{collections::VecDeque, hint::black_box};

use divan::{AllocProfiler, Bencher, counter::ItemsCount};
use forge_core::StreamEvent;
use forge_providers::{ProviderKind, StreamDecoder};

#[global_allocator]
static ALLOC: AllocProfiler = AllocProfiler::system();

const PROVIDERS: &[&str] = &["anthropic", "openai", "google"];
const SAMPLES: u32 = 200;
const TEXT_DELTAS: usize = 48;

#[allow(
    clippy::print_stderr,
    reason = "a bench binary reports its fixture sizes"
)]
fn main() {
    for name in PROVIDERS {
        let f = fixture(name);
        eprintln!(
            "{name}: {} chunks, {} SSE bytes, {} JSON payload bytes",
            f.reads.len(),
            f.reads.iter().map(Vec::len).sum::<usize>(),
            f.payloads.iter().map(String::len).sum::<usize>(),
        );
    }
    divan::main();
}

struct Fixture {
    kind: ProviderKind,
    /// One SSE event per read.
    reads: Vec<Vec<u8>>,
    /// The JSON of every `data:` line, for the bare parse.
    payloads: Vec<String>,
}

fn word(i: usize) -> &'static str {
    [
        "the ", "quick ", "brown ", "fox ", "jumps ", "over ", "a ", "lazy ", "dog, ",
    ][i % 9]
}

fn delta_text(i: usize) -> String {
    (0..6).map(|k| word(i + k)).collect()
}

fn arguments(city: &str) -> String {
    format!(
        r#"{{"city": "{city}", "units": "metric", "days": 5, "include": ["wind", "humidity", "uv"], "note": "a fairly long free text argument that the model wrote"}}"#
    )
}

fn pieces(text: &str, n: usize) -> Vec<String> {
    let step = text.len().div_ceil(n);
    text.as_bytes()
        .chunks(step)
        .map(|c| String::from_utf8(c.to_vec()).expect("ASCII fixture"))
        .collect()
}

fn quote(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

fn fixture(name: &str) -> Fixture {
    let (kind, events) = match name {
        "anthropic" => (ProviderKind::Anthropic, anthropic()),
        "openai" => (ProviderKind::OpenAi, openai()),
        _ => (ProviderKind::Google, google()),
    };
    let reads = events
        .iter()
        .map(|(event, data)| match event {
            Some(e) => format!("event: {e}\ndata: {data}\n\n").into_bytes(),
            None if name == "google" => format!("data: {data}\r\n\r\n").into_bytes(),
            None => format!("data: {data}\n\n").into_bytes(),
        })
        .collect();
    let payloads = events
        .into_iter()
        .map(|(_, data)| data)
        .filter(|d| d != "[DONE]")
        .collect();
    Fixture {
        kind,
        reads,
        payloads,
    }
}

type Events = Vec<(Option<&'static str>, String)>;

fn anthropic() -> Events {
    let mut e: Events = vec![(
        Some("message_start"),
        r#"{"type":"message_start","message":{"id":"msg_01","type":"message","role":"assistant","model":"claude-test","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":812,"cache_read_input_tokens":0,"cache_creation_input_tokens":0,"output_tokens":1}}}"#.into(),
    )];
    e.push((
        Some("content_block_start"),
        r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#
            .into(),
    ));
    for i in 0..TEXT_DELTAS {
        let text = quote(&delta_text(i));
        e.push((Some("content_block_delta"), format!(r#"{{"type":"content_block_delta","index":0,"delta":{{"type":"text_delta","text":{text}}}}}"#)));
    }
    e.push((
        Some("content_block_stop"),
        r#"{"type":"content_block_stop","index":0}"#.into(),
    ));
    for (index, (id, city)) in [(1, ("toolu_a", "Paris")), (2, ("toolu_b", "Oslo"))] {
        e.push((Some("content_block_start"), format!(r#"{{"type":"content_block_start","index":{index},"content_block":{{"type":"tool_use","id":"{id}","name":"get_weather","input":{{}}}}}}"#)));
        for piece in std::iter::once(String::new()).chain(pieces(&arguments(city), 8)) {
            let piece = quote(&piece);
            e.push((Some("content_block_delta"), format!(r#"{{"type":"content_block_delta","index":{index},"delta":{{"type":"input_json_delta","partial_json":{piece}}}}}"#)));
        }
        e.push((
            Some("content_block_stop"),
            format!(r#"{{"type":"content_block_stop","index":{index}}}"#),
        ));
    }
    e.push((Some("message_delta"), r#"{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":402}}"#.into()));
    e.push((Some("message_stop"), r#"{"type":"message_stop"}"#.into()));
    e
}

fn openai_chunk(delta: &str, finish: &str) -> String {
    format!(
        r#"{{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1760000000,"model":"gpt-test","system_fingerprint":"fp_1","choices":[{{"index":0,"delta":{delta},"logprobs":null,"finish_reason":{finish}}}],"usage":null}}"#
    )
}

fn openai() -> Events {
    let mut e: Events = vec![(
        None,
        openai_chunk(r#"{"role":"assistant","content":""}"#, "null"),
    )];
    for i in 0..TEXT_DELTAS {
        let text = quote(&delta_text(i));
        e.push((
            None,
            openai_chunk(&format!(r#"{{"content":{text}}}"#), "null"),
        ));
    }
    for (index, (id, city)) in [(0, ("call_a", "Paris")), (1, ("call_b", "Oslo"))] {
        e.push((None, openai_chunk(&format!(r#"{{"tool_calls":[{{"index":{index},"id":"{id}","type":"function","function":{{"name":"get_weather","arguments":""}}}}]}}"#), "null")));
        for piece in pieces(&arguments(city), 8) {
            let piece = quote(&piece);
            e.push((None, openai_chunk(&format!(r#"{{"tool_calls":[{{"index":{index},"function":{{"arguments":{piece}}}}}]}}"#), "null")));
        }
    }
    e.push((None, openai_chunk("{}", r#""tool_calls""#)));
    e.push((None, r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1760000000,"model":"gpt-test","choices":[],"usage":{"prompt_tokens":812,"completion_tokens":402,"total_tokens":1214,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}"#.into()));
    e.push((None, "[DONE]".into()));
    e
}

fn google_chunk(parts: &str, finish: &str, out: usize) -> String {
    format!(
        r#"{{"candidates":[{{"content":{{"parts":[{parts}],"role":"model"}}{finish},"index":0}}],"usageMetadata":{{"promptTokenCount":812,"candidatesTokenCount":{out},"totalTokenCount":{}}},"modelVersion":"gemini-test","responseId":"resp-1"}}"#,
        812 + out
    )
}

fn google() -> Events {
    let mut e: Events = Vec::new();
    for i in 0..TEXT_DELTAS {
        let text = quote(&delta_text(i));
        e.push((
            None,
            google_chunk(&format!(r#"{{"text":{text}}}"#), "", i * 8),
        ));
    }
    for city in ["Paris", "Oslo"] {
        let call = format!(
            r#"{{"functionCall":{{"name":"get_weather","args":{}}}}}"#,
            arguments(city)
        );
        e.push((None, google_chunk(&call, "", 400)));
    }
    e.push((
        None,
        google_chunk(r#"{"text":""}"#, r#","finishReason":"STOP""#, 402),
    ));
    e
}

/// Bytes → events → assembled calls; returns the number of calls.
fn decode(f: &Fixture, out: &mut VecDeque<StreamEvent>) -> usize {
    let mut decoder = StreamDecoder::new(f.kind).expect("every vendor is compiled in");
    let mut calls = 0;
    for read in &f.reads {
        decoder.feed(black_box(read), out).expect("a valid fixture");
        calls += out
            .drain(..)
            .filter(|e| matches!(e, StreamEvent::ToolCall(_)))
            .count();
    }
    decoder.finish(out).expect("a complete fixture");
    out.clear();
    calls
}

#[divan::bench(args = PROVIDERS, sample_count = SAMPLES)]
fn sse_decode_and_assemble(bencher: Bencher<'_, '_>, provider: &str) {
    let f = fixture(provider);
    let mut out = VecDeque::with_capacity(16);
    assert_eq!(decode(&f, &mut out), 2, "both calls are assembled");
    bencher
        .counter(ItemsCount::new(f.reads.len()))
        .bench_local(|| decode(&f, &mut out));
}

#[divan::bench(args = PROVIDERS, sample_count = SAMPLES)]
fn bare_serde_value_parse(bencher: Bencher<'_, '_>, provider: &str) {
    let f = fixture(provider);
    bencher
        .counter(ItemsCount::new(f.reads.len()))
        .bench_local(|| {
            for payload in &f.payloads {
                let v: serde_json::Value =
                    serde_json::from_str(black_box(payload)).expect("valid JSON");
                black_box(v);
            }
        });
}
