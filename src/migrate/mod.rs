//! `kcp migrate`: the phased cutover around the embedded replicator.
//!
//! [`init`] writes the migration plan (the replicator's plan file plus a
//! `cutover` section with waves and hooks) from the scanned state, after
//! checking both clusters live. The state machine that executes it comes
//! next (issue #8).

pub mod init;
