//! The one HTTP client of kcp's REST peers (Schema Registries, Kafka Connect
//! clusters): hyper over rustls (the stack the AWS SDK brings), auth headers
//! and TLS files from a credentials-file entry ([`RestCredentials`]), a
//! timeout per exchange, and transport errors that tell an unreachable
//! service, a refused login and a bad TLS setup apart, named after the
//! service in one way for every API ([`PeerError`], which each API's error
//! type holds). What an answer means is the caller's business: each API
//! wraps a [`RestClient`] and turns [`ApiFailure`] into its own error type.

use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;

use crate::connect::{RestAuth, RestCredentials};

/// Characters left as they are in a path segment (RFC 3986 unreserved).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes one path segment (a subject or connector name may hold `/`, `:` or spaces).
pub fn seg(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

/// A transport failure: no answer, or an answer refusing the credentials.
#[derive(Debug, thiserror::Error)]
pub enum RestError {
    /// The entry's TLS files or URL cannot be used.
    #[error("{message}")]
    Setup { message: String },
    #[error("{url} cannot be reached: {message}")]
    Unreachable { url: String, message: String },
    #[error("no answer from {url} within {seconds} s")]
    Timeout { url: String, seconds: u64 },
    /// 401 or 403.
    #[error("{url} refused the credentials ({status}: {message})")]
    Unauthorized {
        url: String,
        status: u16,
        message: String,
    },
}

impl RestError {
    /// This failure named after the service it concerns: what every API's
    /// error type holds for a transport failure.
    pub fn named(self, kind: &'static str, peer: &str) -> PeerError {
        PeerError {
            kind,
            peer: peer.to_owned(),
            error: self,
        }
    }
}

/// A transport failure of one named service (`schema registry `prod-sr``,
/// `Connect cluster `prod-connect``): the one mapping of [`RestError`]
/// that the Schema Registry and Kafka Connect errors share.
#[derive(Debug)]
pub struct PeerError {
    /// What the service is, for messages: `schema registry`, `Connect cluster`.
    pub kind: &'static str,
    /// Its name in the credentials file.
    pub peer: String,
    pub error: RestError,
}

impl std::fmt::Display for PeerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (kind, peer) = (self.kind, &self.peer);
        match &self.error {
            RestError::Setup { message } => write!(f, "{kind} `{peer}`: {message}"),
            RestError::Unreachable { url, message } => {
                write!(f, "{kind} `{peer}` at {url} cannot be reached: {message}")
            }
            RestError::Timeout { url, seconds } => {
                write!(
                    f,
                    "{kind} `{peer}`: no answer from {url} within {seconds} s"
                )
            }
            RestError::Unauthorized {
                url,
                status,
                message,
            } => write!(
                f,
                "{kind} `{peer}` at {url} refused the credentials ({status}: {message})"
            ),
        }
    }
}

impl std::error::Error for PeerError {}

impl PeerError {
    /// The exit status: a credentials-file entry that cannot be used is bad
    /// input; no answer or a refused login is a failure.
    pub fn status(&self) -> crate::exit::ExitStatus {
        match self.error {
            RestError::Setup { .. } => crate::exit::ExitStatus::BadInput,
            _ => crate::exit::ExitStatus::Failure,
        }
    }
}

/// An answer that was not a success.
#[derive(Debug, Clone)]
pub struct ApiFailure {
    pub status: u16,
    /// The API's `error_code` (e.g. the registry's 40401 subject not found).
    pub code: Option<i64>,
    pub message: String,
}

/// A client of one REST service.
pub struct RestClient {
    /// The name in the credentials file.
    pub name: String,
    base: String,
    authorization: Option<String>,
    client: HyperClient<HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
    /// The `content-type` of request bodies; also accepted with `application/json`.
    media_type: &'static str,
}

impl RestClient {
    /// A client for `creds`; reads the TLS files it names. `media_type` is
    /// the API's JSON media type (`application/json` for most).
    pub fn new(
        creds: &RestCredentials,
        timeout: Duration,
        media_type: &'static str,
    ) -> Result<Self, RestError> {
        Self::with_idle(creds, timeout, media_type, usize::MAX)
    }

    /// A client like [`RestClient::new`]'s that keeps no idle connection:
    /// each call opens its own. For a blocking caller whose runtime runs
    /// only during a call, and so would not see the peer close an idle
    /// connection before sending on it again.
    pub fn without_idle_connections(
        creds: &RestCredentials,
        timeout: Duration,
        media_type: &'static str,
    ) -> Result<Self, RestError> {
        Self::with_idle(creds, timeout, media_type, 0)
    }

    fn with_idle(
        creds: &RestCredentials,
        timeout: Duration,
        media_type: &'static str,
        max_idle: usize,
    ) -> Result<Self, RestError> {
        let tls = tls_config(creds)?;
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .build();
        let client = HyperClient::builder(TokioExecutor::new())
            .pool_max_idle_per_host(max_idle)
            .build(connector);
        let authorization = match &creds.auth {
            RestAuth::None {} => None,
            RestAuth::Basic { username, password } => Some(format!(
                "Basic {}",
                base64(format!("{username}:{}", password.expose()).as_bytes())
            )),
            RestAuth::Bearer { token } => Some(format!("Bearer {}", token.expose())),
        };
        Ok(RestClient {
            name: creds.name.clone(),
            base: creds.url.trim_end_matches('/').to_owned(),
            authorization,
            client,
            timeout,
            media_type,
        })
    }

