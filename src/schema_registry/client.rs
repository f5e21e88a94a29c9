//! The Schema Registry API over the shared REST edge ([`crate::rest`]): one
//! client per registry, the registry's media type, and errors that tell an
//! unreachable registry, a refused login and a URL that is no registry apart.

use std::time::Duration;

use hyper::Method;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::SchemaRegistryError as Error;
use crate::connect::RegistryCredentials;
pub use crate::rest::{ApiFailure, seg};
use crate::rest::{RestClient, failure, preview};

/// The media type of the Confluent Schema Registry API.
const MEDIA_TYPE: &str = "application/vnd.schemaregistry.v1+json";
/// How messages name a registry.
const KIND: &str = "schema registry";

/// A client of one registry.
pub struct Registry {
    /// The name in the credentials file.
    pub name: String,
    rest: RestClient,
}

impl Registry {
    /// A client for `creds`; reads the TLS files it names.
    pub fn new(creds: &RegistryCredentials, timeout: Duration) -> Result<Self, Error> {
        let rest =
            RestClient::new(creds, timeout, MEDIA_TYPE).map_err(|e| e.named(KIND, &creds.name))?;
        Ok(Registry {
            name: creds.name.clone(),
            rest,
        })
    }

    /// The base URL.
    pub fn url(&self) -> &str {
        self.rest.url()
    }

    /// Sends one request; `Ok` holds the status and body of any answer.
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

    /// GET, parsed; any non-success answer is an error.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, Error> {
        match self.get_or_fail(path).await? {
            Ok(v) => Ok(v),
            Err(f) => Err(self.api(Method::GET, path, f)),
        }
    }

    /// GET, parsed; a non-success answer is handed back to the caller
    /// (a 404 for a subject without its own config, a registry without `/mode`).
    pub async fn get_or_fail<T: DeserializeOwned>(
        &self,
        path: &str,
    ) -> Result<Result<T, ApiFailure>, Error> {
        self.send_or_fail(Method::GET, path, None).await
    }

    /// Any method with an optional JSON body; a non-success answer is handed back.
    pub async fn send_or_fail<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Result<T, ApiFailure>, Error> {
        let (status, bytes) = self.call(method, path, body).await?;
        if !status.is_success() {
            return Ok(Err(failure(status, &bytes)));
        }
        serde_json::from_slice(&bytes)
            .map(Ok)
            .map_err(|e| Error::NotARegistry {
                registry: self.name.clone(),
                url: self.url().to_owned(),
                detail: format!(
                    "`{path}` answered {} with {}: {e}",
                    status.as_u16(),
                    preview(&bytes)
                ),
            })
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
            registry: self.name.clone(),
            call: format!("{method} {path}"),
            status: f.status,
            code: f.code,
            message: f.message,
        }
    }
}
