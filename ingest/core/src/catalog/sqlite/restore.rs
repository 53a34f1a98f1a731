//! `niem restore`: the service's catalog rebuilt from the object store and the
//! keys alone, after the node holding it is lost (reached as `crate::restore`).
//!
//! Engine code: it writes the SQLite tables row by row as it replays the
//! ledger, the way `archive::restore` writes the archive's; another engine
//! brings its own replay of the same entries.
//!
//! The archive rebuilds its own tables (`archive::restore`); this module replays
//! the same ledger entries into the service's tables: orgs, meetings, users and
//! their scopes and tokens, the roster (members and memberships), the meeting record (documents, minutes,
//! attendance, absence requests and reports, evaluations), endpoints, retention policies, holds, schedules,
//! alerts, live streams and transcription jobs. Facts an auditor must not read
//! (meeting titles, user names, password and token hashes, stream-key hashes)
//! travel in the entries sealed under the note key ([`seal_into`]); entries written
//! before they did restore with placeholders, counted in the report.
//!
//! Not restored, by design: web sessions (everyone signs in again), resumable
//! uploads in progress (their tails were in the lost spool), verification
//! history. The service builds the search index at start when the data dir has none.

use crate::config::Config;
use anyhow::Context;
use archive::keys::{Keys, WrappedDek};
use archive::ledger::Entry;
use rusqlite::{params, OptionalExtension, Transaction};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// What a restore could only fill with placeholders, by kind.
#[derive(Debug, Default)]
struct Gaps {
    counts: BTreeMap<&'static str, u64>,
}

impl Gaps {
    fn note(&mut self, what: &'static str) {
        *self.counts.entry(what).or_default() += 1;
    }
}

/// Replays one entry into the service's tables.
struct Replay<'a> {
    keys: &'a Keys,
    gaps: Gaps,
}