    /// The base URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// The timeout of one exchange.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Sends one request; `Ok` holds the status and body of any answer but
    /// 401 and 403, which are [`RestError::Unauthorized`].
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(StatusCode, Bytes), RestError> {
        let url = format!("{}{path}", self.base);
        let mut request = Request::builder()
            .method(method.clone())
            .uri(&url)
            .header("accept", accept(self.media_type));
        if let Some(auth) = &self.authorization {
            request = request.header("authorization", auth);
        }
        let body = match body {
            Some(v) => {
                request = request.header("content-type", self.media_type);
                Full::new(Bytes::from(serde_json::to_vec(v).unwrap_or_default()))
            }
            None => Full::new(Bytes::new()),
        };
        let request = request.body(body).map_err(|e| RestError::Setup {
            message: format!("`{url}` is not a valid URL: {e}"),
        })?;
        let unreachable = |message: String| RestError::Unreachable {
            url: self.base.clone(),
            message,
        };
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| unreachable(error_chain(&e)))?;
            let status = response.status();
            let bytes = response
                .into_body()
                .collect()
                .await
                .map_err(|e| unreachable(format!("the answer broke off: {e}")))?
                .to_bytes();
            Ok::<_, RestError>((status, bytes))
        };
        let (status, bytes) = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| RestError::Timeout {
                url: url.clone(),
                seconds: self.timeout.as_secs(),
            })??;
        tracing::debug!(service = %self.name, %method, %path, status = status.as_u16(), "REST call");
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(RestError::Unauthorized {
                url: self.base.clone(),
                status: status.as_u16(),
                message: failure(status, &bytes).message,
            });
        }
        Ok((status, bytes))
    }
}

fn accept(media_type: &str) -> String {
    if media_type == "application/json" {
        media_type.to_owned()
    } else {
        format!("{media_type}, application/json")
    }
}

/// The failure an error answer describes (`error_code` and `message` when
/// the body is the usual JSON error object).
pub fn failure(status: StatusCode, bytes: &[u8]) -> ApiFailure {
    let parsed: Option<Value> = serde_json::from_slice(bytes).ok();
    let code = parsed
        .as_ref()
        .and_then(|v| v.get("error_code"))
        .and_then(Value::as_i64)
        .filter(|c| *c != 0);
    let message = parsed
        .as_ref()
        .and_then(|v| v.get("message"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| preview(bytes));
    ApiFailure {
        status: status.as_u16(),
        code,
        message,
    }
}

/// The start of a body, for messages.
pub fn preview(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim();
    if text.is_empty() {
        return "an empty body".to_owned();
    }
    let cut: String = text.chars().take(120).collect();
    if cut.len() < text.len() {
        format!("`{cut}...`")
    } else {
        format!("`{cut}`")
    }
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

/// The rustls configuration: the system's roots or the given CA, and a
/// client certificate for mutual TLS.
fn tls_config(creds: &RestCredentials) -> Result<rustls::ClientConfig, RestError> {
    let tls = creds.tls.clone().unwrap_or_default();
    let client = match (&tls.client_cert, &tls.client_key) {
        (Some(cert), Some(key)) => Some((cert.as_path(), key.as_path())),
        _ => None,
    };
    crate::connect::tls::client_config(tls.ca_cert.as_deref(), client)
        .map_err(|message| RestError::Setup { message })
}

/// Standard base64 with padding (for the basic auth header).
fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648() {
        for (input, want) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
            ("kcp:s3cr3t", "a2NwOnMzY3IzdA=="),
        ] {
            assert_eq!(base64(input.as_bytes()), want, "{input}");
        }
    }

    #[test]
    fn segments_are_encoded() {
        assert_eq!(seg("orders-value"), "orders-value");
        assert_eq!(seg(":.ctx:a/b c"), "%3A.ctx%3Aa%2Fb%20c");
    }

    #[test]
    fn failures_keep_the_registry_message() {
        let f = failure(
            StatusCode::NOT_FOUND,
            br#"{"error_code":40401,"message":"Subject 'x' not found."}"#,
        );
        assert_eq!(f.code, Some(40401));
        assert_eq!(f.message, "Subject 'x' not found.");
        let f = failure(StatusCode::BAD_GATEWAY, b"<html>bad gateway</html>");
        assert_eq!(f.code, None);
        assert_eq!(f.message, "`<html>bad gateway</html>`");
    }

    /// Both APIs name a transport failure the same way, with the status
    /// and hint their errors had when each mapped it by hand.
    #[test]
    fn transport_failures_are_named_after_the_service() {
        use crate::exit::{Diagnostic, ExitStatus};
        let refused = || RestError::Unauthorized {
            url: "http://h:1".into(),
            status: 403,
            message: "no".into(),
        };
        let sr = crate::schema_registry::SchemaRegistryError::from(
            refused().named("schema registry", "prod-sr"),
        );
        assert_eq!(
            sr.to_string(),
            "schema registry `prod-sr` at http://h:1 refused the credentials (403: no)"
        );
        assert!(sr.hint().unwrap().contains("lack a permission"));
        let kc = crate::kafka_connect::KafkaConnectError::from(
            RestError::Timeout {
                url: "http://h:2".into(),
                seconds: 5,
            }
            .named("Connect cluster", "c"),
        );
        assert_eq!(
            kc.to_string(),
            "Connect cluster `c`: no answer from http://h:2 within 5 s"
        );
        assert_eq!(kc.status(), ExitStatus::Failure);
        assert!(kc.hint().unwrap().contains("a worker runs"));
        let setup = crate::kafka_connect::KafkaConnectError::from(
            RestError::Setup {
                message: "bad CA".into(),
            }
            .named("Connect cluster", "c"),
        );
        assert_eq!(setup.to_string(), "Connect cluster `c`: bad CA");
        assert_eq!(setup.status(), ExitStatus::BadInput);
    }
}
