//! The web UI: server-rendered HTML (maud), Vietnamese first with English beside
//! it, a little plain JavaScript, no build step.
//!
//! Pages: sign-in, search, meetings (browse by date), meeting (player beside the transcript, integrity
//! badge), live streams, the ledger for auditors, reports and administration.
//! Every page calls the same `niem_core` functions the API does, so each rule,
//! scope and ledger entry is the same whichever door a person uses.
//!
//! Sessions: an HttpOnly, SameSite=Strict cookie (Secure, with HSTS on pages, when
//! served over HTTPS: `[tls]` set, or `web.secure_cookies` behind a TLS proxy),
//! a CSRF token in every form and in the `X-CSRF-Token` header of script requests,
//! sign-in attempts limited per address and per name. Pages send a strict CSP
//! (scripts and styles from this origin only) and are never cached.

mod admin;
mod evaluation;
mod i18n;
mod links;
mod login;
mod pages;
mod record;

pub use i18n::Lang;

use crate::http::{cookie, ApiError};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{header, request::Parts, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup, PreEscaped, DOCTYPE};
use niem_core::principal::{Principal, Role};
use niem_core::App;
use std::sync::Arc;

/// Every page and asset; `router::router` merges them beside the API.
pub fn routes(app: Arc<App>) -> Router<Arc<App>> {
    Router::new()
        .route("/", get(home))
        .route("/login", get(login::form).post(login::submit))
        .route("/logout", post(login::logout))
        .route("/search", get(pages::search))
        .route("/meetings", get(pages::browse))
        .route("/meetings/{meeting}", get(pages::meeting))
        .route("/attendance", get(record::meetings))
        .route("/meetings/{meeting}/attendance", get(record::attendance).post(record::file_sheet))
        .route("/meetings/{meeting}/absences/{absence}/decide", post(record::decide))
        .route("/meetings/{meeting}/evaluation", post(evaluation::score))
        .route("/l/{token}", get(links::list))
        .route("/l/{token}/{doc}", get(links::download))
        .route("/live", get(pages::live))
        .route("/ledger", get(pages::ledger))
        .route("/reports", get(admin::report))
        .route("/admin", get(|| async { Redirect::to("/admin/users") }))
        .route("/admin/users", get(admin::users).post(admin::add_user))
        .route("/admin/users/{user}/{what}", post(admin::set_disabled))
        .route("/admin/users/requests/{request}/approve", post(admin::approve_request))
        .route("/admin/endpoints", get(admin::endpoints).post(admin::add_endpoint))
        .route("/admin/endpoints/{endpoint}/revoke", post(admin::revoke_endpoint))
        .route("/admin/retention", get(admin::retention))
        .route("/admin/policies", post(admin::set_policy))
        .route("/admin/policies/{policy}/approve", post(admin::approve))
        .route("/admin/holds", post(admin::place_hold))
        .route("/admin/holds/{hold}/release", post(admin::release_hold))
        .route("/admin/alerts", get(admin::alerts))
        .route("/admin/members", get(admin::members).post(admin::add_member))
        .route("/static/app.css", get(|| async { asset("text/css; charset=utf-8", include_str!("static/app.css")) }))
        .route(
            "/static/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", include_str!("static/app.js")) }),
        )
        .layer(axum::middleware::from_fn_with_state(app, security_headers))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "public, max-age=3600")], body).into_response()
}

async fn security_headers(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let asked = req
        .uri()
        .query()
        .and_then(|q| serde_urlencoded::from_str::<Vec<(String, String)>>(q).ok())
        .and_then(|q| q.into_iter().find(|(k, _)| k == "lang"));
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    if let Some((_, lang @ ("vi" | "en"))) = asked.as_ref().map(|(k, v)| (k.as_str(), v.as_str())) {
        let cookie = format!("{}={lang}; Path=/; SameSite=Strict; Max-Age=31536000", i18n::LANG_COOKIE);
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            h.append(header::SET_COOKIE, v);
        }
    }
    let set = |h: &mut axum::http::HeaderMap, k: &'static str, v: &'static str| {
        h.entry(k).or_insert(HeaderValue::from_static(v));
    };
    set(h, "content-security-policy", "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'");
    set(h, "x-content-type-options", "nosniff");
    set(h, "referrer-policy", "same-origin");
    set(h, "x-frame-options", "DENY");
    set(h, "cache-control", "no-store");
    if app.config.https() {
        set(h, "strict-transport-security", "max-age=31536000");
    }
    resp
}

/// A signed-in user on a page; anyone else is sent to the sign-in page.
pub struct Viewer {
    pub who: Principal,
    pub lang: Lang,
    pub path: String,
}

pub struct ToLogin(String);

impl IntoResponse for ToLogin {
    fn into_response(self) -> Response {
        let next: String = url_encode(&self.0);
        Redirect::to(&format!("/login?next={next}")).into_response()
    }
}

impl FromRequestParts<Arc<App>> for Viewer {
    type Rejection = ToLogin;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ToLogin> {
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
        let lang = Lang::of(parts);
        let Some(secret) = cookie(&parts.headers, niem_core::accounts::SESSION_COOKIE).map(str::to_string) else {
            return Err(ToLogin(path));
        };
        match niem_core::users::by_session(app, secret).await {
            Ok(who) => Ok(Viewer { who, lang, path }),
            Err(_) => Err(ToLogin(path)),
        }
    }
}

