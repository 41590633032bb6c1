//! The one Server-Sent Events decoder every adapter shares.
//!
//! Implementation notes: the decoder is push-based. [`SseDecoder::feed`]
//! takes whatever bytes a read produced and calls back once per complete
//! event, so events split across reads and several events in one read are
//! the same code path. Lines end in LF, CRLF or CR; a CR at the very end of a
//! read may be the first half of a CRLF, which `pending_cr` remembers. Only
//! an unfinished line is copied into `line`; `data` lines are copied once
//! into `data` (joined by `\n`), and the event borrows from there. The size
//! limit covers one event's unfinished line plus its data so far, so a
//! server that never sends a blank line cannot grow memory without bound.
//! A byte-order mark is stripped only at the start of the stream, and the
//! first reads may split it: up to two bytes that could begin one are held
//! in `bom_held` until the third byte decides.

use forge_core::{Error, ErrorKind};
use memchr::memchr2;

use crate::error::fail;

#[cfg(test)]
mod tests;

/// One dispatched event: its `event:` name (empty when absent) and its
/// `data:` lines joined by `\n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SseEvent<'a> {
    /// The `event:` field, or `""`.
    pub event: &'a str,
    /// The joined `data:` lines.
    pub data: &'a str,
}

/// A streaming SSE decoder (WHATWG event-stream rules, minus `id`/`retry`).
#[derive(Debug)]
pub struct SseDecoder {
    line: Vec<u8>,
    data: Vec<u8>,
    event: Vec<u8>,
    has_data: bool,
    pending_cr: bool,
    started: bool,
    bom_held: usize,
    max_event_bytes: usize,
}

impl SseDecoder {
    /// A decoder that rejects any single event larger than `max_event_bytes`.
    pub fn new(max_event_bytes: usize) -> Self {
        Self {
            line: Vec::new(),
            data: Vec::with_capacity(1024),
            event: Vec::new(),
            has_data: false,
            pending_cr: false,
            started: false,
            bom_held: 0,
            max_event_bytes,
        }
    }

    /// Decodes `chunk`, calling `on_event` for every event it completes.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::ResponseTooLarge`] when an event passes the size limit,
    /// [`ErrorKind::MalformedResponse`] when an event is not UTF-8, or
    /// whatever `on_event` returns (decoding stops there).
    pub fn feed<F>(&mut self, mut chunk: &[u8], mut on_event: F) -> Result<(), Error>
    where
        F: FnMut(SseEvent<'_>) -> Result<(), Error>,
    {
        if !self.started {
            chunk = self.skip_bom(chunk);
        }
        if self.pending_cr {
            self.pending_cr = false;
            if let [b'\n', rest @ ..] = chunk {
                chunk = rest;
            }
        }
        while let Some(end) = memchr2(b'\n', b'\r', chunk) {
            let (line, rest) = (&chunk[..end], &chunk[end + 1..]);
            chunk = match (chunk[end], rest) {
                (b'\r', [b'\n', after @ ..]) => after,
                (b'\r', []) => {
                    self.pending_cr = true;
                    rest
                }
                _ => rest,
            };
            if self.line.is_empty() {
                self.line_complete(line, &mut on_event)?;
            } else {
                self.line.extend_from_slice(line);
                let line = std::mem::take(&mut self.line);
                let result = self.line_complete(&line, &mut on_event);
                self.line = line;
                self.line.clear();
                result?;
            }
        }
        if !chunk.is_empty() {
            self.line.extend_from_slice(chunk);
            self.check_size()?;
        }
        Ok(())
    }

    /// Whether bytes of an unfinished event are buffered. At the end of the
    /// body this means the stream was cut mid-event.
    pub fn has_partial_event(&self) -> bool {
        !self.line.is_empty() || self.has_data || !self.event.is_empty() || self.bom_held > 0
    }

    /// Strips a byte-order mark at the start of the stream, however the
    /// first reads split it. Returns what is left of `chunk` to decode.
    fn skip_bom<'c>(&mut self, chunk: &'c [u8]) -> &'c [u8] {
        const BOM: &[u8] = b"\xEF\xBB\xBF";
        let missing = &BOM[self.bom_held..];
        let known = missing.len().min(chunk.len());
        if chunk[..known] != missing[..known] {
            // Not a BOM after all: the held bytes begin the first line.
            self.line.extend_from_slice(&BOM[..self.bom_held]);
            self.bom_held = 0;
            self.started = true;
            return chunk;
        }
        if known == missing.len() {
            self.bom_held = 0;
            self.started = true;
            return &chunk[known..];
        }
        self.bom_held += known;
        &[]
    }

    fn check_size(&self) -> Result<(), Error> {
        if self.line.len() + self.data.len() > self.max_event_bytes {
            let msg = format!("a stream event exceeds {} bytes", self.max_event_bytes);
            return Err(fail(ErrorKind::ResponseTooLarge, msg));
        }
        Ok(())
    }

    fn line_complete<F>(&mut self, line: &[u8], on_event: &mut F) -> Result<(), Error>
    where
        F: FnMut(SseEvent<'_>) -> Result<(), Error>,
    {
        if line.is_empty() {
            return self.dispatch(on_event);
        }
        if line[0] == b':' {
            return Ok(());
        }
        let (field, value) = match memchr::memchr(b':', line) {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &[][..]),
        };
        match field {
            b"data" => {
                if self.has_data {
                    self.data.push(b'\n');
                }
                self.data.extend_from_slice(value);
                self.has_data = true;
                self.check_size()
            }
            b"event" => {
                self.event.clear();
                self.event.extend_from_slice(value);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn dispatch<F>(&mut self, on_event: &mut F) -> Result<(), Error>
    where
        F: FnMut(SseEvent<'_>) -> Result<(), Error>,
    {
        if !self.has_data {
            self.event.clear();
            return Ok(());
        }
        let result = match (str::from_utf8(&self.data), str::from_utf8(&self.event)) {
            (Ok(data), Ok(event)) => on_event(SseEvent { event, data }),
            _ => Err(fail(
                ErrorKind::MalformedResponse,
                "a stream event is not UTF-8",
            )),
        };
        self.data.clear();
        self.event.clear();
        self.has_data = false;
        result
    }
}
