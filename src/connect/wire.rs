//! A small raw Kafka protocol client for the client-quota calls librdkafka
//! lacks (KIP-546: DescribeClientQuotas, AlterClientQuotas).
//!
//! Blocking std networking, one broker connection: ApiVersions, then SASL
//! (PLAIN, SCRAM-SHA-256/512) when the cluster's auth asks for it, then the
//! quota calls, which any broker answers (KRaft forwards alterations to the
//! controller). TLS and mutual TLS go through rustls, configured as for the
//! REST clients ([`super::tls`]). Message types come from
//! the `kafka-protocol` crate; this module only frames, authenticates and
//! turns answers into plain values.
//!
//! What it cannot do is refused up front with [`WireError::Unsupported`]:
//! MSK IAM (SASL/OAUTHBEARER with signed tokens), an encrypted client key
//! and `insecure_skip_verify`. Secrets are only sent to the broker, never
//! put in an error.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::{
    AlterClientQuotasRequest, ApiKey, ApiVersionsRequest, DescribeClientQuotasRequest,
    RequestHeader, ResponseHeader, SaslAuthenticateRequest, SaslHandshakeRequest,
    alter_client_quotas_request, describe_client_quotas_request,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use rustls::pki_types::ServerName;

use super::scram::Scram;
use super::{AuthMethod, ClusterCredentials, ScramMechanism};
use crate::exit::{Diagnostic, ExitStatus};
use crate::secret::Secret;

/// Largest response accepted (a quota listing is small).
const MAX_RESPONSE: usize = 64 * 1024 * 1024;

/// One component of a quota entity: `user`, `client-id` or `ip`, with a
/// name or, for the default entity of that type, none.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct EntityPart {
    pub entity_type: String,
    pub name: Option<String>,
}

/// One quota entity and its values, as the broker describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct QuotaEntry {
    pub entity: Vec<EntityPart>,
    pub values: BTreeMap<String, f64>,
}

/// Changes to one entity: a key set to a value, or removed (`None`).
#[derive(Debug, Clone, PartialEq)]
pub struct QuotaAlteration {
    pub entity: Vec<EntityPart>,
    pub ops: Vec<(String, Option<f64>)>,
}

/// What went wrong talking to a cluster.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("cluster `{cluster}`: kcp's client-quota client does not support {what}")]
    Unsupported { cluster: String, what: String },
    #[error("cluster `{cluster}`: no bootstrap server answered ({servers}): {detail}")]
    Unreachable {
        cluster: String,
        servers: String,
        detail: String,
    },
    #[error("cluster `{cluster}`: TLS setup failed: {detail}")]
    Tls { cluster: String, detail: String },
    #[error("cluster `{cluster}`: authentication with {auth} failed: {detail}")]
    Authentication {
        cluster: String,
        auth: String,
        detail: String,
    },
    #[error("cluster `{cluster}`: the broker does not support {call} (Kafka 2.6 or later does)")]
    ApiUnsupported { cluster: String, call: &'static str },
    #[error("cluster `{cluster}`: {call} failed: {code}: {message}")]
    Broker {
        cluster: String,
        call: &'static str,
        code: String,
        message: String,
    },
    #[error("cluster `{cluster}`: {call}: {detail}")]
    Protocol {
        cluster: String,
        call: &'static str,
        detail: String,
    },
}

impl WireError {
    /// A short code for the state's warnings (`UNSUPPORTED`, a Kafka error name, ...).
    pub fn code(&self) -> String {
        match self {
            WireError::Unsupported { .. } | WireError::ApiUnsupported { .. } => {
                "UNSUPPORTED".into()
            }
            WireError::Unreachable { .. } => "UNREACHABLE".into(),
            WireError::Tls { .. } => "TLS".into(),
            WireError::Authentication { .. } => "AUTHENTICATION".into(),
            WireError::Broker { code, .. } => code.clone(),
            WireError::Protocol { .. } => "PROTOCOL".into(),
        }
    }
}

impl Diagnostic for WireError {
    fn status(&self) -> ExitStatus {
        match self {
            WireError::Unsupported { .. } => ExitStatus::BadInput,
            _ => ExitStatus::Failure,
        }
    }

