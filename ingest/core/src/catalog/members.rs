//! The roster as the catalog keeps it: members (one row per person, their name
//! and number sealed) and memberships (one row per stay in a cell).

use super::{Result, Scope};
use crate::schema::{MemberId, OrgId};

/// A stay of a member in a cell, as stored.
#[derive(Debug, Clone)]
pub struct Membership {
    pub member: MemberId,
    pub org: OrgId,
    /// `secretary`, `deputy`, `committee` or `member`.
    pub role: String,
    /// Local dates, `YYYY-MM-DD`.
    pub joined: String,
    pub left: Option<String>,
    /// Exempt from regular activity (miễn sinh hoạt).
    pub exempt: bool,
}

/// A membership with its member's sealed facts (a note under the note key,
/// bound to `member/<id>`, as JSON): the domain opens them in memory.
#[derive(Debug, Clone)]
pub struct RosterRow {
    pub membership: Membership,
    pub sealed: String,
}

pub trait Members {
    /// Adds a member with their sealed facts.
    fn insert_member(&self, id: MemberId, sealed: &str, now: &str) -> Result<()>;
    fn member_exists(&self, id: MemberId) -> Result<bool>;
    fn insert_membership(&self, m: &Membership, now: &str) -> Result<()>;
    /// The member's membership that has not ended, with its org's path.
    fn open_membership(&self, member: MemberId) -> Result<Option<(Membership, String)>>;
    /// Ends the open membership of `member` on `left`.
    fn end_membership(&self, member: MemberId, left: &str) -> Result<()>;
    /// Memberships in the subtree at `path` and in `scope` (open ones only,
    /// unless `history`), by org, then joined date.
    fn roster(&self, path: &str, history: bool, scope: &Scope) -> Result<Vec<RosterRow>>;
}
