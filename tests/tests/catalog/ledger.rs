//! One ledger, many nodes: appends through a real PostgreSQL from two nodes (each
//! with connections of its own and a clock of its own), eight writers each, all at
//! once, give one chain that verifies: no gap, no fork, no duplicate seq, times
//! that never step back, and every entry committed with its state change or not
//! at all (a writer rolls back some of its transactions after appending); and
//! the mirror lease held by one node at a time, changing hands when it lapses.

use archive::ledger::postgres::MirrorLease;
use archive::ledger::{self, postgres as pg_ledger, Entry, NewEntry};
use niem_tests::postgres::Postgres;
use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Barrier};

const NODES: usize = 2;
const WRITERS: usize = 8;
/// 2 nodes x 8 writers x 730 transactions, one in seven rolled back: 10,016
/// entries committed.
const PER_WRITER: usize = 730;
/// Every this many transactions, a writer rolls back after appending.
const ROLL_BACK_EVERY: usize = 7;

fn connect(url: &str) -> postgres::Client {
    postgres::Client::connect(url, postgres::NoTls).unwrap()
}

/// A writer's transactions: each bumps its row of `writes` (the state change)
/// and appends the entry that records it; some roll back.
fn write(url: &str, node: usize, writer: usize, start: &Barrier) -> usize {
    let mut client = connect(url);
    // Node 1's clock runs an hour behind node 0's: the chain's times must still
    // never step back.
    let hour = if node == 0 { 10 } else { 9 };
    let actor = format!("node{node}/writer{writer}");
    start.wait();
    let mut committed = 0;
    for i in 0..PER_WRITER {
        let mut tx = client.transaction().unwrap();
        let n: i64 =
            tx.query_one("UPDATE writes SET n = n + 1 WHERE actor = $1 RETURNING n", &[&actor]).unwrap().get(0);
        let ts = format!("2026-12-03T{hour:02}:00:{:02}.{i:06}Z", i % 60);
        let data = serde_json::json!({ "n": n });
        let entry = NewEntry { actor: actor.clone(), action: "test.write", subject: actor.clone(), data };
        pg_ledger::append(&mut tx, ts, entry).unwrap();
        if i % ROLL_BACK_EVERY == ROLL_BACK_EVERY - 1 {
            tx.rollback().unwrap();
        } else {
            tx.commit().unwrap();
            committed += 1;
        }
    }
    committed
}

#[test]
fn two_nodes_of_eight_writers_append_one_chain_through_postgres() {
    let url = Postgres::shared().database();
    let mut admin = connect(&url);
    admin.batch_execute(pg_ledger::SCHEMA).unwrap();
    admin.batch_execute("CREATE TABLE writes (actor TEXT PRIMARY KEY, n BIGINT NOT NULL)").unwrap();
    for node in 0..NODES {
        for writer in 0..WRITERS {
            admin.execute("INSERT INTO writes VALUES ($1, 0)", &[&format!("node{node}/writer{writer}")]).unwrap();
        }
    }
    let start = Arc::new(Barrier::new(NODES * WRITERS));
    let threads: Vec<_> = (0..NODES)
        .flat_map(|node| (0..WRITERS).map(move |writer| (node, writer)))
        .map(|(node, writer)| {
            let (url, start) = (url.clone(), start.clone());
            std::thread::spawn(move || write(&url, node, writer, &start))
        })
        .collect();
    let committed: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    let expected = NODES * WRITERS * (PER_WRITER - PER_WRITER / ROLL_BACK_EVERY);
    assert_eq!(committed, expected);

    let head = pg_ledger::head(&mut admin).unwrap().expect("entries were appended");
    assert_eq!(head + 1, committed as u64, "no gap: the head is the number of commits less one");
    let chain = pg_ledger::read_range(&mut admin, 0, head).unwrap();
    assert_eq!(chain.len(), committed);
    check_chain(&chain);

    // Each entry records the state its transaction committed: per writer, n runs
    // 1, 2, 3… in chain order (a rolled-back bump left neither row nor entry).
    let mut last: BTreeMap<&str, i64> = BTreeMap::new();
    for e in &chain {
        let n = e.data["n"].as_i64().unwrap();
        let before = last.insert(e.actor.as_str(), n).unwrap_or(0);
        assert_eq!(n, before + 1, "seq {}: {} wrote n = {n} after {before}", e.seq, e.actor);
    }
    for row in admin.query("SELECT actor, n FROM writes", &[]).unwrap() {
        let (actor, n): (String, i64) = (row.get(0), row.get(1));
        assert_eq!(last.get(actor.as_str()), Some(&n), "{actor}: its row and its last entry agree");
    }
    // The writers really interleaved: a chain of one writer after another would
    // not show that the head lock serialises them.
    let switches = chain.windows(2).filter(|w| w[0].actor != w[1].actor).count();
    assert!(switches > committed / 4, "only {switches} switches between writers in {committed} entries");
}