    fn hint(&self) -> Option<String> {
        Some(match self {
            WireError::Unsupported { .. } => "apply the quotas by hand instead: `kcp create-asset quotas` writes them as Terraform and as a kafka-configs.sh script".into(),
            WireError::Unreachable { .. } => "check the bootstrap servers and the network path to them".into(),
            WireError::Tls { .. } => "check `ca_cert` and the client certificate and key in the credentials file (PEM, key unencrypted)".into(),
            WireError::Authentication { .. } => "check the username and password in the credentials file, and that the user exists on the cluster with this mechanism".into(),
            WireError::ApiUnsupported { .. } => "upgrade the cluster, or migrate quotas by hand with `kcp create-asset quotas`".into(),
            WireError::Broker { code, .. } if code == "ClusterAuthorizationFailed" => "the principal needs DescribeConfigs (to read) or AlterConfigs (to change) on the cluster resource".into(),
            _ => return None,
        })
    }
}

/// The byte stream to one broker.
enum Stream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// How to authenticate, taken from the credentials.
enum Sasl {
    None,
    Plain {
        username: String,
        password: Secret,
    },
    Scram {
        mechanism: ScramMechanism,
        username: String,
        password: Secret,
    },
}

/// A connection to one broker of a cluster, authenticated.
pub struct QuotaClient {
    cluster: String,
    stream: Stream,
    correlation_id: i32,
    /// API key → highest version the broker supports.
    versions: BTreeMap<i16, i16>,
}

impl QuotaClient {
    /// Connects to the first bootstrap server that answers, negotiates
    /// versions and authenticates.
    pub fn connect(creds: &ClusterCredentials, timeout: Duration) -> Result<Self, WireError> {
        let cluster = creds.name.clone();
        let (tls, sasl) = security(creds)?;
        let mut failures = Vec::new();
        for server in &creds.bootstrap_servers {
            match open(server, timeout, tls.as_ref(), &cluster) {
                Ok(stream) => {
                    let mut client = QuotaClient {
                        cluster: cluster.clone(),
                        stream,
                        correlation_id: 0,
                        versions: BTreeMap::new(),
                    };
                    client.api_versions()?;
                    client.authenticate(&sasl, creds)?;
                    return Ok(client);
                }
                Err(Opened::Tls(detail)) => return Err(WireError::Tls { cluster, detail }),
                Err(Opened::Io(e)) => failures.push(format!("{server}: {e}")),
            }
        }
        Err(WireError::Unreachable {
            cluster,
            servers: creds.bootstrap_servers.join(", "),
            detail: failures.join("; "),
        })
    }

    /// Every client quota of the cluster (user, client-id and ip entities,
    /// defaults included).
    pub fn describe_client_quotas(&mut self) -> Result<Vec<QuotaEntry>, WireError> {
        const CALL: &str = "DescribeClientQuotas";
        let version = self.version(ApiKey::DescribeClientQuotas, 1, CALL)?;
        // No component, not strict: every entity.
        let request = DescribeClientQuotasRequest::default()
            .with_components(Vec::<describe_client_quotas_request::ComponentData>::new())
            .with_strict(false);
        let response = self.call(&request, version, CALL)?;
        if response.error_code != 0 {
            return Err(self.broker_error(CALL, response.error_code, response.error_message));
        }
        Ok(response
            .entries
            .unwrap_or_default()
            .into_iter()
            .map(|e| QuotaEntry {
                entity: e
                    .entity
                    .into_iter()
                    .map(|p| EntityPart {
                        entity_type: p.entity_type.to_string(),
                        name: p.entity_name.map(|n| n.to_string()),
                    })
                    .collect(),
                values: e
                    .values
                    .into_iter()
                    .map(|v| (v.key.to_string(), v.value))
                    .collect(),
            })
            .collect())
    }

