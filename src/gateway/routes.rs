//! Routes: which cluster serves a consumer group or a topic, and which
//! cluster a client is on (pure; the persistence is `load` and `save` for
//! the routes file, `Change::record` and `Routes::apply_record` for the
//! routes topic several replicas share, `routes_topic.rs`).
//!
//! A client is known by its address's IP and its `client.id` (every
//! request header carries it; a Fetch names no group, so the connections of
//! one client are tied together by it). What a client sent earlier says
//! what it is: the groups it named (FindCoordinator, JoinGroup, OffsetFetch
//! ...) make it a member of those groups, whose route it follows; a client
//! in no group follows the routes of the topics it asked Metadata for.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::fileio::{self, WriteOptions};

/// One of the two clusters behind the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cluster {
    Source,
    Target,
}

impl Cluster {
    pub(crate) fn index(self) -> usize {
        match self {
            Cluster::Source => 0,
            Cluster::Target => 1,
        }
    }
}

/// Where a group's or a topic's clients are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Route {
    Source,
    Target,
    /// Their requests wait in the gateway (bounded by `--hold-timeout`)
    /// until the route is `source` or `target` again.
    Held,
}

impl Route {
    /// The cluster, unless held.
    pub fn cluster(self) -> Option<Cluster> {
        match self {
            Route::Source => Some(Cluster::Source),
            Route::Target => Some(Cluster::Target),
            Route::Held => None,
        }
    }
}

/// The routes set through the admin interface; anything not named is on
/// the source.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Routes {
    /// Bumped on every change.
    #[serde(default)]
    pub version: u64,
    #[serde(default)]
    pub groups: BTreeMap<String, Route>,
    #[serde(default)]
    pub topics: BTreeMap<String, Route>,
}

/// One route set through the admin interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Group(String, Route),
    Topic(String, Route),
}

impl Change {
    /// Applies it; whether anything changed (a new version when it did).
    pub fn apply(&self, routes: &mut Routes) -> bool {
        match self {
            Change::Group(name, route) => routes.set_group(name, *route),
            Change::Topic(name, route) => routes.set_topic(name, *route),
        }
    }

    /// Its record in the routes topic: the key `group:NAME` or
    /// `topic:NAME`, the value `{"route": ...}`, or no value (a tombstone)
    /// for `source`, the default, so compaction forgets the name.
    pub fn record(&self) -> (String, Option<Vec<u8>>) {
        let (kind, name, route) = match self {
            Change::Group(n, r) => ("group", n, r),
            Change::Topic(n, r) => ("topic", n, r),
        };
        let value = (*route != Route::Source).then(|| {
            serde_json::to_vec(&RouteRecord { route: *route }).expect("a route serializes")
        });
        (format!("{kind}:{name}"), value)
    }
}

#[derive(Serialize, Deserialize)]
struct RouteRecord {
    route: Route,
}

/// What the gateway learned of a client from its requests.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Client {
    pub groups: BTreeSet<String>,
    pub topics: BTreeSet<String>,
}

impl Routes {
    /// The route of a client: its groups' when it is in a group (held when
    /// any is held, else the target when any is on the target), else its
    /// topics' by the same rule; the source when nothing is known.
    pub fn of_client(&self, client: &Client) -> Route {
        if client.groups.is_empty() {
            combine(client.topics.iter().map(|t| self.topics.get(t)))
        } else {
            combine(client.groups.iter().map(|g| self.groups.get(g)))
        }
    }

    /// Sets a group's route (`source` removes the entry); whether it
    /// changed.
    pub fn set_group(&mut self, group: &str, route: Route) -> bool {
        set(&mut self.groups, group, route) && self.bump()
    }

    /// Sets a topic's route; whether it changed.
    pub fn set_topic(&mut self, topic: &str, route: Route) -> bool {
        set(&mut self.topics, topic, route) && self.bump()
    }

    /// Applies the routes topic's record at `offset` (`Change::record`'s
    /// form); the version becomes the offset after it, so every replica
    /// that read the topic up to the same place reports the same version
    /// and the same routes. A record kcp cannot read (a newer kcp's) is
    /// skipped, with the reason.
    pub fn apply_record(
        &mut self,
        key: &[u8],
        value: Option<&[u8]>,
        offset: i64,
    ) -> Result<(), String> {
        self.version = self.version.max(u64::try_from(offset + 1).unwrap_or(0));
        let key = std::str::from_utf8(key).map_err(|_| "a key that is not UTF-8".to_owned())?;
        let route = match value {
            None => Route::Source,
            Some(v) => {
                serde_json::from_slice::<RouteRecord>(v)
                    .map_err(|e| format!("`{key}`: {e}"))?
                    .route
            }
        };
        let map = match key.split_once(':') {
            Some(("group", name)) => (&mut self.groups, name),
            Some(("topic", name)) => (&mut self.topics, name),
            _ => return Err(format!("unknown key `{key}`")),
        };
        set(map.0, map.1, route);
        Ok(())
    }

    fn bump(&mut self) -> bool {
        self.version += 1;
        true
    }

