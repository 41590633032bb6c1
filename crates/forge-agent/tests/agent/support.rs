//! Test doubles: a scripted model and a few tools.

use std::{
    collections::VecDeque,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use forge_core::{
    BoxFuture, Error, EventStream, Model, ModelRequest, ModelResponse, ResponseBuilder, StopReason,
    StreamEvent, Tool, ToolCall, Usage,
};
use futures_util::StreamExt;
use schemars::JsonSchema;
use serde::Deserialize;

/// One scripted model turn.
pub(crate) enum Turn {
    /// Stream these events.
    Events(Vec<StreamEvent>),
    /// Fail with this error after the start event.
    Fail(Error),
}

/// Text, then a finish.
pub(crate) fn answer(text: &str) -> Turn {
    Turn::Events(vec![
        StreamEvent::Start {
            id: Some("r".into()),
            model: Some("double".into()),
        },
        StreamEvent::TextDelta {
            text: text.into(),
            signature: None,
        },
        StreamEvent::Usage(Usage::new(10, 5)),
        StreamEvent::Finish {
            stop_reason: StopReason::EndTurn,
        },
    ])
}

/// Tool calls `(id, name, arguments)`, then a finish.
pub(crate) fn calls(calls: &[(&str, &str, &str)]) -> Turn {
    let mut events = vec![StreamEvent::Start {
        id: None,
        model: None,
    }];
    for (id, name, args) in calls {
        events.push(StreamEvent::ToolCallStart {
            id: (*id).into(),
            name: (*name).into(),
        });
        events.push(StreamEvent::ToolCall(ToolCall::new(*id, *name, *args)));
    }
    events.push(StreamEvent::Usage(Usage::new(10, 5)));
    events.push(StreamEvent::Finish {
        stop_reason: StopReason::ToolUse,
    });
    Turn::Events(events)
}

/// A model that replays turns in order and records every request.
#[derive(Default)]
pub(crate) struct ScriptedModel {
    turns: Mutex<VecDeque<Turn>>,
    /// Every request received, in order.
    pub(crate) requests: Mutex<Vec<ModelRequest>>,
}

impl ScriptedModel {
    pub(crate) fn new(turns: Vec<Turn>) -> Arc<Self> {
        Arc::new(Self {
            turns: Mutex::new(turns.into()),
            requests: Mutex::default(),
        })
    }

    pub(crate) fn request(&self, index: usize) -> ModelRequest {
        self.requests.lock().unwrap()[index].clone()
    }
}

impl Model for ScriptedModel {
    fn complete(&self, request: ModelRequest) -> BoxFuture<'_, Result<ModelResponse, Error>> {
        Box::pin(async move {
            let mut stream = self.stream(request);
            let mut builder = ResponseBuilder::default();
            while let Some(event) = stream.next().await {
                builder.push(event?);
            }
            Ok(builder.finish().expect("scripted turns finish"))
        })
    }

    fn stream(&self, request: ModelRequest) -> EventStream<'_> {
        // Like a provider adapter: a `chat` span whose parent is the caller's span.
        let span = tracing::info_span!("chat");
        let _entered = span.enter();
        self.requests.lock().unwrap().push(request);
        let turn = self
            .turns
            .lock()
            .unwrap()
            .pop_front()
            .expect("a scripted turn is left");
        match turn {
            Turn::Events(events) => {
                Box::pin(futures_util::stream::iter(events.into_iter().map(Ok)))
            }
            Turn::Fail(error) => {
                let start = StreamEvent::Start {
                    id: None,
                    model: None,
                };
                Box::pin(futures_util::stream::iter([Ok(start), Err(error)]))
            }
        }
    }
}

#[derive(Deserialize, JsonSchema)]
pub(crate) struct AddArgs {
    pub(crate) a: i64,
    pub(crate) b: i64,
}

/// Adds two integers.
pub(crate) struct Add;

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

#[derive(Deserialize, JsonSchema)]
pub(crate) struct NoArgs {}

/// Returns a fixed answer; the agent's stop tool in tests.
pub(crate) struct Done;

impl Tool for Done {
    type Args = NoArgs;
    type Output = &'static str;

    fn name(&self) -> &str {
        "done"
    }

    fn description(&self) -> &str {
        "Ends the task."
    }

    async fn call(&self, _args: NoArgs) -> Result<&'static str, Error> {
        Ok("finished")
    }
}

/// Sleeps for a minute and records whether its future was dropped early.
pub(crate) struct Slow {
    pub(crate) dropped: Arc<AtomicBool>,
}

struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

impl Tool for Slow {
    type Args = NoArgs;
    type Output = u8;

    fn name(&self) -> &str {
        "slow"
    }

    fn description(&self) -> &str {
        "Takes a minute."
    }

    fn options(&self) -> forge_core::ToolOptions {
        forge_core::ToolOptions::default().timeout(Duration::from_secs(3600))
    }

    async fn call(&self, _args: NoArgs) -> Result<u8, Error> {
        let _guard = SetOnDrop(self.dropped.clone());
        tokio::time::sleep(Duration::from_secs(60)).await;
        Ok(1)
    }
}

/// A model that, for a prompt `N`, calls `add {a: N, b: 1}` and then answers
/// with the tool's output; it yields once per call like a network would.
#[derive(Default)]
pub(crate) struct PolicyModel {
    /// Model calls received.
    pub(crate) calls: std::sync::atomic::AtomicUsize,
}

impl Model for PolicyModel {
    fn complete(&self, _request: ModelRequest) -> BoxFuture<'_, Result<ModelResponse, Error>> {
        unimplemented!("the agent streams")
    }

    fn stream(&self, request: ModelRequest) -> EventStream<'_> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let last = request.messages.last().expect("a message");
        let Turn::Events(events) = (match last.role {
            forge_core::Role::User => {
                let args = format!(r#"{{"a":{},"b":1}}"#, last.text());
                calls(&[("c", "add", args.as_str())])
            }
            _ => {
                let result = last.content.iter().find_map(|c| match c {
                    forge_core::Content::ToolResult(r) => Some(r.content().to_owned()),
                    _ => None,
                });
                answer(&result.expect("a tool result"))
            }
        }) else {
            unreachable!("calls and answer build events")
        };
        let yielded = futures_util::stream::once(async {
            tokio::task::yield_now().await;
            futures_util::stream::iter(events.into_iter().map(Ok))
        });
        Box::pin(yielded.flatten())
    }
}