    /// Applies alterations; one result per alteration, in order (the
    /// broker's error for that entity, if any).
    pub fn alter_client_quotas(
        &mut self,
        alterations: &[QuotaAlteration],
    ) -> Result<Vec<Result<(), String>>, WireError> {
        const CALL: &str = "AlterClientQuotas";
        if alterations.is_empty() {
            return Ok(Vec::new());
        }
        let version = self.version(ApiKey::AlterClientQuotas, 1, CALL)?;
        let entries = alterations
            .iter()
            .map(|a| {
                alter_client_quotas_request::EntryData::default()
                    .with_entity(
                        a.entity
                            .iter()
                            .map(|p| {
                                alter_client_quotas_request::EntityData::default()
                                    .with_entity_type(StrBytes::from_string(p.entity_type.clone()))
                                    .with_entity_name(p.name.clone().map(StrBytes::from_string))
                            })
                            .collect(),
                    )
                    .with_ops(
                        a.ops
                            .iter()
                            .map(|(key, value)| {
                                alter_client_quotas_request::OpData::default()
                                    .with_key(StrBytes::from_string(key.clone()))
                                    .with_value(value.unwrap_or(0.0))
                                    .with_remove(value.is_none())
                            })
                            .collect(),
                    )
            })
            .collect();
        let request = AlterClientQuotasRequest::default()
            .with_entries(entries)
            .with_validate_only(false);
        let response = self.call(&request, version, CALL)?;
        // The broker answers per entity; match its answers to ours by entity.
        let answers: Vec<(Vec<EntityPart>, Result<(), String>)> = response
            .entries
            .into_iter()
            .map(|e| {
                let mut entity: Vec<EntityPart> = e
                    .entity
                    .into_iter()
                    .map(|p| EntityPart {
                        entity_type: p.entity_type.to_string(),
                        name: p.entity_name.map(|n| n.to_string()),
                    })
                    .collect();
                entity.sort();
                let result = if e.error_code == 0 {
                    Ok(())
                } else {
                    Err(error_text(e.error_code, e.error_message))
                };
                (entity, result)
            })
            .collect();
        Ok(alterations
            .iter()
            .map(|a| {
                let mut entity = a.entity.clone();
                entity.sort();
                answers
                    .iter()
                    .find(|(e, _)| *e == entity)
                    .map(|(_, r)| r.clone())
                    .unwrap_or_else(|| Err("the broker did not answer for this entity".into()))
            })
            .collect())
    }

    /// The version to use for `key`: the highest both sides support.
    fn version(&self, key: ApiKey, ours: i16, call: &'static str) -> Result<i16, WireError> {
        match self.versions.get(&(key as i16)) {
            Some(max) => Ok((*max).min(ours)),
            None => Err(WireError::ApiUnsupported {
                cluster: self.cluster.clone(),
                call,
            }),
        }
    }

    fn api_versions(&mut self) -> Result<(), WireError> {
        // Version 0 every broker accepts; it lists the versions of every API.
        let response = self.call(&ApiVersionsRequest::default(), 0, "ApiVersions")?;
        if response.error_code != 0 {
            return Err(self.broker_error("ApiVersions", response.error_code, None));
        }
        self.versions = response
            .api_keys
            .into_iter()
            .map(|k| (k.api_key, k.max_version))
            .collect();
        Ok(())
    }

