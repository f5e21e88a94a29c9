//! The credentials file (YAML): the clusters `kcp` may connect to, each with
//! its bootstrap servers and exactly one auth method.
//!
//! ```yaml
//! clusters:
//!   - name: prod
//!     bootstrap_servers: ["b-1.example:9096", "b-2.example:9096"]
//!     auth:
//!       method: sasl_scram
//!       mechanism: SCRAM-SHA-512
//!       username: migrator
//!       password: ${PROD_KAFKA_PASSWORD}
//!       tls: { ca_cert: /etc/kcp/ca.pem }
//! ```
//!
//! `${VAR}` anywhere in a string value is replaced by the environment
//! variable `VAR` (`${VAR:-fallback}` gives a fallback, `$${` a literal `${`;
//! a `${` with no `}` is an error), so secrets need not be written into the
//! file.
//!
//! The file also names REST services (`schema_registries:`,
//! `connect_clusters:`); their entries are [`rest`]'s.

mod rest;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::exit::{Diagnostic, ExitStatus};
use crate::secret::Secret;

pub use rest::{
    RegistryAuth, RegistryCredentials, RegistryTls, RestAuth, RestCredentials, RestTls,
};

/// A parsed, interpolated and validated credentials file.
#[derive(Debug, Clone)]
pub struct CredentialsFile {
    pub path: PathBuf,
    pub clusters: Vec<ClusterCredentials>,
    /// Confluent-compatible Schema Registries (`schema_registries:`).
    pub schema_registries: Vec<RegistryCredentials>,
    /// Kafka Connect clusters' REST APIs (`connect_clusters:`).
    pub connect_clusters: Vec<RestCredentials>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    clusters: Vec<ClusterCredentials>,
    #[serde(default)]
    schema_registries: Vec<RegistryCredentials>,
    #[serde(default)]
    connect_clusters: Vec<RestCredentials>,
}

/// One cluster entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterCredentials {
    /// The name used on the command line and as the key in the state file.
    pub name: String,
    /// `host:port` pairs.
    pub bootstrap_servers: Vec<String>,
    /// How to authenticate.
    pub auth: AuthMethod,
    /// The MSK cluster ARN, for clusters found by `kcp discover`.
    #[serde(default)]
    pub msk_arn: Option<String>,
    /// Extra librdkafka client properties (tuning only; security properties
    /// belong in `auth` and are refused here).
    #[serde(default)]
    pub client_properties: BTreeMap<String, String>,
}

#[cfg(test)]
impl ClusterCredentials {
    /// A plaintext cluster at one bootstrap address (tests).
    pub(crate) fn plaintext(name: &str, bootstrap: String) -> Self {
        ClusterCredentials {
            name: name.into(),
            bootstrap_servers: vec![bootstrap],
            auth: AuthMethod::Plaintext {},
            msk_arn: None,
            client_properties: std::collections::BTreeMap::new(),
        }
    }
}

/// One auth method. The YAML key `method` selects the variant: the file's
/// `{method: m, ...}` is read as `!m {...}` (see `tag_auth_methods`), a
/// form serde tracks paths through, so errors name the field.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum AuthMethod {
    /// No encryption, no authentication. (A struct variant so that unknown
    /// keys next to `method: plaintext` are refused like everywhere else.)
    Plaintext {},
    /// TLS encryption, no client authentication.
    Tls {
        #[serde(default)]
        ca_cert: Option<PathBuf>,
        #[serde(default)]
        insecure_skip_verify: bool,
    },
    /// TLS with a client certificate (mutual TLS).
    Mtls {
        #[serde(default)]
        ca_cert: Option<PathBuf>,
        client_cert: PathBuf,
        client_key: PathBuf,
        #[serde(default)]
        client_key_password: Option<Secret>,
        #[serde(default)]
        insecure_skip_verify: bool,
    },
    /// SASL/PLAIN, over TLS when `tls` is given.
    SaslPlain {
        username: String,
        password: Secret,
        #[serde(default)]
        tls: Option<TlsOptions>,
    },
    /// SASL/SCRAM-SHA-256 or -512, over TLS when `tls` is given.
    SaslScram {
        mechanism: ScramMechanism,
        username: String,
        password: Secret,
        #[serde(default)]
        tls: Option<TlsOptions>,
    },
    /// AWS MSK IAM (SASL/OAUTHBEARER with signed tokens, always over TLS),
    /// with credentials from the standard AWS chain, a named profile or an
    /// assumed role.
    MskIam {
        region: String,
        #[serde(default)]
        profile: Option<String>,
        #[serde(default)]
        role_arn: Option<String>,
    },
}

