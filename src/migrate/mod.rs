//! `kcp migrate`: the phased cutover around the embedded replicator.
//!
//! [`init`] writes the migration plan (the replicator's plan file plus a
//! `cutover` section with waves and hooks) from the scanned state, after
//! checking both clusters live; [`status`] reads how far the copy and the
//! groups have come; [`offsets`] moves a consumer group's committed offsets
//! to the target exactly; [`steps`] lists the cutover for review
//! (`migrate execute --dry-run`); [`verify`] compares counts and checksums
//! of every copied partition on both clusters. The state machine that executes the cutover comes next
//! (issue #8).

pub mod init;
pub mod offsets;
pub mod status;
pub mod steps;
pub mod verify;