impl Replay<'_> {
    /// The entry's sealed facts, if it carries them and they open.
    fn sealed(&mut self, e: &Entry) -> Result<Option<Value>, String> {
        let Some(note) = e.data.get("sealed") else { return Ok(None) };
        let note: WrappedDek = serde_json::from_value(note.clone()).map_err(|err| format!("sealed field: {err}"))?;
        let plain = self.keys.open_note(&e.subject, &note).map_err(|err| err.to_string())?;
        serde_json::from_slice(&plain).map(Some).map_err(|err| format!("sealed field: {err}"))
    }

    fn apply(&mut self, tx: &Transaction<'_>, e: &Entry) -> Result<(), String> {
        let (kind, id) = e.subject.split_once('/').unwrap_or((e.subject.as_str(), ""));
        let s = |name: &str| e.data.get(name).and_then(Value::as_str).map(String::from);
        let sealed = self.sealed(e)?;
        let secret = |name: &str| sealed.as_ref().and_then(|v| v.get(name)).and_then(Value::as_str).map(String::from);
        let sql = |r: rusqlite::Result<usize>| r.map(|_| ()).map_err(|err| err.to_string());
        match (e.action.as_str(), kind) {
            ("org.created", "org") => {
                let parent = s("parent");
                let parent_path: String = match &parent {
                    Some(p) => tx.query_row("SELECT path FROM orgs WHERE id = ?1", [p], |r| r.get(0)).map_err(|err| format!("parent org {p}: {err}"))?,
                    None => String::new(),
                };
                sql(tx.execute(
                    "INSERT INTO orgs (id, parent, kind, name, path, created_at, language) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![id, parent, s("kind"), s("name"), format!("{parent_path}/{id}"), e.ts, s("language")],
                ))
            }
            ("meeting.created", "meeting") => {
                let title = secret("title").unwrap_or_else(|| {
                    self.gaps.note("meetings without their title in the ledger (titled by kind and time)");
                    format!("{} {}", s("kind").unwrap_or_default(), s("scheduled_at").unwrap_or_default())
                });
                sql(tx.execute(
                    "INSERT INTO meetings (id, org, kind, title, scheduled_at, created_at, language, schedule) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    params![id, s("org"), s("kind"), title, s("scheduled_at"), e.ts, secret("language"), s("schedule")],
                ))
            }
            // Documents, minutes and absence reports are one kind of row, told by its kind.
            ("record.document.stored" | "record.minutes.stored" | "record.absence_report.stored", "meeting") => {
                let meta = archive::record::RecordMeta::from_data(&e.data)?;
                let note = e.data.get("sealed").map(Value::to_string).ok_or("a document entry without its sealed facts")?;
                let meta_json = serde_json::to_string(&meta).map_err(|err| err.to_string())?;
                let confidential = e.data.get("confidential").and_then(Value::as_bool).unwrap_or(false);
                sql(tx.execute(
                    "INSERT INTO meeting_documents (id, meeting, kind, content_type, confidential, sealed, meta, stored_at, stored_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    params![meta.object.to_string(), id, s("kind"), s("content_type"), confidential as i64, note, meta_json, e.ts, e.actor],
                ))?;
                if e.action == "record.absence_report.stored" {
                    let absence = s("absence").ok_or("an absence report without its request")?;
                    sql(tx.execute(
                        "UPDATE absence_requests SET report = ?2 WHERE id = ?1 AND meeting = ?3",
                        params![absence, meta.object.to_string(), id],
                    ))?;
                }
                Ok(())
            }
            ("record.evaluation.stored", "meeting") => {
                let meta = archive::record::RecordMeta::from_data(&e.data)?;
                let note = e.data.get("sealed").map(Value::to_string).unwrap_or_default();
                let meta_json = serde_json::to_string(&meta).map_err(|err| err.to_string())?;
                let n = |k: &str| e.data.get(k).and_then(Value::as_u64).ok_or_else(|| format!("an evaluation entry without its {k}"));
                sql(tx.execute(
                    "INSERT INTO meeting_evaluations (id, meeting, version, score, met, items, sealed, meta, stored_at, stored_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                    params![meta.object.to_string(), id, n("version")? as i64, n("score")? as i64, n("met")? as i64, n("items")? as i64, note, meta_json, e.ts, e.actor],
                ))
            }
            ("record.attendance.stored", "meeting") => {
                let meta = archive::record::RecordMeta::from_data(&e.data)?;
                let note = e.data.get("sealed").map(Value::to_string).unwrap_or_default();
                let meta_json = serde_json::to_string(&meta).map_err(|err| err.to_string())?;
                let version = e.data.get("version").and_then(Value::as_u64).ok_or("an attendance entry without its version")?;
                sql(tx.execute(
                    "INSERT INTO meeting_attendance (id, meeting, version, sealed, meta, stored_at, stored_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![meta.object.to_string(), id, version as i64, note, meta_json, e.ts, e.actor],
                ))
            }
            ("record.shredded", "meeting") => {
                let objects = e.data.get("objects").and_then(Value::as_array).ok_or("a record shred without its objects")?;
                for o in objects.iter().filter_map(Value::as_str) {
                    sql(tx.execute("UPDATE absence_requests SET report = NULL WHERE report = ?1", [o]))?;
                    for table in ["meeting_documents", "meeting_attendance", "meeting_evaluations"] {
                        sql(tx.execute(&format!("DELETE FROM {table} WHERE id = ?1"), [o]))?;
                    }
                }
                Ok(())
            }
            ("absence.requested", "meeting") => {
                let note = e.data.get("sealed").map(Value::to_string).ok_or("an absence request without its sealed reason")?;
                sql(tx.execute(
                    "INSERT INTO absence_requests (id, meeting, member, sealed, requested_at, requested_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![s("absence"), id, s("member"), note, e.ts, e.actor],
                ))
            }
            ("absence.decided", "meeting") => {
                let approved = e.data.get("approved").and_then(Value::as_bool).ok_or("an absence decision without its outcome")?;
                let late = e.data.get("late").and_then(Value::as_bool).unwrap_or(false);
                sql(tx.execute(
                    "UPDATE absence_requests SET approved = ?2, late = ?3, decided_at = ?4, decided_by = ?5 WHERE id = ?1",
                    params![s("absence"), approved as i64, late as i64, e.ts, e.actor],
                ))
            }
            ("record.link.revoked", "meeting") => sql(tx.execute(
                "INSERT INTO meeting_links (meeting, generation) VALUES (?1, 1) ON CONFLICT (meeting) DO UPDATE SET generation = generation + 1",
                params![id],
            )),
            ("recording.started", "recording") if !id.contains('/') => {
                sql(tx.execute("UPDATE meetings SET recording = ?2 WHERE id = ?1", params![s("meeting"), id]))
            }
            ("recording.sealed", "recording") => sql(tx.execute(
                "INSERT OR IGNORE INTO jobs (kind, recording, state, not_before, created_at) VALUES ('transcribe', ?1, 'queued', ?2, ?2)",
                params![id, e.ts],
            )),
            ("transcript.stored", "recording") => {
                sql(tx.execute("UPDATE jobs SET state = 'done', finished_at = ?2 WHERE kind = 'transcribe' AND recording = ?1", params![id, e.ts]))
            }
            ("stream.opened", "recording") if s("kind").as_deref() == Some("live") => {
                let (rec, stream) = id.split_once('/').ok_or("subject names no stream")?;
                sql(tx.execute(
                    "INSERT INTO live_streams (stream, endpoint, recording, started_at) VALUES (?1, ?2, ?3, ?4)",
                    params![stream, s("endpoint"), rec, e.ts],
                ))
            }
            ("stream.closed", "recording") => {
                let stream = id.split_once('/').map(|(_, s)| s).unwrap_or_default();
                sql(tx.execute("UPDATE live_streams SET end_state = ?2, sha256 = ?3 WHERE stream = ?1", params![stream, s("state"), s("sha256")]))
            }
            ("member.added", "member") => {
                // The entry's sealed note is the member's (bound to member/<id>):
                // the catalog keeps the same note, still sealed.
                let note = e.data.get("sealed").ok_or("member.added carries no sealed facts")?.to_string();
                sql(tx.execute("INSERT INTO members (id, sealed, created_at) VALUES (?1, ?2, ?3)", params![id, note, e.ts]))?;
                let exempt = e.data.get("exempt").and_then(Value::as_bool).unwrap_or(false);
                sql(tx.execute(
                    "INSERT INTO memberships (member, org, role, joined, exempt, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![id, s("org"), s("role"), s("joined"), exempt, e.ts],
                ))
            }
            ("members.imported", "org") => self.members_imported(tx, e, id, sealed.as_ref()),
            ("member.left", "member") => {
                let open: Option<(String, String, bool)> = tx
                    .query_row(
                        "SELECT org, role, exempt FROM memberships WHERE member = ?1 AND left_on IS NULL",
                        [id],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                    )
                    .optional()
                    .map_err(|err| err.to_string())?;
                let (_, role, exempt) = open.ok_or_else(|| format!("member {id} left no cell"))?;
                sql(tx.execute("UPDATE memberships SET left_on = ?2 WHERE member = ?1 AND left_on IS NULL", params![id, s("left")]))?;
                match s("to") {
                    Some(to) => sql(tx.execute(
                        "INSERT INTO memberships (member, org, role, joined, exempt, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                        params![id, to, s("role").unwrap_or(role), s("left"), exempt, e.ts],
                    )),
                    None => Ok(()),
                }
            }
            ("user.created", "user") => self.user(tx, e, id, sealed.as_ref()),
            ("user.changed", "user") => self.user_changed(tx, e, id, sealed.as_ref()),
            ("token.created", "user") => self.token(tx, e, id, sealed.as_ref()),
            ("token.revoked", "token") => sql(tx.execute("UPDATE tokens SET revoked_at = ?2 WHERE id = ?1", params![id, e.ts])),
            ("endpoint.created", "endpoint") => {
                let key = match secret("key_sha256").and_then(|h| hex::decode(h).ok()) {
                    Some(k) => k,
                    None => {
                        // No hash in the ledger: a key nobody holds, until an admin issues a new one.
                        self.gaps.note("endpoints without their stream key in the ledger (issue new keys)");
                        let mut k = vec![0u8; 32];
                        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut k).map_err(|_| "random generator failed")?;
                        k
                    }
                };
                sql(tx.execute(
                    "INSERT INTO endpoints (id, org, name, key_sha256, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![id, s("org"), s("name"), key, e.ts],
                ))
            }
            ("worker.enrolled", "worker") => sql(tx.execute(
                "INSERT INTO workers (name, recipient, enrolled_at, enrolled_by) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (name) DO UPDATE SET recipient = excluded.recipient, enrolled_at = excluded.enrolled_at,
                     enrolled_by = excluded.enrolled_by, removed_at = NULL",
                params![id, s("recipient"), e.ts, e.actor],
            )),
            ("worker.removed", "worker") => sql(tx.execute("UPDATE workers SET removed_at = ?2 WHERE name = ?1", params![id, e.ts])),
            ("endpoint.revoked", "endpoint") => sql(tx.execute("UPDATE endpoints SET revoked_at = ?2 WHERE id = ?1", params![id, e.ts])),
            ("retention.policy.set", "policy") => {
                let needs = e.data.get("needs_approval").and_then(Value::as_bool).unwrap_or(false);
                sql(tx.execute(
                    "INSERT INTO retention_policies (id, org, kind, keep_days, applies_from, needs_approval, requested_by, requested_at, class) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    params![id, s("org").or_else(|| path_org(s("org_path"))), s("kind"), e.data.get("keep_days").and_then(Value::as_u64), s("applies_from").unwrap_or_else(|| e.ts.clone()), needs, e.actor, e.ts, s("class").unwrap_or_else(|| "media".into())],
                ))
            }
            ("retention.policy.approved", "policy") => {
                sql(tx.execute("UPDATE retention_policies SET approved_by = ?2, approved_at = ?3 WHERE id = ?1", params![id, e.actor, e.ts]))
            }
            ("hold.placed", "hold") => sql(tx.execute(
                "INSERT INTO holds (id, org, from_ts, to_ts, reason, case_ref, placed_by, placed_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![id, path_org(s("org_path")), s("from"), s("to"), s("reason"), s("case_ref"), e.actor, e.ts],
            )),
            ("hold.released", "hold") => sql(tx.execute(
                "UPDATE holds SET released_by = ?2, released_at = ?3, release_reason = ?4 WHERE id = ?1",
                params![id, e.actor, e.ts, s("reason")],
            )),
            ("schedule.created", "schedule") => {
                let title = secret("title").unwrap_or_else(|| {
                    self.gaps.note("schedules without their title in the ledger");
                    s("kind").unwrap_or_default()
                });
                sql(tx.execute(
                    "INSERT INTO schedules (id, org, kind, title, day_of_month, time_local, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![id, s("org"), s("kind"), title, e.data.get("day").and_then(Value::as_u64), s("time"), e.ts],
                ))
            }
            // The webhook's delivery is not in the ledger; an alert is taken as
            // delivered rather than sent again for an old miss.
            ("meeting.missed", "meeting") => sql(tx.execute(
                "INSERT OR IGNORE INTO alerts (meeting, kind, raised_at, delivered_at) VALUES (?1, 'missed', ?2, ?2)",
                params![id, e.ts],
            )),
            _ => Ok(()),
        }
    }

    fn user(&mut self, tx: &Transaction<'_>, e: &Entry, id: &str, sealed: Option<&Value>) -> Result<(), String> {
        let name = sealed.and_then(|v| v.get("name")).and_then(Value::as_str).map(String::from).unwrap_or_else(|| {
            self.gaps.note("users without their name in the ledger (named by id)");
            format!("user-{id}")
        });
        if sealed.is_none() {
            self.gaps.note("users whose password the ledger does not hold (set one with `niem user reset-password`)");
        }
        let hash = sealed.and_then(|v| v.get("password_hash")).and_then(Value::as_str);
        let role = e.data.get("role").and_then(Value::as_str);
        tx.execute(
            "INSERT INTO users (id, name, role, created_at, password_hash) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![id, name, role, e.ts, hash],
        )
        .map_err(|err| err.to_string())?;
        set_scopes(tx, id, e.data.get("scopes"))
    }

    fn user_changed(
        &mut self,
        tx: &Transaction<'_>,
        e: &Entry,
        id: &str,
        sealed: Option<&Value>,
    ) -> Result<(), String> {
        let sql = |r: rusqlite::Result<usize>| r.map(|_| ()).map_err(|err| err.to_string());
        if let Some(d) = e.data.get("disabled").and_then(Value::as_bool) {
            sql(tx.execute("UPDATE users SET disabled = ?2 WHERE id = ?1", params![id, d]))?;
        }
        if let Some(role) = e.data.get("role").and_then(Value::as_str) {
            sql(tx.execute("UPDATE users SET role = ?2 WHERE id = ?1", params![id, role]))?;
        }
        if e.data.get("scopes").is_some_and(|v| !v.is_null()) {
            sql(tx.execute("DELETE FROM user_scopes WHERE user_id = ?1", [id]))?;
            set_scopes(tx, id, e.data.get("scopes"))?;
        }
        if e.data.get("password_reset").and_then(Value::as_bool) == Some(true) {
            let hash = sealed.and_then(|v| v.get("password_hash")).and_then(Value::as_str);
            if hash.is_none() {
                self.gaps.note("password changes not in the ledger (those users need a new password)");
            }
            sql(tx.execute("UPDATE users SET password_hash = ?2 WHERE id = ?1", params![id, hash]))?;
        }
        Ok(())
    }

    /// A cell's CSV import: one entry, its names sealed together for the org;
    /// each member's are sealed again for the catalog, bound to the member.
    fn members_imported(
        &mut self,
        tx: &Transaction<'_>,
        e: &Entry,
        org: &str,
        sealed: Option<&Value>,
    ) -> Result<(), String> {
        let facts = sealed
            .and_then(|v| v.get("members"))
            .and_then(Value::as_array)
            .ok_or("members.imported carries no sealed facts")?;
        let listed = e.data.get("members").and_then(Value::as_array).ok_or("members.imported lists no members")?;
        for m in listed {
            let id = m.get("id").and_then(Value::as_str).ok_or("an imported member without an id")?;
            let f = facts
                .iter()
                .find(|f| f.get("id").and_then(Value::as_str) == Some(id))
                .ok_or_else(|| format!("member {id}: no sealed facts"))?;
            let plain = serde_json::json!({ "name": f.get("name"), "number": f.get("number") });
            let note = self
                .keys
                .seal_note(&format!("member/{id}"), plain.to_string().as_bytes())
                .map_err(|err| err.to_string())?;
            let note = serde_json::to_string(&note).map_err(|err| err.to_string())?;
            tx.execute("INSERT INTO members (id, sealed, created_at) VALUES (?1, ?2, ?3)", params![id, note, e.ts])
                .map_err(|err| err.to_string())?;
            let exempt = m.get("exempt").and_then(Value::as_bool).unwrap_or(false);
            tx.execute(
                "INSERT INTO memberships (member, org, role, joined, exempt, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![id, org, m.get("role").and_then(Value::as_str), m.get("joined").and_then(Value::as_str), exempt, e.ts],
            )
            .map_err(|err| err.to_string())?;
        }
        Ok(())
    }

    /// A token, and its user if the command line created both at once.
    fn token(&mut self, tx: &Transaction<'_>, e: &Entry, user: &str, sealed: Option<&Value>) -> Result<(), String> {
        let get = |name: &str| sealed.and_then(|v| v.get(name)).and_then(Value::as_str);
        let known: Option<String> = tx
            .query_row("SELECT id FROM users WHERE id = ?1", [user], |r| r.get(0))
            .optional()
            .map_err(|err| err.to_string())?;
        if let (None, Some(role)) = (known, e.data.get("role").and_then(Value::as_str)) {
            let name = get("name").map(String::from).unwrap_or_else(|| {
                self.gaps.note("users without their name in the ledger (named by id)");
                format!("user-{user}")
            });
            tx.execute(
                "INSERT INTO users (id, name, role, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![user, name, role, e.ts],
            )
            .map_err(|err| err.to_string())?;
        }
        let (Some(token), Some(hash)) = (get("token"), get("secret_sha256").and_then(|h| hex::decode(h).ok())) else {
            self.gaps.note("API tokens not in the ledger (issue new tokens)");
            return Ok(());
        };
        tx.execute(
            "INSERT INTO tokens (id, user_id, secret_sha256, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![token, user, hash, e.ts],
        )
        .map(|_| ())
        .map_err(|err| err.to_string())
    }
}

