//! Kafka clients built from a [`ClusterCredentials`] entry.
//!
//! librdkafka retries silently when authentication fails or no broker
//! answers. [`KcpContext`] installs an error callback that records the first
//! decisive failure, and [`connect`] probes the cluster in short steps,
//! pumping librdkafka's event queue in between, so a wrong password or an
//! unreachable cluster ends the command within seconds with an error that
//! names the cluster and the auth method. Every later call is bounded by
//! [`ConnectOptions::timeout`].

use crate::exit::{Diagnostic, ExitStatus};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::client::{ClientContext, OAuthToken};
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::metadata::Metadata;

use super::credentials::{AuthMethod, ClusterCredentials};

/// Connection settings.
#[derive(Debug, Clone, Copy)]
pub struct ConnectOptions {
    /// Upper bound for connecting and for each request.
    pub timeout: Duration,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            timeout: Duration::from_secs(10),
        }
    }
}

/// Why a connection could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cluster `{cluster}`: invalid client configuration: {message}")]
    Config { cluster: String, message: String },

    /// librdkafka refused a setting from the cluster's `client_properties`
    /// (the value is not shown: it may be a secret).
    #[error("cluster `{cluster}`: `client_properties.{key}` is not accepted: {message}")]
    ClientProperty {
        cluster: String,
        key: String,
        message: String,
    },

    #[error("cluster `{cluster}`: authentication with {auth} failed: {detail}")]
    Authentication {
        cluster: String,
        auth: String,
        detail: String,
    },

    #[error("cluster `{cluster}`: TLS handshake failed ({auth}): {detail}")]
    Tls {
        cluster: String,
        auth: String,
        detail: String,
    },

    #[error(
        "cluster `{cluster}`: the brokers ({servers}) accepted the connection and closed it ({auth}): {detail}"
    )]
    ClosedByBroker {
        cluster: String,
        servers: String,
        auth: String,
        detail: String,
    },

    #[error("cluster `{cluster}`: no bootstrap server answered ({servers}): {detail}")]
    Unreachable {
        cluster: String,
        servers: String,
        detail: String,
    },

    #[error("cluster `{cluster}`: {operation} did not complete within {}s ({auth}){}", timeout.as_secs_f32(), detail.as_ref().map(|d| format!(": {d}")).unwrap_or_default())]
    Timeout {
        cluster: String,
        auth: String,
        operation: String,
        timeout: Duration,
        detail: Option<String>,
    },

    #[error("cluster `{cluster}`: {operation} failed")]
    Kafka {
        cluster: String,
        operation: String,
        #[source]
        source: Box<KafkaError>,
    },
}

impl Diagnostic for ConnectError {
    fn status(&self) -> ExitStatus {
        match self {
            // The credentials file's settings, not the cluster.
            ConnectError::Config { .. } | ConnectError::ClientProperty { .. } => {
                ExitStatus::BadInput
            }
            _ => ExitStatus::Failure,
        }
    }

    /// What the user can do about it.
    fn hint(&self) -> Option<String> {
        Some(match self {
            ConnectError::Config { .. } => "fix the cluster's `auth` section in the credentials file".to_owned(),
            ConnectError::ClientProperty { key, .. } => format!(
                "fix or remove `{key}` under the cluster's `client_properties` in the credentials file (librdkafka's CONFIGURATION.md lists the valid values)"
            ),
            ConnectError::Authentication { detail, .. }
                if detail.contains("Request not valid in current SASL state") =>
            {
                "the listener does not use SASL: check the port (a SASL_PLAINTEXT or SASL_SSL listener), or use `method: plaintext` or `tls` for this one".to_owned()
            }
            ConnectError::Authentication { .. } => {
                "check the username and password (or the IAM identity) in the credentials file, and that the user exists on the cluster with this mechanism".to_owned()
            }
            ConnectError::Tls { .. } => {
                "check `ca_cert` (the CA that signed the brokers' certificates), the client certificate if any (its validity dates, and that the brokers trust its CA), and that the port is a TLS listener".to_owned()
            }
            ConnectError::ClosedByBroker { auth, .. } => format!(
                "this port's listener probably expects another security protocol than {auth}: check the port against the brokers' listeners (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL), or change the cluster's `auth` method"
            ),
            ConnectError::Unreachable { .. } => {
                "check the host names and ports, that the brokers are up, and that security groups or firewalls let this machine in".to_owned()
            }
            ConnectError::Timeout { .. } => {
                "the brokers accepted connections but did not answer in time: check the listener's security protocol matches the auth method, or raise the timeout".to_owned()
            }
            ConnectError::Kafka { .. } => return None,
        })
    }
}

