//! The catalog on a real PostgreSQL, started by the harness from Debian's
//! packages (`niem_tests::postgres`): the engine-neutral scenarios SQLite
//! passes in its unit tests (`niem_core::catalog::conformance`), the
//! PostgreSQL baseline checked column by column against SQLite's migrations,
//! and the ledger appended by several nodes at once.
//!
//! A binary of its own rather than a module of `e2e`: it needs neither the
//! service's binaries nor SeaweedFS, links in a fraction of the time, and is
//! the suite to run while working on the PostgreSQL engine
//! (`cargo test -p niem-tests --test catalog`).
//!
//! `postgres::Client` runs a runtime of its own: these are plain threads.

#![allow(clippy::unwrap_used)] // tests may: a panic is their failure report

mod ledger;
mod schema;

use archive::id::RecordingId;
use niem_core::catalog::conformance::{scenarios, Engine};
use niem_core::catalog::postgres::{migrate, Postgres as Pg};
use niem_core::catalog::Repo;
use niem_tests::postgres::Postgres;

/// A database of its own with the catalog migrated, for one scenario.
pub struct Fresh {
    pub url: String,
}

impl Default for Fresh {
    fn default() -> Self {
        Self::new()
    }
}

impl Fresh {
    pub fn new() -> Self {
        let url = Postgres::shared().database();
        migrate(&mut Fresh::connect(&url)).expect("the PostgreSQL baseline");
        Fresh { url }
    }

    pub fn connect(url: &str) -> postgres::Client {
        postgres::Client::connect(url, postgres::NoTls).expect("connect to PostgreSQL")
    }
}

impl Engine for Fresh {
    fn run(&self, f: &mut dyn FnMut(&dyn Repo)) {
        let mut client = Fresh::connect(&self.url);
        f(&Pg::new(&mut client));
    }

    fn batch(&self, sql: &str) {
        Fresh::connect(&self.url).batch_execute(sql).unwrap();
    }

    fn recording(&self, org: &str, state: &str) -> RecordingId {
        let rec = RecordingId::new();
        let mut c = Fresh::connect(&self.url);
        c.execute(
            "INSERT INTO orgs (id, kind, name, path, created_at) VALUES ($1, 'cell', $1, '/' || $1, 't')
             ON CONFLICT (id) DO NOTHING",
            &[&org],
        )
        .unwrap();
        c.execute(
            "INSERT INTO recordings (id, meeting, org, state, started_at) VALUES ($1, 'm', $2, $3, 't')",
            &[&rec.to_string(), &org, &state],
        )
        .unwrap();
        rec
    }
}

/// Every scenario, each on a database of its own. Run one group alone with
/// `NIEM_SCENARIOS=people`.
#[test]
fn every_scenario_passes_on_postgres() {
    for (name, scenario) in scenarios() {
        println!("scenario {name}");
        scenario(&Fresh::new());
    }
}
