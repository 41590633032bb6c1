//! Transport behaviour against real local servers: TLS with a test CA,
//! HTTP/2 over ALPN, h2c with prior knowledge, size limits, and the `chat`
//! span's fields.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failure report"
)]

#[path = "support/mod.rs"]
mod support;

#[path = "transport_support/capture.rs"]
mod capture;

use std::{sync::Arc, time::Duration};

use forge_core::{ErrorKind, Message, ModelRequest};
use forge_providers::{DeploymentConfig, ProviderKind};
use futures_util::StreamExt as _;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use support::{Reply, Server};
use tokio::net::TcpListener;

const HELLO: &str = r#"{"id":"c1","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"Hello there"},"finish_reason":"stop"}],"usage":{"prompt_tokens":10,"completion_tokens":5}}"#;

fn deployment(base_url: String) -> DeploymentConfig {
    let mut d = DeploymentConfig::new(ProviderKind::OpenAi, "test-model");
    d.base_url = Some(base_url);
    d.retry.max_retries = 0;
    d.timeouts.first_chunk = Duration::from_secs(5);
    d
}

fn request() -> ModelRequest {
    ModelRequest::new(vec![Message::user("Hi")]).conversation_id("conv-t")
}

/// A CA file on disk and a TLS server certificate for 127.0.0.1 signed by it.
struct TestPki {
    ca_file: std::path::PathBuf,
    server: Arc<rustls::ServerConfig>,
}

fn pki(tag: &str) -> TestPki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let leaf_params = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();

    let ca_file =
        std::env::temp_dir().join(format!("forge-test-ca-{}-{tag}.pem", std::process::id()));
    std::fs::write(&ca_file, ca_cert.pem()).unwrap();

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let chain = vec![CertificateDer::from(leaf.der().to_vec())];
    let mut server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    TestPki {
        ca_file,
        server: Arc::new(server),
    }
}

async fn tls_server(config: Arc<rustls::ServerConfig>, replies: Vec<Reply>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = Server::new(listener.local_addr().unwrap(), replies);
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let s = server.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            if let Ok(tls) = acceptor.accept(tcp).await {
                s.serve(hyper_util::rt::TokioIo::new(tls));
            }
        }
    });
    server
}

#[tokio::test]
async fn https_with_the_test_ca_succeeds_over_http2() {
    let pki = pki("ok");
    let server = tls_server(pki.server.clone(), vec![Reply::json(200, HELLO)]).await;
    let mut d = deployment(format!("https://{}/v1", server.addr));
    d.ca_file = Some(pki.ca_file.clone());
    let model = forge_providers::connect(&d).unwrap();
    let answer = model.complete(request()).await.unwrap();
    assert_eq!(answer.to_message().text(), "Hello there");
    assert_eq!(
        server.seen()[0].version,
        http::Version::HTTP_2,
        "ALPN chose h2"
    );
}

#[tokio::test]
async fn https_without_the_ca_fails_closed() {
    let pki = pki("closed");
    let server = tls_server(pki.server.clone(), vec![Reply::json(200, HELLO)]).await;
    let model =
        forge_providers::connect(&deployment(format!("https://{}/v1", server.addr))).unwrap();
    let error = model.complete(request()).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Connection);
    assert_eq!(server.hits(), 0, "no request reached an untrusted server");
}

#[tokio::test]
async fn a_missing_ca_file_is_a_config_error() {
    let mut d = deployment("https://127.0.0.1:9/v1".into());
    d.ca_file = Some("/nonexistent/forge-ca.pem".into());
    assert!(forge_providers::connect(&d).err().unwrap().is_config());
}

