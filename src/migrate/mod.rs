//! `kcp migrate`: the phased cutover around the embedded replicator.
//!
//! [`init`] writes the migration plan (the replicator's plan file plus a
//! `cutover` section with waves and hooks) from the scanned state, after
//! checking both clusters live; [`status`] reads how far the copy and the
//! groups have come; [`offsets`] moves a consumer group's committed offsets
//! to the target exactly; [`steps`] lists the cutover for review
//! (`migrate execute --dry-run`); [`verify`] compares counts and checksums
//! of every copied partition on both clusters (compacted ones record by
//! record, in `keyed`); [`members`] judges whether a wave's groups have
//! left; [`consumer_last`] holds the consumer-last mode (waves after the
//! producers, fed by a copy back to the source, and the translation of
//! their offsets across the drain); `fence` decides the producer fence's
//! ACL bindings; `gateway` moves clients through `kcp gateway`'s routes
//! (`cutover.mode: gateway`); `platform`
//! holds the Schema Registry and Kafka Connect steps; [`execute`]
//! runs the steps
//! as a resumable state machine (each step's body in `actions`, the
//! replicator thread in `replicating`), recording progress in the
//! migration-state file ([`run_state`]) and calling the plan's [`hooks`];
//! [`rollback`] undoes it; [`run_report`] summarizes a run.

mod actions;
pub mod consumer_last;
pub mod execute;
mod fence;
mod gateway;
pub(crate) mod hooks;
pub mod init;
mod keyed;
pub(crate) mod members;
pub mod offsets;
mod platform;
mod replicating;
pub mod rollback;
pub mod run_report;
pub mod run_state;
pub mod status;
pub mod steps;
pub mod verify;
