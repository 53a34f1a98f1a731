//! `niem-bench ledger`: ledger appends per second, on SQLite (the embedded
//! catalog, as the service opens it) and on PostgreSQL (the catalog of several
//! nodes, a server the harness starts from Debian's packages), each with one
//! writer and with many (16 sharing SQLite's one connection; 2 nodes × 8 writers
//! on PostgreSQL), every append its own durable commit.
//! The contended PostgreSQL run is then read back and verified as one chain
//! (no gap, no fork, no duplicate seq). Prints figures; asserts only the chain.

use archive::catalog::Catalog;
use archive::ledger::{self, postgres as pg_ledger, NewEntry};
use niem_tests::postgres::Postgres;
use std::sync::{Arc, Barrier};
use std::time::Instant;

pub fn run(args: &crate::LedgerBench) {
    println!("== ledger appends, each its own commit ({} per writer) ==", args.entries);
    let dir = tempfile::tempdir().unwrap();
    // One node: its writers share the one connection, as the service's do.
    for writers in [1, 16] {
        let cat = Catalog::open(&dir.path().join(format!("catalog-{writers}.db"))).unwrap();
        let rate = timed(writers, args.entries, |actor| {
            let cat = cat.clone();
            move |i| {
                cat.with(|c| {
                    let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).unwrap();
                    ledger::append(&tx, now(), entry(&actor, i)).unwrap();
                    tx.commit().unwrap();
                })
            }
        });
        println!("sqlite      1 node  x {writers:>2} writer(s): {rate:>8.0} appends/s (one connection, WAL, synchronous=FULL)");
    }
    let pg = Postgres::own();
    for (nodes, writers) in [(1, 1), (2, 8)] {
        let url = pg.database();
        connect(&url).batch_execute(pg_ledger::SCHEMA).unwrap();
        let rate = timed(nodes * writers, args.entries, |actor| {
            let mut client = connect(&url);
            move |i| {
                let mut tx = client.transaction().unwrap();
                pg_ledger::append(&mut tx, now(), entry(&actor, i)).unwrap();
                tx.commit().unwrap();
            }
        });
        println!("postgresql  {nodes} node(s) x {writers:>2} writer(s): {rate:>8.0} appends/s (a connection per writer, fsync on)");
        let mut client = connect(&url);
        let head = pg_ledger::head(&mut client).unwrap().unwrap_or(0);
        let chain = pg_ledger::read_range(&mut client, 0, head).unwrap();
        let mut prev = ledger::ZERO;
        for (i, e) in chain.iter().enumerate() {
            e.check(i as u64, &prev).unwrap();
            prev = e.hash;
        }
        assert_eq!(chain.len(), nodes * writers * args.entries, "every append is in the chain");
        println!("            chain of {} entries verified: no gap, no fork, no duplicate seq", chain.len());
    }
}

/// Runs `writers` threads of `entries` appends each, started together; the
/// appends per second of all of them.
fn timed<W, F>(writers: usize, entries: usize, writer: W) -> f64
where
    W: Fn(String) -> F,
    F: FnMut(usize) + Send + 'static,
{
    let start = Arc::new(Barrier::new(writers + 1));
    let threads: Vec<_> = (0..writers)
        .map(|w| {
            let (mut append, start) = (writer(format!("writer{w}")), start.clone());
            std::thread::spawn(move || {
                start.wait();
                (0..entries).for_each(&mut append);
            })
        })
        .collect();
    start.wait();
    let t = Instant::now();
    threads.into_iter().for_each(|t| t.join().unwrap());
    (writers * entries) as f64 / t.elapsed().as_secs_f64()
}

fn connect(url: &str) -> postgres::Client {
    postgres::Client::connect(url, postgres::NoTls).unwrap()
}

fn now() -> String {
    time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap()
}

fn entry(actor: &str, i: usize) -> NewEntry {
    NewEntry {
        actor: actor.to_string(),
        action: "bench.append",
        subject: format!("{actor}/{i}"),
        data: serde_json::json!({ "i": i }),
    }
}
