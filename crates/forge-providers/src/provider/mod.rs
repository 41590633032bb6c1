//! The machinery every adapter shares: a [`Dialect`] describes one wire
//! format, and [`Provider`] turns it into a [`Model`] with the transport,
//! retries, deadlines and the `chat` span.

pub(crate) mod classify;
pub(crate) mod history;
pub(crate) mod json;
mod span;
mod stream;
pub(crate) mod tools;

use std::{collections::VecDeque, sync::Arc, time::Duration};

use bytes::Bytes;
use forge_core::{
    BoxFuture, Error, ErrorKind, EventStream, Model, ModelRequest, ModelResponse, StreamEvent,
};
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode, Uri, header};
use http_body_util::Full;
use tokio::time::Instant;
use tracing::{Instrument, Span};

pub(crate) use tools::{NameMap, ToolCache};

use crate::{
    DeploymentConfig, ProviderKind,
    error::fail,
    provider::classify::Redactor,
    retry::Backoff,
    sse::SseEvent,
    transport::{Transport, TransportSettings},
};

/// The header carrying [`ModelRequest::conversation_id`].
pub(crate) const CONVERSATION_HEADER: &str = "x-forge-conversation-id";

/// A request body ready to send, with what is needed to read the answer.
#[derive(Debug)]
pub(crate) struct Prepared {
    /// Path and query appended to the base URL.
    pub(crate) path: String,
    /// The JSON body.
    pub(crate) body: Bytes,
    /// Tool names as sent, for mapping calls back.
    pub(crate) names: Arc<NameMap>,
}

/// One vendor's wire format.
pub(crate) trait Dialect: Send + Sync + 'static {
    /// Folds one response's SSE events into stream events.
    type Assembly: Assembly;

    /// Which provider this is.
    const KIND: ProviderKind;

    /// Maps `request` to a body and path.
    fn prepare(
        &self,
        request: &ModelRequest,
        model: &str,
        max_tokens: u32,
        stream: bool,
    ) -> Result<Prepared, Error>;

    /// Adds authentication and version headers.
    fn headers(&self, headers: &mut HeaderMap);

    /// Parses a whole (non-streamed) response.
    fn parse(&self, body: &[u8], names: &Arc<NameMap>) -> Result<ModelResponse, Error>;

    /// A fresh assembly for one streamed response.
    fn assembly(&self, names: Arc<NameMap>) -> Self::Assembly;

    /// Classifies a non-success HTTP answer.
    fn classify(&self, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Error;
}

/// Turns one response's SSE events into [`StreamEvent`]s.
pub(crate) trait Assembly: Send + 'static {
    /// Handles one event, pushing what it completes onto `out`.
    fn event(&mut self, event: SseEvent<'_>, out: &mut VecDeque<StreamEvent>) -> Result<(), Error>;

    /// The body ended cleanly at an event boundary: flush, or report a
    /// truncated stream if the provider's terminator never came.
    fn end(&mut self, out: &mut VecDeque<StreamEvent>) -> Result<(), Error>;
}

/// Where a deployment lives.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    pub(crate) base: String,
    pub(crate) host: String,
    pub(crate) port: u16,
}

impl Endpoint {
    pub(crate) fn parse(base: &str) -> Result<(Self, String), crate::Error> {
        let invalid = |why: &str| crate::Error::config(format!("invalid base URL `{base}`: {why}"));
        let uri: Uri = base.parse().map_err(|_| invalid("not a URL"))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(invalid("the scheme must be http or https")),
        };
        let host = uri.host().ok_or_else(|| invalid("no host"))?.to_owned();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let authority = format!("{host}:{port}");
        let base = base.trim_end_matches('/').to_owned();
        Ok((Self { base, host, port }, authority))
    }
}

/// A [`Model`] speaking dialect `D` to one deployment.
pub(crate) struct Provider<D> {
    dialect: D,
    transport: Transport,
    endpoint: Endpoint,
    deployment: DeploymentConfig,
}

impl<D: Dialect> Provider<D> {
    pub(crate) fn new(dialect: D, deployment: &DeploymentConfig) -> Result<Self, crate::Error> {
        let (endpoint, authority) = Endpoint::parse(deployment.base_url())?;
        let transport = Transport::new(settings(deployment), &authority)?;
        Ok(Self {
            dialect,
            transport,
            endpoint,
            deployment: deployment.clone(),
        })
    }

    fn model<'a>(&'a self, request: &'a ModelRequest) -> &'a str {
        request.model.as_deref().unwrap_or(&self.deployment.model)
    }

    fn max_tokens(&self, request: &ModelRequest) -> u32 {
        request.max_tokens.unwrap_or(self.deployment.max_tokens)
    }

    fn span(&self, request: &ModelRequest, stream: bool) -> Span {
        let model = self.model(request);
        let max_tokens = self.max_tokens(request);
        span::chat_span(D::KIND, model, stream, request, max_tokens, &self.endpoint)
    }

