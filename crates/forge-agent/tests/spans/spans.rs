//! The agent's spans: `execute_tool` is a child of `invoke_agent`, a sibling of `chat`.

use std::sync::{Arc, Mutex};

use crate::support::{Add, ScriptedModel, answer, calls};
use forge_agent::{Agent, Conversation};
use forge_dispatch::{Dispatcher, Registry};
use tracing::{Subscriber, span};
use tracing_subscriber::{Layer, layer::Context, prelude::*, registry::LookupSpan};

/// One span as a subscriber saw it.
#[derive(Debug, Clone)]
struct Seen {
    id: u64,
    name: String,
    parent: Option<String>,
    /// Every field, at creation and recorded later, as `name=value;` text.
    fields: String,
}

/// Records every span.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Seen>>>);

struct Fields(String);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!("{}={:?};", field.name(), value));
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Recorder {
    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        let span = ctx.span(id).unwrap();
        let mut fields = Fields(String::new());
        attrs.record(&mut fields);
        self.0.lock().unwrap().push(Seen {
            id: id.into_u64(),
            name: span.name().to_owned(),
            parent: span.parent().map(|p| p.name().to_owned()),
            fields: fields.0,
        });
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, _ctx: Context<'_, S>) {
        let mut fields = Fields(String::new());
        values.record(&mut fields);
        let mut spans = self.0.lock().unwrap();
        // Ids are reused after a span closes: the latest span with the id is live.
        if let Some(seen) = spans.iter_mut().rev().find(|s| s.id == id.into_u64()) {
            seen.fields.push_str(&fields.0);
        }
    }
}

fn has(seen: &Seen, field: &str) -> bool {
    seen.fields.contains(field)
}

#[tokio::test]
async fn tool_spans_are_children_of_the_agent_span_and_siblings_of_chat() {
    let recorder = Recorder::default();
    let subscriber = tracing_subscriber::registry().with(recorder.clone());
    let _guard = tracing::subscriber::set_default(subscriber);

    let model = ScriptedModel::new(vec![
        calls(&[
            ("c1", "add", r#"{"a":1,"b":2}"#),
            ("c2", "add", r#"{"a":"x","b":2}"#),
        ]),
        answer("3"),
    ]);
    let registry = Registry::builder().tool(Add).build().unwrap();
    let agent = Agent::builder(model, Dispatcher::builder(registry).build())
        .name("helper")
        .provider("anthropic")
        .build();
    let conversation = Conversation::new("x").with_id("conv-9");
    agent.run(conversation).await.unwrap();

    let spans = recorder.0.lock().unwrap().clone();
    let agent_span = spans.iter().find(|s| s.name == "invoke_agent").unwrap();
    assert!(
        has(agent_span, "otel.name=invoke_agent helper"),
        "{agent_span:?}"
    );
    assert!(
        has(agent_span, "gen_ai.conversation.id=\"conv-9\""),
        "{agent_span:?}"
    );
    assert!(
        has(agent_span, "gen_ai.provider.name=\"anthropic\""),
        "{agent_span:?}"
    );
    assert!(has(agent_span, "otel.kind=\"internal\""), "{agent_span:?}");

    let chats: Vec<_> = spans.iter().filter(|s| s.name == "chat").collect();
    assert_eq!(chats.len(), 2);
    assert!(
        chats
            .iter()
            .all(|s| s.parent.as_deref() == Some("invoke_agent"))
    );

    let tools: Vec<_> = spans.iter().filter(|s| s.name == "execute_tool").collect();
    assert_eq!(tools.len(), 2);
    for tool in &tools {
        assert_eq!(tool.parent.as_deref(), Some("invoke_agent"));
        assert!(has(tool, "otel.name=execute_tool add"), "{tool:?}");
        assert!(has(tool, "gen_ai.tool.type=\"function\""), "{tool:?}");
        assert!(has(tool, "gen_ai.tool.name=add"), "{tool:?}");
    }
    assert!(has(tools[0], "gen_ai.tool.call.id=c1"), "{:?}", tools[0]);
    assert!(!has(tools[0], "error.type"), "{:?}", tools[0]);
    assert!(
        has(tools[1], "error.type=\"invalid_arguments\""),
        "{:?}",
        tools[1]
    );
    assert!(
        has(tools[1], "otel.status_code=\"ERROR\""),
        "{:?}",
        tools[1]
    );
}
