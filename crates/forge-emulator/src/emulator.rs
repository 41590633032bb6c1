//! The builder, the running server's handle, and the accept loop.

use std::{fmt, net::SocketAddr, path::PathBuf, str::FromStr, sync::Arc, time::Duration};

use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::conn::auto,
};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::watch,
    task::{JoinHandle, JoinSet},
};

use crate::{Error, FaultSpec, Script, service::State};

/// HTTP/2 streams one connection may carry at once: enough for thousands of
/// concurrent conversations over a single h2c connection.
const MAX_STREAMS: u32 = 16_384;

/// A wire dialect the emulator speaks.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// Anthropic Messages, `POST /v1/messages`.
    Anthropic,
    /// OpenAI Chat Completions, `POST /v1/chat/completions`.
    OpenAi,
    /// Gemini, `POST /v1beta/models/{model}:generateContent` and
    /// `:streamGenerateContent`.
    Gemini,
}

impl Dialect {
    /// Every dialect.
    pub const ALL: [Dialect; 3] = [Self::Anthropic, Self::OpenAi, Self::Gemini];

    /// The dialect's name: `anthropic`, `openai` or `google`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Anthropic => "anthropic",
            Self::OpenAi => "openai",
            Self::Gemini => "google",
        }
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Dialect {
    type Err = Error;

    /// Accepts `anthropic`, `openai`, and `google` or `gemini`.
    fn from_str(s: &str) -> Result<Self, Error> {
        match s.trim().to_ascii_lowercase().as_str() {
            "anthropic" => Ok(Self::Anthropic),
            "openai" => Ok(Self::OpenAi),
            "google" | "gemini" => Ok(Self::Gemini),
            other => Err(Error::config(format!("unknown dialect `{other}`"))),
        }
    }
}

/// Response pacing and answer length.
///
/// The first frame of a streamed body waits `first_token`; each content frame
/// after it waits `between_tokens`. A non-streaming answer is sent whole after
/// `first_token` plus `between_tokens` per content piece. Answers that quote
/// tool results or reply without tools are padded with filler words up to
/// `answer_words` words (0 keeps them as they are).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Latency {
    /// Delay before the first frame of a response body.
    pub first_token: Duration,
    /// Delay before each later content frame.
    pub between_tokens: Duration,
    /// Minimum length of a text answer, in words.
    pub answer_words: usize,
}

impl Latency {
    /// No delays and natural answer lengths.
    pub const fn none() -> Self {
        Self {
            first_token: Duration::ZERO,
            between_tokens: Duration::ZERO,
            answer_words: 0,
        }
    }
}

/// Entry point: `Emulator::builder()`.
#[derive(Debug)]
pub struct Emulator {
    _private: (),
}

impl Emulator {
    /// A builder with seed 0, no script, no faults, no latency, bound to
    /// `127.0.0.1:0`.
    pub fn builder() -> EmulatorBuilder {
        EmulatorBuilder {
            seed: 0,
            script: None,
            script_path: None,
            faults: FaultSpec::none(),
            latency: Latency::none(),
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        }
    }
}

/// Configures and starts an emulator.
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `start` is awaited"]
pub struct EmulatorBuilder {
    seed: u64,
    script: Option<Script>,
    script_path: Option<PathBuf>,
    faults: FaultSpec,
    latency: Latency,
    bind: SocketAddr,
}

impl EmulatorBuilder {
    /// Sets the seed every generated id, split point and fault draw derives
    /// from.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Uses this script (see [`Script`]).
    pub fn script(mut self, script: Script) -> Self {
        self.script = Some(script);
        self
    }

