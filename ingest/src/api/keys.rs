//! Keys over HTTP (admins): `GET /api/v1/keys` lists the KEK generations (ids,
//! never key material) and retirements; `POST /api/v1/keys/retire` retires every
//! KEK but a new one (see `crate::retirement`). Auditors read the list.

use crate::auth::{Principal, Role};
use crate::error::ApiError;
use crate::App;
use axum::extract::State;
use axum::Json;
use serde::Serialize;
use serde_json::Value;
use std::sync::Arc;

#[derive(Debug, Serialize)]
pub struct KeysView {
    /// The KEK that wraps new data keys.
    pub current: String,
    /// Every KEK the service holds.
    pub keks: Vec<String>,
    /// Why the service cannot retire KEKs itself, if it cannot.
    pub read_only: Option<String>,
    pub retirements: Vec<Value>,
}

pub async fn list(State(app): State<Arc<App>>, who: Principal) -> Result<Json<KeysView>, ApiError> {
    who.require(&[Role::Admin, Role::Auditor])?;
    let ring = app.vault.keys.ring();
    let retirements = app
        .vault
        .catalog
        .call(|c| {
            let mut stmt = c.prepare("SELECT generation, new_kek, retiring, step, started_at, finished_at FROM kek_retirements ORDER BY generation")?;
            let rows = stmt.query_map([], |r| {
                Ok(serde_json::json!({
                    "generation": r.get::<_, u32>(0)?, "kek": r.get::<_, String>(1)?,
                    "retiring": serde_json::from_str::<Value>(&r.get::<_, String>(2)?).unwrap_or_default(),
                    "step": r.get::<_, String>(3)?, "started_at": r.get::<_, String>(4)?, "finished_at": r.get::<_, Option<String>>(5)?,
                }))
            })?;
            Ok::<_, ApiError>(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await?;
    Ok(Json(KeysView { current: ring.current_id().to_string(), keks: ring.ids(), read_only: crate::retirement::read_only(&app), retirements }))
}

pub async fn retire(State(app): State<Arc<App>>, who: Principal) -> Result<Json<archive::retire::Retired>, ApiError> {
    who.require(&[Role::Admin])?;
    Ok(Json(crate::retirement::retire(&app).await?))
}
