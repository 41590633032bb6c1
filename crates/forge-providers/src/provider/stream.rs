//! The streaming call: connect, decode SSE, assemble, and retry only while
//! no content has been produced.
//!
//! Implementation notes: the state lives in [`Call`], driven by
//! `futures_util::stream::unfold`. Events an assembly completes wait in
//! `pending` and are handed out one per poll. A failure is retried when the
//! consumer has seen no content event and none is pending; otherwise the
//! pending events are delivered first and the error last. The `chat` span is
//! held by the state, so it ends when the stream ends or is dropped.

use std::{collections::VecDeque, time::Duration};

use forge_core::{Error, ErrorKind, EventStream, ModelRequest, StreamEvent};
use http::HeaderValue;
use tokio::time::Instant;
use tracing::Span;

use super::{Assembly, Dialect, Prepared, Provider, conversation_header, retry_debug, span};
use crate::{error::fail, retry::Backoff, sse::SseDecoder, transport::Body};

pub(super) fn start<D: Dialect>(provider: &Provider<D>, request: ModelRequest) -> EventStream<'_> {
    let span = provider.span(&request, true);
    let setup = span.in_scope(|| {
        let prepared = provider.prepare(&request, true)?;
        Ok::<_, Error>((prepared, conversation_header(&request)?))
    });
    let (prepared, conversation, error) = match setup {
        Ok((p, c)) => (Some(p), c, None),
        Err(e) => (None, None, Some(e)),
    };
    let call = Call {
        deadline: provider.deadline(&request),
        backoff: Backoff::new(&provider.deployment.retry),
        decoder: SseDecoder::new(provider.transport.settings().max_event_bytes),
        assembly: prepared
            .as_ref()
            .map(|p| provider.dialect.assembly(p.names.clone())),
        provider,
        prepared,
        conversation,
        started: Instant::now(),
        body: None,
        pending: VecDeque::new(),
        failure: error,
        content_seen: false,
        ended: false,
        completed: false,
        chunks: 0,
        span,
    };
    Box::pin(futures_util::stream::unfold(call, |mut call| async move {
        let item = call.next().await;
        item.map(|item| (item, call))
    }))
}

struct Call<'a, D: Dialect> {
    provider: &'a Provider<D>,
    prepared: Option<Prepared>,
    conversation: Option<HeaderValue>,
    deadline: Option<Instant>,
    started: Instant,
    backoff: Backoff,
    decoder: SseDecoder,
    assembly: Option<D::Assembly>,
    body: Option<Body>,
    pending: VecDeque<StreamEvent>,
    /// An error to deliver once `pending` is drained.
    failure: Option<Error>,
    content_seen: bool,
    /// The body ended; deliver what is pending, then stop.
    ended: bool,
    /// `Finish` was delivered.
    completed: bool,
    chunks: u64,
    span: Span,
}

impl<D: Dialect> Call<'_, D> {
    async fn next(&mut self) -> Option<Result<StreamEvent, Error>> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                self.observe(&event);
                return Some(Ok(event));
            }
            if let Some(error) = self.failure.take() {
                self.ended = true;
                span::record_error(&self.span, &error);
                return Some(Err(error));
            }
            if self.ended {
                return None;
            }
            if let Err(error) = self.advance().await {
                self.on_error(error).await;
            }
        }
    }

    /// Connects, or reads and decodes one chunk.
    async fn advance(&mut self) -> Result<(), Error> {
        let Some(body) = self.body.as_mut() else {
            return self.connect().await;
        };
        let Some(chunk) = body.chunk().await? else {
            return self.end_of_body();
        };
        if self.chunks == 0 {
            span::record_first_chunk(&self.span, self.started.elapsed());
        }
        self.chunks += 1;
        let (decoder, pending) = (&mut self.decoder, &mut self.pending);
        let assembly = self
            .assembly
            .as_mut()
            .expect("an assembly exists once prepared");
        decoder.feed(&chunk, |event| assembly.event(event, pending))
    }

    async fn connect(&mut self) -> Result<(), Error> {
        // A limiting wrapper exposes its queue wait while the stream is polled.
        if let Some(wait) = crate::limit::queue_wait() {
            span::record_queue_wait(&self.span, wait);
        }
        let provider = self.provider;
        let prepared = self.prepared.as_ref().expect("a prepared request exists");
        let request = provider.http_request(prepared, self.conversation.as_ref(), true)?;
        let send = provider.transport.send(request, self.deadline);
        let response = tracing::Instrument::instrument(send, self.span.clone()).await?;
        if !response.status.is_success() {
            let limit = provider.transport.settings().max_body_bytes;
            let body = response.body.collect(limit).await?;
            return Err(provider.classify(response.status, &response.headers, &body));
        }
        self.body = Some(response.body);
        Ok(())
    }

    fn end_of_body(&mut self) -> Result<(), Error> {
        self.body = None;
        if self.decoder.has_partial_event() {
            return Err(fail(
                ErrorKind::StreamTruncated,
                "the stream ended mid-event",
            ));
        }
        let assembly = self
            .assembly
            .as_mut()
            .expect("an assembly exists once prepared");
        assembly.end(&mut self.pending)?;
        self.ended = true;
        Ok(())
    }

    async fn on_error(&mut self, error: Error) {
        self.body = None;
        // An error event in a 200 stream may quote the key, too.
        let error = self.provider.redactor().error(error);
        let retry_ok = !self.content_seen && !self.pending.iter().any(StreamEvent::is_content);
        let wait = if retry_ok {
            self.backoff.next_wait(&error, self.deadline)
        } else {
            None
        };
        match wait {
            Some(wait) => {
                self.span.in_scope(|| retry_debug(&error, wait));
                self.restart(wait).await;
            }
            None => self.failure = Some(error),
        }
    }

    async fn restart(&mut self, wait: Duration) {
        self.pending.clear();
        let provider = self.provider;
        self.decoder = SseDecoder::new(provider.transport.settings().max_event_bytes);
        self.assembly = self
            .prepared
            .as_ref()
            .map(|p| provider.dialect.assembly(p.names.clone()));
        tokio::time::sleep(wait).await;
    }

    fn observe(&mut self, event: &StreamEvent) {
        if event.is_content() {
            self.content_seen = true;
        }
        match event {
            StreamEvent::Start { id, model } => {
                span::record_start(&self.span, id.as_deref(), model.as_deref());
            }
            StreamEvent::Usage(usage) => span::record_usage(&self.span, usage),
            StreamEvent::Finish { stop_reason } => {
                span::record_finish(&self.span, stop_reason);
                self.completed = true;
                self.span.record("forge.stream.completed", true);
            }
            _ => {}
        }
    }
}

impl<D: Dialect> Drop for Call<'_, D> {
    fn drop(&mut self) {
        self.span.record("forge.output_chunks", self.chunks);
        if !self.completed {
            self.span.record("forge.stream.completed", false);
        }
    }
}
