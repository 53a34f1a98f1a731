//! People and service accounts: `GET|POST /api/v1/users`, `PATCH /api/v1/users/{user}`,
//! `POST /api/v1/users/{user}/tokens`, `DELETE /api/v1/tokens/{token}`, and the
//! four-eyes requests over who is an admin: `GET /api/v1/users/requests`,
//! `POST /api/v1/users/requests/{request}/approve`. A change that waits for a
//! second admin answers 202 with the request. The rules are `niem_core::users`
//! and `niem_core::admins`.

use crate::http::{ApiError, Caller};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use niem_core::accounts::UserChange;
use niem_core::admins::{self, Request};
use niem_core::users::{self, Added, NewUser, User};
use niem_core::App;
use serde_json::json;
use std::sync::Arc;

pub async fn create_user(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Json(req): Json<NewUser>,
) -> Result<(StatusCode, Json<Added>), ApiError> {
    let added = users::add(&app, &who, req).await?;
    let status = if matches!(added, Added::User(_)) { StatusCode::CREATED } else { StatusCode::ACCEPTED };
    Ok((status, Json(added)))
}

pub async fn list_users(State(app): State<Arc<App>>, Caller(who): Caller) -> Result<Json<Vec<User>>, ApiError> {
    Ok(Json(users::list(&app, &who).await?))
}

pub async fn create_token(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Path(user): Path<String>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let (id, token) = users::create_token(&app, &who, user.parse()?).await?;
    Ok((StatusCode::CREATED, Json(json!({ "id": id.to_string(), "token": token }))))
}

pub async fn change_user(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Path(user): Path<String>,
    Json(wanted): Json<UserChange>,
) -> Result<Response, ApiError> {
    Ok(match users::change(&app, &who, user.parse()?, wanted).await? {
        None => StatusCode::NO_CONTENT.into_response(),
        Some(request) => (StatusCode::ACCEPTED, Json(json!({ "request": request }))).into_response(),
    })
}

pub async fn list_requests(State(app): State<Arc<App>>, Caller(who): Caller) -> Result<Json<Vec<Request>>, ApiError> {
    Ok(Json(admins::list(&app, &who).await?))
}

pub async fn approve_request(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Path(request): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id: ulid::Ulid = request.parse().map_err(|_| ApiError::bad_request("not a request id"))?;
    admins::approve(&app, &who, &id.to_string()).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn revoke_token(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Path(token): Path<String>,
) -> Result<StatusCode, ApiError> {
    users::revoke_token(&app, &who, token.parse()?).await?;
    Ok(StatusCode::NO_CONTENT)
}
