//! The catalog's engine-neutral scenarios (`niem_core::catalog::conformance`)
//! on a real PostgreSQL, started by the harness from Debian's packages: the
//! same job queue and worker scenarios SQLite passes in its unit tests, here
//! with `FOR UPDATE SKIP LOCKED` under four connections at once. One database
//! per scenario, each call on a connection of its own.

use archive::id::RecordingId;
use niem_core::catalog::conformance::{Engine, Queue, SCENARIOS};
use niem_core::catalog::postgres::{Postgres as Pg, QUEUE_TABLES};
use niem_tests::postgres::Postgres;

struct Fresh {
    url: String,
}

impl Fresh {
    fn new() -> Self {
        let url = Postgres::shared().database();
        let mut c = Fresh::connect(&url);
        c.batch_execute(QUEUE_TABLES).expect("the queue's tables");
        Fresh { url }
    }

    fn connect(url: &str) -> postgres::Client {
        postgres::Client::connect(url, postgres::NoTls).expect("connect to PostgreSQL")
    }
}

impl Engine for Fresh {
    fn run(&self, f: &mut dyn FnMut(&dyn Queue)) {
        let mut client = Fresh::connect(&self.url);
        f(&Pg::new(&mut client));
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

/// Plain threads: the driver's blocking client must not run inside async code.
#[test]
fn the_queue_and_the_workers_pass_every_scenario_on_postgres() {
    for (name, scenario) in SCENARIOS {
        println!("scenario {name}");
        scenario(&Fresh::new());
    }
}
