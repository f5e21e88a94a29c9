//! TLS client configuration (rustls over aws-lc-rs) from PEM files: which
//! roots to trust (the CA a credentials-file entry gives, or the system's)
//! and a client certificate for mutual TLS. One place for what kcp's own
//! TLS clients share: the REST clients ([`crate::rest`]) and the Kafka
//! quota client ([`super::wire`]). librdkafka reads the same files itself
//! ([`super::client_config`]).

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The crypto provider of every rustls configuration kcp builds.
pub(crate) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The roots a TLS client trusts: the certificates in `ca` (PEM; at least
/// one), or the system's when there is none.
pub(crate) fn root_store(ca: Option<&Path>) -> Result<rustls::RootCertStore, String> {
    let mut roots = rustls::RootCertStore::empty();
    match ca {
        Some(path) => {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .and_then(|it| it.collect::<Result<_, _>>())
                .map_err(|e| {
                    format!("cannot read CA certificates from `{}`: {e}", path.display())
                })?;
            if certs.is_empty() {
                return Err(format!("`{}` holds no PEM certificate", path.display()));
            }
            for cert in certs {
                roots
                    .add(cert)
                    .map_err(|e| format!("bad CA certificate in `{}`: {e}", path.display()))?;
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
        }
    }
    Ok(roots)
}

/// A client configuration trusting [`root_store`]`(ca)`, with a client
/// certificate chain and unencrypted key (PEM) for mutual TLS.
pub(crate) fn client_config(
    ca: Option<&Path>,
    client: Option<(&Path, &Path)>,
) -> Result<rustls::ClientConfig, String> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(root_store(ca)?);
    match client {
        Some((cert, key)) => {
            let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
                .and_then(|it| it.collect::<Result<_, _>>())
                .map_err(|e| {
                    format!(
                        "cannot read the client certificate `{}`: {e}",
                        cert.display()
                    )
                })?;
            let key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
                format!(
                    "cannot read the client key `{}` (PEM, unencrypted): {e}",
                    key.display()
                )
            })?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("the client certificate and key do not fit: {e}"))
        }
        None => Ok(builder.with_no_client_auth()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_must_hold_a_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "no certificate here\n").unwrap();
        let e = root_store(Some(&empty)).unwrap_err();
        assert!(e.contains("holds no PEM certificate"), "{e}");
        let e = root_store(Some(&dir.path().join("missing.pem"))).unwrap_err();
        assert!(e.contains("cannot read CA certificates from"), "{e}");
        // Without a CA, the system's roots (none on a bare machine is not an error).
        assert!(root_store(None).is_ok());
    }
}
