//! A real conversation: forge-agent with forge-providers' OpenAI adapter
//! against forge-emulator on loopback, exported to rotel.

use std::sync::{Arc, PoisonError};

use forge_agent::{Agent, Conversation};
use forge_core::{Error, Model, Tool};
use forge_dispatch::{Dispatcher, Registry};
use forge_emulator::{Emulator, EmulatorHandle, Script, ScriptTurn};
use forge_providers::{DeploymentConfig, ProviderKind};
use forge_telemetry::{Protocol, TelemetryGuard};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;
use tracing_subscriber::layer::SubscriberExt as _;

use super::{SERIAL, env, guard, one, service};
use crate::{
    common::PROMPT_SENTINEL,
    rotel::{Output, Span},
};

/// The variable `cargo xtask test` fills with a sentinel API key.
const KEY_VAR: &str = "FORGE_TEST_API_KEY";

#[derive(Deserialize, JsonSchema)]
struct AddArgs {
    a: i64,
    b: i64,
}

struct Add;

impl Tool for Add {
    type Args = AddArgs;
    type Output = i64;

    fn name(&self) -> &str {
        "add"
    }

    fn description(&self) -> &str {
        "Adds two integers."
    }

    async fn call(&self, args: AddArgs) -> Result<i64, Error> {
        Ok(args.a + args.b)
    }
}

fn model(emulator: &EmulatorHandle) -> Arc<dyn Model> {
    let mut deployment = DeploymentConfig::new(ProviderKind::OpenAi, "emulated");
    deployment.base_url = Some(format!("http://{}/v1", emulator.addr()));
    deployment.api_key_env = Some(KEY_VAR.into());
    forge_providers::connect(&deployment).expect("the deployment is valid")
}

fn agent(model: Arc<dyn Model>, telemetry: &TelemetryGuard) -> Agent {
    let registry = Registry::builder().tool(Add).build().expect("registry");
    let dispatcher = Dispatcher::builder(registry)
        .observer(telemetry.dispatch_observer())
        .build();
    Agent::builder(model, dispatcher)
        .name("calculator")
        .provider(ProviderKind::OpenAi.as_str())
        .build()
}

/// A prompt marker for the capture-on test, so that the capture-off tests,
/// which search rotel's whole output for [`PROMPT_SENTINEL`], stay exact.
const CAPTURED_SENTINEL: &str = "CAPTURED-PROMPT-5c1d0a";

/// Runs one scripted conversation with the guard's layers as the subscriber;
/// the prompt carries `marker`.
async fn converse(telemetry: &TelemetryGuard, conversation: &str, marker: &str) -> String {
    let mut script = Script::new();
    let call = ScriptTurn::new().call("add", json!({"a": 20, "b": 22}));
    script.push(conversation, call);
    script.push(conversation, ScriptTurn::new().text("The sum is 42."));
    let emulator = Emulator::builder()
        .script(script)
        .start()
        .await
        .expect("emulator");

    let subscriber = tracing_subscriber::registry().with(telemetry.layer());
    let _default = tracing::subscriber::set_default(subscriber);
    let prompt = format!("Please add 20 and 22. {marker}");
    let output = agent(model(&emulator), telemetry)
        .run(Conversation::new(prompt).with_id(conversation))
        .await
        .expect("the conversation succeeds");
    emulator.shutdown().await;
    output.text
}

#[test]
fn emulated_conversation_reaches_rotel_over_both_protocols() {
    let key = env(KEY_VAR);
    for protocol in [Protocol::HttpProtobuf, Protocol::Grpc] {
        let _serial = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
        let service = service("emulated", protocol);
        let telemetry = guard(protocol, &service, false);
        let conversation = format!("conv-{service}");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let text = runtime.block_on(converse(&telemetry, &conversation, PROMPT_SENTINEL));
        assert!(text.contains("42"), "{text}");
        telemetry
            .shutdown()
            .expect("the collector accepted everything");

        let output = Output::wait_for(&env("FORGE_ROTEL_OUTPUT"), &service, 4);
        check_spans(&output.spans(&service), &conversation);
        check_metrics(&output, &service);
        assert!(!output.text().contains(PROMPT_SENTINEL), "prompt exported");
        assert!(!output.text().contains(&key), "API key exported");
    }
}

