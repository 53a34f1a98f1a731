//! The ledger as the domain reads it (entries are appended only by the vault's
//! commit path), and what is replayed from it.

use super::Result;
use archive::ledger::Entry;
use archive::retention::Retention;

pub trait Ledger {
    /// Up to `limit` entries before `before`, of `action` if given, oldest first.
    fn entries(&self, action: Option<&str>, before: u64, limit: u64) -> Result<Vec<Entry>>;
    /// (seq, ts, action, subject) of the newest `limit` entries made at the host.
    fn host_actions(&self, limit: u32) -> Result<Vec<(u64, String, String, String)>>;
    /// The seq of the `user.change.requested` entry of request `id`.
    fn request_seq(&self, id: &str) -> Result<Option<u64>>;
    /// The seq of the `recording.sealed` entry of `rec`.
    fn seal_seq(&self, rec: archive::id::RecordingId) -> Result<Option<u64>>;
    /// The retention model (policies, holds, approvals, admins), replayed.
    fn retention_model(&self) -> Result<Retention>;
    /// The newest entry the retention model reads.
    fn retention_head(&self) -> Result<Option<u64>>;
}