/// The first decisive failure librdkafka reported.
#[derive(Debug, Clone)]
struct Failure {
    code: RDKafkaErrorCode,
    reason: String,
}

/// The librdkafka client context shared by every client `kcp` creates:
/// routes librdkafka logs to `tracing`, records decisive errors for fail-fast
/// connects, and supplies MSK IAM tokens.
pub struct KcpContext {
    cluster: String,
    failure: Mutex<Option<Failure>>,
    /// The last transport-level error (connection refused, DNS), used as the
    /// detail of an "unreachable" error.
    last_transport: Mutex<Option<String>>,
    iam: Option<(String, Option<String>, Option<String>)>,
}

impl KcpContext {
    /// A context for the cluster `creds` describes.
    pub fn new(creds: &ClusterCredentials) -> Self {
        let iam = match &creds.auth {
            AuthMethod::MskIam {
                region,
                profile,
                role_arn,
            } => Some((region.clone(), profile.clone(), role_arn.clone())),
            _ => None,
        };
        KcpContext {
            cluster: creds.name.clone(),
            failure: Mutex::new(None),
            last_transport: Mutex::new(None),
            iam,
        }
    }

    fn take_failure(&self) -> Option<Failure> {
        self.failure.lock().ok()?.take()
    }

    fn last_transport(&self) -> Option<String> {
        self.last_transport.lock().ok()?.clone()
    }
}

impl ClientContext for KcpContext {
    const ENABLE_REFRESH_OAUTH_TOKEN: bool = true;

    /// librdkafka's own log lines go to `debug` (`-vv`): the failures that
    /// matter reach the user through the error callback as actionable
    /// errors, and librdkafka would otherwise repeat them at ERROR level.
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        let cluster = &self.cluster;
        match level {
            RDKafkaLogLevel::Emerg | RDKafkaLogLevel::Alert | RDKafkaLogLevel::Critical => {
                tracing::error!(target: "librdkafka", %cluster, "{fac}: {message}")
            }
            _ => tracing::debug!(target: "librdkafka", %cluster, "{fac}: {message}"),
        }
        // A broker that accepted the connection and then closed it: the
        // listener speaks another security protocol than the client.
        if fac == "FAIL"
            && message.contains("connection closed by peer")
            && let Ok(mut last) = self.last_transport.lock()
        {
            *last = Some(message.to_owned());
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::debug!(target: "librdkafka", cluster = %self.cluster, "client error: {error}: {reason}");
        let Some(code) = error.rdkafka_error_code() else {
            return;
        };
        match code {
            RDKafkaErrorCode::BrokerTransportFailure | RDKafkaErrorCode::Resolve => {
                if let Ok(mut last) = self.last_transport.lock() {
                    *last = Some(reason.to_owned());
                }
            }
            RDKafkaErrorCode::Authentication
            | RDKafkaErrorCode::SaslAuthenticationFailed
            | RDKafkaErrorCode::SSL
            | RDKafkaErrorCode::AllBrokersDown => {
                if let Ok(mut failure) = self.failure.lock()
                    && failure.is_none()
                {
                    *failure = Some(Failure {
                        code,
                        reason: reason.to_owned(),
                    });
                }
            }
            _ => {}
        }
    }

