//! Export to a real OTLP collector (rotel) over HTTP/protobuf and gRPC, and
//! check what it printed.
//!
//! Built only with `--features collector-tests`; `cargo xtask test` installs and
//! starts rotel and sets `FORGE_OTLP_GRPC_ENDPOINT`, `FORGE_OTLP_HTTP_ENDPOINT`
//! `FORGE_ROTEL_OUTPUT` (the file rotel prints to) and `FORGE_TEST_API_KEY` (a
//! sentinel key). Without them every test here fails: they never pass
//! vacuously.

#![cfg(feature = "collector-tests")]

mod common;
mod emulated;
mod rotel;

use std::{
    sync::{Mutex, PoisonError},
    time::Duration,
};

use forge_telemetry::{Protocol, Telemetry, TelemetryGuard};
use tracing_subscriber::layer::SubscriberExt as _;

use rotel::{Output, Span};

/// Exports one at a time, so rotel's printout of one never interleaves another.
static SERIAL: Mutex<()> = Mutex::new(());

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the collector tests through `cargo xtask test`")
    })
}

fn endpoint(protocol: Protocol) -> String {
    match protocol {
        Protocol::Grpc => env("FORGE_OTLP_GRPC_ENDPOINT"),
        _ => env("FORGE_OTLP_HTTP_ENDPOINT"),
    }
}

/// A service name no other test (or run) uses.
fn service(test: &str, protocol: Protocol) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let transport = protocol.as_str().replace('/', "-");
    format!("forge-{test}-{transport}-{}-{nanos}", std::process::id())
}

fn guard(protocol: Protocol, service: &str, capture: bool) -> TelemetryGuard {
    Telemetry::from_env()
        .otlp_endpoint(endpoint(protocol))
        .protocol(protocol)
        .service_name(service)
        .capture_content(capture)
        .export_timeout(Duration::from_secs(3))
        .metric_interval(Duration::from_secs(60))
        .build()
        .expect("telemetry builds")
}

/// Emits with the guard's layers, then shuts down (which flushes).
fn export(guard: TelemetryGuard, emit: impl FnOnce()) {
    let subscriber = tracing_subscriber::registry().with(guard.layer());
    tracing::subscriber::with_default(subscriber, emit);
    guard.shutdown().expect("the collector accepted everything");
}

fn one<'a>(spans: &'a [Span], name: &str) -> &'a Span {
    let found: Vec<_> = spans.iter().filter(|s| s.name == name).collect();
    assert_eq!(found.len(), 1, "one {name:?} in {spans:#?}");
    found[0]
}

fn check_conversation(protocol: Protocol) {
    let _serial = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    let service = service("conversation", protocol);
    export(guard(protocol, &service, false), || {
        common::emit_conversation("conv-rotel");
    });
    let output = Output::wait_for(&env("FORGE_ROTEL_OUTPUT"), &service, 4);

    let spans = output.spans(&service);
    let agent = one(&spans, "invoke_agent calculator");
    let tool = one(&spans, "execute_tool add");
    let chats: Vec<_> = spans.iter().filter(|s| s.name == "chat gpt-test").collect();
    assert_eq!(chats.len(), 2, "{spans:#?}");

    assert_eq!(agent.kind, "SPAN_KIND_INTERNAL");
    assert_eq!(agent.parent, "", "invoke_agent is the root");
    agent.expect("gen_ai.operation.name", "Str(invoke_agent)");
    agent.expect("gen_ai.agent.name", "Str(calculator)");
    agent.expect("gen_ai.conversation.id", "Str(conv-rotel)");
    for chat in chats {
        assert_eq!(chat.kind, "SPAN_KIND_CLIENT");
        assert_eq!(chat.parent, agent.id, "chat is a child of invoke_agent");
        assert_eq!(chat.trace, agent.trace);
        chat.expect("gen_ai.operation.name", "Str(chat)");
        chat.expect("gen_ai.provider.name", "Str(openai)");
        chat.expect("gen_ai.request.model", "Str(gpt-test)");
        chat.expect("gen_ai.response.model", "Str(gpt-test-2026)");
        chat.expect("gen_ai.request.stream", "Bool(true)");
        chat.expect("gen_ai.usage.input_tokens", "Int(12)");
        chat.expect("gen_ai.usage.cache_read.input_tokens", "Int(4)");
        chat.expect("server.address", "Str(127.0.0.1)");
        chat.expect("server.port", "Int(8080)");
        assert!(
            chat.attr("gen_ai.response.finish_reasons")
                .starts_with("Slice(Str(")
        );
        assert!(chat.attr("gen_ai.response.id").starts_with("Str(chatcmpl-"));
    }
    assert_eq!(tool.kind, "SPAN_KIND_INTERNAL");
    assert_eq!(tool.parent, agent.id, "execute_tool is a sibling of chat");
    tool.expect("gen_ai.operation.name", "Str(execute_tool)");
    tool.expect("gen_ai.tool.name", "Str(add)");
    tool.expect("gen_ai.tool.call.id", "Str(call_1)");
    tool.expect("gen_ai.tool.type", "Str(function)");

    let duration = output.metric(&service, "gen_ai.client.operation.duration");
    assert_eq!(duration.unit, "s");
    assert_eq!(duration.data_type, "Histogram");
    assert!(duration.text.contains("Str(chat)"), "{}", duration.text);
    assert!(
        duration.text.contains("81.92"),
        "spec buckets: {}",
        duration.text
    );
    let tokens = output.metric(&service, "gen_ai.client.token.usage");
    assert_eq!(tokens.unit, "{token}");
    assert!(tokens.text.contains("gen_ai.token.type: Str(output)"));
}

#[test]
fn http_protobuf_conversation_reaches_rotel() {
    check_conversation(Protocol::HttpProtobuf);
}

#[test]
fn grpc_conversation_reaches_rotel() {
    check_conversation(Protocol::Grpc);
}

#[test]
fn failed_tool_exports_error_type_and_status() {
    let _serial = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    let service = service("failed-tool", Protocol::Grpc);
    export(guard(Protocol::Grpc, &service, false), || {
        common::emit_failed_tool("conv-fail");
    });
    let output = Output::wait_for(&env("FORGE_ROTEL_OUTPUT"), &service, 2);
    let spans = output.spans(&service);
    let tool = one(&spans, "execute_tool divide");
    tool.expect("error.type", "Str(tool_failed)");
    assert_eq!(tool.status, "STATUS_CODE_ERROR");
}

#[test]
fn no_prompt_or_key_reaches_rotel_with_capture_off() {
    let _serial = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    for protocol in [Protocol::HttpProtobuf, Protocol::Grpc] {
        let service = service("sentinel", protocol);
        export(
            guard(protocol, &service, false),
            common::emit_chat_with_content,
        );
        let output = Output::wait_for(&env("FORGE_ROTEL_OUTPUT"), &service, 1);
        one(&output.spans(&service), "chat gpt-test");
        let all = output.text();
        assert!(!all.contains(common::PROMPT_SENTINEL), "prompt exported");
        assert!(!all.contains(common::KEY_SENTINEL), "key exported");
    }
}