    fn deadline(&self, request: &ModelRequest) -> Option<Instant> {
        let total = request.timeout.or(self.deployment.timeouts.total)?;
        Some(Instant::now() + total)
    }

    fn prepare(&self, request: &ModelRequest, stream: bool) -> Result<Prepared, Error> {
        let max_tokens = self.max_tokens(request);
        self.dialect
            .prepare(request, self.model(request), max_tokens, stream)
    }

    fn http_request(
        &self,
        prepared: &Prepared,
        conversation: Option<&HeaderValue>,
        stream: bool,
    ) -> Result<Request<Full<Bytes>>, Error> {
        let uri = format!("{}{}", self.endpoint.base, prepared.path);
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(uri)
            .body(Full::new(prepared.body.clone()))
            .map_err(|e| {
                fail(ErrorKind::InvalidRequest, "cannot build the request").with_source(e)
            })?;
        let headers = request.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        let accept = if stream {
            "text/event-stream"
        } else {
            "application/json"
        };
        headers.insert(header::ACCEPT, HeaderValue::from_static(accept));
        if let Some(id) = conversation {
            headers.insert(CONVERSATION_HEADER, id.clone());
        }
        self.dialect.headers(headers);
        Ok(request)
    }

    async fn complete_traced(
        &self,
        request: ModelRequest,
        span: &Span,
    ) -> Result<ModelResponse, Error> {
        if let Some(wait) = crate::limit::queue_wait() {
            span::record_queue_wait(span, wait);
        }
        let deadline = self.deadline(&request);
        let prepared = self.prepare(&request, false)?;
        let conversation = conversation_header(&request)?;
        let mut backoff = Backoff::new(&self.deployment.retry);
        loop {
            let error = match self
                .attempt(&prepared, conversation.as_ref(), deadline)
                .await
            {
                Ok(response) => return Ok(response),
                Err(error) => error,
            };
            let Some(wait) = backoff.next_wait(&error, deadline) else {
                return Err(error);
            };
            retry_debug(&error, wait);
            tokio::time::sleep(wait).await;
        }
    }

    async fn attempt(
        &self,
        prepared: &Prepared,
        conversation: Option<&HeaderValue>,
        deadline: Option<Instant>,
    ) -> Result<ModelResponse, Error> {
        let request = self.http_request(prepared, conversation, false)?;
        let response = self.transport.send(request, deadline).await?;
        let limit = self.transport.settings().max_body_bytes;
        let body = response.body.collect(limit).await?;
        if !response.status.is_success() {
            return Err(self.classify(response.status, &response.headers, &body));
        }
        self.dialect
            .parse(&body, &prepared.names)
            .map_err(|e| self.redactor().error(e))
    }

    /// What scrubs this deployment's key from provider text.
    fn redactor(&self) -> Redactor {
        Redactor::new(self.deployment.api_key().as_ref())
    }

    /// Classifies a non-success answer from its body with the key masked,
    /// then masks the message again: JSON may spell the key with escapes
    /// that only decoding turns back into it.
    fn classify(&self, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Error {
        let redactor = self.redactor();
        let body = redactor.body(body);
        redactor.error(self.dialect.classify(status, headers, &body))
    }
}

fn conversation_header(request: &ModelRequest) -> Result<Option<HeaderValue>, Error> {
    request
        .conversation_id
        .as_deref()
        .map(|id| {
            HeaderValue::from_str(id).map_err(|_| {
                fail(
                    ErrorKind::InvalidRequest,
                    "the conversation id is not a valid header value",
                )
            })
        })
        .transpose()
}

fn retry_debug(error: &Error, wait: Duration) {
    tracing::debug!(
        target: "forge_providers::retry",
        error_type = error.kind().as_str(),
        wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
        "retrying model call"
    );
}

fn settings(d: &DeploymentConfig) -> TransportSettings {
    TransportSettings {
        connect_timeout: d.timeouts.connect,
        first_chunk_timeout: d.timeouts.first_chunk,
        idle_timeout: d.timeouts.idle,
        max_body_bytes: d.http.max_body_bytes,
        max_event_bytes: d.http.max_event_bytes,
        http2_prior_knowledge: d.http2_prior_knowledge,
        ca_file: d.ca_file.clone(),
        max_connections_per_host: d.http.max_connections_per_host,
        pool_max_idle_per_host: d.http.pool_max_idle_per_host,
    }
}

impl<D: Dialect> Model for Provider<D> {
    fn complete(&self, request: ModelRequest) -> BoxFuture<'_, Result<ModelResponse, Error>> {
        let span = self.span(&request, false);
        let recorder = span.clone();
        Box::pin(
            async move {
                let result = self.complete_traced(request, &recorder).await;
                let span = recorder;
                match &result {
                    Ok(response) => span::record_response(&span, response),
                    Err(error) => span::record_error(&span, error),
                }
                result
            }
            .instrument(span),
        )
    }

    fn stream(&self, request: ModelRequest) -> EventStream<'_> {
        stream::start(self, request)
    }
}
