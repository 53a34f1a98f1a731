//! `niem-bench ledger`: ledger appends per second through the service's own
//! commit path (`Vault::record`, its ledger mirrored to a local store), on
//! SQLite and on PostgreSQL (a server the harness starts from Debian's
//! packages), with one writer and with many (16 on one node; on PostgreSQL also
//! 2 nodes × 8 writers, two vaults on one catalog), every append its own
//! durable commit; and the PostgreSQL engine's bare append for comparison.
//! The contended PostgreSQL runs are read back and verified as one chain (no
//! gap, no fork, no duplicate seq). Prints figures; asserts only the chain.

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
        let site = dir.path().join(format!("site-{writers}"));
        std::fs::create_dir_all(&site).unwrap();
        let catalog = Catalog::open(&site.join("catalog.db")).unwrap();
        let rate = through_the_vault(&site, vec![catalog], writers, args.entries);
        println!("sqlite      1 node  x {writers:>2} writer(s): {rate:>8.0} appends/s (Vault::record: one connection, WAL, synchronous=FULL, mirrored)");
    }
    let pg = Postgres::own();
    for (nodes, writers) in [(1, 1), (1, 16), (2, 8)] {
        let url = pg.database();
        let mut c = connect(&url);
        c.batch_execute(pg_ledger::SCHEMA).unwrap();
        c.batch_execute(archive::catalog::ARCHIVE_PG_BASELINE).unwrap();
        let catalogs = (0..nodes).map(|_| Catalog::connect_postgres(&url, writers).unwrap()).collect();
        let site = dir.path().join(format!("pg-{nodes}-{writers}"));
        std::fs::create_dir_all(&site).unwrap();
        let rate = through_the_vault(&site, catalogs, writers, args.entries);
        println!("postgresql  {nodes} node(s) x {writers:>2} writer(s): {rate:>8.0} appends/s (Vault::record: the head row locked per commit, mirrored by the lease holder)");
        verified(&mut c, nodes * writers * args.entries);
    }
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
        println!("postgresql  {nodes} node(s) x {writers:>2} writer(s): {rate:>8.0} appends/s (the engine's bare append, a connection per writer, fsync on)");
        verified(&mut connect(&url), nodes * writers * args.entries);
    }
}

/// The chain in PostgreSQL, read back: `n` entries (and any before the run),
/// linked one after another.
fn verified(client: &mut postgres::Client, n: usize) {
    let head = pg_ledger::head(client).unwrap().unwrap_or(0);
    let chain = pg_ledger::read_range(client, 0, head).unwrap();
    let mut prev = ledger::ZERO;
    for (i, e) in chain.iter().enumerate() {
        e.check(i as u64, &prev).unwrap();
        prev = e.hash;
    }
    let ours = chain.iter().filter(|e| e.action == "bench.append").count();
    assert_eq!(ours, n, "every append is in the chain");
    println!("            chain of {} entries verified: no gap, no fork, no duplicate seq", chain.len());
}

/// The service's own commit path: a vault per catalog handle (a node each),
/// over one local store, its ledger mirrored, `writers` tasks per node each
/// recording `entries` events.
fn through_the_vault(dir: &Path, catalogs: Vec<Catalog>, writers: usize, entries: usize) -> f64 {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let keys = Arc::new(KeyDir::new(dir.join("keys")).init("niem.bench/ledger").unwrap());
        let store: Store = Arc::new(LocalStore::open(dir.join("store")).unwrap());
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let mut vaults = Vec::new();
        for (n, catalog) in catalogs.into_iter().enumerate() {
            let (s, k, c, node) = (store.clone(), keys.clone(), clock.clone(), format!("node{n}"));
            let policy = MirrorPolicy::default();
            let mirror = Mirror::resume(s.clone(), catalog.clone(), k.clone(), c.clone(), policy, &node).await.unwrap();
            vaults.push(Arc::new(Vault::new(s, k, catalog, c, Arc::new(mirror), 1000)));
        }
        let t = Instant::now();
        let tasks: Vec<_> = vaults
            .iter()
            .enumerate()
            .flat_map(|(n, vault)| (0..writers).map(move |w| (n, w, vault.clone())))
            .map(|(n, w, vault)| {
                tokio::spawn(async move {
                    for i in 0..entries {
                        vault.record(entry(&format!("node{n}/writer{w}"), i)).await.unwrap();
                    }
                })
            })
            .collect();
        let n = tasks.len();
        for task in tasks {
            task.await.unwrap();
        }
        (n * entries) as f64 / t.elapsed().as_secs_f64()
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
