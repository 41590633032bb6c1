//! Content capture: `forge::content` events become attributes of their span.
//!
//! Implementation details: forge-agent emits prompts, answers and tool
//! payloads only as TRACE events on [`CONTENT_TARGET`], and serialises them
//! only when the subscriber enables that target. [`ContentLayer`] is part of
//! [`TelemetryGuard::layer`](crate::TelemetryGuard::layer). With capture off
//! it disables the target for the whole subscriber (a global filter, cached
//! per callsite as `Interest::never`), so the agent's check costs one load
//! and nothing is serialised; every other callsite is left alone.
//!
//! With capture on, it records each content field on the event's span
//! through the OpenTelemetry layer's own `on_record`, exactly as if the span
//! had declared the field: the GenAI conventions' span-attribute form
//! (`gen_ai.input.messages` … as JSON string attributes). The exporting
//! OpenTelemetry layer also sees the event and adds it as a span event; the
//! export filter drops span events that carry content, so content leaves
//! only as attributes. An event marked `gen_ai.operation.name = "chat"`
//! that is emitted inside another span (forge-agent cannot enter
//! forge-providers' `chat` span) goes to that span's open `chat` child,
//! which this layer tracks while capture is on. A conversation runs one
//! model call at a time, so there is at most one.

use tracing::{
    Event, Level, Metadata, Subscriber,
    callsite::{DefaultCallsite, Identifier},
    field::{Field, FieldSet, Value, Visit},
    metadata::Kind,
    span,
    subscriber::Interest,
};
use tracing_subscriber::{Layer, layer::Context, registry::LookupSpan};

use crate::fields::Operation;

/// The target of forge's content events; see the crate docs.
pub const CONTENT_TARGET: &str = "forge::content";

/// The content attributes a content event may carry.
const FIELDS: [&str; 5] = [
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "gen_ai.tool.call.arguments",
    "gen_ai.tool.call.result",
];

/// A callsite that is never registered: it only gives [`FIELDS`] the field
/// identity a `span::Record` needs.
static CALLSITE: DefaultCallsite = DefaultCallsite::new(&META);
static META: Metadata<'static> = Metadata::new(
    "forge content",
    CONTENT_TARGET,
    Level::TRACE,
    None,
    None,
    None,
    FieldSet::new(&FIELDS, Identifier(&CALLSITE)),
    Kind::EVENT,
);

/// Whether this callsite is one of forge's content events.
fn is_content(metadata: &Metadata<'_>) -> bool {
    metadata.target() == CONTENT_TARGET
}

/// The `chat` span currently open under a span (kept in its extensions).
struct OpenChat(span::Id);

/// Records content events on their span through `otel`, a second instance of
/// the OpenTelemetry layer configured like the exporting one (whose span data
/// it updates through the registry); with capture off, disables them.
pub(crate) struct ContentLayer<L> {
    otel: L,
    capture: bool,
}

impl<L> ContentLayer<L> {
    pub(crate) fn new(otel: L, capture: bool) -> Self {
        Self { otel, capture }
    }
}

impl<S, L> Layer<S> for ContentLayer<L>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    L: Layer<S>,
{
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        if self.capture || !is_content(metadata) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, metadata: &Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        self.capture || !is_content(metadata)
    }

    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        if !self.capture || Operation::of(attrs.metadata()) != Some(Operation::Chat) {
            return;
        }
        if let Some(parent) = ctx.span(id).and_then(|span| span.parent()) {
            parent.extensions_mut().replace(OpenChat(id.clone()));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if !self.capture || !is_content(event.metadata()) {
            return;
        }
        let mut content = ContentFields::default();
        event.record(&mut content);
        let Some(target) = target_span(event, &ctx, content.chat) else {
            return;
        };
        for (field, text) in &content.values {
            let text = text.as_str();
            let values = [(field, Some(&text as &dyn Value))];
            let set = META.fields().value_set(&values);
            self.otel
                .on_record(&target, &span::Record::new(&set), ctx.clone());
        }
    }

    fn on_close(&self, id: span::Id, ctx: Context<'_, S>) {
        if !self.capture {
            return;
        }
        let Some(span) = ctx.span(&id) else { return };
        if Operation::of(span.metadata()) != Some(Operation::Chat) {
            return;
        }
        if let Some(parent) = span.parent() {
            let mut extensions = parent.extensions_mut();
            if extensions
                .get_mut::<OpenChat>()
                .is_some_and(|open| open.0 == id)
            {
                extensions.remove::<OpenChat>();
            }
        }
    }
}

/// The span a content event belongs to: its own span, or for a chat event
/// emitted outside the `chat` span, that span's open `chat` child.
fn target_span<S>(event: &Event<'_>, ctx: &Context<'_, S>, chat: bool) -> Option<span::Id>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let span = match event.parent() {
        Some(parent) => ctx.span(parent),
        None if event.is_contextual() => ctx.lookup_current(),
        None => None,
    }?;
    if chat && Operation::of(span.metadata()) != Some(Operation::Chat) {
        return span
            .extensions()
            .get::<OpenChat>()
            .map(|open| open.0.clone());
    }
    Some(span.id())
}

/// The content fields of one event, and whether it describes a model call.
#[derive(Default)]
struct ContentFields {
    values: Vec<(Field, String)>,
    chat: bool,
}

impl Visit for ContentFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "gen_ai.operation.name" {
            self.chat = value == "chat";
        } else if let Some(field) = META.fields().field(field.name()) {
            self.values.push((field, value.to_owned()));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if let Some(field) = META.fields().field(field.name()) {
            self.values.push((field, format!("{value:?}")));
        }
    }
}