    fn generate_oauth_token(
        &self,
        _config: Option<&str>,
    ) -> Result<OAuthToken, Box<dyn std::error::Error>> {
        let (region, profile, role_arn) = self
            .iam
            .as_ref()
            .ok_or("OAUTHBEARER was requested but the cluster's auth method is not `msk_iam`")?;
        let token =
            super::msk_iam::generate_token(region, profile.as_deref(), role_arn.as_deref())?;
        Ok(OAuthToken {
            token: token.token,
            principal_name: String::new(),
            lifetime_ms: token.expires_at_ms,
        })
    }
}

impl ConsumerContext for KcpContext {}

/// Builds the librdkafka configuration for a cluster. Checks that the
/// certificate files it names exist.
pub fn client_config(creds: &ClusterCredentials) -> Result<ClientConfig, ConnectError> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", creds.bootstrap_servers.join(","))
        .set("client.id", format!("kcp/{}", crate::VERSION))
        .set_log_level(RDKafkaLogLevel::Warning);
    for (key, value) in &creds.client_properties {
        config.set(key, value);
    }
    let check_file = |field: &str, path: &std::path::Path| -> Result<String, ConnectError> {
        if path.is_file() {
            Ok(path.display().to_string())
        } else {
            Err(ConnectError::Config {
                cluster: creds.name.clone(),
                message: format!(
                    "`auth.{field}` names `{}`, which is not a readable file",
                    path.display()
                ),
            })
        }
    };
    match &creds.auth {
        AuthMethod::Plaintext {} | AuthMethod::Tls { .. } | AuthMethod::Mtls { .. } => {}
        AuthMethod::SaslPlain {
            username, password, ..
        }
        | AuthMethod::SaslScram {
            username, password, ..
        } => {
            let mechanism = match &creds.auth {
                AuthMethod::SaslScram { mechanism, .. } => mechanism.as_str(),
                _ => "PLAIN",
            };
            config
                .set("sasl.mechanism", mechanism)
                .set("sasl.username", username)
                .set("sasl.password", password.expose());
        }
        AuthMethod::MskIam { .. } => {
            config.set("sasl.mechanism", "OAUTHBEARER");
        }
    }
    let sasl = !matches!(
        creds.auth,
        AuthMethod::Plaintext {} | AuthMethod::Tls { .. } | AuthMethod::Mtls { .. }
    );
    let tls = creds.auth.tls();
    let protocol = match (sasl, tls.is_some()) {
        (false, false) => "PLAINTEXT",
        (false, true) => "SSL",
        (true, false) => "SASL_PLAINTEXT",
        (true, true) => "SASL_SSL",
    };
    config.set("security.protocol", protocol);
    if let Some(tls) = tls {
        if let Some(ca) = tls.ca_cert {
            config.set("ssl.ca.location", check_file("ca_cert", ca)?);
        }
        if tls.insecure_skip_verify {
            config
                .set("enable.ssl.certificate.verification", "false")
                .set("ssl.endpoint.identification.algorithm", "none");
        }
        if let Some(client) = tls.client {
            config
                .set(
                    "ssl.certificate.location",
                    check_file("client_cert", client.cert)?,
                )
                .set("ssl.key.location", check_file("client_key", client.key)?);
            if let Some(password) = client.key_password {
                config.set("ssl.key.password", password.expose());
            }
        }
    }
    Ok(config)
}

/// A broker from cluster metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataBroker {
    pub id: i32,
    pub host: String,
    pub port: u16,
}

/// What the connection probe learned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterMetadata {
    pub brokers: Vec<MetadataBroker>,
    /// The broker that answered the metadata request.
    pub orig_broker_id: i32,
    pub topic_count: usize,
}