    fn authenticate(&mut self, sasl: &Sasl, creds: &ClusterCredentials) -> Result<(), WireError> {
        let cluster = self.cluster.clone();
        let auth_failed = |detail: String| WireError::Authentication {
            cluster: cluster.clone(),
            auth: creds.auth.describe(),
            detail,
        };
        let mechanism = match sasl {
            Sasl::None => return Ok(()),
            Sasl::Plain { .. } => "PLAIN",
            Sasl::Scram { mechanism, .. } => mechanism.as_str(),
        };
        let version = self.version(ApiKey::SaslHandshake, 1, "SaslHandshake")?;
        let handshake = self.call(
            &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str(mechanism)),
            version,
            "SaslHandshake",
        )?;
        if handshake.error_code != 0 {
            let enabled: Vec<String> = handshake.mechanisms.iter().map(|m| m.to_string()).collect();
            return Err(auth_failed(format!(
                "the listener does not offer {mechanism} (it offers: {})",
                enabled.join(", ")
            )));
        }
        match sasl {
            Sasl::None => Ok(()),
            Sasl::Plain { username, password } => {
                let mut token = vec![0u8];
                token.extend_from_slice(username.as_bytes());
                token.push(0);
                token.extend_from_slice(password.expose().as_bytes());
                self.sasl_round(token).map_err(auth_failed)?;
                Ok(())
            }
            Sasl::Scram {
                mechanism,
                username,
                password,
            } => {
                let mut scram = Scram::new(*mechanism, username, password, nonce());
                let first = self
                    .sasl_round(scram.client_first().into_bytes())
                    .map_err(auth_failed)?;
                let final_message = scram
                    .client_final(&String::from_utf8_lossy(&first))
                    .map_err(auth_failed)?;
                let last = self
                    .sasl_round(final_message.into_bytes())
                    .map_err(auth_failed)?;
                scram
                    .verify(&String::from_utf8_lossy(&last))
                    .map_err(auth_failed)
            }
        }
    }

    /// One SaslAuthenticate round trip; the server's bytes, or its error.
    fn sasl_round(&mut self, token: Vec<u8>) -> Result<Vec<u8>, String> {
        let version = self
            .version(ApiKey::SaslAuthenticate, 1, "SaslAuthenticate")
            .map_err(|e| e.to_string())?;
        let response = self
            .call(
                &SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(token)),
                version,
                "SaslAuthenticate",
            )
            .map_err(|e| e.to_string())?;
        if response.error_code != 0 {
            return Err(error_text(response.error_code, response.error_message));
        }
        Ok(response.auth_bytes.to_vec())
    }

    /// Sends one request and reads its response.
    fn call<R: Request>(
        &mut self,
        request: &R,
        version: i16,
        call: &'static str,
    ) -> Result<R::Response, WireError> {
        let cluster = self.cluster.clone();
        let protocol = |detail: String| WireError::Protocol {
            cluster: cluster.clone(),
            call,
            detail,
        };
        self.correlation_id += 1;
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation_id)
            .with_client_id(Some(StrBytes::from_static_str("kcp")));
        let mut body = Vec::new();
        header
            .encode(&mut body, R::header_version(version))
            .and_then(|()| request.encode(&mut body, version))
            .map_err(|e| protocol(format!("cannot encode the request: {e}")))?;
        let size = i32::try_from(body.len()).map_err(|_| protocol("request too large".into()))?;
        let mut frame = size.to_be_bytes().to_vec();
        frame.extend_from_slice(&body);
        self.stream
            .write_all(&frame)
            .and_then(|()| self.stream.flush())
            .map_err(|e| protocol(format!("cannot send: {e}")))?;
        let mut size = [0u8; 4];
        self.stream
            .read_exact(&mut size)
            .map_err(|e| protocol(format!("no answer: {e}")))?;
        let size = usize::try_from(i32::from_be_bytes(size))
            .ok()
            .filter(|s| *s <= MAX_RESPONSE)
            .ok_or_else(|| protocol("the answer has an invalid size".into()))?;
        let mut answer = vec![0u8; size];
        self.stream
            .read_exact(&mut answer)
            .map_err(|e| protocol(format!("the answer was cut short: {e}")))?;
        let mut buf = answer.as_slice();
        let header = ResponseHeader::decode(&mut buf, R::Response::header_version(version))
            .map_err(|e| protocol(format!("cannot decode the answer's header: {e}")))?;
        if header.correlation_id != self.correlation_id {
            return Err(protocol("the answer belongs to another request".into()));
        }
        R::Response::decode(&mut buf, version)
            .map_err(|e| protocol(format!("cannot decode the answer: {e}")))
    }

    fn broker_error(&self, call: &'static str, code: i16, message: Option<StrBytes>) -> WireError {
        WireError::Broker {
            cluster: self.cluster.clone(),
            call,
            code: code_name(code),
            message: message
                .map(|m| m.to_string())
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| code_description(code)),
        }
    }
}

/// A Kafka error code's name, e.g. `ClusterAuthorizationFailed`.
fn code_name(code: i16) -> String {
    match kafka_protocol::ResponseError::try_from_code(code) {
        Some(e) => format!("{e:?}"),
        None => format!("error {code}"),
    }
}

/// What a Kafka error code means, e.g. `Cluster authorization failed.`.
fn code_description(code: i16) -> String {
    kafka_protocol::ResponseError::try_from_code(code)
        .map(|e| e.to_string())
        .unwrap_or_default()
}