fn set_scopes(tx: &Transaction<'_>, user: &str, scopes: Option<&Value>) -> Result<(), String> {
    for org in scopes.and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
        tx.execute("INSERT INTO user_scopes (user_id, org) VALUES (?1, ?2)", params![user, org])
            .map_err(|err| err.to_string())?;
    }
    Ok(())
}

/// The org a path like `/bloc/base/cell` ends in; none for every org.
fn path_org(path: Option<String>) -> Option<String> {
    path.and_then(|p| p.rsplit('/').find(|s| !s.is_empty()).map(String::from))
}

/// Options of `niem restore`.
#[derive(Debug, clap::Args)]
pub struct RestoreArgs {
    /// The store to restore from: a directory, or `s3://bucket/prefix` (endpoint
    /// and credentials from the config's `[store.s3]`). Default: the configured store.
    #[arg(long)]
    pub store: Option<String>,
    /// The key directory (KEKs and the signing key). Default: the configured one.
    #[arg(long)]
    pub keys: Option<PathBuf>,
    /// Restore from a store that fails verification, leaving out what is damaged.
    #[arg(long)]
    pub accept_damage: bool,
}

/// Runs a restore into the configured data dir, which must hold no catalog.
pub async fn run(cfg: &Config, args: RestoreArgs) -> anyhow::Result<()> {
    let keys_dir = args.keys.clone().unwrap_or_else(|| cfg.keys_dir());
    let keys = archive::keys::KeyDir::new(&keys_dir)
        .load()
        .with_context(|| format!("cannot load keys from {}", keys_dir.display()))?;
    let location = args.store.clone().unwrap_or_else(|| cfg.store_location());
    let s3 = location.starts_with("s3://").then(|| cfg.store.s3.clone());
    let store = archive::store::open(&location, s3).await.with_context(|| format!("cannot open store {location}"))?;
    let _lock = crate::app::ServeLock::acquire(cfg)?;
    // The replay is SQLite's: a node whose catalog is in PostgreSQL restores
    // into a SQLite file in its data dir, then copies that into PostgreSQL.
    let target = cfg.catalog.url.clone();
    if let Some(url) = &target {
        let url = url.clone();
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            Ok(crate::catalog::postgres::copy::require_empty(&mut connect(&url)?)?)
        })
        .await??;
    }
    let mut lite = cfg.clone();
    lite.catalog.url = None;
    let cfg = &lite;
    let catalog = crate::app::open_catalog(cfg)?;
    eprintln!("verifying {location} with the public key {} ...", keys.signer.verifier());
    let mut replay = Replay { keys: &keys, gaps: Gaps::default() };
    let opts = archive::restore::Options { accept_damage: args.accept_damage, parallelism: 8 };
    let result = archive::restore::restore(&store, &keys, &catalog, opts, &mut |tx, e| replay.apply(tx, e)).await;
    let restored = match result {
        Err(archive::restore::RestoreError::Damaged(report)) => {
            drop(catalog);
            remove_catalog(cfg);
            for line in report.damage() {
                println!("DAMAGED {line}");
            }
            anyhow::bail!("the store failed verification; nothing was restored. Rerun with --accept-damage to restore everything else");
        }
        Err(e) => {
            drop(catalog);
            if !matches!(e, archive::restore::RestoreError::NotEmpty(_)) {
                remove_catalog(cfg);
            }
            return Err(e.into());
        }
        Ok(r) => r,
    };
    print_summary(&restored, &replay.gaps, &keys_dir, cfg);
    if let Some(url) = target {
        let copied = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            let mut client = connect(&url)?;
            catalog.with(|c| crate::catalog::postgres::copy::copy(c, &mut client))?;
            Ok(catalog.with(|c| crate::catalog::postgres::copy::check(c, &mut client))?)
        })
        .await??;
        // The SQLite copy held the catalog only on its way into PostgreSQL.
        remove_catalog(cfg);
        let rows: u64 = copied.iter().map(|t| t.rows).sum();
        println!(
            "moved into the PostgreSQL catalog: {} tables, {rows} rows, each checked against the restore",
            copied.len()
        );
    }
    Ok(())
}

