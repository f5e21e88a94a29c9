//! The principal mapping file: how source principals become target
//! principals.
//!
//! ```yaml
//! principals:
//!   "User:alice": sa-1a2b3c          # Confluent Cloud: an existing service account
//!   "User:CN=orders,O=Example": "User:orders"   # Kafka: the principal on the target
//!   "arn:aws:iam::123456789012:role/billing": sa-4d5e6f
//! ```
//!
//! Keys are source principals exactly as in the state (`User:...`) or, for
//! MSK IAM policies, the IAM principal ARN. A principal that is not mapped
//! gets a new service account (Confluent Cloud) or keeps its name (Kafka;
//! IAM ARNs become `User:<role or user name>`).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::AssetError;

/// Source principal → target principal or service-account id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrincipalMap {
    pub entries: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    principals: BTreeMap<String, String>,
}

impl PrincipalMap {
    /// Reads and checks a mapping file.
    pub fn load(path: &Path) -> Result<Self, AssetError> {
        let invalid = |message: String| AssetError::PrincipalMap {
            path: path.to_owned(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| invalid(e.to_string()))?;
        Self::parse(&text).map_err(invalid)
    }

    /// Parses mapping text; the error names the offending entry.
    pub fn parse(text: &str) -> Result<Self, String> {
        let de = serde_norway::Deserializer::from_str(text);
        let file: File = serde_path_to_error::deserialize(de).map_err(|e| {
            let at = e.path().to_string();
            format!("at `{at}`: {}", e.inner())
        })?;
        for (from, to) in &file.principals {
            if to.trim().is_empty() {
                return Err(format!("`{from}` is mapped to an empty value"));
            }
        }
        Ok(PrincipalMap {
            entries: file.principals,
        })
    }

    pub fn get(&self, principal: &str) -> Option<&str> {
        self.entries.get(principal).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects_unknown_keys() {
        let m = PrincipalMap::parse("principals:\n  'User:a b': sa-1\n").unwrap();
        assert_eq!(m.get("User:a b"), Some("sa-1"));
        let e = PrincipalMap::parse("principal:\n  a: b\n").unwrap_err();
        assert!(e.contains("unknown field `principal`"), "{e}");
        let e = PrincipalMap::parse("principals:\n  a: ''\n").unwrap_err();
        assert!(e.contains("empty"), "{e}");
    }
}
