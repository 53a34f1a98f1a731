//! Schedules, alerts and the compliance report over HTTP:
//! `POST /api/v1/orgs/{org}/schedules` (admin), `GET /api/v1/schedules`,
//! `GET /api/v1/alerts?since=`, `GET /api/v1/reports/compliance?org=&month=YYYY-MM&format=json|csv`.
//! Inspectors see only their scope; these are counts and titles, not content, so
//! auditors see them too.

use crate::alerts::{self, Alert, NewSchedule, Schedule};
use crate::auth::{self, Principal, Role};
use crate::error::ApiError;
use crate::schema::OrgId;
use crate::App;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use rusqlite::OptionalExtension;
use serde::Deserialize;
use std::sync::Arc;

pub async fn add_schedule(State(app): State<Arc<App>>, who: Principal, Path(org): Path<String>, Json(s): Json<NewSchedule>) -> Result<(StatusCode, Json<Schedule>), ApiError> {
    who.require(&[Role::Admin])?;
    let org: OrgId = org.parse()?;
    let sched = alerts::add_schedule(&app.vault, &who.actor(), org, s).await?;
    alerts::plan(&app.vault, app.vault.clock.now()).await?;
    Ok((StatusCode::CREATED, Json(sched)))
}

pub async fn list_schedules(State(app): State<Arc<App>>, who: Principal) -> Result<Json<Vec<Schedule>>, ApiError> {
    who.require(&[Role::Admin, Role::Inspector, Role::Auditor])?;
    let scope = who.scope_json();
    let list = app
        .vault
        .catalog
        .call(move |c| {
            let sql = format!(
                "SELECT s.id, s.org, s.kind, s.title, s.day_of_month, s.time_local
                 FROM schedules s JOIN orgs o ON o.id = s.org WHERE {} ORDER BY o.path",
                auth::in_scope_sql("o.path", 1)
            );
            let mut stmt = c.prepare(&sql)?;
            let rows = stmt.query_map([scope], |r| {
                let (id, org, kind, title) = (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
                Ok(Schedule { id, org, kind, title, day: r.get(4)?, time: r.get(5)? })
            })?;
            rows.collect::<Result<Vec<_>, _>>().map_err(ApiError::from)
        })
        .await?;
    Ok(Json(list))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Since {
    /// RFC 3339; default: the last 24 hours.
    pub since: Option<String>,
}

/// Recent alerts in the caller's scope.
pub async fn visible_alerts(app: &App, who: &Principal, since: Option<String>) -> Result<Vec<Alert>, ApiError> {
    let since = since.unwrap_or_else(|| archive::clock::format_ts(app.vault.clock.now() - time::Duration::hours(24)));
    let scope = who.scope_json();
    app.vault.catalog.call(move |c| alerts::recent(c, &since, scope)).await
}

pub async fn list_alerts(State(app): State<Arc<App>>, who: Principal, Query(q): Query<Since>) -> Result<Json<Vec<Alert>>, ApiError> {
    who.require(&[Role::Admin, Role::Inspector, Role::Auditor])?;
    Ok(Json(visible_alerts(&app, &who, q.since).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    pub org: String,
    pub month: String,
    pub format: Option<String>,
}

/// The report of an org's subtree, with only the rows in the caller's scope.
/// An inspector may ask for an org in their scope or above it (a base
/// committee over their cells: the rows are their cells'), no other.
pub async fn compliance(State(app): State<Arc<App>>, who: Principal, Query(q): Query<ReportQuery>) -> Result<Response, ApiError> {
    who.require(&[Role::Admin, Role::Inspector, Role::Auditor])?;
    let org: OrgId = q.org.parse()?;
    let path: Option<String> = app
        .vault
        .catalog
        .call(move |c| c.query_row("SELECT path FROM orgs WHERE id = ?1", [org.to_string()], |r| r.get(0)).optional().map_err(ApiError::from))
        .await?;
    let path = path.ok_or_else(|| ApiError::not_found(format!("org {org} not found")))?;
    who.require_scope_or_above(&path)?;
    let rows = report_rows(&app, &who, path, q.month.clone()).await?;
    Ok(match q.format.as_deref().unwrap_or("json") {
        "csv" => ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], alerts::to_csv(&rows)).into_response(),
        "json" => Json(rows).into_response(),
        _ => return Err(ApiError::bad_request("format must be json or csv")),
    })
}

/// The compliance rows of the subtree at `path` in the caller's scope (the API's
/// and the report page's one query).
pub async fn report_rows(
    app: &App,
    who: &Principal,
    path: String,
    month: String,
) -> Result<Vec<alerts::ComplianceRow>, ApiError> {
    let (now, grace) =
        (app.vault.clock.now(), time::Duration::minutes(app.config.alerts.grace_minutes as i64));
    let scope = who.scope_json();
    app.vault.catalog.call(move |c| alerts::compliance(c, (&path, scope), &month, now, grace)).await
}
