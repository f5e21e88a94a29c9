//! Routes: which cluster serves a consumer group or a topic, and which
//! cluster a client is on (pure; the persistence is `load` and `save`).
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

    fn bump(&mut self) -> bool {
        self.version += 1;
        true
    }

    /// The routes saved at `path`; none when the file does not exist.
    pub fn load(path: &Path) -> Result<Routes, RoutesError> {
        let io = |message: String| RoutesError {
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
            .map_err(|e| RoutesError {
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

/// The routes file could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("routes file `{path}`: {message}")]
pub struct RoutesError {
    pub path: String,
    pub message: String,
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