/// Seq 0.., each linked to the one before with a hash of its own content, times
/// never stepping back.
fn check_chain(chain: &[Entry]) {
    let mut prev = ledger::ZERO;
    let mut seen = HashSet::new();
    for (i, e) in chain.iter().enumerate() {
        e.check(i as u64, &prev).unwrap_or_else(|err| panic!("{err}"));
        assert!(seen.insert(e.hash), "seq {}: a hash seen before", e.seq);
        prev = e.hash;
    }
    for w in chain.windows(2) {
        assert!(w[0].ts <= w[1].ts, "seq {}: time steps back from {} to {}", w[1].seq, w[0].ts, w[1].ts);
    }
}

/// Appending after a forged head is refused by the table's own checks rather
/// than forking: the head row and the newest entry must agree for the next
/// append to link, and a second head row cannot exist.
#[test]
fn the_head_is_one_row_and_a_duplicate_seq_is_refused() {
    let url = Postgres::shared().database();
    let mut c = connect(&url);
    c.batch_execute(pg_ledger::SCHEMA).unwrap();
    let entry = |n: i64| NewEntry {
        actor: "a".into(),
        action: "test.write",
        subject: "s".into(),
        data: serde_json::json!({ "n": n }),
    };
    for n in 0..3 {
        let mut tx = c.transaction().unwrap();
        pg_ledger::append(&mut tx, "2026-12-03T10:00:00Z".into(), entry(n)).unwrap();
        tx.commit().unwrap();
    }
    assert!(c.execute("INSERT INTO ledger_head (one, seq, hash, ts) VALUES (FALSE, 0, ''::bytea, '')", &[]).is_err());
    assert!(c.execute("INSERT INTO ledger_head (one, seq, hash, ts) VALUES (TRUE, 0, ''::bytea, '')", &[]).is_err());
    // Someone moves the head back one entry: the next append would take seq 2
    // again, and the primary key refuses it instead of forking the chain.
    c.execute("UPDATE ledger_head SET seq = 1, hash = (SELECT hash FROM ledger WHERE seq = 1) WHERE one", &[]).unwrap();
    let mut tx = c.transaction().unwrap();
    let forked = pg_ledger::append(&mut tx, "2026-12-03T10:00:01Z".into(), entry(9));
    assert!(forked.is_err(), "a second entry at seq 2");
    drop(tx);
    let chain = pg_ledger::read_range(&mut c, 0, 10).unwrap();
    assert_eq!(chain.len(), 3);
    check_chain(&chain);
}

/// The mirror lease: of sixteen writers on two nodes racing for it, one holds
/// it; its renewals keep the epoch and keep the others out; once it stops
/// renewing, another node takes it with a new epoch, and the old holder learns
/// it no longer holds it and cannot renew its way back in while the new one
/// renews. A clean release hands it over at once.
#[test]
fn one_node_at_a_time_holds_the_mirror_lease() {
    let url = Postgres::shared().database();
    connect(&url).batch_execute(pg_ledger::SCHEMA).unwrap();
    let ttl = std::time::Duration::from_millis(1500);
    let start = Arc::new(Barrier::new(16));
    let racers: Vec<_> = (0..16)
        .map(|i| {
            let (url, start) = (url.clone(), start.clone());
            std::thread::spawn(move || {
                let mut c = connect(&url);
                let lease = MirrorLease::new(&format!("node{}", i % 2), ttl);
                start.wait();
                lease.acquire(&mut c).unwrap().map(|epoch| (i % 2, epoch))
            })
        })
        .collect();
    let won: Vec<(usize, u64)> = racers.into_iter().filter_map(|t| t.join().unwrap()).collect();
    // The winner's own other writers renew it: same node, same epoch.
    let holder = won[0].0;
    assert!(won.iter().all(|&(node, epoch)| node == holder && epoch == 1), "{won:?}");

    let mut c = connect(&url);
    let (a, b) =
        (MirrorLease::new(&format!("node{holder}"), ttl), MirrorLease::new(&format!("node{}", 1 - holder), ttl));
    for _ in 0..3 {
        assert_eq!(a.acquire(&mut c).unwrap(), Some(1), "a renewal keeps the epoch");
        assert_eq!(b.acquire(&mut c).unwrap(), None, "the other node waits");
        std::thread::sleep(ttl / 3);
    }
    assert!(a.holds(&mut c, 1).unwrap());
    // The holder stops renewing (a dead or paused node): after the expiry the
    // other takes the lease in a new epoch, and the old epoch is over.
    std::thread::sleep(ttl + std::time::Duration::from_millis(200));
    assert!(!a.holds(&mut c, 1).unwrap(), "a lapsed lease is not held");
    assert_eq!(b.acquire(&mut c).unwrap(), Some(2));
    assert!(b.holds(&mut c, 2).unwrap());
    assert!(!a.holds(&mut c, 1).unwrap() && !a.holds(&mut c, 2).unwrap());
    assert_eq!(a.acquire(&mut c).unwrap(), None, "the old holder cannot take it back while it is renewed");
    // A clean stop hands it over at once, in a new epoch.
    b.release(&mut c).unwrap();
    assert!(!b.holds(&mut c, 2).unwrap());
    assert_eq!(a.acquire(&mut c).unwrap(), Some(3));
    // Releasing what one does not hold changes nothing.
    b.release(&mut c).unwrap();
    assert!(a.holds(&mut c, 3).unwrap());
}
