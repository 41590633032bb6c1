//! TLS for `https://` collectors: Mozilla's roots (webpki-roots) plus an
//! optional CA of the user's, with rustls on ring for both transports.
//!
//! Implementation details: gRPC goes through tonic's own rustls connector
//! (opentelemetry-otlp's `tls-ring` and `tls-webpki-roots` features); OTLP/HTTP
//! gets a hyper client with hyper-rustls' connector, built here, since the
//! exporter's default client speaks plain HTTP only. Both pin the ring
//! provider, so rustls never has to guess one. An `http://` endpoint stays
//! plain with either. A certificate that does not chain to a trusted root
//! fails the handshake: the export fails, nothing is sent.

use std::{path::Path, sync::Arc, time::Duration};

use opentelemetry_http::{HttpClient, hyper::HyperClient};
use opentelemetry_otlp::tonic_types::transport::{Certificate, ClientTlsConfig};
use rustls::{
    ClientConfig, RootCertStore,
    pki_types::{CertificateDer, pem::PemObject as _},
};

use crate::Error;

/// The certificates an exporter trusts.
#[derive(Debug, Default)]
pub(crate) struct TlsRoots {
    /// The user's CA file, as read (PEM), for tonic.
    pem: Option<Vec<u8>>,
    /// The same certificates, parsed, for rustls.
    extra: Vec<CertificateDer<'static>>,
}

impl TlsRoots {
    /// Mozilla's roots, plus the certificates of `ca_file` when given.
    pub(crate) fn load(ca_file: Option<&Path>) -> Result<Self, Error> {
        let Some(path) = ca_file else {
            return Ok(Self::default());
        };
        let shown = path.display();
        let pem = std::fs::read(path).map_err(|e| {
            Error::config(format!("cannot read the CA file {shown}")).with_source(e)
        })?;
        let extra = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Error::config(format!("invalid PEM in {shown}")).with_source(e))?;
        if extra.is_empty() {
            return Err(Error::config(format!(
                "no certificate in the CA file {shown}"
            )));
        }
        Ok(Self {
            pem: Some(pem),
            extra,
        })
    }

    /// tonic's TLS settings (used only for `https://` endpoints).
    pub(crate) fn grpc(&self) -> ClientTlsConfig {
        let config = ClientTlsConfig::new().with_webpki_roots();
        match &self.pem {
            Some(pem) => config.ca_certificate(Certificate::from_pem(pem)),
            None => config,
        }
    }

    /// An OTLP/HTTP client that speaks `http://` and `https://`, each request
    /// cut off after `timeout`.
    pub(crate) fn http_client(&self, timeout: Duration) -> Result<Arc<dyn HttpClient>, Error> {
        let mut roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        for cert in &self.extra {
            roots
                .add(cert.clone())
                .map_err(|e| Error::config("unusable CA certificate").with_source(e))?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::config("no TLS protocol version available").with_source(e))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(config)
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Arc::new(HyperClient::new(connector, timeout, None)))
    }
}
