//! Sign-in and sign-out.
//!
//! The sign-in form is protected by a double-submit token (a cookie and a hidden
//! field that must match), since there is no session yet to hold one. Failed
//! attempts are counted per client address and per name; past the limit the form
//! answers 429 until the window passes. Unknown names cost the same argon2 work
//! as wrong passwords, so timing does not tell which names exist.

use super::{Lang, Viewer};
use crate::auth::{self, Role};
use crate::config::WebConfig;
use crate::App;
use archive::ledger::NewEntry;
use axum::extract::{ConnectInfo, Query, State};
use axum::Form;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup, DOCTYPE};
use rusqlite::OptionalExtension;
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

const LOGIN_CSRF_COOKIE: &str = "niem_login";

/// Failed sign-ins per key (an address, a name) within a window.
pub struct LoginLimiter {
    failures: Mutex<HashMap<String, (u32, Instant)>>,
    attempts: u32,
    window: Duration,
}

impl LoginLimiter {
    pub fn new(cfg: &WebConfig) -> Self {
        Self { failures: Mutex::new(HashMap::new()), attempts: cfg.login_attempts.max(1), window: Duration::from_secs(cfg.login_window_secs) }
    }

    fn blocked(&self, keys: &[String]) -> bool {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, (_, since)| since.elapsed() < self.window);
        keys.iter().any(|k| map.get(k).is_some_and(|(n, _)| *n >= self.attempts))
    }

    fn failed(&self, keys: &[String]) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        for k in keys {
            map.entry(k.clone()).or_insert((0, Instant::now())).0 += 1;
        }
    }

    fn succeeded(&self, name_key: &str) {
        self.failures.lock().unwrap_or_else(|e| e.into_inner()).remove(name_key);
    }
}

#[derive(Deserialize)]
pub struct Next {
    next: Option<String>,
    lang: Option<String>,
}

pub async fn form(State(app): State<Arc<App>>, headers: HeaderMap, Query(q): Query<Next>) -> Response {
    let lang = lang_of(&headers, q.lang.as_deref());
    show(&app, lang, q.next.as_deref().unwrap_or("/search"), None, StatusCode::OK)
}

/// The form with a fresh double-submit token.
fn show(app: &App, lang: Lang, next: &str, message: Option<&str>, status: StatusCode) -> Response {
    let token = match auth::new_secret() {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    let cookie = format!("{LOGIN_CSRF_COOKIE}={token}; Path=/login; HttpOnly; SameSite=Strict; Max-Age=3600{}", secure(app));
    (status, [(header::SET_COOKIE, cookie)], login_page(lang, next, &token, message)).into_response()
}

fn login_page(lang: Lang, next: &str, token: &str, message: Option<&str>) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (lang.t("login.title")) " · Niêm" }
                link rel="stylesheet" href="/static/app.css";
            }
            body.login {
                main {
                    h1 { "Niêm" }
                    form method="post" action="/login" {
                        @if let Some(m) = message { p.error role="alert" { (m) } }
                        input type="hidden" name="csrf" value=(token);
                        input type="hidden" name="next" value=(next);
                        label { (lang.t("login.name")) input name="name" autocomplete="username" required autofocus; }
                        label { (lang.t("login.password")) input name="password" type="password" autocomplete="current-password" required; }
                        button type="submit" { (lang.t("login.submit")) }
                    }
                    p.lang { a href=(format!("/login?lang={}&next={}", lang.other().code(), super::url_encode(next))) { (lang.other().label()) } }
                }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct Credentials {
    name: String,
    password: String,
    csrf: String,
    next: Option<String>,
}

pub async fn submit(State(app): State<Arc<App>>, ConnectInfo(peer): ConnectInfo<SocketAddr>, headers: HeaderMap, Form(c): Form<Credentials>) -> Response {
    let lang = lang_of(&headers, None);
    let next = safe_next(c.next.as_deref());
    let cookie_token = auth::cookie(&headers, LOGIN_CSRF_COOKIE).unwrap_or("");
    if cookie_token.is_empty() || cookie_token != c.csrf {
        return show(&app, lang, &next, Some(lang.t("login.expired")), StatusCode::FORBIDDEN);
    }
    let keys = [format!("addr:{}", peer.ip()), format!("name:{}", c.name.trim())];
    if app.logins.blocked(&keys) {
        tracing::warn!(peer = %peer.ip(), "sign-in refused: too many failures");
        return show(&app, lang, &next, Some(lang.t("login.limited")), StatusCode::TOO_MANY_REQUESTS);
    }
    match check_password(&app, c.name.trim().to_string(), c.password).await {
        Ok(Some(user)) => {
            app.logins.succeeded(&keys[1]);
            match open_session(&app, &user).await {
                Ok(cookie) => ([(header::SET_COOKIE, cookie)], Redirect::to(&next)).into_response(),
                Err(e) => e.into_response(),
            }
        }
        Ok(None) => {
            app.logins.failed(&keys);
            tracing::warn!(peer = %peer.ip(), "sign-in failed");
            show(&app, lang, &next, Some(lang.t("login.failed")), StatusCode::UNAUTHORIZED)
        }
        Err(e) => e.into_response(),
    }
}

/// The user id if `name` exists, is enabled, may use the web UI and the password
/// matches.
async fn check_password(app: &App, name: String, password: String) -> Result<Option<String>, crate::error::ApiError> {
    let row: Option<(String, Option<String>, String, bool)> = app
        .vault
        .catalog
        .call(move |c| c.query_row("SELECT id, password_hash, role, disabled FROM users WHERE name = ?1", [name], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))).optional().map_err(crate::error::ApiError::from))
        .await?;
    let usable = row.filter(|(_, hash, role, disabled)| hash.is_some() && !disabled && Role::parse(role) != Some(Role::Recorder));
    let (user, hash) = match usable {
        Some((id, Some(hash), _, _)) => (Some(id), hash),
        _ => (None, dummy_hash().to_string()),
    };
    let ok = tokio::task::spawn_blocking(move || auth::password_matches(&hash, &password)).await.map_err(crate::error::ApiError::internal)?;
    Ok(user.filter(|_| ok))
}

