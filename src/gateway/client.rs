//! A client of a gateway's admin interface, for `migrate execute` with
//! `cutover.mode: gateway`: blocking calls (on a current-thread runtime the
//! client holds, built once) that set routes and close a group's connections; `Gateways`, every
//! replica behind the plan's admin addresses, each of which must apply a
//! change before a step goes on.

use std::collections::BTreeMap;
use std::net::{IpAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use hyper::{Method, StatusCode};
use serde_json::{Value, json};

use super::routes::{Route, Routes};
use crate::connect::{RestAuth, RestCredentials};
use crate::exit::{Diagnostic, ExitStatus};
use crate::rest::{self, RestClient, RestError};

/// The admin interface of one gateway.
pub struct AdminClient {
    rest: RestClient,
    /// Drives `rest`'s calls; runs only while a call blocks, so `rest`
    /// keeps no idle connection between calls.
    runtime: tokio::runtime::Runtime,
}

/// A call to the gateway's admin interface failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("the gateway's admin interface at `{url}`: {source}")]
    Transport {
        url: String,
        #[source]
        source: RestError,
    },
    #[error("the gateway's admin interface at `{url}` answered {status}: {message}")]
    Refused {
        url: String,
        status: u16,
        message: String,
    },
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error(
        "the gateway at `{url}` has not applied the routes' version {version} within {waited:?} (it serves version {seen}{detail})"
    )]
    Behind {
        url: String,
        version: u64,
        seen: u64,
        detail: String,
        waited: Duration,
    },
}

impl Diagnostic for AdminError {
    fn status(&self) -> ExitStatus {
        ExitStatus::Failure
    }

    fn hint(&self) -> Option<String> {
        if let AdminError::Behind { .. } = self {
            return Some(
                "replicas share routes only through the same `--routes-topic` (each `--routes-file` is its own): start every replica with it, check that each reaches the target (its log says so), then run `kcp migrate execute` again".into(),
            );
        }
        Some(
            "is `kcp gateway` running with `--target-cluster` and `--admin-addr` at the plan's `cutover.gateway.admin`? Run `kcp migrate execute` again once it is: done steps are skipped, and setting a route twice is harmless".into(),
        )
    }
}

impl AdminClient {
    /// A client for the admin interface at `url` (`http://host:port`).
    pub fn new(url: &str, timeout: Duration) -> Result<AdminClient, AdminError> {
        let creds = RestCredentials {
            name: "gateway".into(),
            url: url.to_owned(),
            auth: RestAuth::None {},
            tls: None,
        };
        let rest = RestClient::without_idle_connections(&creds, timeout, "application/json")
            .map_err(|source| AdminError::Transport {
                url: url.to_owned(),
                source,
            })?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(AdminError::Runtime)?;
        Ok(AdminClient { rest, runtime })
    }

    /// Sets the routes of `groups` and `topics` in one change; the routes
    /// now.
    pub fn set(
        &self,
        groups: &[String],
        topics: &[String],
        route: Route,
    ) -> Result<Routes, AdminError> {
        let by_name = |names: &[String]| -> BTreeMap<String, Route> {
            names.iter().map(|n| (n.clone(), route)).collect()
        };
        let body = json!({ "groups": by_name(groups), "topics": by_name(topics) });
        let value = self.call(Method::POST, "/routes", Some(&body))?;
        serde_json::from_value(value).map_err(|e| self.refused(200, &e.to_string()))
    }

    /// The routes the gateway serves.
    pub fn routes(&self) -> Result<Routes, AdminError> {
        let value = self.call(Method::GET, "/routes", None)?;
        serde_json::from_value(value).map_err(|e| self.refused(200, &e.to_string()))
    }

    /// The admin interface's address.
    pub fn url(&self) -> &str {
        self.rest.url()
    }

    /// Closes the connections of `group`'s clients; how many.
    pub fn close_group(&self, group: &str) -> Result<u64, AdminError> {
        let path = format!("/connections/close?group={}", rest::seg(group));
        let value = self.call(Method::POST, &path, None)?;
        Ok(value["closed"].as_u64().unwrap_or(0))
    }

    /// How many clients of `group` the gateway knows, how many of them
    /// are parked (held while rejoining: they consume nothing) and how
    /// many have a commit in flight.
    pub fn group_status(&self, group: &str) -> Result<(u64, u64, u64), AdminError> {
        let value = self.call(Method::GET, &format!("/groups/{}", rest::seg(group)), None)?;
        Ok((
            value["clients"].as_u64().unwrap_or(0),
            value["parked"].as_u64().unwrap_or(0),
            value["writing"].as_u64().unwrap_or(0),
        ))
    }

    /// How many clients are held, and how many of them have a write in
    /// flight.
    pub fn held_status(&self) -> Result<(u64, u64), AdminError> {
        let value = self.call(Method::GET, "/held", None)?;
        Ok((
            value["clients"].as_u64().unwrap_or(0),
            value["writing"].as_u64().unwrap_or(0),
        ))
    }

    fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Value, AdminError> {
        let (status, bytes) = self
            .runtime
            .block_on(self.rest.call(method, path, body))
            .map_err(|source| AdminError::Transport {
                url: self.rest.url().to_owned(),
                source,
            })?;
        if status != StatusCode::OK {
            let message = serde_json::from_slice::<Value>(&bytes)
                .ok()
                .and_then(|v| v["error"].as_str().map(str::to_owned))
                .unwrap_or_else(|| rest::preview(&bytes));
            return Err(self.refused(status.as_u16(), &message));
        }
        serde_json::from_slice(&bytes).map_err(|e| self.refused(status.as_u16(), &e.to_string()))
    }

