//! A model double for the limit tests: calls wait until the test opens a
//! gate, and each call records the queue wait it saw.

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicUsize, Ordering},
};
use std::time::Duration;

use forge_core::{
    BoxFuture, Content, Error, EventStream, Model, ModelRequest, ModelResponse, StopReason,
    StreamEvent,
};
use forge_providers::limit::{self, LimitConfig, LimitedModel};
use futures_util::StreamExt as _;
use tokio::sync::Semaphore;

/// A model whose calls wait for the test to open its gate; it records the
/// queue wait it sees and counts calls.
pub(crate) struct Gated {
    pub(crate) name: &'static str,
    gate: Semaphore,
    pub(crate) calls: AtomicUsize,
    waits: Mutex<Vec<Option<Duration>>>,
}

impl Gated {
    /// Calls pass once the test calls [`Gated::open`].
    pub(crate) fn closed(name: &'static str) -> Arc<Self> {
        Self::with_permits(name, 0)
    }

    /// Calls pass at once.
    pub(crate) fn open_wide(name: &'static str) -> Arc<Self> {
        Self::with_permits(name, Semaphore::MAX_PERMITS)
    }

    fn with_permits(name: &'static str, permits: usize) -> Arc<Self> {
        Arc::new(Self {
            name,
            gate: Semaphore::new(permits),
            calls: AtomicUsize::new(0),
            waits: Mutex::new(Vec::new()),
        })
    }

    pub(crate) fn open(&self, calls: usize) {
        self.gate.add_permits(calls);
    }

    pub(crate) fn waits(&self) -> Vec<Option<Duration>> {
        self.waits.lock().expect("no test thread panicked").clone()
    }
}

impl Model for Gated {
    fn complete(&self, _request: ModelRequest) -> BoxFuture<'_, Result<ModelResponse, Error>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.waits
            .lock()
            .expect("no test thread panicked")
            .push(limit::queue_wait());
        Box::pin(async move {
            self.gate
                .acquire()
                .await
                .expect("the gate stays open")
                .forget();
            let text = Content::text(self.name);
            Ok(ModelResponse::new(vec![text], StopReason::EndTurn))
        })
    }

    fn stream(&self, _request: ModelRequest) -> EventStream<'_> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let events = [
            StreamEvent::TextDelta {
                text: self.name.to_owned(),
                signature: None,
            },
            StreamEvent::Finish {
                stop_reason: StopReason::EndTurn,
            },
        ];
        Box::pin(futures_util::stream::iter(events).map(move |event| {
            // Polled inside the limiter, so the wait is visible here too.
            self.waits
                .lock()
                .expect("no test thread panicked")
                .push(limit::queue_wait());
            Ok(event)
        }))
    }
}

pub(crate) fn limited(model: &Arc<Gated>, limits: &LimitConfig) -> Arc<LimitedModel> {
    Arc::new(LimitedModel::new(
        model.name,
        Arc::clone(model) as Arc<dyn Model>,
        limits,
    ))
}

pub(crate) fn spawn_call(
    model: &Arc<LimitedModel>,
    request: ModelRequest,
) -> tokio::task::JoinHandle<Result<ModelResponse, Error>> {
    let model = Arc::clone(model);
    tokio::spawn(async move { model.complete(request).await })
}
