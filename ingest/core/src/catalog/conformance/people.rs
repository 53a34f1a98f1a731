//! Accounts (users, tokens, sessions, sign-in attempts, requests), Members (the roster), Service (figures, KEK retirements) and Ledger (reads).

use super::{with, Engine, Scenario};
use crate::catalog::{Membership, NewAccount, Org, Repo, Request, Scope};
use crate::principal::Role;
use crate::schema::{MemberId, OrgId, TokenId, UserId};
use archive::id::RecordingId;

const T0: &str = "2026-11-22T08:00:00.000Z";
const T1: &str = "2026-11-22T08:00:30.000Z";
const T2: &str = "2026-11-22T08:01:00.000Z";
const T3: &str = "2026-11-22T08:01:30.000Z";

fn user(q: &dyn Repo, name: &str, role: Role, password_hash: Option<&str>) -> UserId {
    let id = UserId::new();
    q.insert_user(&NewAccount { id, name, role, password_hash, created_at: T0 }).unwrap();
    id
}

fn org(q: &dyn Repo, id: OrgId, path: &str) -> OrgId {
    let o = Org { id, parent: None, kind: "cell".into(), name: path.into(), path: path.into(), language: None };
    q.insert_org(&o, T0).unwrap();
    id
}

/// Two org ids, the smaller first.
fn two_ids() -> (OrgId, OrgId) {
    let (x, y) = (OrgId::new(), OrgId::new());
    (x.min(y), x.max(y))
}

/// Users read back as stored, listed by name with their scopes; names and
/// scopes are unique.
pub fn users_read_back_as_stored(e: &dyn Engine) {
    with(e, |q| {
        assert_eq!(q.user_count().unwrap(), 0);
        let carol = user(q, "carol", Role::Inspector, None);
        let alice = user(q, "alice", Role::Admin, Some("$argon2id$a"));
        let bob = user(q, "bob", Role::Auditor, None);
        assert!(
            q.insert_user(&NewAccount {
                id: UserId::new(),
                name: "bob",
                role: Role::Admin,
                password_hash: None,
                created_at: T0
            })
            .is_err(),
            "a name is unique"
        );
        assert_eq!(q.user_count().unwrap(), 3);
        let a = q.user_by_name("alice").unwrap().unwrap();
        assert_eq!(
            (a.id, a.role, a.disabled, a.password_hash.as_deref()),
            (alice, Role::Admin, false, Some("$argon2id$a"))
        );
        assert_eq!(q.user_by_id(bob).unwrap().map(|b| b.name).as_deref(), Some("bob"));
        assert!(q.user_by_name("Alice").unwrap().is_none(), "names match exactly");
        assert!(q.user_by_id(UserId::new()).unwrap().is_none());
        // Ids in one order, paths in the other: scopes list ids, scope_paths paths.
        let (first, second) = two_ids();
        org(q, first, "/y");
        org(q, second, "/x");
        q.add_scope(carol, &second.to_string()).unwrap();
        q.add_scope(carol, &first.to_string()).unwrap();
        assert!(q.add_scope(carol, &first.to_string()).is_err(), "a scope is bound once");
        assert_eq!(q.scope_paths(carol).unwrap(), ["/x", "/y"], "in tree order");
        let users = q.users().unwrap();
        let names: Vec<&str> = users.iter().map(|u| u.name.as_str()).collect();
        assert_eq!(names, ["alice", "bob", "carol"]);
        assert_eq!(users[2].scopes, [first.to_string(), second.to_string()]);
        assert!(users[0].has_password && !users[1].has_password);
        assert!(users[0].scopes.is_empty(), "no scope reads an empty list");
        q.set_role(carol, Role::Recorder).unwrap();
        q.set_disabled(carol, true).unwrap();
        q.set_password_hash(carol, "$argon2id$c").unwrap();
        q.clear_scopes(carol).unwrap();
        let c = q.user_by_id(carol).unwrap().unwrap();
        assert_eq!((c.role, c.disabled, c.password_hash.as_deref()), (Role::Recorder, true, Some("$argon2id$c")));
        assert!(q.scope_paths(carol).unwrap().is_empty());
        let listed = q.users().unwrap();
        assert!(listed[2].disabled && listed[2].has_password && listed[2].scopes.is_empty());
        q.set_disabled(carol, false).unwrap();
        assert!(!q.user_by_id(carol).unwrap().unwrap().disabled, "enabled again");
        assert_eq!(q.user_by_id(alice).unwrap().unwrap().role, Role::Admin, "others untouched");
    });
}

