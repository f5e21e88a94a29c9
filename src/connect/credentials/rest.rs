//! The REST services' entries of the credentials file: Confluent-compatible
//! Schema Registries (`schema_registries:`) and Kafka Connect clusters'
//! REST APIs (`connect_clusters:`), each a URL, an auth method (none,
//! HTTP basic, or a bearer token) and TLS settings (a CA to trust, a client
//! certificate for mutual TLS).
//!
//! ```yaml
//! schema_registries:
//!   - name: prod-sr
//!     url: https://sr.example.com:8081
//!     auth: { method: basic, username: kcp, password: "${SR_PASSWORD}" }
//!     tls: { ca_cert: /etc/kcp/ca.pem }
//! connect_clusters:
//!   - name: prod-connect
//!     url: https://connect.example.com:8083
//!     auth: { method: bearer, token: "${CONNECT_TOKEN}" }
//! ```
//!
//! Parsing and `${VAR}` interpolation are the file's ([`super`]); this
//! module owns the entries' types, their checks and the look-ups by name.
//! The clients built from them are in [`crate::rest`].

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{CredentialsError, CredentialsFile};
use crate::secret::Secret;

/// One REST service entry: a Schema Registry or a Kafka Connect cluster.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestCredentials {
    /// The name used on the command line and as the key in the state file.
    pub name: String,
    /// The registry's base URL (`http://` or `https://`), e.g.
    /// `https://sr.example.com:8081` or Apicurio's `http://host:8080/apis/ccompat/v7`.
    pub url: String,
    /// How to authenticate; none when absent.
    #[serde(default = "RestAuth::none")]
    pub auth: RestAuth,
    /// TLS settings for an `https://` URL.
    #[serde(default)]
    pub tls: Option<RestTls>,
}

/// A Schema Registry's entry.
pub type RegistryCredentials = RestCredentials;
/// A Schema Registry's auth.
pub type RegistryAuth = RestAuth;
/// A Schema Registry's TLS settings.
pub type RegistryTls = RestTls;

/// How kcp authenticates to a REST service (Schema Registry, Kafka
/// Connect). The YAML key `method` selects the variant.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case", deny_unknown_fields)]
pub enum RestAuth {
    /// No authentication.
    None {},
    /// HTTP basic authentication (Confluent Cloud: API key and secret).
    Basic { username: String, password: Secret },
    /// A bearer token (OAuth).
    Bearer { token: Secret },
}

impl RestAuth {
    fn none() -> Self {
        RestAuth::None {}
    }

    /// The short name stored in the state (`basic`, ...). Never contains secrets.
    pub fn kind(&self) -> &'static str {
        match self {
            RestAuth::None {} => "none",
            RestAuth::Basic { .. } => "basic",
            RestAuth::Bearer { .. } => "bearer",
        }
    }
}

/// TLS settings of a REST service: a CA to trust instead of the system's,
/// and a client certificate for mutual TLS.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestTls {
    #[serde(default)]
    pub ca_cert: Option<PathBuf>,
    #[serde(default)]
    pub client_cert: Option<PathBuf>,
    #[serde(default)]
    pub client_key: Option<PathBuf>,
}

impl CredentialsFile {
    /// The Schema Registry entry for `name`.
    pub fn registry(&self, name: &str) -> Result<&RegistryCredentials, CredentialsError> {
        find(&self.schema_registries, name).ok_or_else(|| CredentialsError::UnknownRegistry {
            path: self.path.clone(),
            name: name.to_owned(),
            known: names(&self.schema_registries),
        })
    }

    /// The Kafka Connect cluster entry for `name`.
    pub fn connect_cluster(&self, name: &str) -> Result<&RestCredentials, CredentialsError> {
        find(&self.connect_clusters, name).ok_or_else(|| CredentialsError::UnknownConnectCluster {
            path: self.path.clone(),
            name: name.to_owned(),
            known: names(&self.connect_clusters),
        })
    }
}

fn find<'a>(entries: &'a [RestCredentials], name: &str) -> Option<&'a RestCredentials> {
    entries.iter().find(|r| r.name == name)
}

fn names(entries: &[RestCredentials]) -> Vec<String> {
    entries.iter().map(|r| r.name.clone()).collect()
}

/// Checks the entries of one REST section of the file at `path`
/// (`section`, e.g. `connect_clusters`; `kind` names an entry in messages).
pub(super) fn validate(
    path: &Path,
    section: &str,
    kind: &str,
    entries: &[RestCredentials],
) -> Result<(), CredentialsError> {
    let invalid = |location: String, message: String| CredentialsError::Invalid {
        path: path.to_owned(),
        location,
        message,
    };
    let mut seen = BTreeSet::new();
    for (i, entry) in entries.iter().enumerate() {
        let at = format!("{section}[{i}]");
        if entry.name.trim().is_empty() {
            return Err(invalid(format!("{at}.name"), "must not be empty".into()));
        }
        if !seen.insert(entry.name.as_str()) {
            return Err(invalid(
                format!("{at}.name"),
                format!("{kind} `{}` is listed twice", entry.name),
            ));
        }
        let url = entry.url.to_ascii_lowercase();
        if !(url.starts_with("http://") || url.starts_with("https://"))
            || entry.url.contains(char::is_whitespace)
        {
            return Err(invalid(
                format!("{at}.url"),
                format!(
                    "`{}` is not an http:// or https:// URL (e.g. `https://sr.example.com:8081`)",
                    entry.url
                ),
            ));
        }
        match &entry.auth {
            RestAuth::Basic { username, password }
                if username.is_empty() || password.is_empty() =>
            {
                return Err(invalid(
                    format!("{at}.auth"),
                    "basic auth needs a non-empty `username` and `password`".into(),
                ));
            }
            RestAuth::Bearer { token } if token.is_empty() => {
                return Err(invalid(
                    format!("{at}.auth.token"),
                    "must not be empty".into(),
                ));
            }
            _ => {}
        }
        if let Some(tls) = &entry.tls
            && tls.client_cert.is_some() != tls.client_key.is_some()
        {
            return Err(invalid(
                format!("{at}.tls"),
                "give both `client_cert` and `client_key` for mutual TLS, or neither".into(),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<CredentialsFile, CredentialsError> {
        let env = |var: &str| (var == "PW").then(|| "s3cret".to_owned());
        CredentialsFile::parse(Path::new("creds.yaml"), text, env)
    }

    #[test]
    fn connect_clusters_are_checked_like_registries() {
        let f = parse(
            "connect_clusters:\n  - name: c\n    url: https://c:8083\n    auth: { method: basic, username: u, password: \"${PW}\" }\n    tls: { ca_cert: /ca.pem }\n",
        )
        .unwrap();
        let c = f.connect_cluster("c").unwrap();
        assert_eq!((c.url.as_str(), c.auth.kind()), ("https://c:8083", "basic"));
        assert!(matches!(
            f.connect_cluster("x"),
            Err(CredentialsError::UnknownConnectCluster { .. })
        ));
        let e = parse(
            "connect_clusters:\n  - name: c\n    url: http://a\n  - name: c\n    url: http://b\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("connect_clusters[1].name")
                && e.contains("Connect cluster `c` is listed twice"),
            "{e}"
        );
        let e = parse("connect_clusters:\n  - name: c\n    url: c:8083\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("connect_clusters[0].url"), "{e}");
    }
}
