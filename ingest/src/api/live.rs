//! Live ingest over HTTP, live status, and endpoint management.
//!
//! - `PUT /api/v1/live/{stream key}`: a chunked body of MPEG-TS, FLV or Matroska
//!   (`ffmpeg ... -f mpegts -method PUT http://host/api/v1/live/<key>`). The key is
//!   the credential; no bearer token. The answer comes when the body ends.
//! - `GET /api/v1/live`: the live streams in the caller's scope, for supervisors.
//! - `POST /api/v1/orgs/{org}/endpoints`, `GET /api/v1/endpoints`,
//!   `DELETE /api/v1/endpoints/{id}`: admins manage bridge points and their keys;
//!   inspectors list those in their scope, auditors all.

use crate::auth::{Principal, Role};
use crate::endpoint;
use crate::error::ApiError;
use crate::live::{LiveStatus, PublishError};
use crate::schema::{EndpointId, OrgId};
use crate::App;
use archive::ledger::NewEntry;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use futures::StreamExt;
use rusqlite::OptionalExtension;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

impl From<PublishError> for ApiError {
    fn from(e: PublishError) -> Self {
        let status = match e {
            PublishError::Refused => StatusCode::UNAUTHORIZED,
            PublishError::AlreadyLive(_) => StatusCode::CONFLICT,
            PublishError::SpoolFull | PublishError::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            PublishError::Catalog(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        tracing::warn!(error = %e, "HTTP live push refused");
        ApiError::new(status, "publish_refused", e.to_string())
    }
}

#[derive(Debug, Serialize)]
pub struct Pushed {
    pub endpoint: String,
    pub bytes: u64,
    #[serde(flatten)]
    pub placement: Option<crate::live::Placement>,
}

pub async fn push(State(app): State<Arc<App>>, Path(key): Path<String>, body: Body) -> Result<Json<Pushed>, ApiError> {
    let Ok(_permit) = app.live.connections.clone().try_acquire_owned() else {
        tracing::warn!("HTTP live push refused: the connection cap is reached");
        return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "too_many_streams", "the live connection cap is reached; retry later"));
    };
    let publication = app.live.publish(&app, key, "http").await?;
    let idle = Duration::from_secs(app.config.live.idle_timeout_secs);
    let mut body = body.into_data_stream();
    let mut bytes = 0u64;
    let stopped = loop {
        let frame = tokio::select! {
            f = tokio::time::timeout(idle, body.next()) => f,
            _ = publication.cancelled() => break None,
        };
        match frame {
            Ok(Some(Ok(b))) => {
                bytes += b.len() as u64;
                if publication.send(b).await.is_err() {
                    break Some("the stream stopped taking media");
                }
            }
            Ok(None) => break None,
            // A sender that vanishes ends its segment like an RTMP publisher that
            // drops: the stream waits for a reconnect.
            Ok(Some(Err(_))) => break None,
            Err(_) => break Some("nothing received within the idle timeout"),
        }
    };
    let slot = publication.slot.clone();
    let remuxed = publication.end().await;
    let placement = slot.stats.placed.get().cloned();
    match (remuxed, stopped) {
        (Err(e), _) if placement.is_none() => Err(ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "not_media", format!("the body is not MPEG-TS, FLV or Matroska media: {e}"))),
        (Err(e), _) => Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "media_refused", format!("{e}; what arrived before is kept"))),
        (Ok(()), Some(why)) => Err(ApiError::new(StatusCode::BAD_REQUEST, "stream_stopped", format!("{why}; what arrived before is kept"))),
        (Ok(()), None) => Ok(Json(Pushed { endpoint: slot.endpoint.id.to_string(), bytes, placement })),
    }
}

pub async fn status(State(app): State<Arc<App>>, who: Principal) -> Result<Json<serde_json::Value>, ApiError> {
    who.require(&[Role::Admin, Role::Inspector, Role::Auditor])?;
    let streams = visible_status(&app, &who).await?;
    Ok(Json(json!({ "streams": streams, "spool_backlog_bytes": app.live.spool.backlog_bytes() })))
}

