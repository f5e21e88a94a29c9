//! `kcp` plans and executes zero-downtime Kafka cluster migrations.
//!
//! The crate is one library with a tiny binary (`src/main.rs`). Layers, from the
//! outside in:
//!
//! - [`cli`]: clap types, argument resolution and the thin command functions.
//!   Nothing outside this module knows about clap.
//! - [`output`]: the one object that writes data to stdout and status to stderr.
//! - [`exit`]: the single mapping from outcomes and error types to exit codes
//!   (every error type says its status and hint through [`exit::Diagnostic`]).
//! - [`fileio`]: atomic writes, lock files and text reads on the user's disk.
//! - Domain modules hold the logic and know nothing about the terminal:
//!   [`state`] (the versioned `kcp-state.json`), [`connect`] (credentials
//!   files and Kafka client connections), [`scan`] (cluster inventory over
//!   the Kafka protocol), [`discover`] (AWS MSK, CloudWatch, Cost Explorer),
//!   [`report`] (cost, metrics and plan reports), [`assets`] (Terraform and
//!   deployment files), [`migrate`] (the phased cutover).
//! - [`replicator`]: the embedded replicator (exact, resumable copy with
//!   offset translation); no dependency on the CLI.
//! - [`gateway`]: `kcp gateway`, the Kafka protocol proxy clients point at
//!   once so that a cutover can later move them without a restart.
//! - [`telemetry`]: Prometheus metrics, health endpoints and their HTTP
//!   listener for `migrate replicate` and `migrate execute`.
//! - [`topic_config`]: which topic configs a migration carries to the target.
//! - [`yaml_error`]: where a YAML parse error (a duplicate key) points.
//! - [`secret`]: the redacting secret type used wherever a password or key is held.
//!
//! Data flow: `main` → [`cli::run`] → command → domain module → state file.

pub mod assets;
pub mod cli;
pub mod connect;
pub mod discover;
pub mod exit;
pub mod fileio;
pub mod gateway;
pub mod kafka_connect;
pub mod migrate;
pub mod output;
pub mod quotas;
pub mod replicator;
pub mod report;
pub mod rest;
pub mod scan;
pub mod schema_registry;
pub mod secret;
pub mod state;
pub mod telemetry;
pub mod topic_config;
pub mod yaml_error;

/// The version of this build, as written into state files and reports.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Entry point used by the binary: parse arguments, run, map the outcome to an exit code.
pub fn main() -> std::process::ExitCode {
    cli::main()
}
