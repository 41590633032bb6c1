//! Spans exactly as the team contract has forge-agent and forge-providers emit them.

#![allow(dead_code, reason = "each test binary uses a part")]

use std::time::Duration;

use tracing::field::Empty;

/// A prompt that must never be exported while capture is off.
pub(crate) const PROMPT_SENTINEL: &str = "PROMPT-SENTINEL-7f3a9c";
/// An API key that must never be exported.
pub(crate) const KEY_SENTINEL: &str = "sk-KEY-SENTINEL-51d2e8";
/// Tool arguments and a tool result, exported only with capture on.
pub(crate) const ARGS_SENTINEL: &str = "ARGS-SENTINEL-c04e19";
pub(crate) const RESULT_SENTINEL: &str = "RESULT-SENTINEL-9a61d7";
/// An answer, exported only with capture on.
pub(crate) const ANSWER_SENTINEL: &str = "ANSWER-SENTINEL-2e7b50";

/// One conversation: `invoke_agent` around a streamed chat that asks for a
/// tool, the tool call (a sibling of the chat), and a second chat that answers.
pub(crate) fn emit_conversation(conversation: &str) {
    let agent = tracing::info_span!(
        "invoke_agent",
        otel.name = "invoke_agent calculator",
        otel.kind = "internal",
        gen_ai.operation.name = "invoke_agent",
        gen_ai.provider.name = "openai",
        gen_ai.agent.name = "calculator",
        gen_ai.conversation.id = conversation,
    );
    let _entered = agent.enter();
    chat("chatcmpl-1", "tool_call", 7);
    tool("add", "call_1", None);
    chat("chatcmpl-2", "stop", 3);
}

/// Many tool spans in one conversation, as fast as possible.
pub(crate) fn emit_tool_burst(calls: usize) {
    let agent = tracing::info_span!(
        "invoke_agent",
        otel.name = "invoke_agent burst",
        otel.kind = "internal",
        gen_ai.operation.name = "invoke_agent",
    );
    let _entered = agent.enter();
    for i in 0..calls {
        tool("add", &format!("call_{i}"), None);
    }
}

/// A failed tool call (`error.type` set, status ERROR).
pub(crate) fn emit_failed_tool(conversation: &str) {
    let agent = tracing::info_span!(
        "invoke_agent",
        otel.name = "invoke_agent calculator",
        otel.kind = "internal",
        gen_ai.operation.name = "invoke_agent",
        gen_ai.provider.name = "openai",
        gen_ai.agent.name = "calculator",
        gen_ai.conversation.id = conversation,
    );
    let _entered = agent.enter();
    tool("divide", "call_9", Some("tool_failed"));
}

/// A chat span with content and a key recorded on it (as a careless library
/// might), to check what the exporter lets through.
pub(crate) fn emit_chat_with_content() {
    let span = tracing::info_span!(
        target: "forge_providers::chat",
        "chat",
        otel.name = "chat gpt-test",
        otel.kind = "client",
        gen_ai.operation.name = "chat",
        gen_ai.provider.name = "openai",
        gen_ai.request.model = "gpt-test",
        gen_ai.input.messages = PROMPT_SENTINEL,
        gen_ai.system_instructions = PROMPT_SENTINEL,
        api_key = KEY_SENTINEL,
        http.request.header.authorization = KEY_SENTINEL,
    );
    drop(span);
}