impl ClusterMetadata {
    fn from_metadata(md: &Metadata) -> Self {
        let mut brokers: Vec<MetadataBroker> = md
            .brokers()
            .iter()
            .map(|b| MetadataBroker {
                id: b.id(),
                host: b.host().to_owned(),
                port: u16::try_from(b.port()).unwrap_or(0),
            })
            .collect();
        brokers.sort_by_key(|b| b.id);
        ClusterMetadata {
            brokers,
            orig_broker_id: md.orig_broker_id(),
            topic_count: md.topics().len(),
        }
    }
}

/// A verified connection to one cluster.
pub struct Connection {
    creds: ClusterCredentials,
    options: ConnectOptions,
    consumer: BaseConsumer<KcpContext>,
    metadata: ClusterMetadata,
    /// Made with the connection and kept: librdkafka starts connecting a
    /// client when it is made, so its connection and first metadata
    /// request overlap the probe (a few round trips, each a whole RTT over
    /// a long link), and no admin call pays for a new client.
    admin: rdkafka::admin::AdminClient<KcpContext>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("cluster", &self.creds.name)
            .field("metadata", &self.metadata)
            .finish_non_exhaustive()
    }
}

/// Time one metadata attempt may block before the probe checks for a
/// decisive failure again.
const PROBE_STEP: Duration = Duration::from_millis(500);

/// Connects to the cluster and proves that it answers and accepts our
/// credentials, failing fast on authentication, TLS and reachability errors.
/// A client librdkafka would not create: a refused setting from the
/// cluster's `client_properties` is named as such, anything else is the
/// `auth` section's.
fn config_error(creds: &ClusterCredentials, e: rdkafka::error::KafkaError) -> ConnectError {
    match e {
        rdkafka::error::KafkaError::ClientConfig(_, message, key, _)
            if creds.client_properties.contains_key(&key) =>
        {
            ConnectError::ClientProperty {
                cluster: creds.name.clone(),
                key,
                message,
            }
        }
        e => ConnectError::Config {
            cluster: creds.name.clone(),
            message: e.to_string(),
        },
    }
}

/// Blocking: call it from `spawn_blocking` in async code.
pub fn connect(
    creds: &ClusterCredentials,
    options: ConnectOptions,
) -> Result<Connection, ConnectError> {
    let config = client_config(creds)?;
    let consumer: BaseConsumer<KcpContext> = config
        .create_with_context(KcpContext::new(creds))
        .map_err(|e| config_error(creds, e))?;
    let admin = config
        .create_with_context(KcpContext::new(creds))
        .map_err(|e| config_error(creds, e))?;
    let deadline = Instant::now() + options.timeout;
    let mut last_error = None;
    loop {
        // Serve queued events (errors, logs, token refreshes) so the context
        // sees failures as soon as librdkafka reports them.
        while consumer.poll(Duration::ZERO).is_some() {}
        if let Some(failure) = consumer.context().take_failure() {
            return Err(decisive_error(
                creds,
                &failure,
                consumer.context().last_transport(),
            ));
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(ConnectError::Timeout {
                cluster: creds.name.clone(),
                auth: creds.auth.describe(),
                operation: "connecting".to_owned(),
                timeout: options.timeout,
                detail: last_error.map(|e: KafkaError| e.to_string()),
            });
        }
        match consumer.fetch_metadata(None, PROBE_STEP.min(deadline - now)) {
            Ok(md) => {
                let metadata = ClusterMetadata::from_metadata(&md);
                return Ok(Connection {
                    creds: creds.clone(),
                    options,
                    consumer,
                    metadata,
                    admin,
                });
            }
            Err(e) => last_error = Some(e),
        }
    }
}

