//! The domain's catalog interface: every read and write of the service's own
//! tables, as typed methods per aggregate, so that the domain never writes SQL
//! and a second catalog engine (PostgreSQL, planned) is a second implementation
//! of these traits, not a rewrite of the domain.
//!
//! - One trait per aggregate ([`Accounts`], [`Orgs`], [`Members`], [`Endpoints`],
//!   [`Recordings`], [`Jobs`], ...); [`Repo`] is all of them, and what the
//!   domain's closures receive (`&dyn Repo`).
//! - The methods are synchronous: they run inside the engine's blocking call, or
//!   inside the one commit transaction (`Vault::commit_as`), whose ledger entry
//!   commits with them. [`read`], [`with`], [`commit`] and [`in_tx`] are the
//!   entry points; they pick the engine ([`sqlite`] today).
//! - Lists take the caller's [`Scope`] as a typed argument and the engine puts
//!   it in its query: rows out of scope are never read (ARCHITECTURE.md,
//!   invariant 10).
//! - The interface holds data rules the engine enforces anyway (unique ids);
//!   every other rule (roles, four-eyes, "already revoked") stays in the domain.

mod accounts;
pub mod attendance;
pub mod conformance;
pub mod documents;
pub mod evaluations;
mod jobs;
mod ledger;
mod media;
mod members;
mod orgs;
pub mod postgres;
mod retention;
mod schedules;
mod service;
pub mod sqlite;
mod verification;
pub mod workers;

pub use accounts::{Account, Accounts, NewAccount, Request, StoredRequest, Token, User};
pub use attendance::{AbsenceRow, Attendance, AttendanceRow};
pub use documents::{DocumentRow, Documents};
pub use evaluations::{EvaluationRow, Evaluations};
pub use jobs::{Job, JobProgress, JobView, Jobs, TRANSCRIBE};
pub use ledger::Ledger;
pub use media::{EndedStream, Indexing, Live, NewUploadRow, UploadRow, Uploads};
pub use members::{Members, Membership, RosterRow};
pub use orgs::{
    BrowsedMeeting, Endpoint, EndpointRow, Endpoints, Listed, Meeting, MeetingBrowse, MeetingDetail, NewMeetingRow,
    Org, Orgs, Recordings, StreamLabel,
};
pub use retention::{Hold, PolicyRow, Retention};
pub use schedules::{Alert, ComplianceRow, RecordMeetingRow, Reports, Schedule, Schedules};
pub use service::{Figures, Service};
pub use verification::{CheckpointRef, StoreCheck, Verification, Verifications};
pub use workers::Workers;

use crate::principal::{Principal, Role};
use archive::catalog::{Catalog, CatalogError};
use archive::db::{Conn, Tx};
use archive::ledger::{Entry, NewEntry};
use archive::vault::{Vault, VaultError};

/// What the catalog failed at: a fault of ours (logged with an id by the
/// domain), never the caller's.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The engine failed, or holds a value that does not parse (an id, a role).
    #[error("catalog: {0}")]
    Engine(Box<dyn std::error::Error + Send + Sync>),
    /// An archive function the engine runs inside the transaction failed (a
    /// ledger read, the retention model): its own kind is kept.
    #[error(transparent)]
    Archive(#[from] VaultError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A stored value that does not parse as what the interface promises.
    pub fn malformed(what: impl Into<String>) -> Self {
        Self::Engine(what.into().into())
    }
}

impl From<CatalogError> for Error {
    fn from(e: CatalogError) -> Self {
        Error::Archive(e.into())
    }
}

impl From<Error> for crate::DomainError {
    fn from(e: Error) -> Self {
        match e {
            Error::Archive(v) => v.into(),
            Error::Engine(e) => Self::internal(e),
        }
    }
}

/// A stored id or enum that does not parse: the catalog is at fault. For the
/// engines.
fn parse<T: std::str::FromStr>(what: &str, s: &str) -> Result<T, Error> {
    s.parse().map_err(|_| Error::malformed(format!("a malformed {what} {s:?}")))
}

/// A scope as the engines bind it in their one scope condition: a JSON array
/// of org paths, or NULL for every org.
fn scope_param(scope: &Scope) -> Option<String> {
    match scope {
        Scope::All => None,
        // A list of strings always serialises; an empty scope matches nothing.
        Scope::Subtrees(paths) => Some(serde_json::to_string(paths).unwrap_or_else(|_| "[]".into())),
    }
}

/// The org subtrees a list may read: what [`Principal`] is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every org (admins, auditors, the service itself).
    All,
    /// Org paths (`/bloc/base/cell`); each covers itself and every org below.
    /// Empty: nothing.
    Subtrees(Vec<String>),
}