/// Tokens keep their secret's hash and revocation; sessions live until their
/// expiry (not at it), and end one by one or all of a user's at once.
pub fn tokens_and_sessions_end_as_asked(e: &dyn Engine) {
    with(e, |q| {
        let (ann, ben) = (user(q, "ann", Role::Admin, None), user(q, "ben", Role::Admin, None));
        let (token, secret) = (TokenId::new(), [0u8, 255, 1, 0, 128]);
        q.insert_token(token, ann, &secret, T0).unwrap();
        assert!(q.insert_token(token, ann, b"again", T0).is_err(), "a token id is unique");
        let t = q.token(token).unwrap().unwrap();
        assert_eq!((t.owner, &t.secret_sha256[..], t.revoked), (ann, &secret[..], false));
        assert!(q.token(TokenId::new()).unwrap().is_none());
        q.revoke_token(token, T1).unwrap();
        assert!(q.token(token).unwrap().unwrap().revoked);
        let (one, two, three) = (vec![0u8; 32], vec![255u8; 32], (0u8..32).collect::<Vec<u8>>());
        q.insert_session(&one, ann, "csrf-1", T0, T2).unwrap();
        q.insert_session(&two, ann, "csrf-2", T0, T3).unwrap();
        q.insert_session(&three, ben, "csrf-3", T0, T3).unwrap();
        assert!(q.insert_session(&one, ben, "csrf-x", T0, T3).is_err(), "a secret is unique");
        assert_eq!(q.live_session(&one, T1).unwrap(), Some((ann, "csrf-1".to_string())));
        assert_eq!(q.live_session(&one, T2).unwrap(), None, "over at its expiry");
        assert_eq!(q.live_session(&one[..31], T0).unwrap(), None, "the whole secret");
        q.delete_session(&two).unwrap();
        assert_eq!(q.live_session(&two, T1).unwrap(), None);
        q.end_sessions(ann).unwrap();
        assert_eq!(q.live_session(&one, T0).unwrap(), None);
        assert_eq!(q.live_session(&three, T2).unwrap(), Some((ben, "csrf-3".to_string())), "another user's stays");
    });
}

fn request(id: &str, requested_at: &str, approve_before: &str) -> Request {
    Request {
        id: id.into(),
        user: UserId::new().to_string(),
        name: None,
        change: serde_json::json!({"role": "admin"}),
        requested_by: "admin-a".into(),
        requested_at: requested_at.into(),
        approve_before: approve_before.into(),
        state: "pending".into(),
        decided_by: None,
    }
}

