//! The rustls client configuration: ring only, webpki roots, optional extra CA.

use std::{path::Path, sync::Arc};

use rustls::{
    ClientConfig, RootCertStore,
    pki_types::{CertificateDer, pem::PemObject},
};

use crate::Error;

/// Installs ring as the process-wide rustls provider, once.
///
/// If another crate compiled aws-lc-rs in as well, rustls would panic at
/// first use without an installed default; installing ring here (and
/// building every config with it explicitly) keeps that from happening.
pub(crate) fn install_ring() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // An `Err` means a provider is already installed: ours is chosen
        // explicitly below regardless, so either outcome is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// A client config trusting the webpki roots plus the PEM certificates in
/// `extra_ca`, offering `h2` and `http/1.1` over ALPN (set by hyper-rustls).
pub(crate) fn client_config(extra_ca: Option<&Path>) -> Result<ClientConfig, Error> {
    install_ring();
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = extra_ca {
        add_pem_file(&mut roots, path)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::config("TLS protocol versions unavailable").with_source(e))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}

fn add_pem_file(roots: &mut RootCertStore, path: &Path) -> Result<(), Error> {
    let unreadable = |e| {
        let msg = format!("cannot read CA file {}", path.display());
        Error::config(msg).with_source(e)
    };
    let mut added = 0;
    for cert in CertificateDer::pem_file_iter(path).map_err(unreadable)? {
        let cert = cert.map_err(unreadable)?;
        roots
            .add(cert)
            .map_err(|e| Error::config("invalid CA certificate").with_source(e))?;
        added += 1;
    }
    if added == 0 {
        let msg = format!("CA file {} holds no certificate", path.display());
        return Err(Error::config(msg));
    }
    Ok(())
}