impl Scope {
    /// The scope of `who`: unbound roles see every org.
    pub fn of(who: &Principal) -> Self {
        match who.role {
            Role::Admin | Role::Auditor => Scope::All,
            Role::Inspector | Role::Recorder | Role::Secretary => Scope::Subtrees(who.scopes.clone()),
        }
    }
}

/// Every aggregate of the catalog: what a domain closure is handed.
pub trait Repo:
    Accounts
    + Orgs
    + Members
    + Endpoints
    + Recordings
    + Jobs
    + Ledger
    + Retention
    + Schedules
    + Reports
    + Service
    + Verifications
    + Uploads
    + Live
    + Indexing
    + Documents
    + Attendance
    + Evaluations
    + Workers
{
}

impl<T> Repo for T where
    T: Accounts
        + Orgs
        + Members
        + Endpoints
        + Recordings
        + Jobs
        + Ledger
        + Retention
        + Schedules
        + Reports
        + Service
        + Verifications
        + Uploads
        + Live
        + Indexing
        + Documents
        + Attendance
        + Evaluations
        + Workers
{
}

/// Runs `f` against the catalog on a blocking thread (reads, and the few
/// writes that carry no ledger entry: job bookkeeping, sessions).
pub async fn read<R, E>(catalog: &Catalog, f: impl FnOnce(&dyn Repo) -> Result<R, E> + Send + 'static) -> Result<R, E>
where
    R: Send + 'static,
    E: From<CatalogError> + Send + 'static,
{
    catalog.exec(move |c| on_conn(c, f)).await
}

/// `f` against the engine of connection `c`.
fn on_conn<R>(c: &mut Conn<'_>, f: impl FnOnce(&dyn Repo) -> R) -> R {
    let f = std::cell::Cell::new(Some(f));
    let run = |repo: &dyn Repo| f.take().map(|f| f(repo));
    let out = c.either(|c| run(&sqlite::Sqlite::new(c)), |c| run(&postgres::Postgres::new(c)));
    // `either` runs exactly one of its two closures, and that one ran `f`.
    out.unwrap_or_else(|| unreachable!("the engine ran the closure"))
}

/// `f` against the engine of transaction `tx`.
fn on_tx<R>(tx: &Tx<'_>, f: impl FnOnce(&dyn Repo) -> R) -> R {
    let f = std::cell::Cell::new(Some(f));
    let run = |repo: &dyn Repo| f.take().map(|f| f(repo));
    let out = tx.either(|t| run(&sqlite::Sqlite::new(t)), |t| run(&postgres::Postgres::new(t)));
    out.unwrap_or_else(|| unreachable!("the engine ran the closure"))
}

/// Runs `f` against the catalog on this thread: for blocking contexts only
/// (the command line, start-up).
pub fn with<R, E: From<CatalogError>>(catalog: &Catalog, f: impl FnOnce(&dyn Repo) -> Result<R, E>) -> Result<R, E> {
    catalog.run(|c| on_conn(c, f))
}

/// Commits `f`'s changes together with `entry`, through the vault's one commit
/// path (`Vault::commit_as`): both or neither.
pub async fn commit<R, E>(
    vault: &Vault,
    entry: NewEntry,
    f: impl FnOnce(&dyn Repo) -> Result<R, E> + Send + 'static,
) -> Result<(R, Entry), E>
where
    R: Send + 'static,
    E: From<VaultError> + Send + 'static,
{
    vault.commit_as(entry, in_tx(f)).await
}

/// `f` as the closure a vault operation runs inside its own transaction (a
/// seal, a recording's start, a stream's opening): the domain's part of that
/// transaction, written against the interface.
pub fn in_tx<'f, R, E>(
    f: impl FnOnce(&dyn Repo) -> Result<R, E> + Send + 'f,
) -> impl FnOnce(&Tx<'_>) -> Result<R, E> + Send + 'f {
    move |tx| on_tx(tx, f)
}

/// [`in_tx`] for a vault operation that also hands over the id it made.
pub fn in_tx_with<'f, T, R, E>(
    f: impl FnOnce(&dyn Repo, T) -> Result<R, E> + Send + 'f,
) -> impl FnOnce(&Tx<'_>, T) -> Result<R, E> + Send + 'f {
    move |tx, id| on_tx(tx, |repo| f(repo, id))
}

/// `f` as the hook a KEK retirement runs inside its own transaction, to
/// re-wrap the keys the catalog holds (resumable uploads' tail keys).
pub fn transient_keys(
    f: impl Fn(&dyn Repo, &archive::keys::Keyring) -> Result<usize, VaultError> + Send + Sync + 'static,
) -> archive::retire::TransientKeys {
    std::sync::Arc::new(move |tx, ring| on_tx(tx, |repo| f(repo, ring)))
}