fn error_text(code: i16, message: Option<StrBytes>) -> String {
    match message {
        Some(m) if !m.is_empty() => format!("{}: {m}", code_name(code)),
        _ => format!("{}: {}", code_name(code), code_description(code)),
    }
}

/// A fresh client nonce for SCRAM: 24 random bytes, base64 (no comma).
fn nonce() -> String {
    use base64::Engine;
    let mut bytes = [0u8; 24];
    // aws-lc's system random; failing it is not recoverable.
    aws_lc_rs::rand::fill(&mut bytes).expect("the system random generator works");
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes)
}

/// The TLS configuration and SASL method the credentials describe, or what
/// this client cannot do.
fn security(
    creds: &ClusterCredentials,
) -> Result<(Option<Arc<rustls::ClientConfig>>, Sasl), WireError> {
    let unsupported = |what: &str| WireError::Unsupported {
        cluster: creds.name.clone(),
        what: what.to_owned(),
    };
    let sasl = match &creds.auth {
        AuthMethod::Plaintext {} | AuthMethod::Tls { .. } | AuthMethod::Mtls { .. } => Sasl::None,
        AuthMethod::SaslPlain {
            username, password, ..
        } => Sasl::Plain {
            username: username.clone(),
            password: password.clone(),
        },
        AuthMethod::SaslScram {
            mechanism,
            username,
            password,
            ..
        } => Sasl::Scram {
            mechanism: *mechanism,
            username: username.clone(),
            password: password.clone(),
        },
        AuthMethod::MskIam { .. } => {
            return Err(unsupported(
                "AWS MSK IAM (SASL/OAUTHBEARER); client quotas need SASL/SCRAM or TLS credentials",
            ));
        }
    };
    let Some(tls) = creds.auth.tls() else {
        return Ok((None, sasl));
    };
    if tls.client.is_some_and(|c| c.key_password.is_some()) {
        return Err(unsupported(
            "an encrypted client key (`client_key_password`); give an unencrypted PEM key",
        ));
    }
    if tls.insecure_skip_verify {
        return Err(unsupported(
            "`insecure_skip_verify` (give the brokers' CA as `ca_cert` instead)",
        ));
    }
    let config = super::tls::client_config(tls.ca_cert, tls.client.map(|c| (c.cert, c.key)))
        .map_err(|detail| WireError::Tls {
            cluster: creds.name.clone(),
            detail,
        })?;
    Ok((Some(Arc::new(config)), sasl))
}

/// Why a broker could not be opened.
enum Opened {
    Io(std::io::Error),
    Tls(String),
}

/// Opens a TCP (and TLS) connection to `server` (`host:port`).
fn open(
    server: &str,
    timeout: Duration,
    tls: Option<&Arc<rustls::ClientConfig>>,
    cluster: &str,
) -> Result<Stream, Opened> {
    let addr = server
        .to_socket_addrs()
        .map_err(Opened::Io)?
        .next()
        .ok_or_else(|| Opened::Io(std::io::Error::other("the name resolves to no address")))?;
    let tcp = TcpStream::connect_timeout(&addr, timeout).map_err(Opened::Io)?;
    tcp.set_read_timeout(Some(timeout)).map_err(Opened::Io)?;
    tcp.set_write_timeout(Some(timeout)).map_err(Opened::Io)?;
    let _ = tcp.set_nodelay(true);
    let Some(config) = tls else {
        return Ok(Stream::Plain(tcp));
    };
    let host = server
        .rsplit_once(':')
        .map_or(server, |(h, _)| h)
        .trim_start_matches('[')
        .trim_end_matches(']');
    let name = ServerName::try_from(host.to_owned())
        .map_err(|e| Opened::Tls(format!("`{host}` is not a valid server name: {e}")))?;
    let conn = rustls::ClientConnection::new(Arc::clone(config), name)
        .map_err(|e| Opened::Tls(e.to_string()))?;
    let mut stream = rustls::StreamOwned::new(conn, tcp);
    // Complete the handshake now, so a TLS failure is reported as one.
    while stream.conn.is_handshaking() {
        stream
            .conn
            .complete_io(&mut stream.sock)
            .map_err(|e| Opened::Tls(format!("handshake with {server} ({cluster}): {e}")))?;
    }
    Ok(Stream::Tls(Box::new(stream)))
}