/// Requests list newest first, a pending one past its deadline reading
/// `expired`; an approval takes a pending request only, once.
pub fn requests_expire_and_approve_once(e: &dyn Engine) {
    with(e, |q| {
        let created = Request {
            name: Some("dana".into()),
            change: serde_json::json!({"create": {"role": "admin", "note": "đảng"}}),
            ..request("r-create", T1, T3)
        };
        q.insert_request(&created, Some("$argon2id$d")).unwrap();
        q.insert_request(&request("r-old", T0, T2), None).unwrap();
        q.insert_request(&request("r-new", T2, T3), None).unwrap();
        assert!(q.insert_request(&request("r-old", T0, T2), None).is_err(), "an id is unique");
        let listed = q.requests(T2).unwrap();
        let ids: Vec<(&str, &str)> = listed.iter().map(|r| (r.id.as_str(), r.state.as_str())).collect();
        assert_eq!(
            ids,
            [("r-new", "pending"), ("r-create", "pending"), ("r-old", "expired")],
            "expired at its deadline"
        );
        assert_eq!((listed[1].name.as_deref(), &listed[1].change), (Some("dana"), &created.change));
        assert_eq!(listed[0].decided_by, None);
        let stored = q.request("r-create").unwrap().unwrap();
        assert_eq!(stored.user.to_string(), created.user);
        assert_eq!((stored.password_hash.as_deref(), stored.state.as_str()), (Some("$argon2id$d"), "pending"));
        assert_eq!(
            (stored.change, stored.requested_by, stored.approve_before),
            (created.change, "admin-a".into(), T3.into())
        );
        assert_eq!(q.request("r-old").unwrap().unwrap().state, "pending", "as stored, not as listed");
        assert!(q.request("missing").unwrap().is_none());
        q.approve_request("r-create", "admin-b", T2).unwrap();
        q.approve_request("r-create", "admin-c", T3).unwrap();
        let after = q.requests(T3).unwrap();
        let approved = after.iter().find(|r| r.id == "r-create").unwrap();
        assert_eq!((approved.state.as_str(), approved.decided_by.as_deref()), ("approved", Some("admin-b")), "once");
        assert_eq!(after.iter().find(|r| r.id == "r-new").unwrap().state, "expired");
    });
}

/// Attempts count per key within the window: a key at its limit refuses the
/// whole charge; refunds take back some or all; old attempts are forgotten.
pub fn sign_ins_stop_at_the_limit(e: &dyn Engine) {
    let keys = vec!["addr".to_string(), "name".to_string()];
    with(e, |q| {
        assert!(q.charge_sign_in(&keys, 2, T0, T1).unwrap());
        assert!(q.charge_sign_in(&keys, 2, T0, T1).unwrap());
        assert!(!q.charge_sign_in(&keys, 2, T0, T1).unwrap(), "the third is refused");
        assert!(!q.charge_sign_in(&keys[..1], 2, T0, T1).unwrap(), "per address");
        assert!(!q.charge_sign_in(&["other".into(), keys[1].clone()], 2, T0, T1).unwrap(), "per name");
        assert!(q.charge_sign_in(&["other".into()], 1, T0, T1).unwrap(), "a refused charge charged nothing");
        assert!(!q.charge_sign_in(&["other".into()], 1, T0, T1).unwrap());
        assert!(q.charge_sign_in(&keys, 3, T0, T1).unwrap(), "a higher limit");
        q.refund_sign_in("name", None).unwrap();
        assert!(!q.charge_sign_in(&keys, 3, T0, T1).unwrap(), "the address is still over");
        q.refund_sign_in("addr", Some(1)).unwrap();
        assert!(q.charge_sign_in(&keys, 3, T0, T1).unwrap(), "one taken back, one charged");
        assert!(!q.charge_sign_in(&keys[..1], 3, T0, T1).unwrap());
        q.refund_sign_in("addr", Some(10)).unwrap();
        assert!(q.charge_sign_in(&keys[..1], 1, T0, T1).unwrap(), "a refund stops at zero");
        q.refund_sign_in("missing", Some(3)).unwrap();
        assert!(!q.charge_sign_in(&keys[..1], 1, T0, T2).unwrap(), "charged after the window's start");
        assert!(q.charge_sign_in(&keys[..1], 1, T1, T2).unwrap(), "charges at or before `since` are forgotten");
        assert!(!q.charge_sign_in(&keys[..1], 1, T1, T3).unwrap(), "the new charge counts from its own time");
    });
}