impl Viewer {
    pub fn t(&self, key: &'static str) -> &'static str {
        self.lang.t(key)
    }
    pub fn csrf(&self) -> &str {
        self.who.csrf.as_deref().unwrap_or("")
    }
}

/// Every page's frame: header with navigation for the viewer's role, language
/// switch, sign-out form.
pub fn page(v: &Viewer, title: &str, body: Markup) -> Markup {
    let role = v.who.role;
    let content = matches!(role, Role::Admin | Role::Inspector);
    let ledger = matches!(role, Role::Admin | Role::Auditor);
    let other = v.lang.other();
    html! {
        (DOCTYPE)
        html lang=(v.lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="csrf-token" content=(v.csrf());
                title { (title) " · Niêm" }
                link rel="stylesheet" href="/static/app.css";
                script src="/static/app.js" defer {}
            }
            body {
                header.top {
                    a.brand href="/" { "Niêm" }
                    nav {
                        @if content { a href="/search" { (v.t("nav.search")) } }
                        @if content { a href="/meetings" { (v.t("nav.meetings")) } }
                        @if role != Role::Auditor { a href="/attendance" { (v.t("nav.attendance")) } }
                        @if role != Role::Secretary { a href="/live" { (v.t("nav.live")) } }
                        @if ledger { a href="/ledger" { (v.t("nav.ledger")) } }
                        @if !matches!(role, Role::Recorder | Role::Secretary) { a href="/reports" { (v.t("nav.reports")) } }
                        @if matches!(role, Role::Admin | Role::Inspector | Role::Secretary) { a href="/admin/members" { (v.t("nav.roster")) } }
                        @if role == Role::Admin { a href="/admin" { (v.t("nav.admin")) } }
                    }
                    div.me {
                        span.who { (v.who.name) " · " (v.t(role_key(role))) }
                        a.lang href=(with_lang(&v.path, other)) hreflang=(other.code()) { (other.label()) }
                        form method="post" action="/logout" {
                            input type="hidden" name="csrf" value=(v.csrf());
                            button type="submit" { (v.t("nav.logout")) }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// The first page after sign-in: search for those who read content; a
/// secretary, who reads none, starts at their cell's roster.
async fn home(v: Viewer) -> Redirect {
    match v.who.role {
        Role::Secretary => Redirect::to("/admin/members"),
        _ => Redirect::to("/search"),
    }
}

/// The frame of a page for someone not signed in (sign-in, member links): no
/// navigation, and no referrer, so a link's token never leaves in a header.
pub(crate) fn bare_page(lang: Lang, title: &str, body: maud::Markup) -> maud::Markup {
    maud::html! {
        (maud::DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { (title) " · Niêm" }
                link rel="stylesheet" href="/static/app.css";
            }
            body.login { main { (body) } }
        }
    }
}

pub(crate) fn role_key(role: Role) -> &'static str {
    match role {
        Role::Admin => "role.admin",
        Role::Inspector => "role.inspector",
        Role::Auditor => "role.auditor",
        Role::Recorder => "role.recorder",
        Role::Secretary => "role.secretary",
    }
}

/// `path` with `lang=` set (the switch keeps the page and its query).
fn with_lang(path: &str, lang: Lang) -> String {
    let (base, query) = path.split_once('?').unwrap_or((path, ""));
    let mut pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
    pairs.retain(|(k, _)| k != "lang");
    pairs.push(("lang".into(), lang.code().into()));
    format!("{base}?{}", serde_urlencoded::to_string(&pairs).unwrap_or_default())
}

pub fn url_encode(s: &str) -> String {
    serde_urlencoded::to_string([("", s)]).map(|p| p.trim_start_matches('=').to_string()).unwrap_or_default()
}

/// An error as a page: [`failure`]'s words, in the page frame.
pub fn error_page(v: &Viewer, e: impl Into<ApiError>) -> Response {
    let e: ApiError = e.into();
    let body = html! {
        h1 { (v.t("error.title")) }
        (failure(v.lang, v.who.role == Role::Admin, &e))
        p { a href="/" { (v.t("error.back")) } }
    };
    (e.status, page(v, v.t("error.title"), body)).into_response()
}

/// A refusal the page words itself (an expired form, a role): `key` in the words.
pub fn refusal(v: &Viewer, status: StatusCode, key: &'static str) -> Response {
    let body = html! {
        h1 { (v.t("error.title")) }
        p.error role="alert" { (v.t(key)) }
        p { a href="/" { (v.t("error.back")) } }
    };
    (status, page(v, v.t("error.title"), body)).into_response()
}

/// What every page says when a service call fails, and the one place it is
/// worded: a sentence in the page's language saying what the person can do.
/// The service's own message (English, technical, it may name ids) is shown to
/// admins only, folded away.
pub fn failure(lang: Lang, admin: bool, e: &ApiError) -> Markup {
    html! {
        p.error role="alert" { (lang.t(failure_key(e.code))) }
        @if admin {
            details.detail { summary { (lang.t("error.detail")) } code { (e.message) } }
        }
    }
}

/// The words for an error code of `ApiError` (every code `DomainError` maps to).
pub(crate) fn failure_key(code: &str) -> &'static str {
    match code {
        "bad_request" => "error.bad_request",
        "unauthorized" => "error.unauthorized",
        "forbidden" => "error.forbidden",
        "not_found" => "error.not_found",
        "conflict" => "error.conflict",
        "gone" => "error.gone",
        "too_large" => "error.too_large",
        "not_media" | "media_refused" => "error.not_media",
        "busy" | "too_many" => "error.busy",
        "unavailable" => "error.unavailable",
        _ => "error.internal",
    }
}

/// mm:ss or h:mm:ss for a position in ms.
pub fn clock(ms: u64) -> String {
    let s = ms / 1000;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// Snippets from the index are escaped text with `<b>` marks.
pub fn snippet(html: &str) -> PreEscaped<String> {
    PreEscaped(html.to_string())
}

pub fn not_allowed(v: &Viewer) -> Response {
    refusal(v, StatusCode::FORBIDDEN, "error.role")
}
