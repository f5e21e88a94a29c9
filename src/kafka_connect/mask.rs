//! Which connector config values are secrets (pure). A value is a secret
//! when its key looks like one (a password, secret, token, key, credential
//! or `sasl.jaas.config`), or when it embeds credentials (a URL with a
//! password, a `password=` parameter). A value made only of `${...}`
//! config-provider references is never a secret: it names where the secret
//! lives, and is kept as it is.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;

/// Words that make a key a secret when one of its parts contains them.
const SECRET_WORDS: &[&str] = &["password", "passwd", "secret", "token", "credential"];

/// A config split into what may be stored and the keys left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Masked {
    pub config: BTreeMap<String, String>,
    pub secret_keys: Vec<String>,
}

/// Whether `key` names a secret.
pub fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    if key.ends_with("jaas.config") {
        return true;
    }
    let parts: Vec<&str> = key.split(['.', '_', '-']).collect();
    if parts
        .iter()
        .any(|p| SECRET_WORDS.iter().any(|w| p.contains(w)))
    {
        return true;
    }
    // `api.key`, `aws.access.key`, `apikey`, `ssl.keystore.key`; not
    // `key.converter` or `key.ignore`, where `key` is a record's key.
    parts
        .last()
        .is_some_and(|last| last.ends_with("key") && !last.ends_with("primarykey"))
}

/// Whether `value` is nothing but `${...}` config-provider references.
pub fn is_provider_reference(value: &str) -> bool {
    static REFS: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^\s*(\$\{[^{}]+\}\s*)+$").expect("valid regex"));
    REFS.is_match(value)
}

/// Whether `value` embeds credentials: `scheme://user:password@`, or a
/// `password=` / `pwd=` parameter, whose password is not a reference.
pub fn embeds_credentials(value: &str) -> bool {
    static USERINFO: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"://[^/@:\s]+:([^/@\s]+)@").expect("valid regex"));
    static PARAM: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)(?:password|pwd|secret|token)=([^;&\s]+)").expect("valid regex")
    });
    USERINFO
        .captures_iter(value)
        .chain(PARAM.captures_iter(value))
        .any(|c| !c[1].starts_with("${"))
}

/// Whether the value of `key` must not be stored.
pub fn is_secret(key: &str, value: &str) -> bool {
    !is_provider_reference(value) && (is_secret_key(key) || embeds_credentials(value))
}

/// Splits a config into storable values and secret keys.
pub fn mask(config: &BTreeMap<String, String>) -> Masked {
    let mut out = Masked::default();
    for (key, value) in config {
        if is_secret(key, value) {
            out.secret_keys.push(key.clone());
        } else {
            out.config.insert(key.clone(), value.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_keys() {
        for key in [
            "connection.password",
            "database.password",
            "sasl.jaas.config",
            "producer.override.sasl.jaas.config",
            "aws.secret.access.key",
            "api.key",
            "apiKey",
            "ssl.keystore.key",
            "ssl.key.password",
            "auth.token",
            "gcp.credentials.json",
            "oauth.client.secret",
            "mongodb.passwd",
        ] {
            assert!(is_secret_key(key), "{key}");
        }
        for key in [
            "key.converter",
            "key.converter.schemas.enable",
            "key.ignore",
            "topic",
            "tasks.max",
            "connector.class",
            "ssl.keystore.location",
            "pk.fields",
            "table.primarykey",
        ] {
            assert!(!is_secret_key(key), "{key}");
        }
    }

    #[test]
    fn references_are_kept_and_embedded_credentials_masked() {
        assert!(is_provider_reference(
            "${file:/etc/kafka/secrets.properties:db.password}"
        ));
        assert!(is_provider_reference(" ${env:A} ${vault:b/c:d} "));
        assert!(!is_provider_reference("x${env:A}"));
        assert!(!is_secret("connection.password", "${env:DB_PASSWORD}"));
        assert!(is_secret("connection.password", "hunter2"));
        assert!(is_secret(
            "connection.url",
            "jdbc:postgresql://kcp:hunter2@db:5432/x"
        ));
        assert!(is_secret(
            "connection.url",
            "jdbc:sqlserver://db;user=kcp;password=hunter2"
        ));
        assert!(!is_secret(
            "connection.url",
            "jdbc:sqlserver://db;password=${env:PW}"
        ));
        assert!(!is_secret("connection.url", "jdbc:postgresql://db:5432/x"));
        assert!(!is_secret("topic", "orders"));
    }

    #[test]
    fn mask_splits() {
        let config: BTreeMap<String, String> = [
            ("topic", "orders"),
            ("db.password", "hunter2"),
            ("api.key", "${env:API_KEY}"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let m = mask(&config);
        assert_eq!(m.secret_keys, vec!["db.password".to_owned()]);
        assert_eq!(m.config.len(), 2);
        assert_eq!(m.config["api.key"], "${env:API_KEY}");
        assert!(!m.config.values().any(|v| v.contains("hunter2")));
    }
}