/// SCRAM variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum ScramMechanism {
    #[serde(rename = "SCRAM-SHA-256")]
    Sha256,
    #[serde(rename = "SCRAM-SHA-512")]
    Sha512,
}

impl ScramMechanism {
    /// The SASL mechanism name.
    pub fn as_str(self) -> &'static str {
        match self {
            ScramMechanism::Sha256 => "SCRAM-SHA-256",
            ScramMechanism::Sha512 => "SCRAM-SHA-512",
        }
    }
}

/// TLS settings for SASL methods.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsOptions {
    #[serde(default)]
    pub ca_cert: Option<PathBuf>,
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

impl ClusterCredentials {
    /// A fresh state entry for this cluster: where it is and how it is
    /// reached, without any secret.
    pub fn state_entry(&self) -> crate::state::KafkaCluster {
        crate::state::KafkaCluster {
            bootstrap_servers: self.bootstrap_servers.clone(),
            auth_method: self.auth.kind().to_owned(),
            msk_arn: self.msk_arn.clone(),
            ..Default::default()
        }
    }
}

impl AuthMethod {
    /// The short name stored in the state (`sasl_scram`, ...). Never contains secrets.
    pub fn kind(&self) -> &'static str {
        match self {
            AuthMethod::Plaintext {} => "plaintext",
            AuthMethod::Tls { .. } => "tls",
            AuthMethod::Mtls { .. } => "mtls",
            AuthMethod::SaslPlain { .. } => "sasl_plain",
            AuthMethod::SaslScram { .. } => "sasl_scram",
            AuthMethod::MskIam { .. } => "msk_iam",
        }
    }

    /// A human description for messages, e.g. `SASL/SCRAM-SHA-512 as user alice`.
    pub fn describe(&self) -> String {
        match self {
            AuthMethod::Plaintext {} => "PLAINTEXT (no authentication)".to_owned(),
            AuthMethod::Tls { .. } => "TLS (no client authentication)".to_owned(),
            AuthMethod::Mtls { client_cert, .. } => format!(
                "mutual TLS with client certificate `{}`",
                client_cert.display()
            ),
            AuthMethod::SaslPlain { username, .. } => format!("SASL/PLAIN as user `{username}`"),
            AuthMethod::SaslScram {
                mechanism,
                username,
                ..
            } => format!("SASL/{} as user `{username}`", mechanism.as_str()),
            AuthMethod::MskIam { region, .. } => format!("AWS MSK IAM in {region}"),
        }
    }

    /// The TLS this method connects with, or `None` for a plaintext
    /// connection (MSK IAM is always over TLS, with the system's roots).
    pub fn tls(&self) -> Option<TlsFiles<'_>> {
        match self {
            AuthMethod::Plaintext {} => None,
            AuthMethod::Tls {
                ca_cert,
                insecure_skip_verify,
            } => Some(TlsFiles {
                ca_cert: ca_cert.as_deref(),
                client: None,
                insecure_skip_verify: *insecure_skip_verify,
            }),
            AuthMethod::Mtls {
                ca_cert,
                client_cert,
                client_key,
                client_key_password,
                insecure_skip_verify,
            } => Some(TlsFiles {
                ca_cert: ca_cert.as_deref(),
                client: Some(ClientCert {
                    cert: client_cert,
                    key: client_key,
                    key_password: client_key_password.as_ref(),
                }),
                insecure_skip_verify: *insecure_skip_verify,
            }),
            AuthMethod::SaslPlain { tls, .. } | AuthMethod::SaslScram { tls, .. } => {
                tls.as_ref().map(|t| TlsFiles {
                    ca_cert: t.ca_cert.as_deref(),
                    client: None,
                    insecure_skip_verify: t.insecure_skip_verify,
                })
            }
            AuthMethod::MskIam { .. } => Some(TlsFiles::default()),
        }
    }
}

/// The TLS side of an auth method ([`AuthMethod::tls`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct TlsFiles<'a> {
    /// The CA to trust instead of the system's roots.
    pub ca_cert: Option<&'a Path>,
    /// The client certificate of mutual TLS.
    pub client: Option<ClientCert<'a>>,
    /// Accept any server certificate.
    pub insecure_skip_verify: bool,
}

