//! The response body: pre-rendered frames released on a latency schedule.
//!
//! Implementation notes: a response is rendered up front into [`Frame`]s;
//! each frame carries a [`Pace`] that the body turns into a delay from the
//! [`Latency`] settings. The body then ends cleanly, with an error (which
//! makes hyper abort the connection or reset the HTTP/2 stream), or never
//! (a stalled stream, dropped when the client leaves or the server shuts
//! down).

use std::{
    collections::VecDeque,
    future::Future,
    io,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame as HttpFrame, SizeHint};
use tokio::{sync::watch, time::Sleep};

use crate::Latency;

/// When a frame may go out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pace {
    /// Right away (after the time to first token when it is the first frame).
    Now,
    /// After one inter-token delay.
    Token,
}

/// One write of the response body.
#[derive(Debug, Clone)]
pub(crate) struct Frame {
    pub(crate) bytes: Bytes,
    pub(crate) pace: Pace,
}

impl Frame {
    pub(crate) fn now(bytes: impl Into<Bytes>) -> Self {
        Self {
            bytes: bytes.into(),
            pace: Pace::Now,
        }
    }

    pub(crate) fn token(bytes: impl Into<Bytes>) -> Self {
        Self {
            bytes: bytes.into(),
            pace: Pace::Token,
        }
    }
}

/// How the body ends after its last frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    Finish,
    Abort,
    Hang,
}

/// How long an aborting body waits after its last frame, so that the bytes
/// already written reach the socket before the connection is torn down
/// (hyper drops unflushed bytes when a body fails).
const ABORT_GRACE: Duration = Duration::from_millis(20);

/// A paced body of pre-rendered frames.
pub(crate) struct PacedBody {
    frames: VecDeque<Frame>,
    end: End,
    first: Duration,
    between: Duration,
    started: bool,
    exact: bool,
    /// The abort grace has been waited.
    flushed: bool,
    sleep: Option<Pin<Box<Sleep>>>,
    ready: Option<Bytes>,
    /// Ends a hanging body when the server shuts down.
    stop: Option<watch::Receiver<bool>>,
    hang: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
}

impl PacedBody {
    /// A body of `frames`, paced by `latency`, ending as `end`.
    pub(crate) fn new(frames: Vec<Frame>, latency: &Latency, end: End) -> Self {
        Self {
            frames: frames.into(),
            end,
            first: latency.first_token,
            between: latency.between_tokens,
            started: false,
            exact: false,
            flushed: false,
            sleep: None,
            ready: None,
            stop: None,
            hang: None,
        }
    }

    /// Lets a hanging body end (with an error) when `stop` turns true.
    pub(crate) fn with_stop(mut self, stop: watch::Receiver<bool>) -> Self {
        self.stop = Some(stop);
        self
    }

    fn poll_hang(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<HttpFrame<Bytes>, io::Error>>> {
        let Some(mut stop) = self.stop.take() else {
            if self.hang.is_none() {
                return Poll::Pending;
            }
            return self.poll_hang_future(cx);
        };
        self.hang = Some(Box::pin(async move {
            crate::emulator::stopped(&mut stop).await;
        }));
        self.poll_hang_future(cx)
    }

    fn poll_hang_future(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<HttpFrame<Bytes>, io::Error>>> {
        let hang = self.hang.as_mut().expect("poll_hang sets the future first");
        match hang.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(()) => Poll::Ready(Some(Err(io::Error::other("emulator shut down")))),
        }
    }

    /// A whole body sent at once, with an exact length.
    pub(crate) fn full(bytes: impl Into<Bytes>) -> Self {
        let mut body = Self::new(vec![Frame::now(bytes)], &Latency::none(), End::Finish);
        body.exact = true;
        body
    }

    /// Announces an exact length (a non-streaming body) when it ends cleanly.
    pub(crate) fn exact(mut self) -> Self {
        self.exact = self.end == End::Finish;
        self
    }

    /// Joins `first` with the frames due at the same moment (no delay between
    /// them), so that they leave as one write, as a real server's buffered
    /// writer sends them. Fewer, larger HTTP/2 DATA frames also keep clients
    /// clear of h2's small-frame flood protection, which closes a connection
    /// (GOAWAY `ENHANCE_YOUR_CALM`) when many tiny frames sit unread across
    /// its streams.
    fn coalesce(&mut self, first: Bytes) -> Bytes {
        let due_now = |frame: &Frame| frame.pace == Pace::Now || self.between.is_zero();
        if !self.frames.front().is_some_and(due_now) {
            return first;
        }
        let mut joined = BytesMut::from(&first[..]);
        while let Some(frame) = self.frames.pop_front() {
            if !due_now(&frame) {
                self.frames.push_front(frame);
                break;
            }
            joined.extend_from_slice(&frame.bytes);
        }
        joined.freeze()
    }

    fn delay_for(&mut self, pace: Pace) -> Duration {
        if !self.started {
            self.started = true;
            return self.first;
        }
        match pace {
            Pace::Now => Duration::ZERO,
            Pace::Token => self.between,
        }
    }
}

impl Body for PacedBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<HttpFrame<Bytes>, io::Error>>> {
        let this = &mut *self;
        loop {
            if let Some(sleep) = this.sleep.as_mut() {
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                this.sleep = None;
            }
            if let Some(bytes) = this.ready.take() {
                return Poll::Ready(Some(Ok(HttpFrame::data(bytes))));
            }
            let Some(frame) = this.frames.pop_front() else {
                return match this.end {
                    End::Finish => Poll::Ready(None),
                    End::Abort if !this.flushed => {
                        this.flushed = true;
                        this.sleep = Some(Box::pin(tokio::time::sleep(ABORT_GRACE)));
                        continue;
                    }
                    End::Abort => Poll::Ready(Some(Err(io::Error::new(
                        io::ErrorKind::ConnectionReset,
                        "emulated connection reset",
                    )))),
                    End::Hang => this.poll_hang(cx),
                };
            };
            let delay = this.delay_for(frame.pace);
            let bytes = this.coalesce(frame.bytes);
            if delay.is_zero() {
                return Poll::Ready(Some(Ok(HttpFrame::data(bytes))));
            }
            this.ready = Some(bytes);
            this.sleep = Some(Box::pin(tokio::time::sleep(delay)));
        }
    }

    fn is_end_stream(&self) -> bool {
        self.end == End::Finish && self.frames.is_empty() && self.ready.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        if !self.exact {
            return SizeHint::default();
        }
        let queued: usize = self.frames.iter().map(|f| f.bytes.len()).sum();
        let ready = self.ready.as_ref().map_or(0, Bytes::len);
        SizeHint::with_exact((queued + ready) as u64)
    }
}

#[cfg(test)]
mod tests;
