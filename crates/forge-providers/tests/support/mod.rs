//! A scripted HTTP server on 127.0.0.1 for the provider tests.
//!
//! It knows nothing of the adapters: every answer is raw bytes written in
//! the test, sent in the given pieces with the given pauses. It records what
//! it received so tests can assert on paths, headers and bodies.

#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test binary uses a different part"
)]

use std::{
    collections::VecDeque,
    convert::Infallible,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// Body pieces, each sent after its pause.
    pub pieces: Vec<(Duration, Bytes)>,
    /// Wait this long before sending the response headers.
    pub delay: Duration,
    /// Send nothing at all, ever (a silent server).
    pub silent: bool,
}

impl Reply {
    /// A JSON answer.
    pub fn json(status: u16, body: &str) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            pieces: vec![(Duration::ZERO, Bytes::from(body.to_owned()))],
            delay: Duration::ZERO,
            silent: false,
        }
    }

    /// An event stream sent in `pieces`, back to back.
    pub fn sse(pieces: &[&str]) -> Self {
        Self {
            status: 200,
            headers: vec![("content-type".into(), "text/event-stream".into())],
            pieces: pieces
                .iter()
                .map(|p| (Duration::ZERO, Bytes::from(p.to_string())))
                .collect(),
            delay: Duration::ZERO,
            silent: false,
        }
    }

    /// A server that accepts the request and never answers.
    pub fn silent() -> Self {
        Self {
            silent: true,
            ..Self::json(200, "")
        }
    }

    /// Adds a response header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Pauses before every body piece.
    pub fn paced(mut self, pause: Duration) -> Self {
        for piece in &mut self.pieces {
            piece.0 = pause;
        }
        self
    }
}

/// A request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub version: http::Version,
    pub path: String,
    pub headers: HeaderMap,
    pub body: serde_json::Value,
}

#[derive(Default)]
struct State {
    replies: VecDeque<Reply>,
    seen: Vec<Seen>,
}

/// A running server; dropped at the end of the test's runtime.
#[derive(Clone)]
pub struct Server {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

impl Server {
    /// Starts a plain-http server answering with `replies` in order
    /// (HTTP/1.1 or h2c, whichever the client speaks).
    pub async fn start(replies: Vec<Reply>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = Self::new(listener.local_addr().unwrap(), replies);
        let s = server.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                s.serve(TokioIo::new(tcp));
            }
        });
        server
    }

    /// A server state for `addr`; the caller runs the accept loop.
    pub fn new(addr: SocketAddr, replies: Vec<Reply>) -> Self {
        let state = State {
            replies: replies.into(),
            seen: Vec::new(),
        };
        Self {
            addr,
            state: Arc::new(Mutex::new(state)),
        }
    }

    /// Serves one accepted connection.
    pub fn serve<I>(&self, io: I)
    where
        I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    {
        let s = self.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let s = s.clone();
                async move { s.answer(req).await }
            });
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            let _ = builder.serve_connection(io, service).await;
        });
    }

    /// Every request received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    /// How many requests arrived.
    pub fn hits(&self) -> usize {
        self.state.lock().unwrap().seen.len()
    }

    async fn answer(
        &self,
        req: Request<Incoming>,
    ) -> Result<Response<StreamBody<BodyStream>>, Infallible> {
        let path = req
            .uri()
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default();
        let headers = req.headers().clone();
        let version = req.version();
        let bytes = req.into_body().collect().await.unwrap().to_bytes();
        let body = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        let reply = {
            let mut state = self.state.lock().unwrap();
            state.seen.push(Seen {
                version,
                path,
                headers,
                body,
            });
            state.replies.pop_front()
        };
        let reply = reply.unwrap_or_else(|| Reply::json(500, r#"{"error":"script exhausted"}"#));
        if reply.silent {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        tokio::time::sleep(reply.delay).await;
        let mut response = Response::builder().status(StatusCode::from_u16(reply.status).unwrap());
        for (k, v) in &reply.headers {
            response = response.header(k, v);
        }
        Ok(response
            .body(StreamBody::new(body_stream(reply.pieces)))
            .unwrap())
    }
}

type BodyStream =
    std::pin::Pin<Box<dyn futures_core::Stream<Item = Result<Frame<Bytes>, Infallible>> + Send>>;

fn body_stream(pieces: Vec<(Duration, Bytes)>) -> BodyStream {
    let pieces: VecDeque<_> = pieces.into();
    Box::pin(futures_util::stream::unfold(
        pieces,
        |mut pieces| async move {
            let (pause, bytes) = pieces.pop_front()?;
            tokio::time::sleep(pause).await;
            Some((Ok(Frame::data(bytes)), pieces))
        },
    ))
}