/// A client certificate and its key (PEM files).
#[derive(Debug, Clone, Copy)]
pub struct ClientCert<'a> {
    pub cert: &'a Path,
    pub key: &'a Path,
    /// The key's password when it is encrypted.
    pub key_password: Option<&'a Secret>,
}

/// Librdkafka properties that carry security settings or secrets; they must
/// come from `auth`, not from `client_properties`.
const RESERVED_PROPERTIES: &[&str] = &[
    "bootstrap.servers",
    "security.protocol",
    "sasl.mechanism",
    "sasl.mechanisms",
    "sasl.username",
    "sasl.password",
    "sasl.oauthbearer.config",
    "ssl.key.password",
    "ssl.key.pem",
    "ssl.keystore.password",
    "ssl.certificate.pem",
];

/// Problems with a credentials file.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("cannot read credentials file `{path}`")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("credentials file `{path}` is not valid YAML: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("credentials file `{path}`, at `{location}`: {message}")]
    Invalid {
        path: PathBuf,
        location: String,
        message: String,
    },
    #[error("credentials file `{path}`, at `{location}`: environment variable `{var}` is not set")]
    MissingEnv {
        path: PathBuf,
        location: String,
        var: String,
    },
    #[error("credentials file `{path}` names no cluster `{name}` (it has: {})", if known.is_empty() { "none".to_owned() } else { known.join(", ") })]
    UnknownCluster {
        path: PathBuf,
        name: String,
        known: Vec<String>,
    },
    #[error("credentials file `{path}` names no schema registry `{name}` (it has: {})", if known.is_empty() { "none".to_owned() } else { known.join(", ") })]
    UnknownRegistry {
        path: PathBuf,
        name: String,
        known: Vec<String>,
    },
    #[error("credentials file `{path}` names no Connect cluster `{name}` (it has: {})", if known.is_empty() { "none".to_owned() } else { known.join(", ") })]
    UnknownConnectCluster {
        path: PathBuf,
        name: String,
        known: Vec<String>,
    },
}

impl Diagnostic for CredentialsError {
    fn status(&self) -> ExitStatus {
        ExitStatus::BadInput
    }

    /// What the user can do about it.
    fn hint(&self) -> Option<String> {
        Some(match self {
            CredentialsError::Read { .. } => "check the path: it comes from `--credentials-file` (scan, migrate init and migrate schemas; default `kcp-credentials.yaml`, which `kcp discover` writes), or from `credentials_file` in the plan (replicate, status, execute; relative to the plan's folder)".to_owned(),
            CredentialsError::Syntax { .. } | CredentialsError::Invalid { .. } => {
                "see docs/reference/credentials.md for the format and an example of every auth method".to_owned()
            }
            CredentialsError::MissingEnv { var, .. } => {
                format!("export {var}=... before running kcp, or write `${{{var}:-fallback}}` in the file")
            }
            CredentialsError::UnknownCluster { .. } => "add the cluster to the credentials file, or fix the name".to_owned(),
            CredentialsError::UnknownRegistry { .. } => "add the registry under `schema_registries:` in the credentials file (see docs/reference/credentials.md), or fix the name".to_owned(),
            CredentialsError::UnknownConnectCluster { .. } => "add the Connect cluster under `connect_clusters:` in the credentials file (see docs/reference/credentials.md), or fix the name".to_owned(),
        })
    }
}

