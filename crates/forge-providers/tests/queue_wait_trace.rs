//! The limiter's queue wait as tracing sees it, in a test binary of its own:
//! tracing caches each callsite's interest process-wide, and a thread-local
//! subscriber installed while other tests hit the limiter on other threads
//! missed its records (1 run in CI). Alone in its process it sees them all.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failure report"
)]

#[path = "gated/mod.rs"]
#[allow(
    dead_code,
    reason = "shared with router_limits; this binary uses a subset"
)]
mod gated;

use std::sync::{Arc, Mutex};

use forge_core::{Model as _, ModelRequest};
use forge_providers::limit::LimitConfig;
use gated::{Gated, limited};
use tracing::{Instrument as _, span};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt as _};

/// A layer that keeps every `forge.queue_wait` value recorded on a span or
/// carried by an event.
#[derive(Clone, Default)]
struct QueueWaits {
    on_spans: Arc<Mutex<Vec<f64>>>,
    on_events: Arc<Mutex<Vec<f64>>>,
}

struct WaitField<'a>(&'a Mutex<Vec<f64>>);

impl tracing::field::Visit for WaitField<'_> {
    fn record_f64(&mut self, field: &tracing::field::Field, value: f64) {
        if field.name() == "forge.queue_wait" {
            self.0.lock().expect("no test thread panicked").push(value);
        }
    }

    fn record_debug(&mut self, _: &tracing::field::Field, _: &dyn std::fmt::Debug) {}
}

impl<S: tracing::Subscriber> Layer<S> for QueueWaits {
    fn on_record(&self, _: &span::Id, values: &span::Record<'_>, _: Context<'_, S>) {
        values.record(&mut WaitField(&self.on_spans));
    }

    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        event.record(&mut WaitField(&self.on_events));
    }
}

#[tokio::test(start_paused = true)]
async fn the_queue_wait_is_recorded_on_the_current_span_and_as_an_event() {
    let waits = QueueWaits::default();
    let subscriber = tracing_subscriber::registry().with(waits.clone());
    let _default = tracing::subscriber::set_default(subscriber);
    let inner = Gated::open_wide("a");
    let model = limited(&inner, &LimitConfig::new().requests_per_minute(1));

    for _ in 0..2 {
        let span = tracing::info_span!("chat", forge.queue_wait = tracing::field::Empty);
        let call = model.complete(ModelRequest::default());
        call.instrument(span).await.unwrap();
    }

    let got = |values: &Mutex<Vec<f64>>| values.lock().unwrap().clone();
    assert_eq!(got(&waits.on_spans), [0.0, 60.0]);
    assert_eq!(got(&waits.on_events), [0.0, 60.0]);
}
