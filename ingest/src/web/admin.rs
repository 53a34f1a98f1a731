//! The admin pages (users, the roster, endpoints and their stream keys, retention policies
//! and holds, alerts) and the compliance report with its bar chart. Every form
//! posts with the session's CSRF token and goes through the same functions as
//! the API, so each change is checked and ledgered the same way.

use super::pages::local_date;
use super::{error_page, page, Viewer};
use crate::http::ApiError;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup};
use niem_core::accounts::UserChange;
use niem_core::principal::Role;
use niem_core::retention::{asked, NewHold, NewPolicy};
use niem_core::users::NewUser;
use niem_core::{App, DomainError};
use std::sync::Arc;

type Pairs = Vec<(String, String)>;

fn field<'a>(form: &'a Pairs, name: &str) -> &'a str {
    form.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.trim())
}

fn fields<'a>(form: &'a Pairs, name: &str) -> Vec<&'a str> {
    form.iter().filter(|(k, v)| k == name && !v.trim().is_empty()).map(|(_, v)| v.trim()).collect()
}

fn optional(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

/// Checks the form's CSRF token and the admin role, then runs `action` and
/// returns to `back`; an error is shown as a page.
async fn act<F>(v: &Viewer, form: &Pairs, back: &str, action: F) -> Response
where
    F: std::future::Future<Output = Result<(), DomainError>>,
{
    if field(form, "csrf") != v.csrf() || v.csrf().is_empty() {
        return super::refusal(v, axum::http::StatusCode::FORBIDDEN, "login.expired");
    }
    if let Err(e) = v.who.require(&[Role::Admin]) {
        return error_page(v, e);
    }
    match action.await {
        Ok(()) => Redirect::to(back).into_response(),
        Err(e) => error_page(v, e),
    }
}

fn csrf(v: &Viewer) -> Markup {
    html! { input type="hidden" name="csrf" value=(v.csrf()); }
}

fn button(v: &Viewer, action: &str, label: &str) -> Markup {
    html! { form.inline method="post" action=(action) { (csrf(v)) button type="submit" { (label) } } }
}

/// (id, name, path) of the orgs in the viewer's scope (every org, for an admin), in tree order.
async fn orgs(app: &App, v: &Viewer) -> Vec<(String, String, String)> {
    niem_core::orgs::scoped(app, &v.who).await.unwrap_or_default()
}

fn org_options(orgs: &[(String, String, String)], any: Option<&str>) -> Markup {
    html! {
        @if let Some(label) = any { option value="" { (label) } }
        @for (id, name, path) in orgs { option value=(id) { (" ".repeat(path.matches('/').count().saturating_sub(1) * 2)) (name) } }
    }
}

fn admin_nav(v: &Viewer) -> Markup {
    html! {
        nav.sub {
            a href="/admin/users" { (v.t("admin.users")) }
            a href="/admin/endpoints" { (v.t("admin.endpoints")) }
            a href="/admin/members" { (v.t("nav.roster")) }
            a href="/admin/retention" { (v.t("admin.retention")) }
            a href="/admin/alerts" { (v.t("admin.alerts")) }
            a href="/reports" { (v.t("nav.reports")) }
        }
    }
}

pub async fn users(State(app): State<Arc<App>>, v: Viewer) -> Response {
    if v.who.role != Role::Admin {
        return super::not_allowed(&v);
    }
    let list = match niem_core::users::list(&app, &v.who).await {
        Ok(l) => l,
        Err(e) => return error_page(&v, e),
    };
    let requests = niem_core::admins::list(&app, &v.who).await.unwrap_or_default();
    let admins = niem_core::admins::count(&app).await.unwrap_or(0);
    let host = niem_core::ledger::host_actions(&app, &v.who).await.unwrap_or_default();
    let all = orgs(&app, &v).await;
    let name_of = |id: &str| all.iter().find(|(o, _, _)| o == id).map_or(id.to_string(), |(_, n, _)| n.clone());
    let body = html! {
        h1 { (v.t("admin.users")) }
        (admin_nav(&v))
        @if admins < 2 { p.badge.pending { (v.t("admin.one_admin")) } }
        @let pending: Vec<_> = requests.iter().filter(|r| r.state == "pending").collect();
        @if !pending.is_empty() {
            h2 { (v.t("admin.requests")) }
            table { tbody { @for r in &pending {
                tr {
                    td { (r.name.as_deref().unwrap_or(&r.user)) } td { code { (r.change.to_string()) } }
                    td { (r.requested_by) } td { (local_date(&r.requested_at)) }
                    td { (v.t("admin.until")) " " (local_date(&r.approve_before)) }
                    td { @if r.requested_by != v.who.actor() { (button(&v, &format!("/admin/users/requests/{}/approve", r.id), v.t("admin.approve"))) }
                         @else { (v.t("admin.awaiting")) } }
                }
            } } }
        }
        table {
            thead { tr { th { (v.t("login.name")) } th { (v.t("admin.role")) } th { (v.t("search.org")) } th { (v.t("live.state")) } th {} } }
            tbody { @for u in &list {
                tr {
                    td { (u.name) } td { (v.t(super::role_key(u.role))) }
                    td { (u.scopes.iter().map(|s| name_of(s)).collect::<Vec<_>>().join(", ")) }
                    td { @if u.disabled { (v.t("admin.disabled")) } @else { (v.t("admin.active")) } }
                    td { @if u.id != v.who.user.to_string() {
                        @if u.disabled { (button(&v, &format!("/admin/users/{}/enable", u.id), v.t("admin.enable"))) }
                        @else { (button(&v, &format!("/admin/users/{}/disable", u.id), v.t("admin.disable"))) }
                    } }
                }
            } }
        }
        h2 { (v.t("admin.add_user")) }
        form.admin method="post" action="/admin/users" {
            (csrf(&v))
            label { (v.t("login.name")) input name="name" required; }
            label { (v.t("admin.role")) select name="role" {
                @for r in ["inspector", "auditor", "admin", "recorder", "secretary"] { option value=(r) { (v.t(super::role_key(Role::parse(r).unwrap_or(Role::Auditor)))) } }
            } }
            label { (v.t("login.password")) input name="password" type="password" minlength="10" autocomplete="new-password"; }
            label { (v.t("admin.scopes")) select name="scope" multiple size="5" { (org_options(&all, None)) } }
            button type="submit" { (v.t("admin.add")) }
        }
        @if !host.is_empty() {
            h2 { (v.t("admin.host_actions")) }
            p { (v.t("admin.host_note")) }
            table.ledger { tbody { @for (seq, ts, action, subject) in &host {
                tr { td { (seq) } td { (local_date(ts)) } td { code { (action) } } td { (subject) } }
            } } }
        }
    };
    page(&v, v.t("admin.users"), body).into_response()
}

pub async fn approve_request(
    State(app): State<Arc<App>>,
    v: Viewer,
    Path(id): Path<String>,
    Form(form): Form<Pairs>,
) -> Response {
    act(&v, &form, "/admin/users", async { niem_core::admins::approve(&app, &v.who, &id).await }).await
}

pub async fn add_user(State(app): State<Arc<App>>, v: Viewer, Form(form): Form<Pairs>) -> Response {
    let role = Role::parse(field(&form, "role"));
    let scopes: Result<Vec<niem_core::schema::OrgId>, _> = fields(&form, "scope").into_iter().map(str::parse).collect();
    let action = async {
        let role = role.ok_or_else(|| DomainError::invalid("unknown role"))?;
        let req = NewUser {
            name: field(&form, "name").to_string(),
            role,
            password: optional(field(&form, "password")),
            scopes: scopes?,
        };
        niem_core::users::add(&app, &v.who, req).await.map(|_| ())
    };
    act(&v, &form, "/admin/users", action).await
}

pub async fn set_disabled(
    State(app): State<Arc<App>>,
    v: Viewer,
    Path((user, what)): Path<(String, String)>,
    Form(form): Form<Pairs>,
) -> Response {
    let action = async {
        let disabled = match what.as_str() {
            "disable" => true,
            "enable" => false,
            _ => return Err(DomainError::not_found("no such action")),
        };
        let change = UserChange { disabled: Some(disabled), ..Default::default() };
        niem_core::users::change(&app, &v.who, user.parse()?, change).await.map(|_| ())
    };
    act(&v, &form, "/admin/users", action).await
}

pub async fn endpoints(State(app): State<Arc<App>>, v: Viewer) -> Response {
    if v.who.role != Role::Admin {
        return super::not_allowed(&v);
    }
    endpoints_page(&app, &v, None).await
}

async fn endpoints_page(app: &App, v: &Viewer, new_key: Option<(String, String)>) -> Response {
    let list = match niem_core::endpoints::list_visible(app, &v.who, None).await {
        Ok(l) => l,
        Err(e) => return error_page(v, e),
    };
    let all = orgs(app, v).await;
    let name_of = |id: &str| all.iter().find(|(o, _, _)| o == id).map_or(id.to_string(), |(_, n, _)| n.clone());
    let body = html! {
        h1 { (v.t("admin.endpoints")) }
        (admin_nav(v))
        @if let Some((name, key)) = &new_key {
            div.badge.pending role="alert" {
                p { strong { (name) } ": " (v.t("admin.key_once")) }
                p { code.key { (key) } }
            }
        }
        table {
            thead { tr { th { (v.t("search.org")) } th { (v.t("live.endpoint")) } th { (v.t("live.state")) } th {} } }
            tbody { @for e in &list {
                tr { td { (name_of(&e.org)) } td { (e.name) }
                    td { @if e.revoked_at.is_some() { (v.t("admin.revoked")) } @else { (v.t("admin.active")) } }
                    td { @if e.revoked_at.is_none() { (button(v, &format!("/admin/endpoints/{}/revoke", e.id), v.t("admin.revoke"))) } } }
            } }
        }
        h2 { (v.t("admin.add_endpoint")) }
        form.admin method="post" action="/admin/endpoints" {
            (csrf(v))
            label { (v.t("search.org")) select name="org" required { (org_options(&all, None)) } }
            label { (v.t("live.endpoint")) input name="name" required; }
            button type="submit" { (v.t("admin.add")) }
        }
    };
    page(v, v.t("admin.endpoints"), body).into_response()
}

/// Creates an endpoint and shows its stream key on the answer, once.
pub async fn add_endpoint(State(app): State<Arc<App>>, v: Viewer, Form(form): Form<Pairs>) -> Response {
    if field(&form, "csrf") != v.csrf() || v.csrf().is_empty() {
        return super::refusal(&v, axum::http::StatusCode::FORBIDDEN, "login.expired");
    }
    let org = match field(&form, "org").parse() {
        Ok(o) => o,
        Err(e) => return error_page(&v, ApiError::from(e)),
    };
    match niem_core::endpoints::add(&app, &v.who, org, field(&form, "name")).await {
        Ok((ep, key)) => endpoints_page(&app, &v, Some((ep.name, key))).await,
        Err(e) => error_page(&v, e),
    }
}

pub async fn revoke_endpoint(
    State(app): State<Arc<App>>,
    v: Viewer,
    Path(id): Path<String>,
    Form(form): Form<Pairs>,
) -> Response {
    let action = async { niem_core::endpoints::revoke(&app, &v.who, id.parse()?).await };
    act(&v, &form, "/admin/endpoints", action).await
}

pub async fn retention(State(app): State<Arc<App>>, v: Viewer) -> Response {
    if v.who.role != Role::Admin {
        return super::not_allowed(&v);
    }
    let lists =
        async { Ok::<_, DomainError>((asked::policies(&app, &v.who).await?, asked::holds(&app, &v.who).await?)) };
    let (policies, holds) = match lists.await {
        Ok(l) => l,
        Err(e) => return error_page(&v, e),
    };
    let all = orgs(&app, &v).await;
    let name_of = |path: &Option<String>| match path {
        Some(p) => all.iter().find(|(_, _, op)| op == p).map_or(p.clone(), |(_, n, _)| n.clone()),
        None => v.t("admin.every_org").to_string(),
    };
    let kinds = [
        ("regular", "kind.regular"),
        ("thematic", "kind.thematic"),
        ("conference", "kind.conference"),
        ("committee", "kind.committee"),
    ];
    let me = v.who.actor();
    let body = html! {
        h1 { (v.t("admin.retention")) }
        (admin_nav(&v))
        table {
            thead { tr { th { (v.t("admin.class")) } th { (v.t("search.org")) } th { (v.t("search.kind")) } th { (v.t("admin.keep_days")) } th { (v.t("live.state")) } } }
            tbody { @for p in &policies {
                tr { td { (v.t(if p.class == "record" { "admin.class_record" } else { "admin.class_media" })) } td { (name_of(&p.org_path)) } td { (p.kind.as_deref().map(|k| v.t(super::pages::kind_key(k))).unwrap_or(v.t("search.any_kind"))) } td { (p.keep_days) }
                    td { @if p.needs_approval && p.approved_by.is_none() {
                        (v.t("admin.awaiting")) " (" (p.pending_for) " " (v.t("admin.recordings_kept")) ") "
                        @if p.requested_by != me { (button(&v, &format!("/admin/policies/{}/approve", p.id), v.t("admin.approve"))) }
                    } @else { (v.t("admin.active")) } } }
            } }
        }
        form.admin method="post" action="/admin/policies" {
            (csrf(&v))
            label { (v.t("search.org")) select name="org" { (org_options(&all, Some(v.t("admin.every_org")))) } }
            label { (v.t("search.kind")) select name="kind" { option value="" { (v.t("search.any_kind")) } @for (k, key) in kinds { option value=(k) { (v.t(key)) } } } }
            label { (v.t("admin.class")) select name="class" {
                option value="media" { (v.t("admin.class_media")) } option value="record" { (v.t("admin.class_record")) } } }
            label { (v.t("admin.keep_days")) input name="keep_days" type="number" min="1" required; }
            button type="submit" { (v.t("admin.set_policy")) }
        }
        h2 { (v.t("admin.holds")) }
        table {
            thead { tr { th { (v.t("search.org")) } th { (v.t("search.from")) } th { (v.t("search.to")) } th { (v.t("admin.case")) } th { (v.t("admin.reason")) } th {} } }
            tbody { @for h in &holds {
                tr { td { (name_of(&Some(h.org_path.clone()))) } td { (local_date(&h.from)) } td { (local_date(&h.to)) } td { (h.case_ref) } td { (h.reason) }
                    td { @if let Some(at) = &h.released_at { (v.t("admin.released")) " " (local_date(at)) }
                        @else { form.inline method="post" action=(format!("/admin/holds/{}/release", h.id)) { (csrf(&v)) input name="reason" required placeholder=(v.t("admin.reason")); button type="submit" { (v.t("admin.release")) } } } } }
            } }
        }
        form.admin method="post" action="/admin/holds" {
            (csrf(&v))
            label { (v.t("search.org")) select name="org" required { (org_options(&all, None)) } }
            label { (v.t("search.from")) input name="from" type="date" required; }
            label { (v.t("search.to")) input name="to" type="date" required; }
            label { (v.t("admin.case")) input name="case_ref" required; }
            label { (v.t("admin.reason")) input name="reason" required; }
            button type="submit" { (v.t("admin.place_hold")) }
        }
    };
    page(&v, v.t("admin.retention"), body).into_response()
}

pub async fn set_policy(State(app): State<Arc<App>>, v: Viewer, Form(form): Form<Pairs>) -> Response {
    let action = async {
        let org = optional(field(&form, "org")).map(|o| o.parse()).transpose()?;
        let keep_days =
            field(&form, "keep_days").parse().map_err(|_| DomainError::invalid("keep-for must be a number of days"))?;
        asked::set_policy(
            &app,
            &v.who,
            NewPolicy { org, kind: optional(field(&form, "kind")), keep_days, class: optional(field(&form, "class")) },
        )
        .await
        .map(|_| ())
    };
    act(&v, &form, "/admin/retention", action).await
}

pub async fn approve(
    State(app): State<Arc<App>>,
    v: Viewer,
    Path(id): Path<String>,
    Form(form): Form<Pairs>,
) -> Response {
    let action = async { asked::approve(&app, &v.who, id.parse()?).await };
    act(&v, &form, "/admin/retention", action).await
}

pub async fn place_hold(State(app): State<Arc<App>>, v: Viewer, Form(form): Form<Pairs>) -> Response {
    let action = async {
        let h = NewHold {
            org: field(&form, "org").parse()?,
            from: field(&form, "from").to_string(),
            to: field(&form, "to").to_string(),
            reason: field(&form, "reason").to_string(),
            case_ref: field(&form, "case_ref").to_string(),
        };
        asked::place_hold(&app, &v.who, h).await.map(|_| ())
    };
    act(&v, &form, "/admin/retention", action).await
}

pub async fn release_hold(
    State(app): State<Arc<App>>,
    v: Viewer,
    Path(id): Path<String>,
    Form(form): Form<Pairs>,
) -> Response {
    let action = async { asked::release_hold(&app, &v.who, id.parse()?, field(&form, "reason")).await };
    act(&v, &form, "/admin/retention", action).await
}

pub async fn alerts(State(app): State<Arc<App>>, v: Viewer) -> Response {
    if v.who.role != Role::Admin {
        return super::not_allowed(&v);
    }
    let since = archive::clock::format_ts(app.vault.clock.now() - time::Duration::days(7));
    let list = niem_core::schedules::visible_alerts(&app, &v.who, Some(since)).await.unwrap_or_default();
    let body = html! {
        h1 { (v.t("admin.alerts")) }
        (admin_nav(&v))
        @if list.is_empty() { p.none { (v.t("admin.no_alerts")) } }
        table { tbody { @for a in &list {
            tr { td { (a.org_name) } td { (a.title) } td { (local_date(&a.scheduled_at)) }
                td { @if a.delivered_at.is_some() { (v.t("admin.delivered")) } } }
        } } }
    };
    page(&v, v.t("admin.alerts"), body).into_response()
}

#[derive(Debug, Default, serde::Deserialize)]
struct ReportQuery {
    org: Option<String>,
    month: Option<String>,
}

/// The compliance report: a table and a bar per org (share of expected meetings
/// held), with links to the same numbers as CSV and JSON.
pub async fn report(State(app): State<Arc<App>>, v: Viewer, RawQuery(raw): RawQuery) -> Response {
    if v.who.role == Role::Recorder {
        return super::not_allowed(&v);
    }
    let q: ReportQuery = super::pages::query(raw).unwrap_or_default();
    let now = app.vault.clock.now().to_offset(niem_core::local_time::OFFSET);
    let month =
        q.month.filter(|m| !m.is_empty()).unwrap_or_else(|| format!("{:04}-{:02}", now.year(), u8::from(now.month())));
    let all = match niem_core::orgs::scoped(&app, &v.who).await {
        Ok(o) => o,
        Err(e) => return error_page(&v, e),
    };
    let org =
        q.org.filter(|o| all.iter().any(|(id, _, _)| id == o)).or_else(|| all.first().map(|(id, _, _)| id.clone()));
    let path = org.as_ref().and_then(|o| all.iter().find(|(id, _, _)| id == o)).map(|(_, _, p)| p.clone());
    let rows = match path {
        Some(path) => match niem_core::reports::rows(&app, &v.who, path, month.clone()).await {
            Ok(r) => r,
            Err(e) => return error_page(&v, e),
        },
        None => Vec::new(),
    };
    let body = html! {
        h1 { (v.t("nav.reports")) }
        form.filters method="get" action="/reports" {
            label { (v.t("search.org")) select name="org" { @for (id, name, _) in &all { option value=(id) selected[org.as_deref() == Some(id.as_str())] { (name) } } } }
            label { (v.t("admin.month")) input name="month" type="month" value=(month); }
            button type="submit" { (v.t("search.submit")) }
        }
        @if let Some(o) = &org {
            p { a href=(format!("/api/v1/reports/compliance?org={o}&month={month}&format=csv")) { "CSV" } " · " a href=(format!("/api/v1/reports/compliance?org={o}&month={month}")) { "JSON" } }
        }
        div.wide { table.report {
            thead { tr { th { (v.t("search.org")) } th { (v.t("report.expected")) } th { (v.t("report.held")) } th { (v.t("report.recorded")) } th { (v.t("report.sealed")) } th { (v.t("report.transcribed")) } th { (v.t("report.missing")) } th { (v.t("report.rate")) } } }
            tbody { @for r in rows.iter().map(|r| &r.counts) {
                @let rate = (r.held * 100).checked_div(r.expected).unwrap_or(0);
                tr { td { (r.org_name) } td { (r.expected) } td { (r.held) } td { (r.recorded) } td { (r.sealed) } td { (r.transcribed) } td { (r.missing) }
                    td.bar { @if r.expected > 0 { progress max="100" value=(rate) { (rate) "%" } " " (rate) "%" } } }
            } }
        } }
        (record_table(&v, &rows, app.config.reports.attendance_target))
    };
    page(&v, v.t("nav.reports"), body).into_response()
}

/// The meeting record's figures per org: the attendance bar against its target
/// (an org under it is flagged in words, not by colour alone), and the counts.
fn record_table(v: &Viewer, rows: &[niem_core::reports::ReportRow], target: f64) -> Markup {
    html! {
        h2 { (v.t("report.record")) }
        p { (v.t("report.target")) ": " (target) "%" }
        div.wide { table.report.record {
            thead { tr {
                th { (v.t("search.org")) } th { (v.t("report.attendance")) } th { (v.t("report.unapproved")) }
                th { (v.t("report.chair_problems")) } th { (v.t("report.documents_in_advance")) } th { (v.t("report.minutes")) }
                th { (v.t("report.committee_before")) } th { (v.t("report.score")) }
            } }
            tbody { @for r in rows {
                @let (c, f) = (&r.counts, &r.record);
                tr.below[f.attendance_below_target] {
                    td { (c.org_name) }
                    td.bar { @if let Some(rate) = f.attendance_rate {
                        progress max="100" value=(rate) { (rate) "%" } " " (rate) "% (" (f.attendance_present) "/" (f.attendance_expected) ")"
                        @if f.attendance_below_target { " " strong.flag { (v.t("report.below_target")) } }
                    } }
                    td { (f.unapproved_absences) }
                    td { (f.chair_problems) }
                    td { (f.documents_in_advance) "/" (c.expected) }
                    td { (f.minutes_filed) "/" (c.expected)
                        @if let Some(d) = f.minutes_median_days { " · " (d) " " (v.t("report.minutes_days")) } }
                    td { @if f.committee_expected > 0 { (f.committee_before) "/" (f.committee_expected) } @else { "—" } }
                    td { @if let Some(s) = f.mean_score { (s) "/5 (" (f.evaluated) ")" } @else { "—" } }
                }
            } }
        } }
    }
}

#[derive(Debug, Default, serde::Deserialize)]
struct RosterQuery {
    org: Option<String>,
    history: Option<String>,
}

pub(crate) fn member_role_key(role: &str) -> &'static str {
    match role {
        "secretary" => "member.secretary",
        "deputy" => "member.deputy",
        "committee" => "member.committee",
        _ => "member.member",
    }
}

