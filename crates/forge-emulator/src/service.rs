//! One request, end to end: route, read, validate, fault, plan, render.
//!
//! Implementation notes: every random choice derives from
//! `mix(seed, conversation key, turn)`, where the conversation key hashes the
//! `x-forge-conversation-id` header (or, without one, the last user text).
//! The reply depends only on that, so a retried request gets the same
//! answer; the fault draw also mixes in the attempt number, counted per
//! conversation and turn, so a retry draws again.

use std::{
    collections::HashMap,
    convert::Infallible,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use tokio::sync::watch;

use crate::{
    Dialect, FaultKind, FaultSpec, Latency, Script,
    body::{End, Frame, PacedBody},
    convo::{Conversation, Reply, text_pieces},
    dialect::{self, ApiError, Job, Rendered},
    policy,
    rng::{Rng, hash, mix},
};

/// The largest request body accepted.
const MAX_REQUEST: usize = 32 << 20;
/// Attempt counters kept before the table is cleared.
const MAX_ATTEMPT_KEYS: usize = 1 << 20;
/// The header naming the conversation.
pub(crate) const CONVERSATION_HEADER: &str = "x-forge-conversation-id";

/// The server's shared state.
pub(crate) struct State {
    seed: u64,
    script: Script,
    faults: FaultSpec,
    latency: Latency,
    attempts: Mutex<HashMap<(u64, usize), u32>>,
    requests: AtomicU64,
    stop: watch::Receiver<bool>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("seed", &self.seed)
            .field("faults", &self.faults)
            .field("latency", &self.latency)
            .finish_non_exhaustive()
    }
}

/// Where a request goes.
struct Route {
    dialect: Dialect,
    /// Gemini: the model from the path and whether the method streams.
    model: String,
    stream: bool,
    sse: bool,
}

fn route(method: &Method, uri: &Uri) -> Option<Route> {
    if method != Method::POST {
        return None;
    }
    let path = uri.path();
    let plain = |dialect| Route {
        dialect,
        model: String::new(),
        stream: false,
        sse: false,
    };
    match path {
        "/v1/messages" => return Some(plain(Dialect::Anthropic)),
        "/v1/chat/completions" => return Some(plain(Dialect::OpenAi)),
        _ => {}
    }
    let (model, method) = path.strip_prefix("/v1beta/models/")?.rsplit_once(':')?;
    let stream = match method {
        "generateContent" => false,
        "streamGenerateContent" => true,
        _ => return None,
    };
    let sse = uri
        .query()
        .is_some_and(|q| q.split('&').any(|pair| pair == "alt=sse"));
    Some(Route {
        dialect: Dialect::Gemini,
        model: model.to_owned(),
        stream,
        sse,
    })
}

/// The per-request facts the fault and render steps share.
struct Exchange {
    route: Route,
    conv: Conversation,
    conversation_id: Option<String>,
    base: u64,
    attempt: u32,
}

impl State {
    pub(crate) fn new(
        seed: u64,
        script: Script,
        faults: FaultSpec,
        latency: Latency,
        stop: watch::Receiver<bool>,
    ) -> Self {
        Self {
            seed,
            script,
            faults,
            latency,
            attempts: Mutex::new(HashMap::new()),
            requests: AtomicU64::new(0),
            stop,
        }
    }

