//! The domain's one error type: what went wrong, in words a user can act on, and
//! which kind of wrong it is. The HTTP adapter maps each kind to one status, in
//! one place (`niem`'s `http::error`), so a rule answers the same everywhere.

use std::fmt::Display;

#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// The input breaks a rule (a bad name, a date that does not parse).
    #[error("{0}")]
    Invalid(String),
    /// Who is calling is not known (no, a wrong or a revoked credential).
    #[error("{0}")]
    Unauthenticated(String),
    /// The caller is known but may not do this (role, scope, four-eyes).
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// The state does not allow it now (already sealed, a name taken).
    #[error("{0}")]
    Conflict(String),
    /// It existed and was lawfully destroyed (a shredded recording).
    #[error("{0}")]
    Gone(String),
    #[error("{0}")]
    TooLarge(String),
    /// Bytes that are not media where media is required.
    #[error("{0}")]
    NotMedia(String),
    /// Media that stopped making sense part way; what came before is kept.
    #[error("{0}")]
    MediaRefused(String),
    /// Someone else holds it; retry shortly (a resumable upload's lock).
    #[error("{0}")]
    Busy(String),
    /// Too many attempts (sign-in); wait before trying again.
    #[error("{0}")]
    TooMany(String),
    /// A dependency (the object store) is not answering; retry later.
    #[error("{0}")]
    Unavailable(String),
    /// A fault of ours, logged with its id; the message names only the id.
    #[error("internal error {0}; see the server log")]
    Internal(String),
}

pub type Result<T, E = DomainError> = std::result::Result<T, E>;

impl DomainError {
    pub fn invalid(m: impl Into<String>) -> Self {
        Self::Invalid(m.into())
    }
    pub fn unauthenticated(m: impl Into<String>) -> Self {
        Self::Unauthenticated(m.into())
    }
    pub fn forbidden(m: impl Into<String>) -> Self {
        Self::Forbidden(m.into())
    }
    pub fn not_found(m: impl Into<String>) -> Self {
        Self::NotFound(m.into())
    }
    pub fn conflict(m: impl Into<String>) -> Self {
        Self::Conflict(m.into())
    }

    /// A fault of ours: logged in full with an id; the caller sees the id only.
    pub fn internal(err: impl Display) -> Self {
        let id = ulid::Ulid::new().to_string();
        tracing::error!(error_id = %id, error = %err, "internal error");
        Self::Internal(id)
    }

    /// The object store (or another dependency) did not answer.
    pub fn unavailable(err: impl Display) -> Self {
        tracing::warn!(error = %err, "dependency unavailable");
        Self::Unavailable("the object store is unavailable; retry later".into())
    }
}

impl From<archive::vault::VaultError> for DomainError {
    fn from(e: archive::vault::VaultError) -> Self {
        use archive::vault::VaultError as V;
        match e {
            V::NoRecording(_) | V::NoStream(_) | V::Missing(_) => Self::NotFound(e.to_string()),
            V::Conflict(m) => Self::Conflict(m),
            V::Forbidden(m) => Self::Forbidden(m),
            V::Shredded(_) => Self::Gone(e.to_string()),
            V::KekChanging { .. } => Self::Unavailable(e.to_string()),
            V::Store(s) | V::Mirror(archive::mirror::MirrorError::Store(s)) => Self::unavailable(s),
            other => Self::internal(other),
        }
    }
}

impl From<archive::id::IdError> for DomainError {
    fn from(e: archive::id::IdError) -> Self {
        Self::Invalid(e.to_string())
    }
}

impl From<archive::catalog::CatalogError> for DomainError {
    fn from(e: archive::catalog::CatalogError) -> Self {
        Self::internal(e)
    }
}

impl From<archive::store::StoreError> for DomainError {
    fn from(e: archive::store::StoreError) -> Self {
        Self::unavailable(e)
    }
}