/// A cell's roster (names opened in memory for this page only) and, for
/// admins, the form that adds a member. Inspectors and secretaries read the
/// rosters of their scope; the domain narrows and refuses the rest.
pub async fn members(State(app): State<Arc<App>>, v: Viewer, RawQuery(raw): RawQuery) -> Response {
    if !matches!(v.who.role, Role::Admin | Role::Inspector | Role::Secretary) {
        return super::not_allowed(&v);
    }
    let q: RosterQuery = super::pages::query(raw).unwrap_or_default();
    let all = orgs(&app, &v).await;
    // A secretary of one cell has nothing to pick.
    let chosen = q.org.filter(|o| !o.is_empty()).or_else(|| (all.len() == 1).then(|| all[0].0.clone()));
    let history = q.history.is_some();
    let roster = match &chosen {
        Some(org) => {
            let listed = async { niem_core::members::list(&app, &v.who, org.parse()?, history).await };
            match listed.await {
                Ok(r) => Some(r),
                Err(e) => return error_page(&v, e),
            }
        }
        None => None,
    };
    let name_of = |id: &str| all.iter().find(|(o, _, _)| o == id).map_or(id.to_string(), |(_, n, _)| n.clone());
    let is_admin = v.who.role == Role::Admin;
    let body = html! {
        h1 { (v.t("roster.title")) }
        @if is_admin { (admin_nav(&v)) }
        form.filters method="get" action="/admin/members" {
            label { (v.t("roster.cell")) select name="org" {
                @for (id, name, path) in &all {
                    option value=(id) selected[chosen.as_deref() == Some(id.as_str())] {
                        (" ".repeat(path.matches('/').count().saturating_sub(1) * 2)) (name)
                    }
                }
            } }
            label { input type="checkbox" name="history" checked[history]; " " (v.t("roster.history")) }
            button type="submit" { (v.t("roster.show")) }
        }
        @match &roster {
            None => p { (v.t("roster.pick")) },
            Some(r) if r.is_empty() => p { (v.t("roster.none")) },
            Some(r) => table {
                thead { tr {
                    th { (v.t("roster.name")) } th { (v.t("roster.number")) } th { (v.t("roster.role")) }
                    th { (v.t("roster.cell")) } th { (v.t("roster.joined")) } th { (v.t("roster.left")) }
                    th { (v.t("roster.exempt")) }
                } }
                tbody { @for m in r {
                    tr data-member=(m.id) {
                        td { (m.name) } td { (m.number.as_deref().unwrap_or("")) } td { (v.t(member_role_key(&m.role))) }
                        td { (name_of(&m.org.to_string())) } td { (m.joined) } td { (m.left.as_deref().unwrap_or("")) }
                        td { @if m.exempt { "✓" } }
                    }
                } }
            },
        }
        @if is_admin {
            @if let Some(org) = &chosen {
                h2 { (v.t("roster.add")) }
                form.admin method="post" action="/admin/members" {
                    (csrf(&v))
                    input type="hidden" name="org" value=(org);
                    label { (v.t("roster.name")) input name="name" required maxlength="200"; }
                    label { (v.t("roster.number")) input name="number" maxlength="40"; }
                    label { (v.t("roster.role")) select name="role" {
                        @for r in niem_core::members::MEMBER_ROLES {
                            option value=(r) selected[r == "member"] { (v.t(member_role_key(r))) }
                        }
                    } }
                    label { (v.t("roster.joined")) input name="joined" type="date" required; }
                    label { input type="checkbox" name="exempt"; " " (v.t("roster.exempt")) }
                    button type="submit" { (v.t("admin.add")) }
                }
                p.note { (v.t("roster.import_note")) }
            }
        }
    };
    page(&v, v.t("roster.title"), body).into_response()
}

pub async fn add_member(State(app): State<Arc<App>>, v: Viewer, Form(form): Form<Pairs>) -> Response {
    let org = field(&form, "org").to_string();
    let back = format!("/admin/members?org={}", super::url_encode(&org));
    let action = async {
        let new = niem_core::members::NewMember {
            name: field(&form, "name").to_string(),
            number: optional(field(&form, "number")),
            role: optional(field(&form, "role")),
            joined: field(&form, "joined").to_string(),
            exempt: !field(&form, "exempt").is_empty(),
        };
        niem_core::members::add(&app, &v.who, org.parse()?, new).await.map(|_| ())
    };
    act(&v, &form, &back, action).await
}
