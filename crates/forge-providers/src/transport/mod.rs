//! The shared HTTP transport: one pooled hyper client per process and TLS
//! set-up, with the deadlines and limits hyper-util leaves to its users.
//!
//! Implementation notes: hyper-util's legacy client pools connections but has
//! no request timeout and no connection cap. Deadlines are applied here
//! (connect in the connector, first chunk and total around the request, idle
//! between body chunks in [`Body`]). The cap is a semaphore per host whose
//! permit lives as long as the response body: over HTTP/1.1 each in-flight
//! request holds one connection, so this bounds the sockets a host can take.
//! Clients are shared per process and keyed by what changes the connector
//! (extra CA, h2c, connect timeout), so all deployments with default settings
//! share one pool.

mod body;
mod tls;

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{Arc, Mutex, OnceLock},
    time::Duration,
};

use bytes::Bytes;
use forge_core::ErrorKind;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::Full;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::{TokioExecutor, TokioTimer},
};
use tokio::{sync::Semaphore, time::Instant};

pub(crate) use body::Body;

use crate::{Error, error::fail};

type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// HTTP/2 flow-control windows. Fixed and large on purpose: with hyper's
/// adaptive window the connection window starts at 64 KiB, and h2 budgets
/// the small DATA frames a client has buffered but not read against half of
/// it, so a thousand token streams multiplexed on one connection trip its
/// "excessive load" guard (`too_many_data_frames`) and get reset.
const H2_CONNECTION_WINDOW: u32 = 8 << 20;
const H2_STREAM_WINDOW: u32 = 2 << 20;

/// What a deployment asks of the transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TransportSettings {
    pub(crate) connect_timeout: Duration,
    pub(crate) first_chunk_timeout: Duration,
    pub(crate) idle_timeout: Duration,
    pub(crate) max_body_bytes: usize,
    pub(crate) max_event_bytes: usize,
    pub(crate) http2_prior_knowledge: bool,
    pub(crate) ca_file: Option<PathBuf>,
    pub(crate) max_connections_per_host: Option<usize>,
    pub(crate) pool_max_idle_per_host: usize,
}

/// The part of the settings that shapes a pooled client.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ClientKey {
    http2_prior_knowledge: bool,
    ca_file: Option<PathBuf>,
    connect_timeout: Duration,
    pool_max_idle_per_host: usize,
}

/// A response whose headers have arrived.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Body,
}

/// A deployment's handle on the shared client.
#[derive(Debug, Clone)]
pub(crate) struct Transport {
    client: HttpClient,
    settings: Arc<TransportSettings>,
    host_permits: Option<Arc<Semaphore>>,
}

impl Transport {
    /// The transport for `settings`, talking to `authority` (`host:port`).
    pub(crate) fn new(settings: TransportSettings, authority: &str) -> Result<Self, Error> {
        let client = shared_client(&settings)?;
        let host_permits = settings
            .max_connections_per_host
            .map(|cap| host_semaphore(authority, cap));
        Ok(Self {
            client,
            settings: Arc::new(settings),
            host_permits,
        })
    }

    /// The settings this transport was made with.
    pub(crate) fn settings(&self) -> &TransportSettings {
        &self.settings
    }

    /// Sends `request` and waits for the response headers, within the
    /// first-chunk timeout and the total `deadline`.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future abandons the request.
    pub(crate) async fn send(
        &self,
        request: Request<Full<Bytes>>,
        deadline: Option<Instant>,
    ) -> Result<Response, forge_core::Error> {
        let permit = match &self.host_permits {
            Some(sem) => Some(
                within(deadline, sem.clone().acquire_owned())
                    .await?
                    .map_err(|_| {
                        fail(
                            ErrorKind::Connection,
                            "the host's connection limit was closed",
                        )
                    })?,
            ),
            None => None,
        };
        let first_chunk_by = Instant::now() + self.settings.first_chunk_timeout;
        let limit = deadline.map_or(first_chunk_by, |d| d.min(first_chunk_by));
        let response = tokio::time::timeout_at(limit, self.client.request(request))
            .await
            .map_err(|_| {
                fail(
                    ErrorKind::Timeout,
                    "no response before the first-chunk timeout",
                )
            })?
            .map_err(request_error)?;
        let (parts, incoming) = response.into_parts();
        let body = Body::new(
            incoming,
            Some(first_chunk_by),
            self.settings.idle_timeout,
            deadline,
            permit,
        );
        Ok(Response {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }
}

async fn within<F: Future>(
    deadline: Option<Instant>,
    f: F,
) -> Result<F::Output, forge_core::Error> {
    match deadline {
        Some(at) => tokio::time::timeout_at(at, f)
            .await
            .map_err(|_| fail(ErrorKind::Timeout, "the request's total timeout passed")),
        None => Ok(f.await),
    }
}

fn request_error(e: hyper_util::client::legacy::Error) -> forge_core::Error {
    let message = if e.is_connect() {
        "could not connect to the provider"
    } else {
        "the request to the provider failed"
    };
    fail(ErrorKind::Connection, message).with_source(e)
}

/// The process's pooled clients, by what changes their connector.
static CLIENTS: OnceLock<Mutex<HashMap<ClientKey, HttpClient>>> = OnceLock::new();

/// Forgets the process's shared HTTP clients; see [`crate::release_shared_clients`].
pub(crate) fn release_shared_clients() {
    if let Some(clients) = CLIENTS.get() {
        let released = std::mem::take(&mut *clients.lock().unwrap_or_else(|e| e.into_inner()));
        tracing::debug!(clients = released.len(), "released the shared HTTP clients");
    }
}

fn shared_client(settings: &TransportSettings) -> Result<HttpClient, Error> {
    let key = ClientKey {
        http2_prior_knowledge: settings.http2_prior_knowledge,
        ca_file: settings.ca_file.clone(),
        connect_timeout: settings.connect_timeout,
        pool_max_idle_per_host: settings.pool_max_idle_per_host,
    };
    let clients = CLIENTS.get_or_init(Mutex::default);
    let mut clients = clients.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(client) = clients.get(&key) {
        return Ok(client.clone());
    }
    let client = build_client(&key)?;
    clients.insert(key, client.clone());
    Ok(client)
}

fn build_client(key: &ClientKey) -> Result<HttpClient, Error> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(key.connect_timeout));
    let tls = tls::client_config(key.ca_file.as_deref())?;
    let connector = HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_all_versions()
        .wrap_connector(http);
    let client = Client::builder(TokioExecutor::new())
        .timer(TokioTimer::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(key.pool_max_idle_per_host)
        .http2_only(key.http2_prior_knowledge)
        .http2_initial_connection_window_size(H2_CONNECTION_WINDOW)
        .http2_initial_stream_window_size(H2_STREAM_WINDOW)
        .build(connector);
    Ok(client)
}

/// Connection permits by `(authority, cap)`.
type HostPermits = HashMap<(String, usize), Arc<Semaphore>>;

fn host_semaphore(authority: &str, cap: usize) -> Arc<Semaphore> {
    static HOSTS: OnceLock<Mutex<HostPermits>> = OnceLock::new();
    let hosts = HOSTS.get_or_init(Mutex::default);
    let mut hosts = hosts.lock().unwrap_or_else(|e| e.into_inner());
    hosts
        .entry((authority.to_owned(), cap))
        .or_insert_with(|| Arc::new(Semaphore::new(cap.max(1))))
        .clone()
}
