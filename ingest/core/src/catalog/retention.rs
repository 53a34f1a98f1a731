//! Retention policies, legal holds and the Object Lock each sealed recording
//! carries, as the catalog keeps them. What governs a recording is never read
//! from these rows: it is the model replayed from the ledger ([`super::Ledger`]).

use super::Result;
use serde::Serialize;
use std::collections::HashMap;

/// A policy row as set (the model adds whether it waits for approval).
#[derive(Debug, Clone)]
pub struct PolicyRow {
    pub id: String,
    pub org: Option<String>,
    pub org_path: Option<String>,
    pub kind: Option<String>,
    pub keep_days: u64,
    /// `media` or `record`.
    pub class: String,
    pub requested_by: String,
    pub requested_at: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Hold {
    pub id: String,
    pub org: String,
    pub org_path: String,
    pub from: String,
    pub to: String,
    pub reason: String,
    pub case_ref: String,
    pub placed_by: String,
    pub placed_at: String,
    pub released_at: Option<String>,
    pub release_reason: Option<String>,
}

pub trait Retention {
    /// Every policy set, oldest first.
    fn policies(&self) -> Result<Vec<PolicyRow>>;
    /// Adds a policy as set (`org_path` is not stored; what it governs is the
    /// ledger's model).
    fn insert_policy(&self, p: &PolicyRow) -> Result<()>;
    fn approve_policy(&self, id: &str, by: &str, at: &str) -> Result<()>;
    /// `keep_days` of the newest default media policy (every org, any kind).
    fn default_keep_days(&self) -> Result<Option<u64>>;
    /// Every hold, oldest first.
    fn holds(&self) -> Result<Vec<Hold>>;
    fn insert_hold(&self, h: &Hold) -> Result<()>;
    /// Releases an active hold; false if there is none with that id.
    fn release_hold(&self, id: &str, by: &str, at: &str, reason: &str) -> Result<bool>;
    /// recording → (retain until, legal hold) as last applied to the store.
    fn object_locks(&self) -> Result<HashMap<String, (Option<String>, bool)>>;
    fn set_object_lock(&self, rec: &str, retain_until: Option<&str>, held: bool, at: &str) -> Result<()>;
    /// Every meeting-record object the catalog still lists, by meeting.
    fn record_objects(&self) -> Result<Vec<(String, archive::id::RecordObjectId)>>;
    /// Forgets a shredded record's objects (the ledger keeps that they were).
    fn forget_record_objects(&self, meeting: &str, objects: &[archive::id::RecordObjectId]) -> Result<()>;
}
