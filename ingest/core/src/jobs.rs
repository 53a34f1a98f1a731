//! The durable job queue in the catalog (`jobs`): background work that must
//! happen once per recording, whatever crashes in between.
//!
//! Invariants:
//! - a sealed recording always has its transcription job: [`crate::recordings::seal_now`]
//!   queues it in the seal's own transaction, and `settle_jobs` at start queues one
//!   for any sealed recording that lacks it (recordings sealed before this
//!   version);
//! - a job is `running` only while a worker of this process holds it: at start,
//!   `running` jobs were cut by a crash or shutdown and go back to `queued`,
//!   without counting an attempt;
//! - `done` is set in the same transaction as the result's ledger entry, so a job
//!   is never done without its result, nor its result recorded twice.

//!
//! The queue's reads and writes are [`crate::catalog::Jobs`]; its types are
//! re-exported here, where callers have always found them.

pub use crate::catalog::{Job, JobView, TRANSCRIBE};
