//! `niem-bench ledger`: ledger appends per second, on SQLite (through the
//! service's own commit path, `Vault::record`) and on PostgreSQL (the engine's
//! append, `archive::ledger::postgres`, until the vault commits through it; a
//! server the harness starts from Debian's packages), each with one
//! writer and with many (16 sharing SQLite's one connection; 2 nodes × 8 writers
//! on PostgreSQL), every append its own durable commit.
//! The contended PostgreSQL run is then read back and verified as one chain
//! (no gap, no fork, no duplicate seq). Prints figures; asserts only the chain.

use archive::catalog::Catalog;
use archive::clock::{Clock, SystemClock};
use archive::keys::KeyDir;
use archive::ledger::{self, postgres as pg_ledger, NewEntry};
use archive::mirror::{Mirror, MirrorPolicy};
use archive::store::{LocalStore, Store};
use archive::vault::Vault;
use niem_tests::postgres::Postgres;
use std::path::Path;
use std::sync::{Arc, Barrier};
use std::time::Instant;

pub fn run(args: &crate::LedgerBench) {
    println!("== ledger appends, each its own commit ({} per writer) ==", args.entries);
    let dir = tempfile::tempdir().unwrap();
    for writers in [1, 16] {
        let rate = through_the_vault(&dir.path().join(format!("site-{writers}")), writers, args.entries);
        println!("sqlite      1 node  x {writers:>2} writer(s): {rate:>8.0} appends/s (Vault::record: one connection, WAL, synchronous=FULL, mirrored)");
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

/// SQLite through the service's own commit path: a vault over a local store,
/// its ledger mirrored, `writers` tasks each recording `entries` events.
fn through_the_vault(dir: &Path, writers: usize, entries: usize) -> f64 {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        std::fs::create_dir_all(dir).unwrap();
        let catalog = Catalog::open(&dir.join("catalog.db")).unwrap();
        let keys = Arc::new(KeyDir::new(dir.join("keys")).init("niem.bench/ledger").unwrap());
        let store: Store = Arc::new(LocalStore::open(dir.join("store")).unwrap());
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let mirror =
            Mirror::resume(store.clone(), catalog.clone(), keys.clone(), clock.clone(), MirrorPolicy::default());
        let vault = Arc::new(Vault::new(store, keys, catalog, clock, Arc::new(mirror.await.unwrap()), 1000));
        let t = Instant::now();
        let tasks: Vec<_> = (0..writers)
            .map(|w| {
                let vault = vault.clone();
                tokio::spawn(async move {
                    for i in 0..entries {
                        vault.record(entry(&format!("writer{w}"), i)).await.unwrap();
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        (writers * entries) as f64 / t.elapsed().as_secs_f64()
    })
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
