//! Sign-in and sign-out.
//!
//! The sign-in form is protected by a double-submit token (a cookie and a hidden
//! field that must match), since there is no session yet to hold one. Failed
//! attempts are counted per client address and per name; past the limit the form
//! answers 429 until the window passes. Unknown names cost the same argon2 work
//! as wrong passwords, so timing does not tell which names exist.

use super::{Lang, Viewer};
use crate::http::{cookie, ApiError};
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup};
use niem_core::accounts::SESSION_COOKIE;
use niem_core::users;
use niem_core::{App, DomainError};
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::Arc;

const LOGIN_CSRF_COOKIE: &str = "niem_login";

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
    let token = match niem_core::accounts::new_secret() {
        Ok(t) => t,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let cookie =
        format!("{LOGIN_CSRF_COOKIE}={token}; Path=/login; HttpOnly; SameSite=Strict; Max-Age=3600{}", secure(app));
    (status, [(header::SET_COOKIE, cookie)], login_page(lang, next, &token, message)).into_response()
}

fn login_page(lang: Lang, next: &str, token: &str, message: Option<&str>) -> Markup {
    let body = html! {
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
    };
    super::bare_page(lang, lang.t("login.title"), body)
}

#[derive(Deserialize)]
pub struct Credentials {
    name: String,
    password: String,
    csrf: String,
    next: Option<String>,
}

pub async fn submit(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(c): Form<Credentials>,
) -> Response {
    let lang = lang_of(&headers, None);
    let next = safe_next(c.next.as_deref());
    let cookie_token = cookie(&headers, LOGIN_CSRF_COOKIE).unwrap_or("");
    if cookie_token.is_empty() || cookie_token != c.csrf {
        return show(&app, lang, &next, Some(lang.t("login.expired")), StatusCode::FORBIDDEN);
    }
    match users::sign_in(&app, peer.ip(), &c.name, c.password).await {
        Ok(session) => {
            let cookie = format!(
                "{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
                session.secret,
                session.max_age_secs,
                secure(&app)
            );
            ([(header::SET_COOKIE, cookie)], Redirect::to(&next)).into_response()
        }
        Err(DomainError::TooMany(_)) => {
            show(&app, lang, &next, Some(lang.t("login.limited")), StatusCode::TOO_MANY_REQUESTS)
        }
        Err(DomainError::Unauthenticated(_)) => {
            show(&app, lang, &next, Some(lang.t("login.failed")), StatusCode::UNAUTHORIZED)
        }
        Err(e) => {
            let e = ApiError::from(e);
            show(&app, lang, &next, Some(lang.t(super::failure_key(e.code))), e.status)
        }
    }
}

#[derive(Deserialize)]
pub struct Logout {
    csrf: String,
}

pub async fn logout(State(app): State<Arc<App>>, v: Viewer, headers: HeaderMap, Form(f): Form<Logout>) -> Response {
    if f.csrf != v.csrf() {
        return super::refusal(&v, StatusCode::FORBIDDEN, "login.expired");
    }
    if let Some(secret) = cookie(&headers, SESSION_COOKIE).map(str::to_string) {
        if let Err(e) = users::sign_out(&app, &v.who, secret).await {
            return ApiError::from(e).into_response();
        }
    }
    let clear = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}", secure(&app));
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
    match asked.or_else(|| cookie(headers, super::i18n::LANG_COOKIE)) {
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
}
