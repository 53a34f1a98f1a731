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

use crate::catalog::{self, Repo, Scope};
use crate::config::AlertsConfig;
use crate::error::DomainError;
use crate::local_time::OFFSET;
use crate::principal::{Principal, Role};
use crate::schema::{MeetingId, OrgId};
use crate::App;
use archive::clock::format_ts;
use archive::ledger::NewEntry;
use archive::vault::{Vault, VaultError};
use serde::Deserialize;
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

pub use crate::catalog::{Alert, Schedule};

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
    let scope = Scope::of(who);
    catalog::read(&app.vault.catalog, move |repo| repo.schedules(&scope).map_err(DomainError::from)).await
}

/// Recent alerts (default: the last 24 hours) in the caller's scope.
pub async fn visible_alerts(app: &App, who: &Principal, since: Option<String>) -> Result<Vec<Alert>, DomainError> {
    who.require(&[Role::Admin, Role::Inspector, Role::Auditor])?;
    let since = since.unwrap_or_else(|| format_ts(app.vault.clock.now() - time::Duration::hours(24)));
    let scope = Scope::of(who);
    catalog::read(&app.vault.catalog, move |repo| recent(repo, &since, &scope)).await
}

async fn add_schedule(vault: &Vault, actor: &str, org: OrgId, s: NewSchedule) -> Result<Schedule, DomainError> {
    if !(1..=28).contains(&s.day) {
        return Err(DomainError::invalid("day must be 1 to 28, so that every month has it"));
    }
    let format = time::macros::format_description!("[hour]:[minute]");
    time::Time::parse(&s.time, format).map_err(|_| DomainError::invalid("time must be HH:MM (local)"))?;
    // A committee schedule is what lets the report say "the committee met before the cell".
    if crate::orgs::check_meeting_kind(&s.kind).is_err() || s.title.trim().is_empty() {
        return Err(DomainError::invalid(
            "kind must be regular, thematic, conference or committee, and a title is needed",
        ));
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
    catalog::commit(vault, entry, move |repo| {
        if !repo.org_exists(&row.org)? {
            return Err(VaultError::Missing(format!("org {} not found", row.org)));
        }
        Ok(repo.insert_schedule(&row, &now)?)
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
    let schedules = catalog::read(&vault.catalog, |repo| repo.all_schedules().map_err(DomainError::from)).await?;
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
    let exists =
        catalog::read(&vault.catalog, move |repo| repo.scheduled_meeting_exists(&id, &at2).map_err(DomainError::from))
            .await?;
    if exists {
        return Ok(false);
    }
    let meeting = MeetingId::new();
    let (subject, mut data) =
        (format!("meeting/{meeting}"), json!({ "org": s.org, "kind": s.kind, "scheduled_at": at, "schedule": s.id }));
    crate::facts::seal_into(&vault.keys, &subject, &mut data, json!({ "title": s.title }))?;
    let entry = NewEntry { actor: archive::ledger::actor_system(), action: "meeting.created", subject, data };
    let (s, now) = (s.clone(), vault.now());
    catalog::commit(vault, entry, move |repo| {
        Ok::<_, VaultError>(repo.insert_scheduled_meeting(meeting, &s, &at, &now)?)
    })
    .await?;
    Ok(true)
}

/// Meetings missed by `now`: no recording `grace` after their start, within the
/// last 7 days, not yet alerted.
pub fn missed(
    repo: &dyn Repo,
    now: OffsetDateTime,
    grace: time::Duration,
) -> Result<Vec<(String, String, String)>, DomainError> {
    let (until, since) = (format_ts(now - grace), format_ts(now - time::Duration::days(7)));
    Ok(repo.unrecorded_meetings(&since, &until)?)
}

/// Raises an alert for each meeting missed by the vault's clock.
pub async fn raise(vault: &Vault, cfg: &AlertsConfig) -> Result<usize, DomainError> {
    let now = vault.clock.now();
    let grace = time::Duration::minutes(cfg.grace_minutes as i64);
    let due = catalog::read(&vault.catalog, move |repo| missed(repo, now, grace)).await?;
    for (meeting, org, at) in &due {
        let entry = NewEntry {
            actor: archive::ledger::actor_system(),
            action: "meeting.missed",
            subject: format!("meeting/{meeting}"),
            data: json!({ "org": org, "scheduled_at": at, "grace_minutes": cfg.grace_minutes }),
        };
        let (m, raised) = (meeting.clone(), vault.now());
        catalog::commit(vault, entry, move |repo| Ok::<_, VaultError>(repo.insert_alert(&m, &raised)?)).await?;
        tracing::warn!(meeting = %meeting, org = %org, scheduled_at = %at, "a scheduled meeting has no recording");
    }
    Ok(due.len())
}

/// Alerts raised since `since` about meetings within `scope`.
pub fn recent(repo: &dyn Repo, since: &str, scope: &Scope) -> Result<Vec<Alert>, DomainError> {
    Ok(repo.alerts(since, scope)?)
}

/// `sha256=<hex>` of `body` under `secret`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    format!("sha256={}", hex::encode(ring::hmac::sign(&key, body).as_ref()))
}

/// POSTs undelivered alerts to the webhook; a failure is retried next round.
pub async fn deliver(vault: &Vault, cfg: &AlertsConfig, http: &reqwest::Client) -> Result<usize, DomainError> {
    let Some(url) = cfg.webhook_url.clone() else { return Ok(0) };
    let pending: Vec<Alert> = catalog::read(&vault.catalog, |repo| recent(repo, "", &Scope::All))
        .await?
        .into_iter()
        .filter(|a| a.delivered_at.is_none())
        .collect();
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
        catalog::read(&vault.catalog, move |repo| {
            repo.alert_attempt(&m, error.as_deref(), &now).map_err(DomainError::from)
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
    use crate::catalog::sqlite::Sqlite;
    use archive::clock::parse_ts;

    use crate::catalog::sqlite::one_meeting_catalog as catalog;

    #[test]
    fn a_meeting_is_missed_at_start_plus_grace_and_not_before() {
        let c = catalog();
        let start = parse_ts("2026-03-05T01:00:00.000Z").unwrap();
        let grace = time::Duration::minutes(15);
        assert!(missed(&Sqlite::new(&c), start + time::Duration::minutes(14) + time::Duration::seconds(59), grace)
            .unwrap()
            .is_empty());
        assert_eq!(missed(&Sqlite::new(&c), start + grace, grace).unwrap().len(), 1);
        c.execute("INSERT INTO alerts VALUES ('m1')", []).unwrap();
        assert!(missed(&Sqlite::new(&c), start + grace, grace).unwrap().is_empty(), "raised once");
        c.execute("DELETE FROM alerts", []).unwrap();
        c.execute("UPDATE meetings SET recording = 'r'", []).unwrap();
        assert!(missed(&Sqlite::new(&c), start + grace, grace).unwrap().is_empty(), "a recording means held");
        c.execute("UPDATE meetings SET recording = NULL", []).unwrap();
        assert!(
            missed(&Sqlite::new(&c), start + time::Duration::days(8), grace).unwrap().is_empty(),
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
