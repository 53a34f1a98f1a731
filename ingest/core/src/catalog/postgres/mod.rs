//! The catalog interface on PostgreSQL: every aggregate of [`Repo`](super::Repo),
//! one file each beside SQLite's, with the same behaviour (the engine-neutral
//! scenarios in [`super::conformance`] hold both to it). What differs is how
//! races are kept out: SQLite has one writer, PostgreSQL many connections, so
//! claims use `FOR UPDATE SKIP LOCKED`, the sign-in limit an advisory lock, and
//! every check-then-write a conditional statement. [`schema`] is the baseline,
//! [`copy`] moves a SQLite catalog in.
//!
//! [`Postgres`] wraps a client or a transaction (`postgres::GenericClient`);
//! like rusqlite's, its calls block, so it runs on blocking threads only.
//! Engine-neutral scenarios ([`super::conformance`]) run against both engines.

mod accounts;
mod attendance;
pub mod copy;
mod documents;
mod evaluations;
mod jobs;
mod ledger;
mod media;
mod members;
mod orgs;
mod retention;
mod schedules;
pub mod schema;
mod service;
mod verification;
mod workers;

pub use schema::migrate;

use super::{parse, scope_param, Error};
use std::cell::RefCell;

/// The catalog interface on one PostgreSQL client or transaction.
pub struct Postgres<'c, C: postgres::GenericClient> {
    // The driver's calls take `&mut`; the interface's take `&self`, one at a
    // time on one thread.
    c: RefCell<&'c mut C>,
}

impl<'c, C: postgres::GenericClient> Postgres<'c, C> {
    pub fn new(c: &'c mut C) -> Self {
        Self { c: RefCell::new(c) }
    }
}

impl From<postgres::Error> for Error {
    fn from(e: postgres::Error) -> Self {
        Error::Engine(Box::new(e))
    }
}

/// SQLite's `in_scope` in PostgreSQL's dialect: the org path `path` lies in
/// the scope bound at `$n` (NULL: every org), itself or below an entry.
fn in_scope(path: &str, n: u8) -> String {
    format!(
        "(${n}::text IS NULL OR EXISTS (SELECT 1 FROM jsonb_array_elements_text(${n}::text::jsonb) s(v) \
         WHERE {path} = s.v OR left({path}, length(s.v) + 1) = s.v || '/'))"
    )
}

/// An unsigned count or duration as PostgreSQL's BIGINT.
fn big(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A BIGINT or INTEGER column that holds a count: never negative.
fn unsigned<T: TryInto<u64>>(n: T) -> u64 {
    n.try_into().unwrap_or(0)
}
