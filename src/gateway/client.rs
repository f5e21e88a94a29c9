//! A client of a gateway's admin interface, for `migrate execute` with
//! `cutover.mode: gateway`: blocking calls (each on a small runtime of its
//! own) that set routes and close a group's connections.

use std::collections::BTreeMap;
use std::time::Duration;

use hyper::{Method, StatusCode};
use serde_json::{Value, json};

use super::routes::{Route, Routes};
use crate::connect::{RestAuth, RestCredentials};
use crate::exit::{Diagnostic, ExitStatus};
use crate::rest::{self, RestClient, RestError};

/// The admin interface of one gateway.
pub struct AdminClient {
    rest: RestClient,
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
}

impl Diagnostic for AdminError {
    fn status(&self) -> ExitStatus {
        ExitStatus::Failure
    }

    fn hint(&self) -> Option<String> {
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
        let rest = RestClient::new(&creds, timeout, "application/json").map_err(|source| {
            AdminError::Transport {
                url: url.to_owned(),
                source,
            }
        })?;
        Ok(AdminClient { rest })
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

    /// Closes the connections of `group`'s clients; how many.
    pub fn close_group(&self, group: &str) -> Result<u64, AdminError> {
        let path = format!("/connections/close?group={}", rest::seg(group));
        let value = self.call(Method::POST, &path, None)?;
        Ok(value["closed"].as_u64().unwrap_or(0))
    }

    /// How many clients of `group` the gateway knows, and how many of
    /// them are parked (held while rejoining: they consume nothing).
    pub fn group_status(&self, group: &str) -> Result<(u64, u64), AdminError> {
        let value = self.call(Method::GET, &format!("/groups/{}", rest::seg(group)), None)?;
        Ok((
            value["clients"].as_u64().unwrap_or(0),
            value["parked"].as_u64().unwrap_or(0),
        ))
    }

    fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Value, AdminError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(AdminError::Runtime)?;
        let (status, bytes) = runtime
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