/// The live streams this caller may see. The slots live in memory; which of
/// their endpoints are in scope is asked of the catalog with the scope in the
/// query, and only those slots are described.
pub async fn visible_status(app: &App, who: &Principal) -> Result<Vec<LiveStatus>, ApiError> {
    let ids = app.live.endpoint_ids();
    let scope = who.scope_json();
    let visible = app
        .vault
        .catalog
        .call(move |c| endpoint::visible(c, &ids, scope).map_err(ApiError::from))
        .await?;
    Ok(app.live.status_of(app, &visible).await?)
}

#[derive(Debug, Deserialize)]
pub struct NewEndpoint {
    pub name: String,
}

pub async fn create_endpoint(State(app): State<Arc<App>>, who: Principal, Path(org): Path<String>, Json(req): Json<NewEndpoint>) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let (ep, key) = add_endpoint(&app, &who, org.parse()?, &req.name).await?;
    Ok((StatusCode::CREATED, Json(json!({ "id": ep.id, "org": ep.org, "name": ep.name, "stream_key": key }))))
}

/// Creates an endpoint; returns it and its stream key, which is never stored.
pub async fn add_endpoint(app: &App, who: &Principal, org: OrgId, name: &str) -> Result<(endpoint::Endpoint, String), ApiError> {
    who.require(&[Role::Admin])?;
    let name = name.trim().to_string();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::bad_request("an endpoint needs a name of 1 to 200 characters"));
    }
    let now = app.vault.now();
    let (actor, keys) = (who.actor(), app.vault.keys.clone());
    let (ep, key) = app
        .vault
        .catalog
        .call(move |c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let (ep, key) = endpoint::create(&tx, org, &name, &now)?;
            let (subject, mut data) = (format!("endpoint/{}", ep.id), json!({ "org": ep.org, "name": ep.name }));
            crate::restore::seal_into(&keys, &subject, &mut data, endpoint::sealed_facts(&key))?;
            let entry = NewEntry { actor, action: "endpoint.created", subject, data };
            archive::ledger::append(&tx, now, entry).map_err(ApiError::internal)?;
            tx.commit()?;
            Ok::<_, ApiError>((ep, key))
        })
        .await?;
    app.vault.mirror.notify();
    Ok((ep, key))
}

#[derive(Debug, Deserialize)]
pub struct EndpointFilter {
    pub org: Option<String>,
}

pub async fn list_endpoints(State(app): State<Arc<App>>, who: Principal, Query(f): Query<EndpointFilter>) -> Result<Json<Vec<endpoint::Listed>>, ApiError> {
    who.require(&[Role::Admin, Role::Inspector, Role::Auditor])?;
    let org: Option<OrgId> = f.org.map(|o| o.parse()).transpose()?;
    let scope = who.scope_json();
    Ok(Json(
        app.vault
            .catalog
            .call(move |c| endpoint::list_in(c, org, scope).map_err(ApiError::from))
            .await?,
    ))
}

pub async fn revoke_endpoint(State(app): State<Arc<App>>, who: Principal, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    revoke(&app, &who, id.parse()?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Revokes an endpoint's stream key.
pub async fn revoke(app: &App, who: &Principal, id: EndpointId) -> Result<(), ApiError> {
    who.require(&[Role::Admin])?;
    let now = app.vault.now();
    let entry = NewEntry { actor: who.actor(), action: "endpoint.revoked", subject: format!("endpoint/{id}"), data: json!({}) };
    app.vault
        .commit(entry, move |tx| {
            let known: Option<String> = tx.query_row("SELECT id FROM endpoints WHERE id = ?1", [id.to_string()], |r| r.get(0)).optional()?;
            if known.is_none() {
                return Err(archive::vault::VaultError::Missing(format!("endpoint {id} not found")));
            }
            if !endpoint::revoke(tx, id, &now)? {
                return Err(archive::vault::VaultError::Conflict(format!("endpoint {id} is already revoked")));
            }
            Ok(())
        })
        .await?;
    Ok(())
}