/// A hash to check unknown names against, so that they cost what a real one does.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| auth::hash_password("no such user, no such password").unwrap_or_default())
}

async fn open_session(app: &App, user: &str) -> Result<String, crate::error::ApiError> {
    let user: crate::schema::UserId = user.parse()?;
    // The service's clock, which checks the session too (it may be shifted for drills).
    let now_dt = app.vault.clock.now();
    let now = archive::clock::format_ts(now_dt);
    let expires = archive::clock::format_ts(now_dt + time::Duration::hours(app.config.web.session_hours as i64));
    let entry = NewEntry { actor: format!("user:{user}"), action: "session.opened", subject: format!("user/{user}"), data: json!({ "via": "web" }) };
    let (secret, _) = app.vault.commit(entry, move |tx| auth::open_session(tx, &user, &now, &expires).map_err(|e| archive::vault::VaultError::Conflict(e.message))).await?.0;
    let max_age = app.config.web.session_hours * 3600;
    Ok(format!("{}={secret}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{}", auth::SESSION_COOKIE, secure(app)))
}

#[derive(Deserialize)]
pub struct Logout {
    csrf: String,
}

pub async fn logout(State(app): State<Arc<App>>, v: Viewer, headers: HeaderMap, Form(f): Form<Logout>) -> Response {
    if f.csrf != v.csrf() {
        return super::error_page(&v, crate::error::ApiError::forbidden(v.t("login.expired")));
    }
    if let Some(secret) = auth::cookie(&headers, auth::SESSION_COOKIE).map(str::to_string) {
        let entry = NewEntry { actor: v.who.actor(), action: "session.closed", subject: format!("user/{}", v.who.user), data: json!({}) };
        if let Err(e) = app.vault.commit(entry, move |tx| auth::close_session(tx, &secret).map_err(|e| archive::vault::VaultError::Conflict(e.message))).await {
            return crate::error::ApiError::from(e).into_response();
        }
    }
    let clear = format!("{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}", auth::SESSION_COOKIE, secure(&app));
    ([(header::SET_COOKIE, clear)], Redirect::to("/login")).into_response()
}

fn secure(app: &App) -> &'static str {
    if app.config.https() {
        "; Secure"
    } else {
        ""
    }
}

/// Only paths on this site: never `//host` or a full URL (an open redirect).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.starts_with("/\\") => n.to_string(),
        _ => "/search".into(),
    }
}

fn lang_of(headers: &HeaderMap, asked: Option<&str>) -> Lang {
    match asked.or_else(|| auth::cookie(headers, super::i18n::LANG_COOKIE)) {
        Some("en") => Lang::En,
        _ => Lang::Vi,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next(Some("/meetings/x?t=3")), "/meetings/x?t=3");
        assert_eq!(safe_next(Some("//evil.example/")), "/search");
        assert_eq!(safe_next(Some("https://evil.example/")), "/search");
        assert_eq!(safe_next(Some("/\\evil.example")), "/search");
        assert_eq!(safe_next(None), "/search");
    }

    #[test]
    fn the_limiter_blocks_after_the_allowed_failures() {
        let l = LoginLimiter::new(&WebConfig { login_attempts: 2, login_window_secs: 60, ..WebConfig::default() });
        let keys = ["addr:1".to_string(), "name:a".to_string()];
        assert!(!l.blocked(&keys));
        l.failed(&keys);
        assert!(!l.blocked(&keys));
        l.failed(&keys);
        assert!(l.blocked(&keys));
        assert!(l.blocked(&["addr:1".to_string()]), "per address");
        l.succeeded("name:a");
        assert!(l.blocked(&keys), "the address is still over");
    }
}
