//! Who is calling, once their credential checked out (`crate::users`): their
//! role and the org subtrees they are bound to.
//!
//! Scopes: inspectors, recorders and secretaries are bound to the org subtrees listed for
//! them (`user_scopes`); admins and auditors see every org. One rule, in two
//! forms: [`Principal::in_scope`] for one org (a door: this meeting, this
//! recording; `Principal::require_meeting` and `require_recording` live in
//! [`crate::orgs`], which reads the catalog) and [`crate::catalog::Scope`]
//! inside every list's query, so that rows out of scope are never read, not
//! read and dropped. Content (transcripts, playback,
//! search) is a second gate on top, by role: admins and inspectors only.
//! [`Principal::search_scope`] is the same scope for the index.

use crate::error::DomainError;
use crate::schema::UserId;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Inspector,
    Auditor,
    Recorder,
    /// A cell's secretary or deputy: acts on the meeting record of the meetings
    /// in their cell(s) and reads their roster; nothing else, and no content.
    Secretary,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Inspector => "inspector",
            Role::Auditor => "auditor",
            Role::Recorder => "recorder",
            Role::Secretary => "secretary",
        }
    }
    /// Whether this role is bound to org subtrees (and needs at least one).
    pub fn is_scoped(self) -> bool {
        matches!(self, Role::Inspector | Role::Recorder | Role::Secretary)
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "admin" => Role::Admin,
            "inspector" => Role::Inspector,
            "auditor" => Role::Auditor,
            "recorder" => Role::Recorder,
            "secretary" => Role::Secretary,
            _ => return None,
        })
    }
}

/// Who is calling, once their token or session checked out.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: UserId,
    pub name: String,
    pub role: Role,
    /// Org paths (`/bloc/base/cell`) an inspector or recorder is bound to;
    /// empty for admins and auditors, who are not bound.
    pub scopes: Vec<String>,
    /// The CSRF token, when the caller came with a session cookie.
    pub csrf: Option<String>,
}

impl Principal {
    /// The ledger's name for this caller.
    pub fn actor(&self) -> String {
        format!("user:{}", self.user)
    }

    /// Whether the org at `path` lies in this caller's scope: every org for
    /// admins and auditors, the bound subtrees for inspectors and recorders.
    pub fn in_scope(&self, path: &str) -> bool {
        match self.role {
            Role::Admin | Role::Auditor => true,
            Role::Inspector | Role::Recorder | Role::Secretary => {
                self.scopes.iter().any(|s| archive::deletion::covers(s, path))
            }
        }
    }

    /// Refuses an org outside this caller's scope.
    pub fn require_scope(&self, path: &str) -> Result<(), DomainError> {
        if self.in_scope(path) {
            Ok(())
        } else {
            Err(DomainError::forbidden("this belongs to an organisation outside your scope"))
        }
    }

    /// Refuses an org neither in this caller's scope nor above it. A filter or
    /// report asked for an org above the scope (a base committee over an
    /// inspector's cells) is narrowed to the scope by the query; any other org
    /// would only answer "nothing", which confirms that it exists.
    pub fn require_scope_or_above(&self, path: &str) -> Result<(), DomainError> {
        if self.scopes.iter().any(|s| archive::deletion::covers(path, s)) {
            return Ok(());
        }
        self.require_scope(path)
    }

    /// The scope a search runs under: every org for admins, the inspector's
    /// subtrees, nothing for anyone else.
    pub fn search_scope(&self) -> search::Scope {
        match self.role {
            Role::Admin => search::Scope::All,
            Role::Inspector => search::Scope::Orgs(self.scopes.clone()),
            Role::Auditor | Role::Recorder | Role::Secretary => search::Scope::Orgs(Vec::new()),
        }
    }

    /// Refuses callers whose role is not in `allowed`.
    pub fn require(&self, allowed: &[Role]) -> Result<(), DomainError> {
        if allowed.contains(&self.role) {
            Ok(())
        } else {
            Err(DomainError::forbidden(format!("the {} role may not do this", self.role.as_str())))
        }
    }
}

/// Whether `role` may hold `scopes` org ids: inspectors and recorders need at
/// least one, admins and auditors none (they are not bound).
pub fn check_scopes(role: Role, scopes: usize) -> Result<(), String> {
    match (role.is_scoped(), scopes) {
        (true, 0) => Err(format!("a user with the {} role needs at least one org in scopes", role.as_str())),
        (false, n) if n > 0 => Err(format!("the {} role has no scopes: it sees every org", role.as_str())),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scoped_roles_need_a_scope_and_unscoped_roles_take_none() {
        assert!(check_scopes(Role::Recorder, 0).is_err());
        assert!(check_scopes(Role::Inspector, 0).is_err());
        assert!(check_scopes(Role::Recorder, 1).is_ok());
        assert!(check_scopes(Role::Secretary, 0).is_err(), "a secretary is bound to their cell");
        assert!(check_scopes(Role::Secretary, 1).is_ok());
        assert!(check_scopes(Role::Auditor, 1).is_err());
        assert!(check_scopes(Role::Admin, 0).is_ok());
    }
}