/// Twelve connections charge one key at once with a limit of five: exactly
/// five get through, whatever the interleaving.
pub fn racing_sign_ins_pass_the_limit_exactly(e: &dyn Engine) {
    const RACERS: usize = 12;
    const LIMIT: u32 = 5;
    let start = std::sync::Barrier::new(RACERS);
    let passed = std::thread::scope(|s| {
        let racers: Vec<_> = (0..RACERS)
            .map(|i| {
                let start = &start;
                s.spawn(move || {
                    let keys = vec!["shared".to_string(), format!("own-{i}")];
                    with(e, |q| {
                        start.wait();
                        q.charge_sign_in(&keys, LIMIT, T0, T1).unwrap()
                    })
                })
            })
            .collect();
        racers.into_iter().map(|r| r.join().unwrap()).filter(|&passed| passed).count()
    });
    assert_eq!(passed, LIMIT as usize, "exactly the limit gets through");
    with(e, |q| {
        assert!(!q.charge_sign_in(&["shared".to_string()], LIMIT, T0, T1).unwrap(), "and no more after");
        // At a limit of one, the keys charged already refuse: those of the
        // charges that passed, and only those.
        let own = (0..RACERS).filter(|i| !q.charge_sign_in(&[format!("own-{i}")], 1, T0, T1).unwrap()).count();
        assert_eq!(own, LIMIT as usize, "a refused charge charged nothing");
    });
}

fn member(q: &dyn Repo, org: OrgId, joined: &str, exempt: bool) -> MemberId {
    let id = MemberId::new();
    q.insert_member(id, &format!("{{\"sealed\":\"{id}\"}}"), T0).unwrap();
    let m = Membership { member: id, org, role: "member".into(), joined: joined.into(), left: None, exempt };
    q.insert_membership(&m, T0).unwrap();
    id
}

/// The roster reads the subtree asked for and in scope (never a sibling that
/// shares a prefix), by org then joined date, with past stays on request.
pub fn the_roster_holds_its_subtree_scope_and_history(e: &dyn Engine) {
    with(e, |q| {
        let (a, ab) = two_ids();
        let (base, pq) = (org(q, OrgId::new(), "/p"), org(q, OrgId::new(), "/pq"));
        org(q, a, "/p/a");
        org(q, ab, "/p/ab");
        let later = member(q, a, "2020-02-01", true);
        let earlier = member(q, a, "2020-01-01", false);
        let sibling = member(q, ab, "2019-01-01", false);
        let outside = member(q, pq, "2018-01-01", false);
        let at_base = member(q, base, "2021-01-01", false);
        let ids = |path: &str, history: bool, scope: &Scope| -> Vec<MemberId> {
            q.roster(path, history, scope).unwrap().into_iter().map(|r| r.membership.member).collect()
        };
        assert_eq!(ids("/p", false, &Scope::All), [at_base, earlier, later, sibling], "by path, then joined");
        assert_eq!(ids("/p/a", false, &Scope::All), [earlier, later], "not the sibling /p/ab");
        assert_eq!(ids("/pq", false, &Scope::All), [outside]);
        assert!(ids("/p/", false, &Scope::All).is_empty(), "a path, not a prefix");
        let only_a = Scope::Subtrees(vec!["/p/a".into()]);
        assert_eq!(ids("/p", false, &only_a), [earlier, later], "the scope holds below the path asked");
        assert!(ids("/p/ab", true, &only_a).is_empty());
        assert_eq!(ids("/p", false, &Scope::Subtrees(vec!["/p/ab".into(), "/pq".into()])), [sibling]);
        assert!(ids("/p", false, &Scope::Subtrees(vec![])).is_empty(), "bound to nothing reads nothing");
        assert!(ids("/p", false, &Scope::Subtrees(vec!["/p/a/".into()])).is_empty());
        let row = &q.roster("/p/a", false, &Scope::All).unwrap()[1];
        assert_eq!((row.sealed.clone(), row.membership.exempt), (format!("{{\"sealed\":\"{later}\"}}"), true));
        assert_eq!(
            (row.membership.org, row.membership.role.as_str(), row.membership.left.as_deref()),
            (a, "member", None)
        );
        // `later` moves to /p/ab.
        let (open, path) = q.open_membership(later).unwrap().unwrap();
        assert_eq!((open.org, path.as_str(), open.joined.as_str()), (a, "/p/a", "2020-02-01"));
        q.end_membership(later, "2025-01-01").unwrap();
        assert!(q.open_membership(later).unwrap().is_none(), "no stay open");
        let moved = Membership { org: ab, joined: "2025-01-01".into(), exempt: false, ..open };
        q.insert_membership(&moved, T1).unwrap();
        assert!(q.insert_membership(&moved, T1).is_err(), "one stay per member, org and date");
        assert_eq!(ids("/p/a", false, &Scope::All), [earlier]);
        let past = q.roster("/p/a", true, &Scope::All).unwrap();
        let left: Vec<Option<&str>> = past.iter().map(|r| r.membership.left.as_deref()).collect();
        assert_eq!(left, [None, Some("2025-01-01")]);
        assert_eq!(ids("/p/ab", false, &Scope::All), [sibling, later]);
        assert_eq!(q.open_membership(later).unwrap().map(|(m, p)| (m.org, p)), Some((ab, "/p/ab".to_string())));
        assert!(q.member_exists(later).unwrap() && !q.member_exists(MemberId::new()).unwrap());
        assert!(q.insert_member(later, "{}", T1).is_err(), "a member id is unique");
    });
}

