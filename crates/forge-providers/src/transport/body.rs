//! Reading a response body under first-chunk, idle and total deadlines and a
//! size limit.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use forge_core::{Error, ErrorKind};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::{sync::OwnedSemaphorePermit, time::Instant};

use crate::error::fail;

/// A response body being read chunk by chunk.
///
/// The first chunk must arrive by the first-chunk deadline, each later one
/// within the idle timeout of the previous, and all of them by the total
/// deadline. Holding the host permit here keeps the connection counted until
/// the body is dropped.
#[derive(Debug)]
pub(crate) struct Body {
    inner: Incoming,
    first_chunk_by: Option<Instant>,
    idle: Duration,
    deadline: Option<Instant>,
    seen_first: bool,
    _permit: Option<OwnedSemaphorePermit>,
}

impl Body {
    pub(crate) fn new(
        inner: Incoming,
        first_chunk_by: Option<Instant>,
        idle: Duration,
        deadline: Option<Instant>,
        permit: Option<OwnedSemaphorePermit>,
    ) -> Self {
        Self {
            inner,
            first_chunk_by,
            idle,
            deadline,
            seen_first: false,
            _permit: permit,
        }
    }

    /// The next non-empty data chunk, or `None` at the end of the body.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a dropped call loses no data.
    pub(crate) async fn chunk(&mut self) -> Result<Option<Bytes>, Error> {
        loop {
            let limit = self.next_deadline();
            let frame = match tokio::time::timeout_at(limit, self.inner.frame()).await {
                Ok(frame) => frame,
                Err(_) => return Err(self.timed_out()),
            };
            let Some(frame) = frame else { return Ok(None) };
            let frame = frame.map_err(body_error)?;
            if let Ok(data) = frame.into_data()
                && !data.is_empty()
            {
                self.seen_first = true;
                return Ok(Some(data));
            }
        }
    }

    /// The whole body, at most `limit` bytes.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: dropping the future loses what was read.
    pub(crate) async fn collect(mut self, limit: usize) -> Result<Bytes, Error> {
        let mut buf = BytesMut::new();
        while let Some(chunk) = self.chunk().await? {
            if buf.len() + chunk.len() > limit {
                let msg = format!("response body exceeds {limit} bytes");
                return Err(fail(ErrorKind::ResponseTooLarge, msg));
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(buf.freeze())
    }

    fn next_deadline(&self) -> Instant {
        let gap = if self.seen_first {
            Instant::now() + self.idle
        } else {
            self.first_chunk_by
                .unwrap_or_else(|| Instant::now() + self.idle)
        };
        match self.deadline {
            Some(total) => gap.min(total),
            None => gap,
        }
    }

    fn timed_out(&self) -> Error {
        let what = match (self.seen_first, self.deadline) {
            (_, Some(total)) if Instant::now() >= total => "the request's total timeout passed",
            (false, _) => "no response chunk before the first-chunk timeout",
            (true, _) => "the stream was idle longer than the idle timeout",
        };
        fail(ErrorKind::Timeout, what)
    }
}

fn body_error(e: hyper::Error) -> Error {
    fail(ErrorKind::StreamTruncated, "the response body broke off").with_source(e)
}
