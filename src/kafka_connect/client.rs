//! The Kafka Connect REST API over the shared REST edge ([`crate::rest`]):
//! one client per Connect cluster (any of its workers answers for all),
//! JSON in and out, and errors naming the cluster.

use std::time::{Duration, Instant};

use hyper::Method;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::KafkaConnectError as Error;
use crate::connect::RestCredentials;
pub use crate::rest::{ApiFailure, seg};
use crate::rest::{RestClient, failure, preview};

/// How messages name a Connect cluster.
const KIND: &str = "Connect cluster";

/// How long a request is repeated while the Connect cluster rebalances.
pub const REBALANCE_PATIENCE: Duration = Duration::from_secs(60);

/// Whether an answer says the cluster is rebalancing (a transient state:
/// the same request succeeds once it has settled). Connect answers 409
/// ("rebalance in progress", a stale config) or 500 ("a rebalance is
/// expected") then.
fn rebalancing(status: u16, bytes: &[u8]) -> bool {
    status == 409
        || (status == 500
            && String::from_utf8_lossy(bytes)
                .to_ascii_lowercase()
                .contains("rebalance"))
}

/// A client of one Connect cluster.
pub struct Worker {
    /// The name in the credentials file.
    pub name: String,
    rest: RestClient,
}

impl Worker {
    /// A client for `creds`; reads the TLS files it names.
    pub fn new(creds: &RestCredentials, timeout: Duration) -> Result<Self, Error> {
        let rest = RestClient::new(creds, timeout, "application/json")
            .map_err(|e| e.named(KIND, &creds.name))?;
        Ok(Worker {
            name: creds.name.clone(),
            rest,
        })
    }

    /// The base URL.
    pub fn url(&self) -> &str {
        self.rest.url()
    }

    /// Any method with an optional JSON body; a non-success answer is handed
    /// back. An empty success body (204) reads as JSON `null`. A worker
    /// that answers "rebalance in progress or expected" (409, or 500 saying
    /// so: a worker joined, left or a config changed) is asked again, with
    /// growing pauses, for up to [`REBALANCE_PATIENCE`].
    pub async fn send_or_fail<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Result<T, ApiFailure>, Error> {
        let deadline = Instant::now() + REBALANCE_PATIENCE;
        let mut pause = Duration::from_millis(250);
        loop {
            let (status, bytes) = self.call(method.clone(), path, body).await?;
            if rebalancing(status.as_u16(), &bytes) && Instant::now() < deadline {
                tracing::debug!(cluster = %self.name, %path, "Connect is rebalancing; asking again");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(2));
                continue;
            }
            return self.parse(path, status, &bytes);
        }
    }

    /// One request, its transport errors named after the cluster.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(hyper::StatusCode, hyper::body::Bytes), Error> {
        Ok(self
            .rest
            .call(method, path, body)
            .await
            .map_err(|e| e.named(KIND, &self.name))?)
    }

    /// An answer: a failure handed back, or the body parsed.
    fn parse<T: DeserializeOwned>(
        &self,
        path: &str,
        status: hyper::StatusCode,
        bytes: &[u8],
    ) -> Result<Result<T, ApiFailure>, Error> {
        if !status.is_success() {
            return Ok(Err(failure(status, bytes)));
        }
        let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"null"
        } else {
            bytes
        };
        serde_json::from_slice(bytes)
            .map(Ok)
            .map_err(|e| Error::NotConnect {
                cluster: self.name.clone(),
                url: self.url().to_owned(),
                detail: format!(
                    "`{path}` answered {} with {}: {e}",
                    status.as_u16(),
                    preview(bytes)
                ),
            })
    }

    /// GET, parsed; a non-success answer is handed back.
    pub async fn get_or_fail<T: DeserializeOwned>(
        &self,
        path: &str,
    ) -> Result<Result<T, ApiFailure>, Error> {
        self.send_or_fail(Method::GET, path, None).await
    }

    /// GET, parsed; any non-success answer is an error.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, Error> {
        self.send(Method::GET, path, None).await
    }

    /// Any method; any non-success answer is an error.
    pub async fn send<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<T, Error> {
        match self.send_or_fail(method.clone(), path, body).await? {
            Ok(v) => Ok(v),
            Err(f) => Err(self.api(method, path, f)),
        }
    }

    /// The error for a failed call.
    pub fn api(&self, method: Method, path: &str, f: ApiFailure) -> Error {
        Error::Api {
            cluster: self.name.clone(),
            call: format!("{method} {path}"),
            status: f.status,
            message: f.message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::rebalancing;

    #[test]
    fn rebalances_are_told_from_other_failures() {
        let expected = br#"{"error_code":500,"message":"Request cannot be completed because a rebalance is expected"}"#;
        assert!(rebalancing(500, expected));
        assert!(rebalancing(409, br#"{"error_code":409,"message":"Cannot complete request momentarily due to stale configuration"}"#));
        assert!(!rebalancing(
            500,
            br#"{"error_code":500,"message":"Failed to find any class that implements Connector"}"#
        ));
        assert!(!rebalancing(404, b"{}"));
    }
}