#[tokio::test]
async fn plain_http_speaks_http1_or_h2c_when_configured() {
    let server = Server::start(vec![Reply::json(200, HELLO), Reply::json(200, HELLO)]).await;
    let plain =
        forge_providers::connect(&deployment(format!("http://{}/v1", server.addr))).unwrap();
    plain.complete(request()).await.unwrap();
    let mut d = deployment(format!("http://{}/v1", server.addr));
    d.http2_prior_knowledge = true;
    let h2c = forge_providers::connect(&d).unwrap();
    h2c.complete(request()).await.unwrap();
    let seen = server.seen();
    assert_eq!(seen[0].version, http::Version::HTTP_11);
    assert_eq!(seen[1].version, http::Version::HTTP_2);
    assert_eq!(seen[1].headers["x-forge-conversation-id"], "conv-t");
}

#[tokio::test]
async fn an_oversized_body_is_rejected() {
    let server = Server::start(vec![Reply::json(200, HELLO)]).await;
    let mut d = deployment(format!("http://{}/v1", server.addr));
    d.http.max_body_bytes = 64;
    let model = forge_providers::connect(&d).unwrap();
    let error = model.complete(request()).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::ResponseTooLarge);
}

#[tokio::test]
async fn an_oversized_stream_event_is_rejected() {
    let big = format!(
        "data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{}\"}}}}]}}\n\n",
        "x".repeat(4096)
    );
    let server = Server::start(vec![Reply::sse(&[&big])]).await;
    let mut d = deployment(format!("http://{}/v1", server.addr));
    d.http.max_event_bytes = 1024;
    let model = forge_providers::connect(&d).unwrap();
    let mut stream = model.stream(request());
    let mut last = None;
    while let Some(item) = stream.next().await {
        last = Some(item);
    }
    assert_eq!(
        last.unwrap().unwrap_err().kind(),
        ErrorKind::ResponseTooLarge
    );
}

