//! One observation per dispatch, into the aggregates and to the observer.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers too: a panic is a failure with a line"
)]

mod common;

use std::sync::{Arc, Mutex};

use common::{Echo, Lookup};
use forge_core::{DispatchObservation, DispatchObserver, ErrorKind, Labels, Outcome, ToolCall};
use forge_dispatch::{Dispatcher, Registry};

/// tool, call id, outcome, attempts, input bytes, provider label
type Row = (String, String, Outcome, u32, usize, Option<String>);

#[derive(Default)]
struct Recorder(Mutex<Vec<Row>>);

impl DispatchObserver for Recorder {
    fn on_dispatch(&self, o: &DispatchObservation<'_>) {
        let provider = o.labels.provider.as_deref().map(str::to_owned);
        let row = (
            o.tool.to_owned(),
            o.call_id.to_owned(),
            o.outcome,
            o.attempts,
            o.input_bytes,
            provider,
        );
        self.0.lock().expect("no test thread panicked").push(row);
    }
}

const GOOD: &str = r#"{"query": "rust", "mode": "exact", "limit": 5}"#;

#[tokio::test]
async fn every_dispatch_is_observed_once_with_labels() {
    let recorder = Arc::new(Recorder::default());
    let registry = Registry::builder()
        .tool(Lookup)
        .dyn_tool(Echo::new())
        .build()
        .unwrap();
    let dispatcher = Dispatcher::builder(registry)
        .observer(recorder.clone())
        .build();
    let labels = Labels::default().provider("anthropic").conversation("c-1");
    let calls = [
        ToolCall::new("1", "lookup", GOOD),
        ToolCall::new("2", "lookup", "{}"),
        ToolCall::new("3", "nope", "{}"),
        ToolCall::new("1", "echo", r#"{"text": "a"}"#),
    ];
    dispatcher.dispatch_batch(&calls, &labels).await;

    let mut rows = recorder.0.lock().unwrap().clone();
    rows.sort_by(|a, b| (&a.1, &a.0).cmp(&(&b.1, &b.0)));
    let summary: Vec<_> = rows
        .iter()
        .map(|r| (r.0.as_str(), r.1.as_str(), r.2, r.3))
        .collect();
    assert_eq!(
        summary,
        [
            ("echo", "1", Outcome::Failure(ErrorKind::DuplicateCallId), 0),
            ("lookup", "1", Outcome::Success, 1),
            (
                "lookup",
                "2",
                Outcome::Failure(ErrorKind::InvalidArguments),
                0
            ),
            ("nope", "3", Outcome::Failure(ErrorKind::UnknownTool), 0),
        ]
    );
    assert!(rows.iter().all(|r| r.5.as_deref() == Some("anthropic")));
    assert_eq!(rows[1].4, GOOD.len());

    let stats = dispatcher.stats();
    let lookup = stats.tool("lookup").unwrap();
    assert_eq!((lookup.calls(), lookup.successes()), (2, 1));
    assert_eq!(lookup.failures_of(ErrorKind::InvalidArguments), 1);
    assert_eq!(lookup.input_bytes(), (GOOD.len() + 2) as u64);
    assert_eq!(lookup.output_bytes(), r#""rust:Exact:5""#.len() as u64);
    assert!(lookup.duration_at(0.5) <= lookup.max_duration());
    assert_eq!(stats.unknown_tools().calls(), 1);
    assert_eq!(
        stats
            .tool("echo")
            .unwrap()
            .failures_of(ErrorKind::DuplicateCallId),
        1
    );
}

#[test]
fn stats_merge_shards_from_many_threads() {
    let registry = Registry::builder().tool(Lookup).build().unwrap();
    let dispatcher = Dispatcher::builder(registry).build();
    std::thread::scope(|scope| {
        for _ in 0..4 {
            let dispatcher = dispatcher.clone();
            scope.spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_time()
                    .build()
                    .unwrap();
                let call = ToolCall::new("x", "lookup", GOOD);
                for _ in 0..250 {
                    rt.block_on(dispatcher.dispatch(&call, &Labels::default()));
                }
            });
        }
    });
    let stats = dispatcher.stats();
    assert_eq!(stats.tool("lookup").unwrap().successes(), 1000);
}

#[tokio::test]
async fn specs_are_shared_in_registration_order() {
    let registry = Registry::builder()
        .tool(Lookup)
        .dyn_tool(Echo::new())
        .build()
        .unwrap();
    let dispatcher = Dispatcher::builder(registry).build();
    let specs = dispatcher.specs();
    let names: Vec<_> = specs.iter().map(|s| s.name()).collect();
    assert_eq!(names, ["lookup", "echo"]);
    assert!(Arc::ptr_eq(&specs, &dispatcher.specs()));
    assert_eq!(specs[0].parameters()["additionalProperties"], false);
}