/// A member with two open stays (a transfer half done) reads the newer one.
pub fn the_newest_open_stay_is_the_open_membership(e: &dyn Engine) {
    with(e, |q| {
        let (a, b) = two_ids();
        org(q, a, "/a");
        org(q, b, "/b");
        let m = member(q, b, "2022-05-01", false);
        let older = Membership {
            member: m,
            org: a,
            role: "deputy".into(),
            joined: "2021-05-01".into(),
            left: None,
            exempt: false,
        };
        q.insert_membership(&older, T0).unwrap();
        let (open, path) = q.open_membership(m).unwrap().unwrap();
        assert_eq!((open.org, path.as_str()), (b, "/b"));
        q.end_membership(m, "2023-01-01").unwrap();
        assert!(q.open_membership(m).unwrap().is_none(), "ending closes every open stay");
    });
}

/// The metrics figures read each table as it stands, empty or not, and the
/// KEK retirements read oldest first.
pub fn figures_and_retirements_read_the_catalog(e: &dyn Engine) {
    let empty = with(e, |q| q.figures().unwrap());
    assert_eq!((empty.ingested, empty.chunks, empty.queue, empty.checkpointed), (0, 0, 0, 0));
    assert!(empty.last_transcription.is_none() && empty.head.is_none());
    assert!(empty.checkpoint_ts.is_none() && empty.retired.is_none());
    let recs: Vec<RecordingId> = (0..5).map(|_| e.recording("o", "sealed")).collect();
    e.batch(&format!(
        "INSERT INTO streams (id, recording, kind, state, chunk_size, nonce_prefix, key_sha256, length, opened_at)
         VALUES ('s1', '{r}', 'audio', 'complete', 1024, 'n', 'k', 3000000000, 't'),
                ('s2', '{r}', 'video', 'open', 1024, 'n', 'k', 234, 't');
         INSERT INTO chunks (stream, idx, plain_len, len, sha256) VALUES ('s1', 0, 1, 2, 'h'), ('s1', 1, 1, 2, 'h'), ('s2', 0, 1, 2, 'h');
         UPDATE ledger_mirror SET checkpointed = 7, checkpoint_ts = '{T2}' WHERE id = 1;
         INSERT INTO kek_retirements (generation, new_kek, retiring, step, started_at, finished_at)
         VALUES (2, 'kek-c', '[\"kek-b\"]', 'done', '{T1}', '{T2}'),
                (1, 'kek-b', '[\"kek-a\"]', 'done', '{T0}', '{T3}'),
                (3, 'kek-d', 'not json', 'rewrap', '{T3}', NULL);",
        r = recs[0]
    ));
    with(e, |q| {
        for rec in &recs {
            q.enqueue_transcription(*rec, T0).unwrap();
        }
        let finish = |at: &str, done: &str, total: Option<u64>| {
            let job = q.claim_job(at).unwrap().unwrap();
            q.set_job_progress(job.id, 10, total).unwrap();
            q.job_done(job.id, done).unwrap();
        };
        finish(T0, T2, Some(60_000));
        finish(T1, T1, Some(1_000));
        finish(T2, T3, None);
        assert!(q.claim_job(T3).unwrap().is_some(), "one left running, one queued");
        let f = q.figures().unwrap();
        assert_eq!((f.ingested, f.chunks, f.queue, f.checkpointed), (3_000_000_234, 3, 2, 7));
        assert_eq!(f.last_transcription, Some((T0.into(), T2.into(), 60_000)), "the newest finish with a length");
        assert_eq!((f.checkpoint_ts.as_deref(), f.retired.as_deref(), f.head), (Some(T2), Some(T3), None));
        let r = q.retirements().unwrap();
        let gens: Vec<(i64, &str)> =
            r.iter().map(|v| (v["generation"].as_i64().unwrap(), v["kek"].as_str().unwrap())).collect();
        assert_eq!(gens, [(1, "kek-b"), (2, "kek-c"), (3, "kek-d")]);
        assert_eq!(
            (&r[0]["retiring"], &r[0]["step"], &r[0]["started_at"]),
            (&serde_json::json!(["kek-a"]), &serde_json::json!("done"), &serde_json::json!(T0))
        );
        assert_eq!((&r[2]["retiring"], &r[2]["finished_at"]), (&serde_json::Value::Null, &serde_json::Value::Null));
        assert_eq!(q.last_retirement().unwrap().as_deref(), Some(T3), "the latest finish, not the highest generation");
    });
}