fn decisive_error(
    creds: &ClusterCredentials,
    failure: &Failure,
    transport: Option<String>,
) -> ConnectError {
    let cluster = creds.name.clone();
    let auth = creds.auth.describe();
    let detail = clean_reason(&failure.reason);
    match failure.code {
        RDKafkaErrorCode::SSL => ConnectError::Tls {
            cluster,
            auth,
            detail,
        },
        // The broker ended the TLS handshake with an alert (it refused the
        // client certificate: expired, or signed by a CA it does not
        // trust): a TLS problem, not a broker that is down.
        RDKafkaErrorCode::AllBrokersDown
            if transport
                .as_deref()
                .is_some_and(|t| t.contains("SSL alert")) =>
        {
            ConnectError::Tls {
                cluster,
                auth,
                detail: transport.map(|t| clean_reason(&t)).unwrap_or(detail),
            }
        }
        RDKafkaErrorCode::AllBrokersDown
            if transport
                .as_deref()
                .is_some_and(|t| t.contains("connection closed by peer")) =>
        {
            ConnectError::ClosedByBroker {
                cluster,
                servers: creds.bootstrap_servers.join(", "),
                auth,
                detail: transport.map(|t| clean_reason(&t)).unwrap_or(detail),
            }
        }
        RDKafkaErrorCode::AllBrokersDown => ConnectError::Unreachable {
            cluster,
            servers: creds.bootstrap_servers.join(", "),
            detail: transport.map(|t| clean_reason(&t)).unwrap_or(detail),
        },
        _ => ConnectError::Authentication {
            cluster,
            auth,
            detail,
        },
    }
}

/// librdkafka prefixes reasons with `proto://host:port/bootstrap: ` and may
/// end them with an internal state suffix; keep the message itself.
fn clean_reason(reason: &str) -> String {
    let reason = reason.trim();
    let reason = match reason.split_once(": ") {
        Some((head, tail)) if head.contains("://") || head.ends_with("/bootstrap") => tail,
        _ => reason,
    };
    let reason = reason
        .split_once(" (after ")
        .map_or(reason, |(head, _)| head);
    reason.to_owned()
}

impl Connection {
    /// The cluster's name in the credentials file.
    pub fn cluster(&self) -> &str {
        &self.creds.name
    }

    /// The credentials entry this connection was made with.
    pub fn credentials(&self) -> &ClusterCredentials {
        &self.creds
    }

    /// What the probe learned.
    pub fn metadata(&self) -> &ClusterMetadata {
        &self.metadata
    }

    /// The timeout every call on this connection is bounded by.
    pub fn timeout(&self) -> Duration {
        self.options.timeout
    }

    /// The probe client, for metadata and watermark queries.
    pub fn consumer(&self) -> &BaseConsumer<KcpContext> {
        &self.consumer
    }

    /// Fetches full metadata, bounded by the connection timeout.
    pub fn fetch_metadata(&self, topic: Option<&str>) -> Result<Metadata, ConnectError> {
        self.consumer
            .fetch_metadata(topic, self.options.timeout)
            .map_err(|source| self.kafka_error("fetching metadata", source))
    }

    /// Wraps a client error with the cluster name and the operation.
    pub fn kafka_error(&self, operation: &str, source: KafkaError) -> ConnectError {
        match source {
            KafkaError::MetadataFetch(RDKafkaErrorCode::OperationTimedOut)
            | KafkaError::AdminOp(RDKafkaErrorCode::OperationTimedOut) => ConnectError::Timeout {
                cluster: self.creds.name.clone(),
                auth: self.creds.auth.describe(),
                operation: operation.to_owned(),
                timeout: self.options.timeout,
                detail: None,
            },
            source => ConnectError::Kafka {
                cluster: self.creds.name.clone(),
                operation: operation.to_owned(),
                source: Box::new(source),
            },
        }
    }

    /// Admin options carrying this connection's timeout, for every admin call.
    pub fn admin_options(&self) -> rdkafka::admin::AdminOptions {
        rdkafka::admin::AdminOptions::new()
            .request_timeout(Some(self.options.timeout))
            .operation_timeout(Some(self.options.timeout))
    }

