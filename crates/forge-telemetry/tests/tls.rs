//! `https://` collectors: an OTLP/HTTP receiver with TLS on 127.0.0.1, and a
//! TLS front for the in-process gRPC collector, their certificate signed by a
//! test CA. Untrusted, exports fail closed (no handshake completes, nothing is
//! sent) and the traced code is unaffected; trusted through
//! `Telemetry::ca_file`, spans arrive over both transports.

mod common;

use std::{
    convert::Infallible,
    net::SocketAddr,
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use forge_telemetry::{Protocol, Telemetry, TelemetryGuard};
use http_body_util::{BodyExt as _, Full};
use hyper::{Request, Response, body::Bytes, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use tokio::net::TcpListener;
use tokio_rustls::rustls::{
    self,
    pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer},
};
use tracing_subscriber::layer::SubscriberExt as _;

/// Completed TLS handshakes, and trace exports with a non-empty body.
#[derive(Clone, Default)]
struct Received {
    handshakes: Arc<AtomicUsize>,
    exports: Arc<AtomicUsize>,
}

/// A CA file on disk and a server configuration for 127.0.0.1 signed by it.
fn pki(tag: &str) -> (PathBuf, Arc<rustls::ServerConfig>) {
    let ca_key = KeyPair::generate().expect("key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).expect("ca");
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate().expect("key");
    let leaf_params = CertificateParams::new(vec!["127.0.0.1".to_owned()]).expect("params");
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).expect("leaf");
    let name = format!("forge-telemetry-ca-{}-{tag}.pem", std::process::id());
    let ca_file = std::env::temp_dir().join(name);
    std::fs::write(&ca_file, ca_cert.pem()).expect("write the CA file");

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let chain = vec![CertificateDer::from(leaf.der().to_vec())];
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("server config");
    (ca_file, Arc::new(server))
}

/// Serves OTLP/HTTP over TLS: 200 and an empty response to every POST.
async fn receiver(config: Arc<rustls::ServerConfig>) -> (SocketAddr, Received) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let received = Received::default();
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let seen = received.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let Ok(tls) = acceptor.accept(tcp).await else {
                continue;
            };
            seen.handshakes.fetch_add(1, Ordering::SeqCst);
            let seen = seen.clone();
            let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                let seen = seen.clone();
                async move {
                    let traces = request.uri().path() == "/v1/traces";
                    let body = request.into_body().collect().await.map(|b| b.to_bytes());
                    if traces && body.is_ok_and(|b| !b.is_empty()) {
                        seen.exports.fetch_add(1, Ordering::SeqCst);
                    }
                    let response = Response::builder()
                        .header("content-type", "application/x-protobuf")
                        .body(Full::new(Bytes::new()))
                        .expect("response");
                    Ok::<_, Infallible>(response)
                }
            });
            tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(tls), service));
        }
    });
    (addr, received)
}

fn telemetry(addr: SocketAddr, protocol: Protocol) -> Telemetry {
    Telemetry::from_env()
        .otlp_endpoint(format!("https://{addr}"))
        .protocol(protocol)
        .service_name("forge-telemetry-tls-tests")
        .export_timeout(Duration::from_secs(2))
        .metrics(false)
}

/// Emits a conversation, then flushes off the runtime thread.
async fn export(guard: TelemetryGuard) -> Result<(), forge_telemetry::Error> {
    let subscriber = tracing_subscriber::registry().with(guard.layer());
    tracing::subscriber::with_default(subscriber, || common::emit_conversation("conv-tls"));
    tokio::task::spawn_blocking(move || guard.shutdown())
        .await
        .expect("shutdown thread")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_a_trusted_ca_delivers_spans() {
    let (ca_file, server) = pki("trusted");
    let (addr, received) = receiver(server).await;
    let guard = telemetry(addr, Protocol::HttpProtobuf)
        .ca_file(&ca_file)
        .build()
        .expect("build");
    export(guard)
        .await
        .expect("the collector accepted the spans");
    assert!(
        received.exports.load(Ordering::SeqCst) >= 1,
        "spans arrived"
    );
}

/// Terminates TLS (ALPN h2) and forwards the bytes to a plain gRPC collector.
async fn tls_front(mut config: rustls::ServerConfig, backend: SocketAddr) -> SocketAddr {
    config.alpn_protocols = vec![b"h2".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let Ok(mut tls) = acceptor.accept(tcp).await else {
                continue;
            };
            tokio::spawn(async move {
                if let Ok(mut plain) = tokio::net::TcpStream::connect(backend).await {
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                }
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_over_tls_with_a_trusted_ca_delivers_spans() {
    let (ca_file, server) = pki("grpc");
    let mut collector = fake_opentelemetry_collector::FakeCollectorServer::start()
        .await
        .expect("collector");
    let backend = collector.endpoint().trim_start_matches("http://").parse();
    let front = tls_front((*server).clone(), backend.expect("collector address")).await;
    let guard = telemetry(front, Protocol::Grpc)
        .ca_file(&ca_file)
        .build()
        .expect("build");
    export(guard)
        .await
        .expect("the collector accepted the spans");
    let spans = collector.exported_spans(4, Duration::from_secs(10)).await;
    assert_eq!(spans.len(), 4, "{spans:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_certificate_fails_closed_over_both_transports() {
    let (_ca_file, server) = pki("untrusted");
    let (addr, received) = receiver(server).await;
    for protocol in [Protocol::HttpProtobuf, Protocol::Grpc] {
        // Building succeeds: https is supported, whatever the transport.
        let guard = telemetry(addr, protocol).build().expect("build");
        let result = export(guard).await;
        assert!(result.is_err(), "{protocol:?}: the export must fail");
    }
    assert_eq!(
        received.handshakes.load(Ordering::SeqCst),
        0,
        "no handshake"
    );
    assert_eq!(
        received.exports.load(Ordering::SeqCst),
        0,
        "nothing was sent"
    );
}

#[test]
fn a_missing_or_empty_ca_file_is_a_config_error() {
    let missing = Telemetry::from_env()
        .otlp_endpoint("https://127.0.0.1:9")
        .ca_file("/nonexistent/forge-telemetry-ca.pem")
        .build()
        .expect_err("missing file");
    assert!(missing.is_config());
    let empty = std::env::temp_dir().join(format!("forge-empty-{}.pem", std::process::id()));
    std::fs::write(&empty, "not a certificate\n").expect("write");
    let error = Telemetry::from_env()
        .ca_file(&empty)
        .build()
        .expect_err("no certificate");
    assert!(error.is_config());
}
