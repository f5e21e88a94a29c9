//! Cluster connections: the credentials file that names clusters and their
//! auth methods, and Kafka clients built from it that fail fast with an
//! actionable error instead of retrying silently.
//!
//! This module owns every librdkafka configuration property that concerns
//! security. Secrets only pass through [`crate::secret::Secret`] and are
//! exposed at the moment they are handed to librdkafka.

pub mod admin;
mod credentials;
mod kafka;
mod msk_iam;
mod scram;
pub(crate) mod tls;
pub mod wire;

pub use credentials::{
    AuthMethod, ClientCert, ClusterCredentials, CredentialsError, CredentialsFile, Interpolation,
    RegistryAuth, RegistryCredentials, RegistryTls, RestAuth, RestCredentials, RestTls,
    ScramMechanism, TlsFiles, TlsOptions, interpolate_env,
};
pub use kafka::{
    ClusterMetadata, ConnectError, ConnectOptions, Connection, KcpContext, MetadataBroker,
    client_config, connect,
};
pub use msk_iam::{MskIamToken, generate_token};