    /// Reads a JSON-lines script from this file when starting. Turns from it
    /// are added to a script given with [`script`](Self::script).
    pub fn script_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.script_path = Some(path.into());
        self
    }

    /// Sets the seeded fault injection (see [`FaultSpec`]).
    pub fn faults(mut self, faults: FaultSpec) -> Self {
        self.faults = faults;
        self
    }

    /// Sets response pacing and answer length.
    pub fn latency(mut self, latency: Latency) -> Self {
        self.latency = latency;
        self
    }

    /// Sets the listening address (default `127.0.0.1:0`, an ephemeral
    /// loopback port).
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.bind = addr;
        self
    }

    /// Binds the socket and starts serving on the current tokio runtime.
    ///
    /// The server speaks HTTP/1.1 and HTTP/2 with prior knowledge (h2c) on the
    /// same port, and runs until [`EmulatorHandle::shutdown`] or until the
    /// handle is dropped.
    ///
    /// # Errors
    ///
    /// An I/O error when the script file cannot be read or the address
    /// cannot be bound; a config error when the script is invalid.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: nothing runs until it returns.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), forge_emulator::Error> {
    /// use forge_emulator::{Dialect, Emulator};
    ///
    /// let emulator = Emulator::builder().seed(7).start().await?;
    /// assert!(emulator.addr().ip().is_loopback());
    /// assert!(emulator.base_url(Dialect::OpenAi).ends_with("/v1"));
    /// emulator.shutdown().await;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn start(self) -> Result<EmulatorHandle, Error> {
        let mut script = self.script.unwrap_or_default();
        if let Some(path) = &self.script_path {
            let text = tokio::fs::read_to_string(path).await.map_err(|error| {
                Error::io(format!("cannot read script {}", path.display()), error)
            })?;
            script.merge(Script::parse(&text)?);
        }
        let listener = TcpListener::bind(self.bind)
            .await
            .map_err(|error| Error::io(format!("cannot bind {}", self.bind), error))?;
        let addr = listener
            .local_addr()
            .map_err(|error| Error::io("cannot read the bound address", error))?;
        let (stop, stopped) = watch::channel(false);
        let state = Arc::new(State::new(
            self.seed,
            script,
            self.faults,
            self.latency,
            stopped.clone(),
        ));
        tracing::debug!(target: "forge_emulator", %addr, seed = self.seed, "emulator listening");
        let accept = tokio::spawn(accept_loop(listener, Arc::clone(&state), stopped));
        Ok(EmulatorHandle {
            addr,
            stop,
            accept: Some(accept),
            state,
        })
    }
}

/// A running emulator. Dropping it stops the server (without waiting).
#[derive(Debug)]
pub struct EmulatorHandle {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    accept: Option<JoinHandle<()>>,
    state: Arc<State>,
}

impl EmulatorHandle {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL a provider adapter takes for `dialect`: `http://ADDR`
    /// for Anthropic and Gemini, `http://ADDR/v1` for OpenAI.
    pub fn base_url(&self, dialect: Dialect) -> String {
        match dialect {
            Dialect::OpenAi => format!("http://{}/v1", self.addr),
            Dialect::Anthropic | Dialect::Gemini => format!("http://{}", self.addr),
        }
    }

    /// The Anthropic base URL, `http://ADDR` (requests go to `/v1/messages`).
    pub fn anthropic_url(&self) -> String {
        self.base_url(Dialect::Anthropic)
    }

    /// The OpenAI base URL, `http://ADDR/v1` (requests go to
    /// `/chat/completions` under it).
    pub fn openai_url(&self) -> String {
        self.base_url(Dialect::OpenAi)
    }

    /// The Gemini base URL, `http://ADDR` (requests go to
    /// `/v1beta/models/{model}:generateContent` and
    /// `:streamGenerateContent?alt=sse`).
    pub fn gemini_url(&self) -> String {
        self.base_url(Dialect::Gemini)
    }

    /// The number of HTTP requests received so far.
    pub fn requests(&self) -> u64 {
        self.state.requests()
    }

    /// Stops accepting, closes every connection (in-flight responses are cut)
    /// and waits for the connection tasks to end.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the server is told to stop before the first await, so a
    /// cancelled call still stops it, only without waiting.
    pub async fn shutdown(mut self) {
        self.stop.send_replace(true);
        if let Some(accept) = self.accept.take() {
            // The accept loop never panics; a join error can only be a panic
            // already reported by tokio, so there is nothing to add.
            let _ = accept.await;
        }
    }
}

impl Drop for EmulatorHandle {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}

async fn accept_loop(listener: TcpListener, state: Arc<State>, mut stop: watch::Receiver<bool>) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(MAX_STREAMS);
    let builder = Arc::new(builder);
    let mut connections = JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let conn_stop = stop.clone();
        tokio::select! {
            () = stopped(&mut stop) => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    tracing::trace!(target: "forge_emulator", %peer, "connection accepted");
                    let conn = serve(stream, Arc::clone(&state), Arc::clone(&builder), conn_stop);
                    connections.spawn(conn);
                }
                Err(error) => {
                    // Out of file descriptors or a transient accept error:
                    // back off briefly instead of spinning.
                    tracing::debug!(target: "forge_emulator", %error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
        }
    }
    connections.shutdown().await;
}

async fn serve(
    stream: TcpStream,
    state: Arc<State>,
    builder: Arc<auto::Builder<TokioExecutor>>,
    mut stop: watch::Receiver<bool>,
) {
    // Small SSE frames must not wait for Nagle's algorithm.
    let _ = stream.set_nodelay(true);
    let service = hyper::service::service_fn(move |request| {
        let state = Arc::clone(&state);
        async move { state.handle(request).await }
    });
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        result = connection => {
            if let Err(error) = result {
                tracing::trace!(target: "forge_emulator", %error, "connection ended");
            }
        }
        () = stopped(&mut stop) => {}
    }
}

/// Resolves once the stop flag is set (or its sender is gone).
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    // An error means the handle is gone, which also means stop.
    let _ = stop.wait_for(|stopped| *stopped).await;
}