/// A conversation with its content, emitted as forge-agent emits it: TRACE
/// events on `forge::content`; the chat ones inside `invoke_agent` (marked
/// `gen_ai.operation.name = "chat"`) while the `chat` span is open, the tool
/// ones inside `execute_tool`. One event also carries a key, which must never
/// be exported.
pub(crate) fn emit_conversation_with_content(conversation: &str) {
    let agent = tracing::info_span!(
        "invoke_agent",
        otel.name = "invoke_agent calculator",
        otel.kind = "internal",
        gen_ai.operation.name = "invoke_agent",
        gen_ai.conversation.id = conversation,
    );
    let _entered = agent.enter();
    let chat = chat_span();
    let input =
        format!(r#"[{{"role":"user","parts":[{{"type":"text","content":"{PROMPT_SENTINEL}"}}]}}]"#);
    tracing::event!(
        target: "forge::content",
        tracing::Level::TRACE,
        gen_ai.operation.name = "chat",
        gen_ai.input.messages = input.as_str(),
        gen_ai.system_instructions = "[]",
        api_key = KEY_SENTINEL,
        "chat input"
    );
    tracing::event!(
        target: "forge::content",
        tracing::Level::TRACE,
        gen_ai.operation.name = "chat",
        gen_ai.output.messages = ANSWER_SENTINEL,
        "chat output"
    );
    drop(chat);
    let tool = tool_span("add", "call_1");
    tool.in_scope(|| {
        tracing::event!(
            target: "forge::content",
            tracing::Level::TRACE,
            gen_ai.tool.call.arguments = ARGS_SENTINEL,
            "tool arguments"
        );
        tracing::event!(
            target: "forge::content",
            tracing::Level::TRACE,
            gen_ai.tool.call.result = RESULT_SENTINEL,
            "tool result"
        );
    });
}

fn chat(response_id: &str, finish: &str, output_tokens: u64) {
    let span = chat_span();
    std::thread::sleep(Duration::from_millis(2));
    span.record("forge.queue_wait", 0.000_5f64);
    span.record("gen_ai.response.time_to_first_chunk", 0.001f64);
    span.record("gen_ai.response.model", "gpt-test-2026");
    span.record("gen_ai.response.id", response_id);
    span.record("gen_ai.response.finish_reasons", finish);
    span.record("gen_ai.usage.input_tokens", 12u64);
    span.record("gen_ai.usage.output_tokens", output_tokens);
    span.record("gen_ai.usage.cache_read.input_tokens", 4u64);
    span.record("gen_ai.usage.cache_creation.input_tokens", 0u64);
    span.record("gen_ai.usage.reasoning.output_tokens", 0u64);
    span.record("forge.output_chunks", 4u64);
    span.record("forge.stream.completed", true);
}

fn chat_span() -> tracing::Span {
    tracing::info_span!(
        target: "forge_providers::chat",
        "chat",
        otel.name = "chat gpt-test",
        otel.kind = "client",
        gen_ai.operation.name = "chat",
        gen_ai.provider.name = "openai",
        gen_ai.request.model = "gpt-test",
        gen_ai.request.stream = true,
        gen_ai.request.max_tokens = 256u64,
        gen_ai.request.temperature = 0.2f64,
        server.address = "127.0.0.1",
        server.port = 8080u64,
        gen_ai.response.model = Empty,
        gen_ai.response.id = Empty,
        gen_ai.response.finish_reasons = Empty,
        gen_ai.response.time_to_first_chunk = Empty,
        gen_ai.usage.input_tokens = Empty,
        gen_ai.usage.output_tokens = Empty,
        gen_ai.usage.cache_read.input_tokens = Empty,
        gen_ai.usage.cache_creation.input_tokens = Empty,
        gen_ai.usage.reasoning.output_tokens = Empty,
        forge.output_chunks = Empty,
        forge.queue_wait = Empty,
        forge.stream.completed = Empty,
        error.type = Empty,
        otel.status_code = Empty,
    )
}

fn tool(name: &str, call_id: &str, error: Option<&str>) {
    let span = tool_span(name, call_id);
    if let Some(kind) = error {
        span.record("error.type", kind);
        span.record("otel.status_code", "ERROR");
    }
}

fn tool_span(name: &str, call_id: &str) -> tracing::Span {
    tracing::info_span!(
        "execute_tool",
        otel.name = format!("execute_tool {name}"),
        otel.kind = "internal",
        gen_ai.operation.name = "execute_tool",
        gen_ai.tool.name = name,
        gen_ai.tool.call.id = call_id,
        gen_ai.tool.type = "function",
        error.type = Empty,
        otel.status_code = Empty,
    )
}
