//! Implementation details: streaming through the router.
//!
//! A stream is opened on the first deployment the [`Plan`] hands out, and
//! its events are held back until the first one that commits (content, or
//! `Finish` for an empty answer). A failure before that falls back like a
//! failed `complete`, and the held-back events (`Start`, `Usage`) of the
//! failed attempt are discarded, so the consumer sees one coherent answer.
//! After the commit, events, including a failure, pass straight through,
//! and the breaker learns the outcome when the stream finishes, fails or is
//! dropped.

use std::{
    collections::VecDeque,
    pin::Pin,
    task::{Context, Poll},
};

use forge_core::{Error, EventStream, ModelRequest, StreamEvent};
use futures_core::Stream;
use futures_util::{FutureExt as _, StreamExt as _};

use super::{Plan, Router, breaker::Attempt, commits, deadline_passed, falls_back, note_fallback};

pub(super) fn open(router: &Router, request: ModelRequest) -> EventStream<'_> {
    let open = async move {
        match start(router, request).await {
            Ok(stream) => stream,
            Err(e) => Box::pin(futures_util::stream::once(async move { Err(e) })),
        }
    };
    Box::pin(open.flatten_stream())
}

/// Finds the first deployment whose stream commits, falling back before that.
async fn start(router: &Router, request: ModelRequest) -> Result<EventStream<'_>, Error> {
    let mut plan = Plan::new(router, &request);
    // Bounded: `Plan::next` hands out each deployment at most once.
    loop {
        let (index, attempt) = plan.next(router).await?;
        let name = &router.deployments[index].name;
        let mut inner = router.deployments[index]
            .model
            .stream(plan.attempt_request(&request));
        let head = match plan.deadline() {
            Some(deadline) => tokio::time::timeout_at(deadline, head(&mut inner))
                .await
                .unwrap_or_else(|_elapsed| Err(deadline_passed(name))),
            None => head(&mut inner).await,
        };
        match head {
            Ok(held) => return Ok(Box::pin(Committed::new(held, inner, attempt))),
            Err(e) => {
                attempt.settle(Err(&e));
                if !falls_back(&e) {
                    return Err(e);
                }
                note_fallback(name, &e);
                plan.record_failure(e);
            }
        }
    }
}

/// Reads events up to and including the first that commits (or the end).
async fn head(inner: &mut EventStream<'_>) -> Result<Vec<StreamEvent>, Error> {
    let mut held = Vec::new();
    // Bounded by the stream itself: it ends, fails or commits.
    while let Some(item) = inner.next().await {
        let event = item?;
        let commit = commits(&event);
        held.push(event);
        if commit {
            break;
        }
    }
    Ok(held)
}

/// A stream past its commit point: the held-back events, then the rest.
struct Committed<'a> {
    held: VecDeque<StreamEvent>,
    inner: EventStream<'a>,
    attempt: Option<Attempt<'a>>,
}

impl<'a> Committed<'a> {
    fn new(held: Vec<StreamEvent>, inner: EventStream<'a>, attempt: Attempt<'a>) -> Self {
        Self {
            held: held.into(),
            inner,
            attempt: Some(attempt),
        }
    }

    /// Tells the breaker how the stream ended, once.
    fn observe(&mut self, item: &Result<StreamEvent, Error>) {
        let outcome = match item {
            Ok(StreamEvent::Finish { .. }) => Ok(()),
            Ok(_) => return,
            Err(e) => Err(e),
        };
        if let Some(attempt) = self.attempt.take() {
            attempt.settle(outcome);
        }
    }
}

impl Stream for Committed<'_> {
    type Item = Result<StreamEvent, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let item = match this.held.pop_front() {
            Some(event) => Some(Ok(event)),
            None => match this.inner.as_mut().poll_next(cx) {
                Poll::Ready(item) => item,
                Poll::Pending => return Poll::Pending,
            },
        };
        if let Some(item) = &item {
            this.observe(item);
        }
        Poll::Ready(item)
    }
}