    /// This connection's admin client (same configuration and context
    /// kind), made with the connection.
    pub fn admin_client(&self) -> &rdkafka::admin::AdminClient<KcpContext> {
        &self.admin
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connect::CredentialsFile;
    use std::path::Path;

    fn creds(yaml: &str) -> ClusterCredentials {
        CredentialsFile::parse(Path::new("c.yaml"), yaml, |_| Some("pw".into()))
            .unwrap()
            .clusters
            .remove(0)
    }

    fn get(config: &ClientConfig, key: &str) -> Option<String> {
        config.get(key).map(str::to_owned)
    }

    #[test]
    fn scram_over_tls_maps_to_sasl_ssl() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "x").unwrap();
        let c = creds(&format!(
            "clusters:\n  - name: a\n    bootstrap_servers: [\"h:1\", \"h:2\"]\n    auth: {{ method: sasl_scram, mechanism: SCRAM-SHA-256, username: u, password: \"${{P}}\", tls: {{ ca_cert: {} }} }}\n",
            ca.display()
        ));
        let config = client_config(&c).unwrap();
        assert_eq!(
            get(&config, "bootstrap.servers").as_deref(),
            Some("h:1,h:2")
        );
        assert_eq!(
            get(&config, "security.protocol").as_deref(),
            Some("SASL_SSL")
        );
        assert_eq!(
            get(&config, "sasl.mechanism").as_deref(),
            Some("SCRAM-SHA-256")
        );
        assert_eq!(get(&config, "sasl.password").as_deref(), Some("pw"));
        assert_eq!(
            get(&config, "ssl.ca.location"),
            Some(ca.display().to_string())
        );
    }

    #[test]
    fn each_method_sets_its_protocol() {
        let cases = [
            ("{ method: plaintext }", "PLAINTEXT", None),
            ("{ method: tls, insecure_skip_verify: true }", "SSL", None),
            (
                "{ method: sasl_plain, username: u, password: p }",
                "SASL_PLAINTEXT",
                Some("PLAIN"),
            ),
            (
                "{ method: msk_iam, region: eu-west-1 }",
                "SASL_SSL",
                Some("OAUTHBEARER"),
            ),
        ];
        for (auth, protocol, mechanism) in cases {
            let c = creds(&format!(
                "clusters:\n  - name: a\n    bootstrap_servers: [\"h:1\"]\n    auth: {auth}\n"
            ));
            let config = client_config(&c).unwrap();
            assert_eq!(
                get(&config, "security.protocol").as_deref(),
                Some(protocol),
                "{auth}"
            );
            assert_eq!(
                get(&config, "sasl.mechanism").as_deref(),
                mechanism,
                "{auth}"
            );
        }
    }

    #[test]
    fn missing_certificate_is_a_config_error() {
        let c = creds(
            "clusters:\n  - name: a\n    bootstrap_servers: [\"h:1\"]\n    auth: { method: mtls, client_cert: /nope/c.pem, client_key: /nope/k.pem }\n",
        );
        let e = client_config(&c).unwrap_err();
        assert!(
            e.to_string()
                .contains("`auth.client_cert` names `/nope/c.pem`"),
            "{e}"
        );
    }

    #[test]
    fn unreachable_cluster_fails_fast() {
        // Port 1 on loopback refuses connections.
        let c = creds(
            "clusters:\n  - name: nowhere\n    bootstrap_servers: [\"127.0.0.1:1\"]\n    auth: { method: plaintext }\n",
        );
        let started = Instant::now();
        let e = connect(
            &c,
            ConnectOptions {
                timeout: Duration::from_secs(20),
            },
        )
        .unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "took {:?}",
            started.elapsed()
        );
        assert!(matches!(e, ConnectError::Unreachable { .. }), "{e}");
        assert!(e.to_string().contains("cluster `nowhere`"), "{e}");
    }
}