    pub(crate) fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Serves one request. Never fails: every problem is an HTTP answer.
    pub(crate) async fn handle(
        &self,
        request: Request<Incoming>,
    ) -> Result<Response<PacedBody>, Infallible> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let Some(route) = route(request.method(), request.uri()) else {
            return Ok(not_found());
        };
        let (parts, body) = request.into_parts();
        let mut rng = Rng::new(mix(self.seed, hash(parts.uri.path().as_bytes())));
        let body = match Limited::new(body, MAX_REQUEST).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(_) => return Ok(error_response(route.dialect.too_large(&mut rng))),
        };
        let conv = match parse(&route, &parts.headers, &body, &mut rng) {
            Ok(conv) => conv,
            Err(error) => {
                tracing::debug!(target: "forge_emulator", dialect = %route.dialect, status = error.status, "request rejected");
                return Ok(error_response(error));
            }
        };
        let conversation_id = parts
            .headers
            .get(CONVERSATION_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let key = hash(
            conversation_id
                .as_deref()
                .unwrap_or(&conv.user_text)
                .as_bytes(),
        );
        let attempt = self.next_attempt(key, conv.turn);
        let base = mix(mix(self.seed, key), conv.turn as u64);
        let req = Exchange {
            route,
            conv,
            conversation_id,
            base,
            attempt,
        };
        Ok(self.answer(req).await)
    }

    fn next_attempt(&self, key: u64, turn: usize) -> u32 {
        let mut attempts = self
            .attempts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if attempts.len() >= MAX_ATTEMPT_KEYS {
            attempts.clear();
        }
        let slot = attempts.entry((key, turn)).or_insert(0);
        let attempt = *slot;
        *slot += 1;
        attempt
    }

    fn pick_fault(&self, req: &Exchange) -> Option<FaultKind> {
        let scripted = req
            .conversation_id
            .as_deref()
            .and_then(|id| self.script.turn(id, req.conv.turn))
            .filter(|turn| !turn.faults.is_empty());
        match scripted {
            Some(turn) => turn.faults.get(req.attempt as usize).copied(),
            None => {
                let mut rng = Rng::new(mix(req.base, 0xFA17 ^ u64::from(req.attempt)));
                self.faults.pick(&mut rng)
            }
        }
    }

    async fn answer(&self, req: Exchange) -> Response<PacedBody> {
        let fault = self.pick_fault(&req);
        let mut rng = Rng::new(mix(req.base, u64::from(req.attempt)));
        if let Some(kind) = fault {
            tracing::debug!(target: "forge_emulator", dialect = %req.route.dialect, fault = %kind, attempt = req.attempt, "injecting fault");
            if kind.is_status() {
                let dialect = req.route.dialect;
                let wait = self.faults.retry_after();
                let error = dialect.fault(kind, wait, &req.conv.model, &mut rng);
                return error_response(error);
            }
            if kind == FaultKind::NoResponse {
                crate::emulator::stopped(&mut self.stop.clone()).await;
                return not_found();
            }
        }
        let script = req
            .conversation_id
            .as_deref()
            .and_then(|id| self.script.turn(id, req.conv.turn));
        let mut reply_rng = Rng::new(req.base);
        let mut reply = policy::plan(&req.conv, script, &self.latency, &mut reply_rng);
        if fault == Some(FaultKind::ContentFiltered) {
            reply = Reply {
                refused: true,
                ..Reply::default()
            };
        }
        let job = Job {
            conv: &req.conv,
            reply: &reply,
            rng: reply_rng,
            request_id: format!("req_011C{}", rng.token(20)),
            sse: req.route.sse,
        };
        let rendered = req.route.dialect.render(job);
        if !req.conv.stream {
            let pieces = text_pieces(&reply.text).len() + reply.calls.len();
            let wait = self.latency.first_token + self.latency.between_tokens * pieces as u32;
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
        }
        self.respond(&req, rendered, fault)
    }

    fn respond(
        &self,
        req: &Exchange,
        rendered: Rendered,
        fault: Option<FaultKind>,
    ) -> Response<PacedBody> {
        let Rendered {
            headers,
            mut frames,
            oversized,
            body_start,
        } = rendered;
        let mut end = End::Finish;
        let streaming = req.conv.stream;
        let body_fault = fault.filter(|kind| *kind != FaultKind::ContentFiltered);
        if let Some(kind) = body_fault {
            if !streaming {
                frames = whole_body_fault(kind, frames, &oversized, &self.faults, &mut end);
            } else {
                let at = self
                    .faults
                    .at()
                    .unwrap_or(frames.len() / 2)
                    .min(frames.len().saturating_sub(1));
                end = stream_fault(
                    kind,
                    &mut frames,
                    at,
                    req,
                    &oversized,
                    body_start,
                    &self.faults,
                );
            }
        }
        let mut headers = headers;
        if !streaming && fault == Some(FaultKind::Oversized) {
            let length: usize = frames.iter().map(|f| f.bytes.len()).sum();
            headers.push(("content-length", length.to_string()));
        }
        let latency = if streaming {
            self.latency
        } else {
            Latency::none()
        };
        let mut body = PacedBody::new(frames, &latency, end).with_stop(self.stop.clone());
        if !streaming && body_fault.is_none() {
            body = body.exact();
        }
        build(StatusCode::OK, headers, body)
    }
}

