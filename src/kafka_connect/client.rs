//! The Kafka Connect REST API over the shared REST edge ([`crate::rest`]):
//! one client per Connect cluster (any of its workers answers for all),
//! JSON in and out, and errors naming the cluster.

use std::time::Duration;

use hyper::Method;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::KafkaConnectError as Error;
use crate::connect::RestCredentials;
pub use crate::rest::{ApiFailure, seg};
use crate::rest::{RestClient, RestError, failure, preview};

/// A client of one Connect cluster.
pub struct Worker {
    /// The name in the credentials file.
    pub name: String,
    rest: RestClient,
}

impl Worker {
    /// A client for `creds`; reads the TLS files it names.
    pub fn new(creds: &RestCredentials, timeout: Duration) -> Result<Self, Error> {
        let rest =
            RestClient::new(creds, timeout, "application/json").map_err(|e| Error::Setup {
                cluster: creds.name.clone(),
                message: e.to_string(),
            })?;
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
    /// back. An empty success body (204) reads as JSON `null`.
    pub async fn send_or_fail<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Result<T, ApiFailure>, Error> {
        let cluster = self.name.clone();
        let (status, bytes) = self
            .rest
            .call(method, path, body)
            .await
            .map_err(|e| match e {
                RestError::Setup { message } => Error::Setup { cluster, message },
                RestError::Unreachable { url, message } => Error::Unreachable {
                    cluster,
                    url,
                    message,
                },
                RestError::Timeout { url, seconds } => Error::Timeout {
                    cluster,
                    url,
                    seconds,
                },
                RestError::Unauthorized {
                    url,
                    status,
                    message,
                } => Error::Unauthorized {
                    cluster,
                    url,
                    status,
                    message,
                },
            })?;
        if !status.is_success() {
            return Ok(Err(failure(status, &bytes)));
        }
        let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"null"
        } else {
            &bytes
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
