//! The agent end to end: real provider adapters against the emulator on
//! loopback, in each of the three dialects.

use std::sync::Arc;

use crate::support::Add;
use forge_agent::{Agent, Conversation, StopCause};
use forge_core::{Content, ErrorKind, Model, ToolOutcome};
use forge_dispatch::{Dispatcher, Registry};
use forge_emulator::{Emulator, EmulatorHandle, Script, ScriptTurn};
use forge_providers::{DeploymentConfig, ProviderKind};
use serde_json::json;

const DIALECTS: [ProviderKind; 3] = [
    ProviderKind::Anthropic,
    ProviderKind::OpenAi,
    ProviderKind::Google,
];

fn model(emulator: &EmulatorHandle, kind: ProviderKind) -> Arc<dyn Model> {
    let base = format!("http://{}", emulator.addr());
    let mut deployment = DeploymentConfig::new(kind, "emulated");
    deployment.base_url = Some(match kind {
        ProviderKind::OpenAi => format!("{base}/v1"),
        _ => base,
    });
    forge_providers::connect(&deployment).unwrap()
}

fn agent(model: Arc<dyn Model>, kind: ProviderKind) -> Agent {
    let registry = Registry::builder().tool(Add).build().unwrap();
    Agent::builder(model, Dispatcher::builder(registry).build())
        .provider(kind.as_str())
        .build()
}

#[tokio::test]
async fn a_wrong_typed_scripted_argument_comes_back_as_an_error_naming_the_field() {
    let mut script = Script::new();
    script.push(
        "typo",
        ScriptTurn::new().call("add", json!({"a": "one", "b": 2})),
    );
    script.push(
        "typo",
        ScriptTurn::new().call("add", json!({"a": 1, "b": 2})),
    );
    script.push("typo", ScriptTurn::new().text("The sum is 3."));
    let emulator = Emulator::builder().script(script).start().await.unwrap();

    for kind in DIALECTS {
        let agent = agent(model(&emulator, kind), kind);
        let output = agent
            .run(Conversation::new("add one and two").with_id("typo"))
            .await
            .unwrap();

        let results: Vec<_> = output
            .messages
            .iter()
            .flat_map(|m| &m.content)
            .filter_map(|c| match c {
                Content::ToolResult(r) => Some(r.outcome.clone()),
                _ => None,
            })
            .collect();
        let ToolOutcome::Failure {
            kind: failure,
            message,
        } = &results[0]
        else {
            panic!("{kind:?}: expected a validation failure, got {results:?}");
        };
        assert_eq!(*failure, ErrorKind::InvalidArguments, "{kind:?}");
        assert!(
            message.contains("/a") || message.contains("`a`"),
            "{kind:?}: {message}"
        );
        assert_eq!(
            results[1],
            ToolOutcome::Success { output: "3".into() },
            "{kind:?}"
        );
        assert_eq!(output.text, "The sum is 3.", "{kind:?}");
        assert_eq!(output.invalid_calls, 1, "{kind:?}");
    }
    emulator.shutdown().await;
}

#[tokio::test]
async fn the_default_policy_calls_the_tool_and_quotes_its_result() {
    let emulator = Emulator::builder().start().await.unwrap();
    for kind in DIALECTS {
        let agent = agent(model(&emulator, kind), kind);
        let conversation =
            Conversation::new("Please add 20 and 22.").with_id(format!("p-{kind:?}"));
        let output = agent.run(conversation).await.unwrap();
        assert_eq!(output.stop, StopCause::FinalAnswer, "{kind:?}");
        assert_eq!(output.turns.len(), 2, "{kind:?}");
        assert!(output.text.contains("42"), "{kind:?}: {}", output.text);
        assert!(output.turns[0].time_to_first_token.is_some(), "{kind:?}");
    }
    emulator.shutdown().await;
}