/// Ledger fixtures: `prev` and `hash` are blobs, whose literals the two
/// dialects spell differently, so they are copied from two sessions' secrets
/// (written through the interface) by a plain `INSERT ... SELECT`.
fn ledger_fixture(e: &dyn Engine, rec: RecordingId) -> (Vec<u8>, Vec<u8>) {
    let (prev, hash) = (vec![0u8; 32], (100u8..132).collect::<Vec<u8>>());
    with(e, |q| {
        let u = user(q, "ledger-fixture", Role::Admin, None);
        q.insert_session(&prev, u, "prev", T0, T0).unwrap();
        q.insert_session(&hash, u, "hash", T0, T0).unwrap();
    });
    let rows = [
        (0, "host", "org.created", "org/a".to_string(), "{}"),
        (1, "user/x", "recording.started", format!("recording/{rec}"), r#"{"meeting":"m","org":"a"}"#),
        (2, "host", "user.change.requested", "user/u".to_string(), r#"{"request":"q1"}"#),
        (3, "host", "recording.sealed", format!("recording/{rec}"), "{}"),
        (4, "host", "kek.retired", "kek/k1".to_string(), r#"{"kek":"k1","n":[1,2]}"#),
        (5, "user/x", "recording.viewed", format!("recording/{rec}"), r#"{"request":"q2"}"#),
    ];
    let sql: String = rows
        .iter()
        .map(|(seq, actor, action, subject, data)| {
            format!(
                "INSERT INTO ledger (seq, ts, actor, action, subject, data, prev, hash)
                 SELECT {seq}, '2026-11-22T08:00:0{seq}.000Z', '{actor}', '{action}', '{subject}', '{data}', p.secret_sha256, h.secret_sha256
                 FROM sessions p, sessions h WHERE p.csrf = 'prev' AND h.csrf = 'hash';\n"
            )
        })
        .collect();
    e.batch(&sql);
    (prev, hash)
}

/// The ledger's reads: pages before a seq, oldest first; the host's newest
/// actions; the entries found by request, seal and KEK; the retention model
/// and its head, which skip the actions it does not read.
pub fn ledger_reads_find_their_entries(e: &dyn Engine) {
    let rec = e.recording("a", "sealed");
    with(e, |q| {
        assert!(q.entries(None, u64::MAX, 10).unwrap().is_empty());
        assert!(q.first_entry_ts().is_err(), "no first entry yet");
        assert_eq!(q.retention_head().unwrap(), None);
        assert!(q.retention_model().unwrap().recordings.is_empty());
        assert!(!q.kek_ledgered("k1").unwrap());
    });
    let (prev, hash) = ledger_fixture(e, rec);
    with(e, |q| {
        let seqs = |action: Option<&str>, before: u64, limit: u64| -> Vec<u64> {
            q.entries(action, before, limit).unwrap().into_iter().map(|e| e.seq).collect()
        };
        assert_eq!(seqs(None, u64::MAX, 10), [0, 1, 2, 3, 4, 5]);
        assert_eq!(seqs(None, 4, 2), [2, 3], "the newest before, oldest first");
        assert_eq!(seqs(None, 0, 10), Vec::<u64>::new());
        assert_eq!(seqs(Some("recording.sealed"), 10, 10), [3]);
        assert_eq!(seqs(Some("recording.sealed"), 3, 10), Vec::<u64>::new(), "before is exclusive");
        assert_eq!(seqs(Some("no.such"), 10, 10), Vec::<u64>::new());
        assert_eq!(seqs(None, 10, 0), Vec::<u64>::new());
        let e4 = &q.entries(Some("kek.retired"), 10, 1).unwrap()[0];
        assert_eq!(
            (e4.ts.as_str(), e4.actor.as_str(), e4.subject.as_str()),
            ("2026-11-22T08:00:04.000Z", "host", "kek/k1")
        );
        assert_eq!((&e4.prev[..], &e4.hash[..]), (&prev[..], &hash[..]));
        assert_eq!(e4.data, serde_json::json!({"kek": "k1", "n": [1, 2]}));
        let host: Vec<(u64, String)> = q.host_actions(3).unwrap().into_iter().map(|(s, _, a, _)| (s, a)).collect();
        assert_eq!(
            host,
            [(4, "kek.retired".into()), (3, "recording.sealed".into()), (2, "user.change.requested".into())]
        );
        assert_eq!(
            q.host_actions(1).unwrap()[0],
            (4, "2026-11-22T08:00:04.000Z".into(), "kek.retired".into(), "kek/k1".into())
        );
        assert_eq!(
            (q.request_seq("q1").unwrap(), q.request_seq("q2").unwrap()),
            (Some(2), None),
            "of requested entries only"
        );
        assert_eq!((q.seal_seq(rec).unwrap(), q.seal_seq(RecordingId::new()).unwrap()), (Some(3), None));
        assert!(q.kek_ledgered("k1").unwrap() && !q.kek_ledgered("k2").unwrap());
        assert_eq!(q.first_entry_ts().unwrap(), "2026-11-22T08:00:00.000Z");
        assert_eq!(q.retention_head().unwrap(), Some(3), "the newest entry it reads");
        let model = q.retention_model().unwrap();
        let r = &model.recordings[&rec.to_string()];
        assert_eq!((r.org_path.as_deref(), r.sealed_seq, r.meeting.as_str()), (Some("/a"), Some(3), "m"));
        assert_eq!(q.figures().unwrap().head, Some(5));
    });
}

/// This group's scenarios by name.
pub const SCENARIOS: &[(&str, Scenario)] = &[
    ("users_read_back_as_stored", users_read_back_as_stored),
    ("tokens_and_sessions_end_as_asked", tokens_and_sessions_end_as_asked),
    ("requests_expire_and_approve_once", requests_expire_and_approve_once),
    ("sign_ins_stop_at_the_limit", sign_ins_stop_at_the_limit),
    ("racing_sign_ins_pass_the_limit_exactly", racing_sign_ins_pass_the_limit_exactly),
    ("the_roster_holds_its_subtree_scope_and_history", the_roster_holds_its_subtree_scope_and_history),
    ("the_newest_open_stay_is_the_open_membership", the_newest_open_stay_is_the_open_membership),
    ("figures_and_retirements_read_the_catalog", figures_and_retirements_read_the_catalog),
    ("ledger_reads_find_their_entries", ledger_reads_find_their_entries),
];