#[tokio::test]
async fn the_chat_span_carries_the_genai_fields() {
    let sse = [
        "data: {\"id\":\"c9\",\"model\":\"gpt-x\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n",
        "data: {\"id\":\"c9\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
        "data: {\"id\":\"c9\",\"choices\":[],\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":5,\"prompt_tokens_details\":{\"cached_tokens\":2},\"completion_tokens_details\":{\"reasoning_tokens\":1}}}\n\ndata: [DONE]\n\n",
    ];
    let server = Server::start(vec![Reply::sse(&sse), Reply::json(429, r#"{"error":{"message":"quota","type":"insufficient_quota","code":"insufficient_quota"}}"#)]).await;
    let model =
        forge_providers::connect(&deployment(format!("http://{}/v1", server.addr))).unwrap();
    let capture = capture::Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());

    let mut stream = model.stream(request().max_tokens(32));
    while let Some(item) = stream.next().await {
        item.unwrap();
    }
    drop(stream);
    let _ = model.complete(request()).await.unwrap_err();

    let spans = capture.spans("chat");
    assert_eq!(spans.len(), 2);
    let ok = &spans[0];
    let port = server.addr.port().to_string();
    for (field, value) in [
        ("otel.name", "chat test-model"),
        ("otel.kind", "client"),
        ("gen_ai.operation.name", "chat"),
        ("gen_ai.provider.name", "openai"),
        ("gen_ai.request.model", "test-model"),
        ("gen_ai.request.stream", "true"),
        ("gen_ai.request.max_tokens", "32"),
        ("server.address", "127.0.0.1"),
        ("server.port", port.as_str()),
        ("gen_ai.response.id", "c9"),
        ("gen_ai.response.model", "gpt-x"),
        ("gen_ai.response.finish_reasons", "stop"),
        ("gen_ai.usage.input_tokens", "10"),
        ("gen_ai.usage.output_tokens", "5"),
        ("gen_ai.usage.cache_read.input_tokens", "2"),
        ("gen_ai.usage.reasoning.output_tokens", "1"),
        ("forge.stream.completed", "true"),
        ("forge.output_chunks", "3"),
    ] {
        assert_eq!(
            ok.get(field).map(String::as_str),
            Some(value),
            "{field} in {ok:?}"
        );
    }
    assert!(ok.contains_key("gen_ai.response.time_to_first_chunk"));
    assert!(!ok.contains_key("error.type"));
    let failed = &spans[1];
    assert_eq!(failed["error.type"], "quota_exhausted");
    assert_eq!(failed["otel.status_code"], "ERROR");
    assert_eq!(failed["gen_ai.request.stream"], "false");
}

/// Many token streams multiplexed on one h2c connection, each event its
/// own DATA frame: none may be reset by h2's excessive-load guard.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_h2c_streams_of_small_frames_all_complete() {
    const STREAMS: usize = 400;
    let mut pieces: Vec<String> = (0..40)
        .map(|i| {
            format!(
                "data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"w{i} \"}}}}]}}\n\n"
            )
        })
        .collect();
    pieces.push("data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n".into());
    let refs: Vec<&str> = pieces.iter().map(String::as_str).collect();
    let server = Server::start(vec![Reply::sse(&refs); STREAMS]).await;
    let mut d = deployment(format!("http://{}/v1", server.addr));
    d.http2_prior_knowledge = true;
    d.timeouts.first_chunk = Duration::from_secs(20);
    d.timeouts.idle = Duration::from_secs(20);
    let model = forge_providers::connect(&d).unwrap();
    let runs = (0..STREAMS).map(|_| {
        let model = model.clone();
        tokio::spawn(async move {
            let mut stream = model.stream(request());
            let mut text = String::new();
            while let Some(event) = stream.next().await {
                if let forge_core::StreamEvent::TextDelta { text: t, .. } = event? {
                    text.push_str(&t);
                }
            }
            Ok::<_, forge_core::Error>(text)
        })
    });
    let results = futures_util::future::join_all(runs).await;
    let ok = results
        .into_iter()
        .filter(|r| matches!(r, Ok(Ok(t)) if t.ends_with("w39 ")))
        .count();
    assert_eq!(ok, STREAMS);
    assert!(
        server
            .seen()
            .iter()
            .all(|s| s.version == http::Version::HTTP_2)
    );
}

#[tokio::test]
async fn the_per_host_cap_holds_a_request_until_a_response_is_dropped() {
    let stream_reply = Reply::sse(&[
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\n",
        "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n",
    ]);
    let mut first = stream_reply.clone();
    first.pieces[1].0 = Duration::from_secs(30);
    let server = Server::start(vec![first, Reply::json(200, HELLO)]).await;
    let mut d = deployment(format!("http://{}/v1", server.addr));
    d.http.max_connections_per_host = Some(1);
    d.timeouts.idle = Duration::from_secs(60);
    let model = forge_providers::connect(&d).unwrap();

    let mut open = model.stream(request());
    assert!(
        matches!(open.next().await, Some(Ok(_))),
        "the first stream is under way"
    );
    let second = tokio::spawn({
        let model = model.clone();
        async move { model.complete(request()).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        server.hits(),
        1,
        "the second request waits for the host's only permit"
    );
    drop(open);
    let answer = second.await.unwrap().unwrap();
    assert_eq!(answer.to_message().text(), "Hello there");
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn queue_wait_behind_a_concurrency_limit_is_recorded_on_the_chat_span() {
    let first = Reply::sse(&[
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\n",
        "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n",
    ]);
    let server = Server::start(vec![first, Reply::json(200, HELLO)]).await;
    let mut d = deployment(format!("http://{}/v1", server.addr));
    d.limits = forge_providers::limit::LimitConfig::new().max_concurrency(1);
    let model = forge_providers::connect(&d).unwrap();
    let capture = capture::Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());

    let mut open = model.stream(request());
    assert!(matches!(open.next().await, Some(Ok(_))));
    let waiting = tokio::spawn({
        let model = model.clone();
        async move { model.complete(request()).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(open);
    waiting.await.unwrap().unwrap();

    let spans = capture.spans("chat");
    let waited: f64 = spans[1]["forge.queue_wait"].parse().unwrap();
    assert!(waited >= 0.09, "queue wait {waited} s");
}
