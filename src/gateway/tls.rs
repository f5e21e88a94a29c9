//! TLS on both sides of the gateway (rustls, the stack kcp already uses
//! for REST): the gateway's own certificate towards clients, and towards
//! the upstream cluster what its credentials-file entry says (a CA, a
//! client certificate for mutual TLS, or no verification).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use super::GatewayError;
use crate::connect::AuthMethod;
use crate::connect::tls::provider;

fn tls_error(message: String) -> GatewayError {
    GatewayError::Tls { message }
}

fn certs(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>, GatewayError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<_, _>>())
        .map_err(|e| tls_error(format!("cannot read the {what} `{}`: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(tls_error(format!(
            "the {what} `{}` holds no PEM certificate",
            path.display()
        )));
    }
    Ok(certs)
}

fn key(path: &Path) -> Result<PrivateKeyDer<'static>, GatewayError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| {
        tls_error(format!(
            "cannot read the private key `{}` (PEM, unencrypted): {e}",
            path.display()
        ))
    })
}

/// The server side: the gateway's certificate chain and key (PEM).
pub(crate) fn server_config(
    cert: &Path,
    key_path: &Path,
) -> Result<rustls::ServerConfig, GatewayError> {
    rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs(cert, "gateway certificate")?, key(key_path)?)
        .map_err(|e| tls_error(format!("the gateway certificate and key do not fit: {e}")))
}

/// What the upstream connection needs from a credentials-file auth method.
#[derive(Debug, Clone, Default)]
struct Upstream {
    tls: bool,
    ca_cert: Option<PathBuf>,
    client: Option<(PathBuf, PathBuf)>,
    insecure: bool,
}

fn upstream(auth: &AuthMethod) -> Result<Upstream, GatewayError> {
    Ok(match auth {
        AuthMethod::Plaintext {} => Upstream::default(),
        AuthMethod::Tls {
            ca_cert,
            insecure_skip_verify,
        } => Upstream {
            tls: true,
            ca_cert: ca_cert.clone(),
            client: None,
            insecure: *insecure_skip_verify,
        },
        AuthMethod::Mtls {
            ca_cert,
            client_cert,
            client_key,
            client_key_password,
            insecure_skip_verify,
        } => {
            if client_key_password.is_some() {
                return Err(tls_error(
                    "the gateway cannot use an encrypted client key (`client_key_password`): give it an unencrypted PEM key".into(),
                ));
            }
            Upstream {
                tls: true,
                ca_cert: ca_cert.clone(),
                client: Some((client_cert.clone(), client_key.clone())),
                insecure: *insecure_skip_verify,
            }
        }
        AuthMethod::SaslPlain { tls, .. } | AuthMethod::SaslScram { tls, .. } => match tls {
            Some(t) => Upstream {
                tls: true,
                ca_cert: t.ca_cert.clone(),
                client: None,
                insecure: t.insecure_skip_verify,
            },
            None => Upstream::default(),
        },
        AuthMethod::MskIam { .. } => Upstream {
            tls: true,
            ..Upstream::default()
        },
    })
}

/// The client side towards the upstream cluster, or `None` for plaintext.
pub(crate) fn client_config(
    auth: &AuthMethod,
) -> Result<Option<rustls::ClientConfig>, GatewayError> {
    let up = upstream(auth)?;
    if !up.tls {
        return Ok(None);
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error(e.to_string()))?;
    let builder = if up.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(provider())))
    } else {
        let roots = crate::connect::tls::root_store(up.ca_cert.as_deref()).map_err(tls_error)?;
        builder.with_root_certificates(roots)
    };
    let config = match &up.client {
        Some((cert, key_path)) => builder
            .with_client_auth_cert(certs(cert, "client certificate")?, key(key_path)?)
            .map_err(|e| tls_error(format!("the client certificate and key do not fit: {e}")))?,
        None => builder.with_no_client_auth(),
    };
    Ok(Some(config))
}

/// The server name to check an upstream broker's certificate against.
pub(crate) fn server_name(host: &str) -> std::io::Result<ServerName<'static>> {
    ServerName::try_from(host.to_owned())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))
}

/// `insecure_skip_verify: true`: any certificate is accepted (signatures
/// are still checked, so the session is encrypted to whoever holds it).
#[derive(Debug)]
struct NoVerification(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
