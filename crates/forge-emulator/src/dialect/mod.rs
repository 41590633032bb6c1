//! The three wire dialects and what they share.
//!
//! Implementation notes: responses are built as bytes by hand (`format!` and
//! [`js`] for escaping) rather than through serde structs, so that field
//! order, spacing and padding match what the real servers send. Requests are
//! read as [`serde_json::Value`] and checked the way the real servers check
//! them, answering 400 in each dialect's error format.

pub(crate) mod anthropic;
pub(crate) mod gemini;
pub(crate) mod openai;

use std::{
    io,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use bytes::Bytes;
use serde_json::Value;

use crate::{
    Dialect, FaultKind,
    body::Frame,
    convo::{Conversation, Reply},
    rng::Rng,
};

/// An HTTP error answer: status, extra headers and body.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) body: Bytes,
}

/// A rendered success answer.
#[derive(Debug, Clone)]
pub(crate) struct Rendered {
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) frames: Vec<Frame>,
    /// Wraps an oversized payload: (prefix, suffix) around the filler bytes.
    pub(crate) oversized: (String, String),
    /// Where an oversized event goes (after the stream's opening frames).
    pub(crate) body_start: usize,
}

/// Everything a renderer needs for one request.
pub(crate) struct Job<'a> {
    pub(crate) conv: &'a Conversation,
    pub(crate) reply: &'a Reply,
    pub(crate) rng: Rng,
    pub(crate) request_id: String,
    /// Gemini: the stream is SSE rather than one JSON array.
    pub(crate) sse: bool,
}

impl Dialect {
    pub(crate) fn render(self, job: Job<'_>) -> Rendered {
        match self {
            Self::Anthropic => anthropic::render(job),
            Self::OpenAi => openai::render(job),
            Self::Gemini => gemini::render(job),
        }
    }

    pub(crate) fn fault(
        self,
        kind: FaultKind,
        retry_after: Duration,
        model: &str,
        rng: &mut Rng,
    ) -> ApiError {
        if kind == FaultKind::NotFound {
            return match self {
                Self::Anthropic => anthropic::model_not_found(model, rng),
                Self::OpenAi => openai::model_not_found(model),
                Self::Gemini => gemini::model_not_found(model),
            };
        }
        match self {
            Self::Anthropic => anthropic::fault(kind, retry_after, rng),
            Self::OpenAi => openai::fault(kind, retry_after, rng),
            Self::Gemini => gemini::fault(kind, retry_after),
        }
    }

    /// The error event sent after HTTP 200.
    pub(crate) fn error_event(self, sse: bool) -> Frame {
        match self {
            Self::Anthropic => anthropic::error_event(),
            Self::OpenAi => openai::error_event(),
            Self::Gemini => gemini::error_event(sse),
        }
    }

    /// A 413 for a body over the request limit.
    pub(crate) fn too_large(self, rng: &mut Rng) -> ApiError {
        match self {
            Self::Anthropic => anthropic::too_large(rng),
            Self::OpenAi => openai::too_large(),
            Self::Gemini => gemini::too_large(),
        }
    }
}

/// A JSON string literal for `s`.
pub(crate) fn js(s: &str) -> String {
    serde_json::to_string(s).expect("serializing a str cannot fail")
}

/// `event: NAME\ndata: JSON\n\n`.
pub(crate) fn sse_event(name: &str, data: &str) -> String {
    format!("event: {name}\ndata: {data}\n\n")
}

/// `data: JSON\n\n`.
pub(crate) fn sse_data(data: &str) -> String {
    format!("data: {data}\n\n")
}

/// Cuts a frame's payload in half, keeping its line-end separator.
pub(crate) fn malform(frame: &Frame) -> Frame {
    let bytes = &frame.bytes[..];
    let end = bytes
        .iter()
        .rposition(|b| *b != b'\n' && *b != b'\r')
        .map_or(0, |at| at + 1);
    let half = end / 2;
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(&bytes[..half]);
    out.extend_from_slice(&bytes[end..]);
    Frame {
        bytes: out.into(),
        pace: frame.pace,
    }
}

/// The text of a JSON value as a tool result quote: strings verbatim.
pub(crate) fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .map(|part| match part.get("text").and_then(Value::as_str) {
                Some(text) => text.to_owned(),
                None => value_text(part),
            })
            .collect::<Vec<_>>()
            .join(" "),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Input-token estimate: a quarter of the request's bytes.
pub(crate) fn input_tokens(body: &[u8]) -> u64 {
    (body.len() as u64 / 4).max(1)
}

/// Retry headers for a rate-limit kind: seconds, HTTP date or milliseconds.
pub(crate) fn retry_headers(kind: FaultKind, wait: Duration) -> Vec<(&'static str, String)> {
    match kind {
        FaultKind::RateLimitedDate => {
            let at = SystemTime::now() + wait + Duration::from_secs(1);
            vec![("retry-after", httpdate::fmt_http_date(at))]
        }
        FaultKind::RateLimitedMs => vec![("retry-after-ms", wait.as_millis().to_string())],
        _ => vec![(
            "retry-after",
            wait.as_secs_f64().ceil().max(1.0).to_string(),
        )],
    }
}

/// An RFC 3339 UTC timestamp `wait` from now, to the second.
pub(crate) fn rfc3339_in(wait: Duration) -> String {
    let secs = (SystemTime::now() + wait)
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    let (hh, mm, ss) = (rem / 3600, rem % 3600 / 60, rem % 60);
    format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z")
}

/// Howard Hinnant's days-to-civil conversion.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// A Go-style duration (`1s`, `6m0s`, `20ms`), as OpenAI's reset headers use.
pub(crate) fn go_duration(wait: Duration) -> String {
    let ms = wait.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let secs = wait.as_secs_f64();
    let minutes = (secs / 60.0).floor();
    let rest = secs - minutes * 60.0;
    let rest = format!("{:.3}", rest);
    let rest = rest.trim_end_matches('0').trim_end_matches('.');
    if minutes >= 1.0 {
        format!("{minutes}m{rest}s")
    } else {
        format!("{rest}s")
    }
}

/// Whether a tool name fits `^[a-zA-Z0-9_-]{1,64}$`.
pub(crate) fn plain_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Compact JSON with the given separators after keys and between items.
pub(crate) fn json_with(value: &Value, colon: &'static [u8], comma: &'static [u8]) -> String {
    let mut out = Vec::new();
    let formatter = Separators { colon, comma };
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
    serde::Serialize::serialize(value, &mut serializer).expect("serializing a Value cannot fail");
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

struct Separators {
    colon: &'static [u8],
    comma: &'static [u8],
}

impl serde_json::ser::Formatter for Separators {
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            w.write_all(self.comma)
        }
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            w.write_all(self.comma)
        }
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(self.colon)
    }
}

/// Re-indents compact JSON text with two spaces, keeping key order.
pub(crate) fn pretty(compact: &str) -> String {
    let mut out = String::with_capacity(compact.len() * 2);
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.push_str(&"  ".repeat(depth));
    };
    let mut chars = compact.chars().peekable();
    while let Some(ch) = chars.next() {
        if in_string {
            out.push(ch);
            match (escaped, ch) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match ch {
            '"' => {
                in_string = true;
                out.push(ch);
            }
            '{' | '[' if matches!(chars.peek(), Some('}' | ']')) => {
                out.push(ch);
                out.extend(chars.next());
            }
            '{' | '[' => {
                out.push(ch);
                depth += 1;
                newline(&mut out, depth);
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(ch);
            }
            ',' => {
                out.push(ch);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            ' ' => {}
            _ => out.push(ch),
        }
    }
    out
}