fn check_spans(spans: &[Span], conversation: &str) {
    let agent = one(spans, "invoke_agent calculator");
    assert_eq!(agent.kind, "SPAN_KIND_INTERNAL");
    assert_eq!(agent.parent, "");
    agent.expect("gen_ai.conversation.id", &format!("Str({conversation})"));
    agent.expect("gen_ai.provider.name", "Str(openai)");

    let chats: Vec<_> = spans.iter().filter(|s| s.name == "chat emulated").collect();
    assert_eq!(chats.len(), 2, "two model calls: {spans:#?}");
    for chat in &chats {
        assert_eq!(chat.kind, "SPAN_KIND_CLIENT");
        assert_eq!(chat.parent, agent.id, "chat is a child of invoke_agent");
        chat.expect("gen_ai.operation.name", "Str(chat)");
        chat.expect("gen_ai.provider.name", "Str(openai)");
        chat.expect("gen_ai.request.model", "Str(emulated)");
        chat.expect("server.address", "Str(127.0.0.1)");
        assert!(chat.attr("server.port").starts_with("Int("));
        assert!(chat.attr("gen_ai.usage.input_tokens").starts_with("Int("));
        assert!(chat.attr("gen_ai.usage.output_tokens").starts_with("Int("));
        assert!(
            chat.attr("gen_ai.response.finish_reasons")
                .starts_with("Slice(")
        );
    }
    let tool = one(spans, "execute_tool add");
    assert_eq!(tool.kind, "SPAN_KIND_INTERNAL");
    assert_eq!(tool.parent, agent.id, "execute_tool is a sibling of chat");
    tool.expect("gen_ai.tool.name", "Str(add)");
    tool.expect("gen_ai.tool.type", "Str(function)");
    assert!(tool.attr("gen_ai.tool.call.id").starts_with("Str("));
    assert!(chats.iter().chain([&tool]).all(|s| s.trace == agent.trace));
}

fn check_metrics(output: &Output, service: &str) {
    let duration = output.metric(service, "gen_ai.client.operation.duration");
    assert_eq!(duration.unit, "s");
    assert_eq!(duration.data_type, "Histogram");
    assert!(duration.text.contains("gen_ai.provider.name: Str(openai)"));
    let tool = output.metric(service, "gen_ai.execute_tool.duration");
    assert_eq!(tool.unit, "s");
    assert!(tool.text.contains("gen_ai.tool.name: Str(add)"));
    let dispatches = output.metric(service, "forge.tool.dispatches");
    assert!(
        dispatches
            .text
            .contains("forge.dispatch.outcome: Str(success)")
    );
}

/// With capture on, the real agent's prompts, answers and tool payloads reach
/// the collector as attributes of the spans they belong to; the key never does.
#[test]
fn captured_content_of_a_real_conversation_reaches_rotel() {
    let key = env(KEY_VAR);
    let _serial = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    let protocol = Protocol::HttpProtobuf;
    let service = service("content", protocol);
    let telemetry = guard(protocol, &service, true);
    let conversation = format!("conv-{service}");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(converse(&telemetry, &conversation, CAPTURED_SENTINEL));
    telemetry
        .shutdown()
        .expect("the collector accepted everything");

    let output = Output::wait_for(&env("FORGE_ROTEL_OUTPUT"), &service, 4);
    let spans = output.spans(&service);
    let chats: Vec<_> = spans.iter().filter(|s| s.name == "chat emulated").collect();
    assert_eq!(chats.len(), 2, "{spans:#?}");
    for chat in &chats {
        let input = chat.attr("gen_ai.input.messages");
        assert!(input.contains(CAPTURED_SENTINEL), "{input}");
        assert!(
            input.starts_with(r#"Str([{"role":"user","parts":["#),
            "{input}"
        );
    }
    let outputs: String = chats
        .iter()
        .map(|c| c.attr("gen_ai.output.messages"))
        .collect();
    assert!(outputs.contains(r#""type":"tool_call""#), "{outputs}");
    assert!(outputs.contains("The sum is 42."), "{outputs}");
    let tool = one(&spans, "execute_tool add");
    let arguments = tool.attr("gen_ai.tool.call.arguments");
    assert!(
        arguments.contains("20") && arguments.contains("22"),
        "{arguments}"
    );
    tool.expect("gen_ai.tool.call.result", "Str(42)");
    let agent = one(&spans, "invoke_agent calculator");
    assert!(!agent.attributes.contains_key("gen_ai.input.messages"));
    assert!(!output.text().contains(&key), "API key exported");
}
