//! A connector's config for the target (pure): topic renames (the plan
//! file's `rename: {prefix, suffix}`), the source cluster's bootstrap
//! servers replaced by the target's, and secrets as `${env:...}`
//! placeholders when the values are not at hand. Also which topics a
//! connector uses and a sink's consumer group.

use std::collections::{BTreeMap, BTreeSet};

use crate::state::Connector;

/// Keys naming one topic.
const TOPIC_KEYS: &[&str] = &["topic", "kafka.topic"];
/// Keys naming a comma-separated list of topics.
const TOPIC_LIST_KEYS: &[&str] = &["topics"];

/// How target configs differ from the source's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rewrite {
    /// Target topic = prefix + source topic + suffix.
    pub topic_prefix: String,
    pub topic_suffix: String,
    /// The source cluster's bootstrap servers and the target's: a
    /// `*bootstrap.servers` value equal to the first becomes the second.
    pub bootstrap: Option<(String, String)>,
}

/// One change made to a config, for the README and the command's output.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Change {
    pub key: String,
    pub what: String,
}

impl Rewrite {
    fn topic(&self, t: &str) -> String {
        format!("{}{}{}", self.topic_prefix, t.trim(), self.topic_suffix)
    }

    fn renames(&self) -> bool {
        !self.topic_prefix.is_empty() || !self.topic_suffix.is_empty()
    }
}

/// The topics a connector uses: those the workers tracked, else those its
/// config names.
pub fn topics_of(c: &Connector) -> BTreeSet<String> {
    if !c.topics.is_empty() {
        return c.topics.iter().cloned().collect();
    }
    let mut out = BTreeSet::new();
    for k in TOPIC_KEYS {
        if let Some(v) = c.config.get(*k) {
            out.insert(v.trim().to_owned());
        }
    }
    for k in TOPIC_LIST_KEYS {
        if let Some(v) = c.config.get(*k) {
            out.extend(
                v.split(',')
                    .map(|t| t.trim().to_owned())
                    .filter(|t| !t.is_empty()),
            );
        }
    }
    out
}

/// A sink connector's consumer group: `connect-<name>` unless overridden.
pub fn sink_group(name: &str, config: &BTreeMap<String, String>) -> String {
    config
        .get("consumer.override.group.id")
        .cloned()
        .unwrap_or_else(|| format!("connect-{name}"))
}

/// The placeholder of a secret: an `${env:...}` reference named after the
/// connector and key (`KCP_<CONNECTOR>_<KEY>`, upper case, `_` for the rest).
pub fn placeholder(connector: &str, key: &str) -> String {
    let var: String = format!("KCP_{connector}_{key}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("${{env:{var}}}")
}

/// The target config of `config` (the live one, or the state's without its
/// secrets), with the changes made.
pub fn rewrite(
    config: &BTreeMap<String, String>,
    rewrite: &Rewrite,
) -> (BTreeMap<String, String>, Vec<Change>) {
    let mut out = config.clone();
    let mut changes = Vec::new();
    if rewrite.renames() {
        for k in TOPIC_KEYS {
            if let Some(v) = out.get_mut(*k) {
                let new = rewrite.topic(v);
                changes.push(Change {
                    key: (*k).to_owned(),
                    what: format!("topic `{v}` renamed `{new}`"),
                });
                *v = new;
            }
        }
        for k in TOPIC_LIST_KEYS {
            if let Some(v) = out.get_mut(*k) {
                let new = v
                    .split(',')
                    .filter(|t| !t.trim().is_empty())
                    .map(|t| rewrite.topic(t))
                    .collect::<Vec<_>>()
                    .join(",");
                changes.push(Change {
                    key: (*k).to_owned(),
                    what: format!("topics `{v}` renamed `{new}`"),
                });
                *v = new;
            }
        }
        if out.contains_key("topics.regex") {
            changes.push(Change {
                key: "topics.regex".into(),
                what: "kept as is: a pattern cannot be renamed; check that it matches the renamed topics".into(),
            });
        }
    }
    if let Some((from, to)) = &rewrite.bootstrap {
        for (k, v) in out.iter_mut() {
            if k.ends_with("bootstrap.servers") && same_servers(v, from) {
                changes.push(Change {
                    key: k.clone(),
                    what: format!("`{v}` (the source cluster) replaced by the target's `{to}`"),
                });
                v.clone_from(to);
            }
        }
    }
    (out, changes)
}

/// Whether two bootstrap lists name the same servers, in any order.
fn same_servers(a: &str, b: &str) -> bool {
    let set = |s: &str| -> BTreeSet<String> {
        s.split(',')
            .map(|x| x.trim().to_owned())
            .filter(|x| !x.is_empty())
            .collect()
    };
    set(a) == set(b)
}

/// The target config of a scanned connector for a file: its stored config
/// rewritten, and a placeholder for every secret left out by the scan.
pub fn asset_config(
    name: &str,
    c: &Connector,
    r: &Rewrite,
) -> (BTreeMap<String, String>, Vec<Change>) {
    let (mut config, mut changes) = rewrite(&c.config, r);
    for key in &c.secret_keys {
        let p = placeholder(name, key);
        changes.push(Change {
            key: key.clone(),
            what: format!("secret: set `{p}` on the target workers (or replace it before posting)"),
        });
        config.insert(key.clone(), p);
    }
    config.insert("name".into(), name.to_owned());
    changes.sort();
    (config, changes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn renames_topics_and_replaces_the_source_bootstrap() {
        let r = Rewrite {
            topic_prefix: "dc1.".into(),
            topic_suffix: String::new(),
            bootstrap: Some(("a:9092,b:9092".into(), "t:9092".into())),
        };
        let (out, changes) = rewrite(
            &map(&[
                ("topics", "orders, payments"),
                ("topic", "lines"),
                ("producer.override.bootstrap.servers", "b:9092,a:9092"),
                ("source.cluster.bootstrap.servers", "other:9092"),
                ("key.converter", "x"),
            ]),
            &r,
        );
        assert_eq!(out["topics"], "dc1.orders,dc1.payments");
        assert_eq!(out["topic"], "dc1.lines");
        assert_eq!(out["producer.override.bootstrap.servers"], "t:9092");
        assert_eq!(out["source.cluster.bootstrap.servers"], "other:9092");
        assert_eq!(out["key.converter"], "x");
        assert_eq!(changes.len(), 3);
        let (same, none) = rewrite(&map(&[("topics", "a")]), &Rewrite::default());
        assert_eq!(same["topics"], "a");
        assert!(none.is_empty());
    }

    #[test]
    fn secrets_become_env_placeholders() {
        let c = Connector {
            config: map(&[("topic", "t"), ("api.key", "${env:KEEP}")]),
            secret_keys: vec!["db.password".into()],
            ..Default::default()
        };
        let (out, changes) = asset_config("jdbc-in", &c, &Rewrite::default());
        assert_eq!(out["db.password"], "${env:KCP_JDBC_IN_DB_PASSWORD}");
        assert_eq!(out["api.key"], "${env:KEEP}");
        assert_eq!(out["name"], "jdbc-in");
        assert_eq!(changes.len(), 1);
    }

    #[test]
    fn topics_and_groups() {
        let c = Connector {
            config: map(&[("topics", "a,b"), ("consumer.override.group.id", "g")]),
            ..Default::default()
        };
        assert_eq!(topics_of(&c).len(), 2);
        assert_eq!(sink_group("s", &c.config), "g");
        assert_eq!(sink_group("s", &BTreeMap::new()), "connect-s");
    }
}
