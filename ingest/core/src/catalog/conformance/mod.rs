//! Scenarios every catalog engine must pass, written once against the
//! interface ([`Repo`]): SQLite runs them in its unit tests, PostgreSQL in
//! `tests/tests/catalog` against a real server. Test support, not part of the
//! service; a scenario reports a failure by panicking, as a test does.
//!
//! One module per group of aggregates; [`scenarios`] lists them all. A
//! scenario gets an engine with a freshly migrated catalog of its own, and
//! builds what it needs through the interface where the interface can (orgs,
//! users, meetings), and with [`Engine::batch`] where only the archive writes
//! (recordings, streams, ledger entries).

// Test support: a scenario reports a failure by panicking, as a test does.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod media;
pub mod oversight;
pub mod people;
pub mod queue;
pub mod record;
pub mod structure;

use super::Repo;
use archive::id::RecordingId;

/// One engine under test, with its catalog made and migrated.
pub trait Engine: Sync {
    /// Runs `f` on a connection of its own, outside any transaction.
    fn run(&self, f: &mut dyn FnMut(&dyn Repo));
    /// Runs SQL written to mean the same in both dialects (plain `INSERT`s
    /// with literals): fixtures for tables only the archive writes.
    fn batch(&self, sql: &str);
    /// Adds a recording in `state` of org `org` (a cell at `/<org>`, made if
    /// missing).
    fn recording(&self, org: &str, state: &str) -> RecordingId;
}

/// A scenario, run on an engine with a catalog of its own.
pub type Scenario = fn(&dyn Engine);

/// `f` on one connection of `e`, returning what it returns.
pub fn with<R>(e: &dyn Engine, f: impl FnOnce(&dyn Repo) -> R) -> R {
    let (mut f, mut out) = (Some(f), None);
    e.run(&mut |r| out = f.take().map(|f| f(r)));
    out.expect("the engine ran the closure")
}

/// Every scenario as `group::name`; each needs a catalog of its own. With
/// `NIEM_SCENARIOS` set, only those whose name starts with it (`people`).
pub fn scenarios() -> Vec<(String, Scenario)> {
    let groups = [
        ("queue", queue::SCENARIOS),
        ("people", people::SCENARIOS),
        ("structure", structure::SCENARIOS),
        ("media", media::SCENARIOS),
        ("oversight", oversight::SCENARIOS),
        ("record", record::SCENARIOS),
    ];
    let only = std::env::var("NIEM_SCENARIOS").ok();
    groups
        .iter()
        .flat_map(|(group, list)| list.iter().map(move |(name, s)| (format!("{group}::{name}"), *s)))
        .filter(|(name, _)| only.as_deref().is_none_or(|o| name.starts_with(o)))
        .collect()
}