    /// The routes saved at `path`; none when the file does not exist.
    pub fn load(path: &Path) -> Result<Routes, RoutesError> {
        let io = |message: String| RoutesError::File {
            path: path.display().to_string(),
            message,
        };
        match fileio::read_text(path).map_err(|e| io(e.to_string()))? {
            None => Ok(Routes::default()),
            Some(text) => serde_json::from_str(&text).map_err(|e| io(e.to_string())),
        }
    }

    /// Writes the routes to `path` atomically.
    pub fn save(&self, path: &Path) -> Result<(), RoutesError> {
        let mut bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        bytes.push(b'\n');
        fileio::write_atomic(path, &bytes, WriteOptions::REPLACE)
            .map(|_| ())
            .map_err(|e| RoutesError::File {
                path: path.display().to_string(),
                message: e.to_string(),
            })
    }
}

fn set(map: &mut BTreeMap<String, Route>, name: &str, route: Route) -> bool {
    let old = map.get(name).copied().unwrap_or(Route::Source);
    if route == Route::Source {
        map.remove(name);
    } else {
        map.insert(name.to_owned(), route);
    }
    old != route
}

fn combine<'a>(routes: impl Iterator<Item = Option<&'a Route>>) -> Route {
    let mut result = Route::Source;
    for route in routes.flatten() {
        match route {
            Route::Held => return Route::Held,
            Route::Target => result = Route::Target,
            Route::Source => {}
        }
    }
    result
}

/// The routes file or topic could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum RoutesError {
    #[error("routes file `{path}`: {message}")]
    File { path: String, message: String },
    #[error("routes topic `{topic}`: {message}")]
    Topic { topic: String, message: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(groups: &[&str], topics: &[&str]) -> Client {
        Client {
            groups: groups.iter().map(|s| (*s).to_owned()).collect(),
            topics: topics.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    #[test]
    fn a_client_follows_its_groups_before_its_topics() {
        let mut r = Routes::default();
        assert_eq!(r.of_client(&client(&["g"], &["t"])), Route::Source);
        assert!(r.set_topic("t", Route::Target));
        assert_eq!(r.of_client(&client(&[], &["t", "u"])), Route::Target);
        assert_eq!(
            r.of_client(&client(&["g"], &["t"])),
            Route::Source,
            "a consumer follows its group, not the topics producers moved"
        );
        assert!(r.set_group("g", Route::Held));
        assert_eq!(r.of_client(&client(&["g", "h"], &[])), Route::Held);
        assert!(r.set_group("g", Route::Target));
        assert_eq!(r.of_client(&client(&["g"], &[])), Route::Target);
        assert_eq!(r.of_client(&Client::default()), Route::Source);
        assert_eq!(r.version, 3);
        assert!(
            !r.set_group("g", Route::Target),
            "no change, no new version"
        );
        assert!(r.set_group("g", Route::Source));
        assert!(r.groups.is_empty(), "source is the default, not stored");
    }

    #[test]
    fn records_of_the_routes_topic_replay_into_the_same_routes() {
        let changes = [
            Change::Group("billing".into(), Route::Held),
            Change::Topic("orders:eu".into(), Route::Target),
            Change::Group("billing".into(), Route::Target),
            Change::Topic("orders:eu".into(), Route::Source),
        ];
        let mut direct = Routes::default();
        let mut replayed = Routes::default();
        for (offset, change) in changes.iter().enumerate() {
            change.apply(&mut direct);
            let (key, value) = change.record();
            replayed
                .apply_record(key.as_bytes(), value.as_deref(), offset as i64)
                .unwrap();
        }
        assert_eq!(replayed.groups, direct.groups);
        assert_eq!(replayed.topics, direct.topics);
        assert!(
            replayed.topics.is_empty(),
            "a tombstone: back to the source"
        );
        assert_eq!(replayed.version, 4, "the offset after the last record");
        let (key, value) = Change::Topic("t".into(), Route::Source).record();
        assert_eq!((key.as_str(), value), ("topic:t", None));
        // Compaction leaves gaps: the version is still the offset after.
        replayed
            .apply_record(b"group:g", Some(br#"{"route":"held"}"#), 41)
            .unwrap();
        assert_eq!((replayed.version, replayed.groups["g"]), (42, Route::Held));
        assert!(replayed.apply_record(b"acl:x", None, 42).is_err());
        assert!(replayed.apply_record(b"group:g", Some(b"{}"), 43).is_err());
        assert_eq!((replayed.version, replayed.groups["g"]), (44, Route::Held));
    }

    #[test]
    fn routes_survive_a_save_and_a_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("routes.json");
        assert_eq!(Routes::load(&path).unwrap(), Routes::default());
        let mut r = Routes::default();
        r.set_group("g", Route::Target);
        r.set_topic("t", Route::Held);
        r.save(&path).unwrap();
        assert_eq!(Routes::load(&path).unwrap(), r);
        std::fs::write(&path, "{not json").unwrap();
        assert!(
            Routes::load(&path)
                .unwrap_err()
                .to_string()
                .contains("routes file")
        );
    }
}