impl CredentialsFile {
    /// Reads, interpolates and validates a credentials file, taking
    /// environment variables from the process.
    pub fn load(path: &Path) -> Result<Self, CredentialsError> {
        let text = std::fs::read_to_string(path).map_err(|source| CredentialsError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(path, &text, |var| std::env::var(var).ok())
    }

    /// Parses credentials-file text; `env` looks up variables.
    pub fn parse(
        path: &Path,
        text: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, CredentialsError> {
        let mut doc: serde_norway::Value =
            serde_norway::from_str(text).map_err(|e| CredentialsError::Syntax {
                path: path.to_owned(),
                message: crate::yaml_error::locate_duplicate(text, &e.to_string()),
            })?;
        if doc.is_null() {
            doc = serde_norway::Value::Mapping(Default::default());
        }
        interpolate_tree(&mut doc, &mut String::new(), &env).map_err(|(location, why)| {
            let path = path.to_owned();
            match why {
                Interpolation::Unset(var) => CredentialsError::MissingEnv {
                    path,
                    location,
                    var,
                },
                // The value is not shown: it may be a secret.
                Interpolation::Unterminated => CredentialsError::Invalid {
                    path,
                    location,
                    message: "a `${` has no closing `}` (write `$${` for a literal `${`)".into(),
                },
            }
        })?;
        tag_auth_methods(&mut doc).map_err(|(location, message)| CredentialsError::Invalid {
            path: path.to_owned(),
            location,
            message,
        })?;
        let raw: RawFile =
            serde_path_to_error::deserialize(doc).map_err(|e| CredentialsError::Invalid {
                path: path.to_owned(),
                location: location_of(e.path()),
                message: e.inner().to_string().replace(
                    ", there are no fields",
                    ": `method: plaintext` takes no other key",
                ),
            })?;
        let file = CredentialsFile {
            path: path.to_owned(),
            clusters: raw.clusters,
            schema_registries: raw.schema_registries,
            connect_clusters: raw.connect_clusters,
        };
        file.validate()?;
        Ok(file)
    }

    /// The entry for `name`.
    pub fn cluster(&self, name: &str) -> Result<&ClusterCredentials, CredentialsError> {
        self.clusters
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| CredentialsError::UnknownCluster {
                path: self.path.clone(),
                name: name.to_owned(),
                known: self.clusters.iter().map(|c| c.name.clone()).collect(),
            })
    }

    fn validate(&self) -> Result<(), CredentialsError> {
        rest::validate(
            &self.path,
            "schema_registries",
            "schema registry",
            &self.schema_registries,
        )?;
        rest::validate(
            &self.path,
            "connect_clusters",
            "Connect cluster",
            &self.connect_clusters,
        )?;
        self.validate_clusters()
    }

    fn validate_clusters(&self) -> Result<(), CredentialsError> {
        let invalid = |location: String, message: String| CredentialsError::Invalid {
            path: self.path.clone(),
            location,
            message,
        };
        let mut seen = BTreeSet::new();
        for (i, cluster) in self.clusters.iter().enumerate() {
            let at = format!("clusters[{i}]");
            if cluster.name.trim().is_empty() {
                return Err(invalid(format!("{at}.name"), "must not be empty".into()));
            }
            if !seen.insert(cluster.name.as_str()) {
                return Err(invalid(
                    format!("{at}.name"),
                    format!("cluster `{}` is listed twice", cluster.name),
                ));
            }
            if cluster.bootstrap_servers.is_empty() {
                return Err(invalid(
                    format!("{at}.bootstrap_servers"),
                    "must list at least one host:port".into(),
                ));
            }
            for (j, server) in cluster.bootstrap_servers.iter().enumerate() {
                if !valid_host_port(server) {
                    return Err(invalid(
                        format!("{at}.bootstrap_servers[{j}]"),
                        format!("`{server}` is not host:port (e.g. `b-1.example.com:9092`)"),
                    ));
                }
            }
            if let Some(key) = cluster.client_properties.keys().find(|k| {
                RESERVED_PROPERTIES.contains(&k.as_str())
                    || k.starts_with("ssl.")
                    || k.starts_with("sasl.")
            }) {
                return Err(invalid(
                    format!("{at}.client_properties.{key}"),
                    "security settings belong in `auth`, not in `client_properties`".into(),
                ));
            }
            match &cluster.auth {
                AuthMethod::SaslPlain {
                    username, password, ..
                }
                | AuthMethod::SaslScram {
                    username, password, ..
                } => {
                    if username.is_empty() {
                        return Err(invalid(
                            format!("{at}.auth.username"),
                            "must not be empty".into(),
                        ));
                    }
                    if password.is_empty() {
                        return Err(invalid(
                            format!("{at}.auth.password"),
                            "must not be empty".into(),
                        ));
                    }
                }
                AuthMethod::MskIam {
                    region,
                    profile,
                    role_arn,
                } => {
                    if region.trim().is_empty() {
                        return Err(invalid(
                            format!("{at}.auth.region"),
                            "must name an AWS region, e.g. us-east-1".into(),
                        ));
                    }
                    if profile.is_some() && role_arn.is_some() {
                        return Err(invalid(
                            format!("{at}.auth"),
                            "give either `profile` or `role_arn`, not both".into(),
                        ));
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// Rewrites each cluster's `auth: {method: m, ...}` into `auth: !m {...}`
/// (how a YAML value names an enum variant) for [`AuthMethod`]. Fails with
/// the location and the reason of an `auth` that is not a mapping with a
/// `method` name.
fn tag_auth_methods(doc: &mut serde_norway::Value) -> Result<(), (String, String)> {
    use serde_norway::Value;
    use serde_norway::value::{Tag, TaggedValue};
    const EXPECTED: &str = "a mapping with a `method` (plaintext, tls, mtls, sasl_plain, sasl_scram or msk_iam) and its fields";
    let Some(clusters) = doc.get_mut("clusters").and_then(Value::as_sequence_mut) else {
        return Ok(());
    };
    for (i, cluster) in clusters.iter_mut().enumerate() {
        let Some(auth) = cluster.get_mut("auth") else {
            continue;
        };
        let at = format!("clusters[{i}].auth");
        let Some(fields) = auth.as_mapping_mut() else {
            return Err((at, format!("expected {EXPECTED}")));
        };
        let method = match fields.remove("method") {
            Some(Value::String(method)) => method,
            Some(_) => return Err((format!("{at}.method"), format!("expected {EXPECTED}"))),
            None => return Err((at, "missing field `method`".into())),
        };
        let fields = std::mem::take(fields);
        *auth = Value::Tagged(Box::new(TaggedValue {
            tag: Tag::new(method),
            value: Value::Mapping(fields),
        }));
    }
    Ok(())
}

/// `clusters[0].auth.password`: the path of a decoding error, without the
/// auth method's name that [`tag_auth_methods`] put in it.
fn location_of(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Enum { .. } => {}
            Segment::Unknown => out.push_str(".?"),
        }
    }
    out
}

fn valid_host_port(server: &str) -> bool {
    match server.rsplit_once(':') {
        Some((host, port)) => {
            !host.is_empty()
                && !host.contains(char::is_whitespace)
                && port.parse::<u16>().is_ok_and(|p| p > 0)
        }
        None => false,
    }
}

/// Why a value could not be interpolated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Interpolation {
    /// `${VAR}` with `VAR` unset (or empty) and no fallback.
    Unset(String),
    /// A `${` with no `}` after it.
    Unterminated,
}

/// Replaces `${VAR}` and `${VAR:-fallback}` in `text`; `$${` stands for a
/// literal `${`. Fails on the first unset variable or unclosed `${`.
pub fn interpolate_env(
    text: &str,
    env: impl Fn(&str) -> Option<String>,
) -> Result<String, Interpolation> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
        } else if let Some(body) = tail.strip_prefix("${") {
            let end = body.find('}').ok_or(Interpolation::Unterminated)?;
            let expr = &body[..end];
            let (name, fallback) = match expr.split_once(":-") {
                Some((n, f)) => (n, Some(f)),
                None => (expr, None),
            };
            match env(name)
                .filter(|v| !v.is_empty())
                .or_else(|| fallback.map(str::to_owned))
            {
                Some(value) => out.push_str(&value),
                None => return Err(Interpolation::Unset(name.to_owned())),
            }
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn interpolate_tree(
    value: &mut serde_norway::Value,
    location: &mut String,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<(), (String, Interpolation)> {
    use serde_norway::Value;
    match value {
        Value::String(s) => {
            *s = interpolate_env(s, env).map_err(|why| (location.clone(), why))?;
        }
        Value::Sequence(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                let len = location.len();
                location.push_str(&format!("[{i}]"));
                interpolate_tree(item, location, env)?;
                location.truncate(len);
            }
        }
        Value::Mapping(map) => {
            for (key, item) in map.iter_mut() {
                let len = location.len();
                if !location.is_empty() {
                    location.push('.');
                }
                location.push_str(key.as_str().unwrap_or("?"));
                interpolate_tree(item, location, env)?;
                location.truncate(len);
            }
        }
        Value::Tagged(tagged) => interpolate_tree(&mut tagged.value, location, env)?,
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(var: &str) -> Option<String> {
        match var {
            "PW" => Some("s3cret".into()),
            "USER" => Some("alice".into()),
            _ => None,
        }
    }

    fn parse(text: &str) -> Result<CredentialsFile, CredentialsError> {
        CredentialsFile::parse(Path::new("creds.yaml"), text, env)
    }

    #[test]
    fn interpolation() {
        assert_eq!(interpolate_env("a-${USER}-b", env).unwrap(), "a-alice-b");
        assert_eq!(interpolate_env("${NOPE:-dflt}", env).unwrap(), "dflt");
        assert_eq!(
            interpolate_env("$${USER} $5 $", env).unwrap(),
            "${USER} $5 $"
        );
        assert_eq!(
            interpolate_env("${NOPE}", env).unwrap_err(),
            Interpolation::Unset("NOPE".into())
        );
        // An unclosed `${` is a mistake, not a literal (that is `$${`).
        assert_eq!(
            interpolate_env("pa${USER", env).unwrap_err(),
            Interpolation::Unterminated
        );
    }

    #[test]
    fn errors_inside_auth_name_the_field() {
        let at = |auth: &str| match parse(&format!(
            "clusters:\n  - name: a\n    bootstrap_servers: [\"h:1\"]\n    auth: {auth}\n"
        )) {
            Err(CredentialsError::Invalid {
                location, message, ..
            }) => (location, message),
            other => panic!("{other:?}"),
        };
        let (location, message) = at("{ method: sasl_plain, username: u, password: [1, 2] }");
        assert_eq!(location, "clusters[0].auth.password", "{message}");
        assert!(message.contains("expected a string"), "{message}");
        let (location, _) = at("{ method: sasl_scram, mechanism: MD5, username: u, password: p }");
        assert_eq!(location, "clusters[0].auth.mechanism");
        let (location, _) =
            at("{ method: sasl_plain, username: u, password: p, tls: { ca_cert: [1] } }");
        assert_eq!(location, "clusters[0].auth.tls.ca_cert");
        let (location, message) = at("{ method: plaintext, username: x }");
        assert_eq!(location, "clusters[0].auth.username");
        assert!(!message.contains("there are no fields"), "{message}");
        assert!(
            message.contains("`username`") && message.contains("plaintext"),
            "{message}"
        );
        let (location, message) = at("{ username: x }");
        assert_eq!(
            (location.as_str(), message.as_str()),
            ("clusters[0].auth", "missing field `method`")
        );
        let (_, message) = at("{ method: kerberos }");
        assert!(message.contains("unknown variant `kerberos`"), "{message}");
        let (location, message) = at("{ method: 5 }");
        assert_eq!(location, "clusters[0].auth.method");
        assert!(message.contains("sasl_scram"), "{message}");
        let (location, message) = at("plaintext");
        assert_eq!(location, "clusters[0].auth");
        assert!(message.contains("a mapping with a `method`"), "{message}");
    }

    #[test]
    fn an_unclosed_reference_is_named_by_location_without_its_value() {
        let e = parse("clusters:\n  - name: a\n    bootstrap_servers: [\"h:1\"]\n    auth: { method: sasl_plain, username: u, password: \"s3cr${PW\" }\n").unwrap_err();
        let text = e.to_string();
        assert!(text.contains("clusters[0].auth.password"), "{text}");
        assert!(text.contains("no closing `}`"), "{text}");
        assert!(!text.contains("s3cr"), "the value may be a secret: {text}");
        assert_eq!(e.status(), ExitStatus::BadInput);
    }

    #[test]
    fn every_auth_method_parses() {
        let file = parse(
            r#"
clusters:
  - name: plain
    bootstrap_servers: ["127.0.0.1:9092"]
    auth: { method: plaintext }
  - name: tls
    bootstrap_servers: ["k:9094"]
    auth: { method: tls, ca_cert: /ca.pem }
  - name: mtls
    bootstrap_servers: ["k:9094"]
    auth: { method: mtls, client_cert: /c.pem, client_key: /k.pem, client_key_password: "${PW}" }
  - name: sasl-plain
    bootstrap_servers: ["k:9092"]
    auth: { method: sasl_plain, username: "${USER}", password: "${PW}", tls: {} }
  - name: scram
    bootstrap_servers: ["k:9096"]
    auth: { method: sasl_scram, mechanism: SCRAM-SHA-512, username: u, password: "${PW}" }
  - name: iam
    bootstrap_servers: ["b-1.x.kafka.us-east-1.amazonaws.com:9098"]
    msk_arn: "arn:aws:kafka:us-east-1:123456789012:cluster/x/abc"
    auth: { method: msk_iam, region: us-east-1, profile: prod }
"#,
        )
        .unwrap();
        let kinds: Vec<_> = file.clusters.iter().map(|c| c.auth.kind()).collect();
        assert_eq!(
            kinds,
            [
                "plaintext",
                "tls",
                "mtls",
                "sasl_plain",
                "sasl_scram",
                "msk_iam"
            ]
        );
        match &file.cluster("sasl-plain").unwrap().auth {
            AuthMethod::SaslPlain {
                username,
                password,
                tls,
            } => {
                assert_eq!(username, "alice");
                assert_eq!(password.expose(), "s3cret");
                assert!(tls.is_some());
            }
            other => panic!("unexpected {other:?}"),
        }
        // Debug output of the whole file never shows the secret.
        assert!(!format!("{file:?}").contains("s3cret"));
    }

    #[test]
    fn each_method_says_its_tls() {
        let file = parse(
            r#"
clusters:
  - { name: plain, bootstrap_servers: ["k:1"], auth: { method: plaintext } }
  - { name: scram, bootstrap_servers: ["k:1"], auth: { method: sasl_scram, mechanism: SCRAM-SHA-512, username: u, password: p } }
  - { name: scram-tls, bootstrap_servers: ["k:1"], auth: { method: sasl_plain, username: u, password: p, tls: { ca_cert: /ca.pem, insecure_skip_verify: true } } }
  - { name: mtls, bootstrap_servers: ["k:1"], auth: { method: mtls, client_cert: /c.pem, client_key: /k.pem, client_key_password: "${PW}" } }
  - { name: iam, bootstrap_servers: ["k:1"], auth: { method: msk_iam, region: us-east-1 } }
"#,
        )
        .unwrap();
        let tls = |name: &str| file.cluster(name).unwrap().auth.tls();
        assert!(tls("plain").is_none() && tls("scram").is_none());
        let t = tls("scram-tls").unwrap();
        assert_eq!(t.ca_cert, Some(Path::new("/ca.pem")));
        assert!(t.insecure_skip_verify && t.client.is_none());
        let client = tls("mtls").unwrap().client.unwrap();
        assert_eq!(
            (client.cert, client.key),
            (Path::new("/c.pem"), Path::new("/k.pem"))
        );
        assert_eq!(client.key_password.map(Secret::expose), Some("s3cret"));
        let iam = tls("iam").unwrap();
        assert!(iam.ca_cert.is_none() && iam.client.is_none() && !iam.insecure_skip_verify);
    }

    #[test]
    fn errors_name_the_location() {
        let e = parse("clusters:\n  - name: a\n    bootstrap_servers: [\"h:1\"]\n    auth: { method: sasl_scram, mechanism: SCRAM-SHA-1, username: u, password: p }\n").unwrap_err();
        let text = e.to_string();
        assert!(text.contains("clusters[0].auth"), "{text}");
        assert!(text.contains("SCRAM-SHA-1"), "{text}");

        let e = parse("clusters:\n  - name: a\n    bootstrap_servers: [\"h:1\"]\n    auth: { method: sasl_plain, username: u, password: \"${MISSING}\" }\n").unwrap_err();
        assert!(
            matches!(&e, CredentialsError::MissingEnv { var, location, .. } if var == "MISSING" && location == "clusters[0].auth.password"),
            "{e}"
        );

        let e = parse("clusters:\n  - name: a\n    bootstrap_servers: [\"nohost\"]\n    auth: { method: plaintext }\n").unwrap_err();
        assert!(
            e.to_string().contains("clusters[0].bootstrap_servers[0]"),
            "{e}"
        );

        let e = parse("clusters:\n  - name: a\n    bootstrap_servers: [\"h:1\"]\n    auth: { method: plaintext, user: x }\n").unwrap_err();
        assert!(e.to_string().contains("unknown field"), "{e}");

        let e = parse("clusters:\n  - name: a\n    bootstrap_servers: [\"h:1\"]\n    auth: { method: plaintext }\n  - name: a\n    bootstrap_servers: [\"h:1\"]\n    auth: { method: plaintext }\n").unwrap_err();
        assert!(e.to_string().contains("listed twice"), "{e}");

        let e = parse("clusters:\n  - name: a\n    bootstrap_servers: [\"h:1\"]\n    auth: { method: plaintext }\n    client_properties: { sasl.password: x }\n").unwrap_err();
        assert!(e.to_string().contains("belong in `auth`"), "{e}");

        let e = parse("clusters: [").unwrap_err();
        assert!(matches!(e, CredentialsError::Syntax { .. }));

        let file = parse("clusters: []").unwrap();
        let e = file.cluster("x").unwrap_err();
        assert!(e.to_string().contains("names no cluster `x`"));
    }
}