fn parse(
    route: &Route,
    headers: &HeaderMap,
    body: &[u8],
    rng: &mut Rng,
) -> Result<Conversation, ApiError> {
    match route.dialect {
        Dialect::Anthropic => dialect::anthropic::parse(headers, body, rng),
        Dialect::OpenAi => dialect::openai::parse(body),
        Dialect::Gemini => dialect::gemini::parse(body, &route.model, route.stream),
    }
}

/// Applies a mid-stream fault; returns how the body ends.
fn stream_fault(
    kind: FaultKind,
    frames: &mut Vec<Frame>,
    at: usize,
    req: &Exchange,
    oversized: &(String, String),
    body_start: usize,
    spec: &FaultSpec,
) -> End {
    match kind {
        FaultKind::ErrorAfterOk => {
            frames.truncate(at);
            frames.push(req.route.dialect.error_event(req.route.sse));
            End::Finish
        }
        FaultKind::StreamTruncated => {
            frames.truncate(at);
            End::Finish
        }
        FaultKind::ConnectionReset => {
            frames.truncate(at);
            End::Abort
        }
        FaultKind::Stall => {
            frames.truncate(at);
            End::Hang
        }
        FaultKind::MalformedChunk => {
            if let Some(frame) = frames.get_mut(at.max(body_start)) {
                *frame = dialect::malform(frame);
            }
            End::Finish
        }
        FaultKind::Oversized => {
            let at = body_start.min(frames.len());
            let big = oversized_frames(oversized, spec.oversize());
            frames.splice(at..at, big);
            End::Finish
        }
        _ => End::Finish,
    }
}

/// Applies a stream kind to a non-streaming body.
fn whole_body_fault(
    kind: FaultKind,
    frames: Vec<Frame>,
    oversized: &(String, String),
    spec: &FaultSpec,
    end: &mut End,
) -> Vec<Frame> {
    if kind == FaultKind::Oversized {
        return oversized_frames(oversized, spec.oversize());
    }
    let whole: Vec<u8> = frames
        .iter()
        .flat_map(|f| f.bytes.iter().copied())
        .collect();
    *end = match kind {
        FaultKind::ConnectionReset => End::Abort,
        FaultKind::Stall => End::Hang,
        _ => End::Finish,
    };
    vec![Frame::now(Bytes::copy_from_slice(
        &whole[..whole.len() / 2],
    ))]
}

static FILL: [u8; 64 * 1024] = [b'a'; 64 * 1024];

/// One event (or body) of about `size` bytes: prefix, filler, suffix.
fn oversized_frames((prefix, suffix): &(String, String), size: usize) -> Vec<Frame> {
    let mut frames = vec![Frame::now(prefix.clone())];
    let mut left = size.saturating_sub(prefix.len() + suffix.len());
    while left > 0 {
        let take = left.min(FILL.len());
        frames.push(Frame::now(Bytes::from_static(&FILL[..take])));
        left -= take;
    }
    frames.push(Frame::now(suffix.clone()));
    frames
}

fn build(
    status: StatusCode,
    headers: Vec<(&'static str, String)>,
    body: PacedBody,
) -> Response<PacedBody> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let map = response.headers_mut();
    for (name, value) in headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            map.append(name, value);
        }
    }
    response
}

fn error_response(error: ApiError) -> Response<PacedBody> {
    let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    build(status, error.headers, PacedBody::full(error.body))
}

fn not_found() -> Response<PacedBody> {
    let body = r#"{"error":{"message":"Not found","type":"not_found_error"}}"#;
    let headers = vec![("content-type", "application/json".to_owned())];
    build(StatusCode::NOT_FOUND, headers, PacedBody::full(body))
}
