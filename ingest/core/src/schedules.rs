//! Schedules and missed-meeting alerts (the compliance report is `crate::reports`).
//!
//! A schedule says "this cell meets monthly on day D at HH:MM (local)"; planning
//! creates the expected meetings of this month and the next, ledgered like any
//! meeting. A meeting with no recording `alerts.grace_minutes` after its start is
//! *missed*: one `meeting.missed` ledger entry and one alert row (unique per
//! meeting, so a restart never raises it twice), shown on the live page and
//! POSTed to `alerts.webhook_url` signed with HMAC-SHA256 (`X-Niem-Signature:
//! sha256=<hex>`), retried until delivered. Only meetings of the last 7 days are
//! judged, so a first start on an old catalog does not flood anyone.

use crate::config::AlertsConfig;
use crate::error::DomainError;
use crate::local_time::OFFSET;
use crate::principal::{Principal, Role};
use crate::schema::{MeetingId, OrgId};
use crate::App;
use archive::clock::format_ts;
use archive::ledger::NewEntry;
use archive::vault::{Vault, VaultError};
use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::Arc;
use time::OffsetDateTime;

archive::define_id!(
    /// A regular meeting schedule of one org.
    ScheduleId,
    "schedule"
);

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSchedule {
    pub kind: String,
    pub title: String,
    /// Day of the month, 1–28 (every month has it).
    pub day: u8,
    /// Local time, HH:MM.
    pub time: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Schedule {
    pub id: String,
    pub org: String,
    pub kind: String,
    pub title: String,
    pub day: u8,
    pub time: String,
}

/// Adds a schedule for `org` (admins) and plans its meetings at once.
pub async fn add(app: &App, who: &Principal, org: OrgId, s: NewSchedule) -> Result<Schedule, DomainError> {
    who.require(&[Role::Admin])?;
    let sched = add_schedule(&app.vault, &who.actor(), org, s).await?;
    plan(&app.vault, app.vault.clock.now()).await?;
    Ok(sched)
}

/// The schedules in the caller's scope.
pub async fn list(app: &App, who: &Principal) -> Result<Vec<Schedule>, DomainError> {
    who.require(&[Role::Admin, Role::Inspector, Role::Auditor])?;
    let scope = who.scope_json();
    app.vault
        .catalog
        .call(move |c| {
            let sql = format!(
                "SELECT s.id, s.org, s.kind, s.title, s.day_of_month, s.time_local
                 FROM schedules s JOIN orgs o ON o.id = s.org WHERE {} ORDER BY o.path",
                crate::principal::in_scope_sql("o.path", 1)
            );
            let mut stmt = c.prepare(&sql)?;
            let rows = stmt.query_map([scope], |r| {
                let (id, org, kind, title) = (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
                Ok(Schedule { id, org, kind, title, day: r.get(4)?, time: r.get(5)? })
            })?;
            rows.collect::<Result<Vec<_>, _>>().map_err(DomainError::from)
        })
        .await
}

/// Recent alerts (default: the last 24 hours) in the caller's scope.
pub async fn visible_alerts(app: &App, who: &Principal, since: Option<String>) -> Result<Vec<Alert>, DomainError> {
    who.require(&[Role::Admin, Role::Inspector, Role::Auditor])?;
    let since = since.unwrap_or_else(|| format_ts(app.vault.clock.now() - time::Duration::hours(24)));
    let scope = who.scope_json();
    app.vault.catalog.call(move |c| recent(c, &since, scope)).await
}

async fn add_schedule(vault: &Vault, actor: &str, org: OrgId, s: NewSchedule) -> Result<Schedule, DomainError> {
    if !(1..=28).contains(&s.day) {
        return Err(DomainError::invalid("day must be 1 to 28, so that every month has it"));
    }
    let format = time::macros::format_description!("[hour]:[minute]");
    time::Time::parse(&s.time, format).map_err(|_| DomainError::invalid("time must be HH:MM (local)"))?;
    if !matches!(s.kind.as_str(), "regular" | "thematic" | "conference") || s.title.trim().is_empty() {
        return Err(DomainError::invalid("kind must be regular, thematic or conference, and a title is needed"));
    }
    let id = ScheduleId::new();
    let sched = Schedule {
        id: id.to_string(),
        org: org.to_string(),
        kind: s.kind,
        title: s.title.trim().to_string(),
        day: s.day,
        time: s.time,
    };
    let (subject, mut data) = (
        format!("schedule/{id}"),
        json!({ "org": sched.org, "day": sched.day, "time": sched.time, "kind": sched.kind }),
    );
    crate::facts::seal_into(&vault.keys, &subject, &mut data, json!({ "title": sched.title }))?;
    let entry = NewEntry { actor: actor.into(), action: "schedule.created", subject, data };
    let (row, now) = (sched.clone(), vault.now());
    vault
        .commit(entry, move |tx| {
            let known: Option<String> = tx.query_row("SELECT id FROM orgs WHERE id = ?1", [&row.org], |r| r.get(0)).optional()?;
            if known.is_none() {
                return Err(VaultError::Missing(format!("org {} not found", row.org)));
            }
            tx.execute(
                "INSERT INTO schedules (id, org, kind, title, day_of_month, time_local, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![row.id, row.org, row.kind, row.title, row.day, row.time, now],
            )?;
            Ok(())
        })
        .await?;
    Ok(sched)
}

/// The occurrence of a schedule in the month of `month` (any day of it), UTC.
fn occurrence(month: time::Date, day: u8, hhmm: &str) -> Option<OffsetDateTime> {
    let format = time::macros::format_description!("[hour]:[minute]");
    let t = time::Time::parse(hhmm, format).ok()?;
    let d = time::Date::from_calendar_date(month.year(), month.month(), day).ok()?;
    Some(d.with_time(t).assume_offset(OFFSET).to_offset(time::UtcOffset::UTC))
}

/// Creates the expected meetings of this month and the next; returns how many.
pub async fn plan(vault: &Vault, now: OffsetDateTime) -> Result<usize, DomainError> {
    let schedules: Vec<Schedule> = vault
        .catalog
        .call(|c| {
            let mut stmt = c.prepare("SELECT id, org, kind, title, day_of_month, time_local FROM schedules")?;
            let rows = stmt.query_map([], |r| {
                Ok(Schedule {
                    id: r.get(0)?,
                    org: r.get(1)?,
                    kind: r.get(2)?,
                    title: r.get(3)?,
                    day: r.get(4)?,
                    time: r.get(5)?,
                })
            })?;
            rows.collect::<Result<Vec<_>, _>>().map_err(DomainError::from)
        })
        .await?;
    let local = now.to_offset(OFFSET).date();
    let next = local.replace_day(1).ok().and_then(|d| d.checked_add(time::Duration::days(32))).unwrap_or(local);
    let mut created = 0;
    for s in &schedules {
        for month in [local, next] {
            let Some(at) = occurrence(month, s.day, &s.time) else { continue };
            if create_expected(vault, s, format_ts(at)).await? {
                created += 1;
            }
        }
    }
    Ok(created)
}

/// The schedule's meeting at `at`, unless it exists.
async fn create_expected(vault: &Vault, s: &Schedule, at: String) -> Result<bool, DomainError> {
    let (id, at2) = (s.id.clone(), at.clone());
    let exists: Option<String> = vault
        .catalog
        .call(move |c| {
            c.query_row("SELECT id FROM meetings WHERE schedule = ?1 AND scheduled_at = ?2", params![id, at2], |r| {
                r.get(0)
            })
            .optional()
            .map_err(DomainError::from)
        })
        .await?;
    if exists.is_some() {
        return Ok(false);
    }
    let meeting = MeetingId::new();
    let (subject, mut data) =
        (format!("meeting/{meeting}"), json!({ "org": s.org, "kind": s.kind, "scheduled_at": at, "schedule": s.id }));
    crate::facts::seal_into(&vault.keys, &subject, &mut data, json!({ "title": s.title }))?;
    let entry = NewEntry { actor: archive::ledger::actor_system(), action: "meeting.created", subject, data };
    let (s, now) = (s.clone(), vault.now());
    vault
        .commit(entry, move |tx| {
            tx.execute(
                "INSERT INTO meetings (id, org, kind, title, scheduled_at, created_at, schedule) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![meeting.to_string(), s.org, s.kind, s.title, at, now, s.id],
            )?;
            Ok(())
        })
        .await?;
    Ok(true)
}

/// Meetings missed by `now`: no recording `grace` after their start, within the
/// last 7 days, not yet alerted.
pub fn missed(
    c: &rusqlite::Connection,
    now: OffsetDateTime,
    grace: time::Duration,
) -> Result<Vec<(String, String, String)>, DomainError> {
    let (until, since) = (format_ts(now - grace), format_ts(now - time::Duration::days(7)));
    let mut stmt = c.prepare(
        "SELECT m.id, m.org, m.scheduled_at FROM meetings m
         WHERE m.recording IS NULL AND m.scheduled_at <= ?1 AND m.scheduled_at >= ?2
           AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.meeting = m.id) ORDER BY m.scheduled_at",
    )?;
    let rows = stmt.query_map(params![until, since], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Raises an alert for each meeting missed by the vault's clock.
pub async fn raise(vault: &Vault, cfg: &AlertsConfig) -> Result<usize, DomainError> {
    let now = vault.clock.now();
    let grace = time::Duration::minutes(cfg.grace_minutes as i64);
    let due = vault.catalog.call(move |c| missed(c, now, grace)).await?;
    for (meeting, org, at) in &due {
        let entry = NewEntry {
            actor: archive::ledger::actor_system(),
            action: "meeting.missed",
            subject: format!("meeting/{meeting}"),
            data: json!({ "org": org, "scheduled_at": at, "grace_minutes": cfg.grace_minutes }),
        };
        let (m, raised) = (meeting.clone(), vault.now());
        vault
            .commit(entry, move |tx| {
                tx.execute(
                    "INSERT INTO alerts (meeting, kind, raised_at) VALUES (?1, 'missed', ?2)",
                    params![m, raised],
                )?;
                Ok(())
            })
            .await?;
        tracing::warn!(meeting = %meeting, org = %org, scheduled_at = %at, "a scheduled meeting has no recording");
    }
    Ok(due.len())
}

#[derive(Debug, Clone, Serialize)]
pub struct Alert {
    pub meeting: String,
    pub kind: String,
    pub org: String,
    pub org_name: String,
    pub org_path: String,
    pub title: String,
    pub scheduled_at: String,
    pub raised_at: String,
    pub delivered_at: Option<String>,
}

/// Alerts raised since `since` within `scope` ([`crate::principal::Principal::scope_json`];
/// `None` for every org).
pub fn recent(c: &rusqlite::Connection, since: &str, scope: Option<String>) -> Result<Vec<Alert>, DomainError> {
    let sql = format!(
        "SELECT a.meeting, a.kind, m.org, o.name, o.path, m.title, m.scheduled_at, a.raised_at, a.delivered_at
         FROM alerts a JOIN meetings m ON m.id = a.meeting JOIN orgs o ON o.id = m.org
         WHERE a.raised_at >= ?1 AND {} ORDER BY a.raised_at DESC",
        crate::principal::in_scope_sql("o.path", 2)
    );
    let mut stmt = c.prepare(&sql)?;
    let rows = stmt.query_map(params![since, scope], |r| {
        Ok(Alert {
            meeting: r.get(0)?,
            kind: r.get(1)?,
            org: r.get(2)?,
            org_name: r.get(3)?,
            org_path: r.get(4)?,
            title: r.get(5)?,
            scheduled_at: r.get(6)?,
            raised_at: r.get(7)?,
            delivered_at: r.get(8)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// `sha256=<hex>` of `body` under `secret`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    format!("sha256={}", hex::encode(ring::hmac::sign(&key, body).as_ref()))
}

/// POSTs undelivered alerts to the webhook; a failure is retried next round.
pub async fn deliver(vault: &Vault, cfg: &AlertsConfig, http: &reqwest::Client) -> Result<usize, DomainError> {
    let Some(url) = cfg.webhook_url.clone() else { return Ok(0) };
    let pending: Vec<Alert> =
        vault.catalog.call(|c| recent(c, "", None)).await?.into_iter().filter(|a| a.delivered_at.is_none()).collect();
    let mut delivered = 0;
    for alert in pending {
        let body =
            serde_json::to_vec(&json!({ "event": "meeting.missed", "alert": alert })).map_err(DomainError::internal)?;
        let mut req = http.post(&url).header("content-type", "application/json").body(body.clone());
        if let Some(secret) = &cfg.webhook_secret {
            req = req.header("x-niem-signature", signature(secret, &body));
        }
        let outcome = match req.send().await {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => Err(format!("the webhook answered {}", r.status())),
            Err(e) => Err(format!("the webhook is unreachable: {e}")),
        };
        let (m, now) = (alert.meeting.clone(), vault.now());
        let ok = outcome.is_ok();
        let error = outcome.err();
        if let Some(e) = &error {
            tracing::warn!(meeting = %m, error = %e, "alert not delivered; retrying");
        }
        vault
            .catalog
            .call(move |c| {
                c.execute(
                    "UPDATE alerts SET attempts = attempts + 1, last_error = ?2, delivered_at = CASE WHEN ?3 THEN ?4 END WHERE meeting = ?1",
                    params![m, error, ok, now],
                )
                .map_err(DomainError::from)
            })
            .await?;
        delivered += usize::from(ok);
    }
    Ok(delivered)
}

/// Plans schedules, raises and delivers alerts, every `alerts.check_every_secs`.
pub async fn run(app: Arc<App>) {
    let cfg = app.config.alerts.clone();
    let http = reqwest::Client::builder().timeout(std::time::Duration::from_secs(10)).build().unwrap_or_default();
    loop {
        let now = app.vault.clock.now();
        if let Err(e) = plan(&app.vault, now).await {
            tracing::warn!(error = %e, "planning scheduled meetings failed");
        }
        if let Err(e) = raise(&app.vault, &cfg).await {
            tracing::warn!(error = %e, "looking for missed meetings failed");
        }
        if let Err(e) = deliver(&app.vault, &cfg, &http).await {
            tracing::warn!(error = %e, "delivering alerts failed");
        }
        tokio::time::sleep(std::time::Duration::from_secs(cfg.check_every_secs.max(1))).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use archive::clock::parse_ts;

    fn catalog() -> rusqlite::Connection {
        let c = rusqlite::Connection::open_in_memory().unwrap();
        c.execute_batch(
            "CREATE TABLE meetings (id TEXT, org TEXT, scheduled_at TEXT, recording TEXT);
             CREATE TABLE alerts (meeting TEXT);
             INSERT INTO meetings VALUES ('m1', 'o', '2026-03-05T01:00:00.000Z', NULL);",
        )
        .unwrap();
        c
    }

    #[test]
    fn a_meeting_is_missed_at_start_plus_grace_and_not_before() {
        let c = catalog();
        let start = parse_ts("2026-03-05T01:00:00.000Z").unwrap();
        let grace = time::Duration::minutes(15);
        assert!(missed(&c, start + time::Duration::minutes(14) + time::Duration::seconds(59), grace)
            .unwrap()
            .is_empty());
        assert_eq!(missed(&c, start + grace, grace).unwrap().len(), 1);
        c.execute("INSERT INTO alerts VALUES ('m1')", []).unwrap();
        assert!(missed(&c, start + grace, grace).unwrap().is_empty(), "raised once");
        c.execute("DELETE FROM alerts", []).unwrap();
        c.execute("UPDATE meetings SET recording = 'r'", []).unwrap();
        assert!(missed(&c, start + grace, grace).unwrap().is_empty(), "a recording means held");
        c.execute("UPDATE meetings SET recording = NULL", []).unwrap();
        assert!(
            missed(&c, start + time::Duration::days(8), grace).unwrap().is_empty(),
            "older than a week is not judged"
        );
    }

    #[test]
    fn occurrences_are_local_times_on_the_day() {
        let at = occurrence(time::macros::date!(2026 - 03 - 17), 5, "08:00").unwrap();
        assert_eq!(format_ts(at), "2026-03-05T01:00:00.000Z");
        assert!(occurrence(time::macros::date!(2026 - 03 - 17), 5, "8h").is_none());
    }

    #[test]
    fn webhook_signatures_are_hmac_sha256() {
        // RFC 4231 test case 2.
        let sig = signature("Jefe", b"what do ya want for nothing?");
        assert_eq!(sig, "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }
}
