//! Schedules, alerts and the compliance report: `POST /api/v1/orgs/{org}/schedules`
//! (admins), `GET /api/v1/schedules`, `GET /api/v1/alerts?since=`,
//! `GET /api/v1/reports/compliance?org=&month=YYYY-MM&format=json|csv`. Counts and
//! titles, not content: auditors see them too; inspectors only their scope.

use crate::http::{ApiError, Caller};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use niem_core::schedules::{self, Alert, NewSchedule, Schedule};
use niem_core::App;
use serde::Deserialize;
use std::sync::Arc;

pub async fn add_schedule(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Path(org): Path<String>,
    Json(s): Json<NewSchedule>,
) -> Result<(StatusCode, Json<Schedule>), ApiError> {
    Ok((StatusCode::CREATED, Json(schedules::add(&app, &who, org.parse()?, s).await?)))
}

pub async fn list_schedules(State(app): State<Arc<App>>, Caller(who): Caller) -> Result<Json<Vec<Schedule>>, ApiError> {
    Ok(Json(schedules::list(&app, &who).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Since {
    /// RFC 3339; default: the last 24 hours.
    pub since: Option<String>,
}

pub async fn list_alerts(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Query(q): Query<Since>,
) -> Result<Json<Vec<Alert>>, ApiError> {
    Ok(Json(schedules::visible_alerts(&app, &who, q.since).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    pub org: String,
    pub month: String,
    pub format: Option<String>,
}

pub async fn compliance(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Query(q): Query<ReportQuery>,
) -> Result<Response, ApiError> {
    let format = q.format.unwrap_or_else(|| "json".into());
    if !matches!(format.as_str(), "json" | "csv") {
        return Err(ApiError::bad_request("format must be json or csv"));
    }
    let rows = niem_core::reports::compliance_of(&app, &who, q.org.parse()?, q.month).await?;
    Ok(match format.as_str() {
        "csv" => {
            let headers = [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (header::CONTENT_DISPOSITION, "attachment; filename=\"niem-report.csv\""),
            ];
            (headers, niem_core::reports::to_csv(&rows)).into_response()
        }
        _ => Json(rows).into_response(),
    })
}