    fn refused(&self, status: u16, message: &str) -> AdminError {
        AdminError::Refused {
            url: self.rest.url().to_owned(),
            status,
            message: message.to_owned(),
        }
    }
}

/// Every gateway replica clients may be connected to: the plan's admin
/// addresses, a host name resolving to several addresses (a Kubernetes
/// headless Service) standing for one replica at each.
pub struct Gateways {
    replicas: Vec<AdminClient>,
}

/// How often a replica's routes are read while waiting for it.
const POLL: Duration = Duration::from_millis(50);

impl Gateways {
    /// One client per replica behind `urls` (`http://HOST:PORT`).
    pub fn new(urls: &[String], timeout: Duration) -> Result<Gateways, AdminError> {
        let mut expanded: Vec<String> = Vec::new();
        for url in urls {
            for u in expand(url) {
                if !expanded.contains(&u) {
                    expanded.push(u);
                }
            }
        }
        let replicas = expanded
            .iter()
            .map(|u| AdminClient::new(u, timeout))
            .collect::<Result<_, _>>()?;
        Ok(Gateways { replicas })
    }

    /// How many replicas there are.
    pub fn len(&self) -> usize {
        self.replicas.len()
    }

    /// Whether there is none (an empty `cutover.gateway.admin`).
    pub fn is_empty(&self) -> bool {
        self.replicas.is_empty()
    }

    /// Sets the routes of `groups` and `topics` through the first replica,
    /// then waits (at most `wait`) until every replica serves them: its
    /// routes' version at least the change's, and these routes in it.
    pub fn set(
        &self,
        groups: &[String],
        topics: &[String],
        route: Route,
        wait: Duration,
    ) -> Result<Routes, AdminError> {
        let Some(first) = self.replicas.first() else {
            return Err(AdminError::Refused {
                url: String::new(),
                status: 0,
                message: "`cutover.gateway.admin` names no gateway".into(),
            });
        };
        let routes = first.set(groups, topics, route)?;
        let applied = |r: &Routes| {
            let named = |map: &BTreeMap<String, Route>, n: &String| {
                map.get(n).copied().unwrap_or(Route::Source) == route
            };
            r.version >= routes.version
                && groups.iter().all(|g| named(&r.groups, g))
                && topics.iter().all(|t| named(&r.topics, t))
        };
        for replica in &self.replicas[1..] {
            let started = Instant::now();
            loop {
                let seen = replica.routes()?;
                if applied(&seen) {
                    break;
                }
                if started.elapsed() >= wait {
                    let detail = if seen.version >= routes.version {
                        ", without these routes: another change, or another routes store".into()
                    } else {
                        String::new()
                    };
                    return Err(AdminError::Behind {
                        url: replica.url().to_owned(),
                        version: routes.version,
                        seen: seen.version,
                        detail,
                        waited: wait,
                    });
                }
                std::thread::sleep(POLL);
            }
        }
        Ok(routes)
    }

    /// Per replica: its URL, and how many of `group`'s clients it knows,
    /// how many of them are parked and how many are committing.
    pub fn group_status(&self, group: &str) -> Result<Vec<(String, u64, u64, u64)>, AdminError> {
        self.replicas
            .iter()
            .map(|r| {
                let (clients, parked, writing) = r.group_status(group)?;
                Ok((r.url().to_owned(), clients, parked, writing))
            })
            .collect()
    }

    /// How many held clients have a write in flight, over every replica.
    pub fn held_writing(&self) -> Result<u64, AdminError> {
        let mut writing = 0;
        for r in &self.replicas {
            writing += r.held_status()?.1;
        }
        Ok(writing)
    }

    /// Closes `group`'s clients' connections on every replica; how many.
    pub fn close_group(&self, group: &str) -> Result<u64, AdminError> {
        let mut closed = 0;
        for r in &self.replicas {
            closed += r.close_group(group)?;
        }
        Ok(closed)
    }
}

/// `http://HOST:PORT` as one URL per address HOST resolves to, when it
/// resolves to several that are not all loopback (`localhost` is one
/// gateway); else the URL itself.
fn expand(url: &str) -> Vec<String> {
    let Some(rest) = url.strip_prefix("http://") else {
        return vec![url.to_owned()];
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let Some((host, port)) = authority.rsplit_once(':') else {
        return vec![url.to_owned()];
    };
    if host.parse::<IpAddr>().is_ok() || host.starts_with('[') {
        return vec![url.to_owned()];
    }
    let Ok(port) = port.parse::<u16>() else {
        return vec![url.to_owned()];
    };
    let mut ips: Vec<IpAddr> = match (host, port).to_socket_addrs() {
        Ok(addrs) => addrs.map(|a| a.ip()).collect(),
        Err(_) => return vec![url.to_owned()],
    };
    ips.sort();
    ips.dedup();
    if ips.len() < 2 || ips.iter().all(IpAddr::is_loopback) {
        return vec![url.to_owned()];
    }
    ips.into_iter()
        .map(|ip| match ip {
            IpAddr::V4(v4) => format!("http://{v4}:{port}"),
            IpAddr::V6(v6) => format!("http://[{v6}]:{port}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_resolving_to_one_place_stays_one_gateway() {
        for url in [
            "http://127.0.0.1:19080",
            "http://localhost:19080",
            "http://[::1]:19080",
            "https://gw:1",
            "http://no-port",
        ] {
            assert_eq!(expand(url), [url], "{url}");
        }
    }
}