fn connect(url: &str) -> anyhow::Result<postgres::Client> {
    postgres::Client::connect(url, postgres::NoTls).context("cannot connect to the PostgreSQL catalog (catalog.url)")
}

/// A refused or failed restore leaves no half-made catalog behind.
fn remove_catalog(cfg: &Config) {
    let path = cfg.catalog_path();
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.clone().into_os_string();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
}

fn print_summary(r: &archive::restore::Restored, gaps: &Gaps, keys_dir: &std::path::Path, cfg: &Config) {
    println!(
        "restored {} ledger entries ({} signed checkpoints, newest at {}): {} recordings, {} streams, {} chunks, {} transcripts",
        r.entries,
        r.report.checkpoints,
        r.report.newest_checkpoint_time.as_deref().unwrap_or("none"),
        r.recordings,
        r.streams,
        r.chunks,
        r.transcripts
    );
    if r.lost.is_empty() {
        println!("verification: intact; nothing lost");
    } else {
        println!("verification: DAMAGED; restored everything else. Lost ({}):", r.lost.len());
        for line in &r.lost {
            println!("LOST {line}");
        }
    }
    for (what, n) in &gaps.counts {
        println!("note: {n} {what}");
    }
    println!("not restored: web sessions (sign in again); uploads in progress (send them again)");
    if keys_dir != cfg.keys_dir() {
        println!("start the service with keys.dir = {:?} (NIEM_KEYS__DIR)", keys_dir.display());
    }
    println!("next: `niem serve` resumes the ledger from the store and builds the search index");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_org_takes_the_deepest_org() {
        assert_eq!(path_org(Some("/b/base/cell".into())).as_deref(), Some("cell"));
        assert_eq!(path_org(Some("".into())), None);
        assert_eq!(path_org(None), None);
    }
}
