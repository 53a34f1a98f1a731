//! The pages behind the sign-in: search, meetings, meeting, live, ledger.

use super::evaluation::evaluation_section;
use super::record::{attendance_section, minutes_section, record_badge, Record, MINUTES};
use super::{clock, error_page, not_allowed, page, snippet, Viewer};
use crate::http::ApiError;
use archive::id::RecordingId;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use niem_core::documents::DocumentView;
use niem_core::orgs::Browse;
use niem_core::principal::Role;
use niem_core::search::{Ask, Found};
use niem_core::transcript::Transcript;
use niem_core::verification::Verification;
use niem_core::{App, DomainError};
use std::sync::Arc;

/// The query string without the language switch, decoded as `T`.
pub(crate) fn query<T: serde::de::DeserializeOwned + Default>(raw: Option<String>) -> Result<T, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.as_deref().unwrap_or("")).unwrap_or_default();
    let kept: Vec<(String, String)> = pairs.into_iter().filter(|(k, _)| k != "lang").collect();
    let text = serde_urlencoded::to_string(kept).map_err(ApiError::internal)?;
    serde_urlencoded::from_str(&text).map_err(|e| ApiError::bad_request(format!("bad query: {e}")))
}

pub async fn search(State(app): State<Arc<App>>, v: Viewer, RawQuery(raw): RawQuery) -> Response {
    // Sign-in lands here by default; a secretary, who reads no content, starts
    // at their cell's roster instead. A search they ask for is still refused.
    if v.who.role == Role::Secretary && raw.as_deref().is_none_or(str::is_empty) {
        return axum::response::Redirect::to("/admin/members").into_response();
    }
    if !matches!(v.who.role, Role::Admin | Role::Inspector) {
        return not_allowed(&v);
    }
    let ask: Ask = match query(raw) {
        Ok(a) => a,
        Err(e) => return error_page(&v, e),
    };
    let orgs = match visible_orgs(&app, &v).await {
        Ok(o) => o,
        Err(e) => return error_page(&v, e),
    };
    let asked = !ask.q.trim().is_empty();
    let found = if asked {
        match niem_core::search::ask(&app, &v.who, ask.clone()).await {
            Ok(f) => Some(f),
            Err(e) => return error_page(&v, e),
        }
    } else {
        None
    };
    let body = html! {
        h1 { (v.t("search.title")) }
        (search_form(&v, &ask, &orgs))
        @if let Some(f) = &found { (results(&v, f)) }
    };
    page(&v, v.t("search.title"), body).into_response()
}

fn search_form(v: &Viewer, ask: &Ask, orgs: &[(String, String, usize)]) -> Markup {
    let kinds = [
        ("regular", "kind.regular"),
        ("thematic", "kind.thematic"),
        ("conference", "kind.conference"),
        ("committee", "kind.committee"),
    ];
    let sorts = [("relevance", "sort.relevance"), ("newest", "sort.newest"), ("oldest", "sort.oldest")];
    let sort = sort_code(ask.sort.unwrap_or_default());
    html! {
        form.search method="get" action="/search" role="search" {
            div.query {
                input type="search" name="q" value=(ask.q) placeholder=(v.t("search.placeholder")) aria-label=(v.t("search.title")) autofocus;
                button type="submit" { (v.t("search.submit")) }
            }
            div.filters {
                label { (v.t("search.org"))
                    select name="org" {
                        option value="" { (v.t("search.any_org")) }
                        @for (id, name, depth) in orgs {
                            option value=(id) selected[ask.org.as_deref() == Some(id.as_str())] { (" ".repeat(*depth * 2)) (name) }
                        }
                    }
                }
                label { (v.t("search.kind"))
                    select name="kind" {
                        option value="" { (v.t("search.any_kind")) }
                        @for (k, key) in kinds { option value=(k) selected[ask.kind.as_deref() == Some(k)] { (v.t(key)) } }
                    }
                }
                label { (v.t("search.from")) input type="date" name="from" value=(ask.from.as_deref().unwrap_or("")); }
                label { (v.t("search.to")) input type="date" name="to" value=(ask.to.as_deref().unwrap_or("")); }
                label { (v.t("search.sort"))
                    select name="sort" {
                        @for (s, key) in sorts { option value=(s) selected[sort == s] { (v.t(key)) } }
                    }
                }
            }
            // A page size asked in the address (`limit`, 1 to 100 as in the API)
            // stays with the next search from this form.
            @if let Some(l) = ask.limit { input type="hidden" name="limit" value=(l); }
            p.hint { (v.t("search.hint")) }
        }
    }
}

fn results(v: &Viewer, f: &Found) -> Markup {
    let next = f.next_cursor.as_ref().map(|c| {
        let mut q = f.query.clone();
        q.cursor = Some(c.clone());
        search_link(&q, true)
    });
    html! {
        section.results {
            @if let Some(c) = &f.catching_up {
                p.catching-up role="status" { (v.t("search.catching_up")) ": " (c.indexed) " / " (c.total) " — " (v.t("search.catching_up_note")) }
            }
            @if f.meetings.is_empty() && f.total.count == 0 {
                p.none { (v.t("search.none")) }
            } @else {
                p.summary {
                    (v.t("search.found")) " "
                    @if !f.total.exact { (v.t("search.more_than")) " " }
                    (f.total.count) " " (v.t("search.meetings")) " · " (format!("{:.1}", f.took_ms)) " ms · "
                    a.export href=(format!("/api/v1/search/export?{}", search_link(&f.query, false))) download { (v.t("search.export")) }
                }
            }
            @for m in &f.meetings {
                article.meeting {
                    h2 { a href=(format!("/meetings/{}", m.meeting)) { (m.title) } }
                    p.meta { (m.org_name) " · " (local_date(&m.scheduled_at)) " · " (v.t(kind_key(&m.kind))) }
                    ol.hits {
                        @for h in &m.hits {
                            li {
                                a.hit href=(format!("/meetings/{}?stream={}&t={:.1}", m.meeting, h.stream, h.at_ms as f64 / 1000.0)) data-at-ms=(h.at_ms) {
                                    span.time { (clock(h.at_ms)) }
                                    span.label { (h.label) }
                                }
                                p.snippet { (snippet(&h.snippet)) }
                            }
                        }
                    }
                }
            }
            nav.pages {
                @if f.query.cursor.is_some() {
                    a.first href=(format!("/search?{}", search_link(&f.query, false))) { (v.t("search.first")) }
                }
                @if let Some(next) = &next {
                    a.next rel="next" href=(format!("/search?{next}")) { (v.t("search.next")) }
                }
            }
        }
    }
}

fn sort_code(sort: niem_core::search::Sort) -> &'static str {
    match sort {
        niem_core::search::Sort::Relevance => "relevance",
        niem_core::search::Sort::Newest => "newest",
        niem_core::search::Sort::Oldest => "oldest",
    }
}

/// The query string of `ask` (the same search; with `cursor`, its page; the
/// page size kept only then).
fn search_link(ask: &Ask, cursor: bool) -> String {
    let mut pairs: Vec<(&str, String)> = vec![("q", ask.q.clone())];
    for (k, v) in [("org", &ask.org), ("kind", &ask.kind), ("from", &ask.from), ("to", &ask.to)] {
        if let Some(v) = v {
            pairs.push((k, v.clone()));
        }
    }
    if let Some(s) = ask.sort {
        pairs.push(("sort", sort_code(s).into()));
    }
    if cursor {
        if let Some(l) = ask.limit {
            pairs.push(("limit", l.to_string()));
        }
        if let Some(c) = &ask.cursor {
            pairs.push(("cursor", c.clone()));
        }
    }
    serde_urlencoded::to_string(pairs).unwrap_or_default()
}

pub(crate) fn kind_key(kind: &str) -> &'static str {
    match kind {
        "thematic" => "kind.thematic",
        "conference" => "kind.conference",
        "committee" => "kind.committee",
        _ => "kind.regular",
    }
}

pub(crate) use niem_core::local_time::display as local_date;

/// (id, name, depth) of the orgs this viewer may search, in tree order.
async fn visible_orgs(app: &App, v: &Viewer) -> Result<Vec<(String, String, usize)>, DomainError> {
    let orgs = niem_core::orgs::scoped(app, &v.who).await?;
    Ok(orgs.into_iter().map(|(id, name, path)| (id, name, path.matches('/').count().saturating_sub(1))).collect())
}

/// `/meetings`: the viewer's meetings of an org subtree by date, newest first,
/// with filters and a page of [`niem_core::orgs::BROWSE_PAGE`].
pub async fn browse(State(app): State<Arc<App>>, v: Viewer, RawQuery(raw): RawQuery) -> Response {
    if !matches!(v.who.role, Role::Admin | Role::Inspector) {
        return not_allowed(&v);
    }
    let b: Browse = match query(raw) {
        Ok(b) => b,
        Err(e) => return error_page(&v, e),
    };
    let orgs = match visible_orgs(&app, &v).await {
        Ok(o) => o,
        Err(e) => return error_page(&v, e),
    };
    let found = match niem_core::orgs::browse(&app, &v.who, b.clone()).await {
        Ok(f) => f,
        Err(e) => return error_page(&v, e),
    };
    let kinds = [
        ("regular", "kind.regular"),
        ("thematic", "kind.thematic"),
        ("conference", "kind.conference"),
        ("committee", "kind.committee"),
    ];
    let value = |o: &Option<String>| o.clone().unwrap_or_default();
    let link = |after: Option<&String>| {
        let mut q = b.clone();
        q.after = after.cloned();
        format!("/meetings?{}", serde_urlencoded::to_string(&q).unwrap_or_default())
    };
    let body = html! {
        h1 { (v.t("browse.title")) }
        form.search.browse method="get" action="/meetings" {
            div.filters {
                label { (v.t("search.org"))
                    select name="org" {
                        option value="" { (v.t("search.any_org")) }
                        @for (id, name, depth) in &orgs {
                            option value=(id) selected[b.org.as_deref() == Some(id.as_str())] { (" ".repeat(*depth * 2)) (name) }
                        }
                    }
                }
                label { (v.t("search.kind"))
                    select name="kind" {
                        option value="" { (v.t("search.any_kind")) }
                        @for (k, key) in kinds { option value=(k) selected[b.kind.as_deref() == Some(k)] { (v.t(key)) } }
                    }
                }
                label { (v.t("search.from")) input type="date" name="from" value=(value(&b.from)); }
                label { (v.t("search.to")) input type="date" name="to" value=(value(&b.to)); }
                label { input type="checkbox" name="recording" value="on" checked[b.recording.is_some()]; " " (v.t("browse.recording")) }
                label { input type="checkbox" name="transcript" value="on" checked[b.transcript.is_some()]; " " (v.t("browse.transcript")) }
                label { input type="checkbox" name="minutes" value="on" checked[b.minutes.is_some()]; " " (v.t("browse.minutes")) }
                button type="submit" { (v.t("browse.show")) }
            }
        }
        @if found.meetings.is_empty() {
            p.none { (v.t("browse.none")) }
        } @else {
            table.meetings {
                thead { tr {
                    th { (v.t("browse.date")) } th { (v.t("browse.meeting")) } th { (v.t("search.org")) }
                    th { (v.t("search.kind")) } th { (v.t("browse.recording")) } th { (v.t("browse.transcript")) }
                    th { (v.t("browse.minutes")) }
                } }
                tbody {
                    @for m in &found.meetings {
                        tr data-meeting=(m.id) {
                            td { (local_date(&m.scheduled_at)) }
                            td { a href=(format!("/meetings/{}", m.id)) { (m.title) } }
                            td { (m.org_name) }
                            td { (v.t(kind_key(&m.kind))) }
                            td { (v.t(match m.recording_state.as_deref() {
                                None => "browse.no",
                                Some("shredded") => "browse.shredded",
                                Some(_) => "browse.yes",
                            })) }
                            td { (v.t(if m.transcript { "browse.yes" } else { "browse.no" })) }
                            td { (v.t(if m.minutes { "browse.yes" } else { "browse.no" })) }
                        }
                    }
                }
            }
        }
        nav.pages {
            @if b.after.is_some() { a.first href=(link(None)) { (v.t("search.first")) } }
            @if let Some(next) = &found.next { a.next rel="next" href=(link(Some(next))) { (v.t("search.next")) } }
        }
    };
    page(&v, v.t("browse.title"), body).into_response()
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct MeetingQuery {
    stream: Option<String>,
    t: Option<f64>,
}

pub async fn meeting(
    State(app): State<Arc<App>>,
    v: Viewer,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
    headers: axum::http::HeaderMap,
) -> Response {
    // The member link is shown as a full URL (and QR code) on the host the viewer reached.
    let host = headers.get(axum::http::header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    let scheme = if app.config.https() { "https" } else { "http" };
    let base = format!("{scheme}://{host}");
    match meeting_page(&app, &v, id, raw, &base).await {
        Ok(m) => page(&v, &m.0, m.1).into_response(),
        Err(e) => error_page(&v, e),
    }
}

async fn meeting_page(
    app: &Arc<App>,
    v: &Viewer,
    id: String,
    raw: Option<String>,
    base: &str,
) -> Result<(String, Markup), ApiError> {
    let q: MeetingQuery = query(raw)?;
    let m = niem_core::orgs::meeting_detail(app, &v.who, id.parse()?).await?;
    let meeting: niem_core::schema::MeetingId = m.id.parse()?;
    // The meeting record, read once for its sections and its badge.
    let docs = niem_core::documents::list(app, &v.who, meeting).await?;
    let record = Record::read(app, v, meeting).await;
    let minutes = niem_core::minutes::get(app, &v.who, meeting).await.ok();
    let evaluation = niem_core::evaluation::get(app, &v.who, meeting).await.ok();
    // Every record object the badge covers besides documents and sheets.
    let mut extra: Vec<String> = minutes.iter().flat_map(|m| m.versions.iter().map(|d| d.stored_at.clone())).collect();
    extra.extend(evaluation.iter().flat_map(|e| e.versions.iter().map(|x| x.stored_at.clone())));
    let sections = html! {
        (attendance_section(v, meeting, &record))
        (documents_section(app, v, meeting, &docs, base).await?)
        (minutes_section(v, meeting, &minutes))
        (evaluation_section(v, meeting, &evaluation))
    };
    let record_badge = record_badge(app, v, meeting, &docs, &extra, &record).await;
    let head = html! {
        h1 { (m.title) }
        p.meta { (m.org_name) " · " (local_date(&m.scheduled_at)) " · " (v.t(kind_key(&m.kind))) }
    };
    let Some(rec) = m.recording.as_deref() else {
        let body = html! {
            (head)
            (record_badge)
            p { (v.t("meeting.no_recording")) }
            (sections)
        };
        return Ok((m.title.clone(), body));
    };
    let rec: RecordingId = rec.parse()?;
    let transcript = niem_core::transcripts::read(app, &v.who, rec, "web").await?;
    let manifest = app.vault.manifest_draft(rec).await?;
    let streams: Vec<(String, String)> = manifest
        .streams
        .iter()
        .map(|s| {
            let label = transcript
                .as_ref()
                .ok()
                .and_then(|t| t.streams.iter().find(|p| p.stream == s.id.to_string()))
                .map(|p| p.label.clone());
            (s.id.to_string(), label.unwrap_or_else(|| s.endpoint.clone().unwrap_or_else(|| s.kind.clone())))
        })
        .collect();
    let audio_only: Vec<String> = manifest
        .streams
        .iter()
        .filter(|s| s.content_type.as_deref().is_some_and(|c| c.starts_with("audio/")))
        .map(|s| s.id.to_string())
        .collect();
    let stream = q
        .stream
        .filter(|s| streams.iter().any(|(id, _)| id == s))
        .or_else(|| streams.first().map(|(id, _)| id.clone()));
    let start = q.t.filter(|t| t.is_finite() && *t >= 0.0).unwrap_or(0.0);
    let badge = integrity(app, v, rec).await;
    let witness = witness_badge(app, v, rec).await;
    let store_badge = store_integrity(app, v).await;
    let body = html! {
        (head)
        (badge)
        (record_badge)
        (witness)
        (store_badge)
        div.meeting-view {
            section.player {
                @if let Some(s) = &stream {
                    @let src = format!("/api/v1/recordings/{rec}/streams/{s}/media");
                    @if audio_only.contains(s) {
                        audio #player controls preload="auto" src=(src) data-start=(format!("{start:.2}")) data-stream=(s) {}
                    } @else {
                        video #player controls preload="auto" playsinline src=(src) data-start=(format!("{start:.2}")) data-stream=(s) {}
                    }
                    @if streams.len() > 1 {
                        nav.streams {
                            @for (id, label) in &streams {
                                a href=(format!("/meetings/{}?stream={id}", m.id)) aria-current=[(Some(id) == stream.as_ref()).then_some("true")] { (label) }
                            }
                        }
                    }
                }
            }
            section.transcript {
                h2 { (v.t("meeting.transcript")) }
                @match &transcript {
                    Ok(t) => (transcript_lines(v, &m.id, t, stream.as_deref())),
                    Err(why) => (missing(v, rec, why)),
                }
            }
        }
        (sections)
    };
    Ok((m.title.clone(), body))
}

/// The meeting's documents (time, hash, whether sent far enough ahead), the
/// members' link with its QR code, and an upload form for admins. Reads the
/// catalog only, like every page view.
async fn documents_section(
    app: &App,
    v: &Viewer,
    meeting: niem_core::schema::MeetingId,
    all: &[DocumentView],
    base: &str,
) -> Result<Markup, ApiError> {
    // The minutes have their own section.
    let docs: Vec<&DocumentView> = all.iter().filter(|d| d.kind != MINUTES).collect();
    let link = niem_core::documents::link(app, &v.who, meeting).await?;
    let url = format!("{base}/l/{}", link.token);
    let qr = qrcode::QrCode::new(url.as_bytes())
        .map(|c| c.render::<qrcode::render::svg::Color<'_>>().min_dimensions(160, 160).build())
        .map_err(ApiError::internal)?;
    // The renderer writes an XML declaration first; inline SVG in HTML needs none.
    let qr = qr.split_once("?>").map_or(qr.as_str(), |(_, svg)| svg).to_string();
    let admin = v.who.role == Role::Admin;
    Ok(html! {
        section.documents {
            h2 { (v.t("docs.title")) }
            @if docs.is_empty() { p { (v.t("docs.none")) } }
            ul {
                @for d in &docs {
                    li {
                        a href=(format!("/api/v1/meetings/{meeting}/documents/{}", d.id)) { (d.title) }
                        " · " (d.filename) " · " (v.t(doc_kind_key(&d.kind)))
                        @if d.confidential { " · " strong.confidential { (v.t("docs.confidential")) } }
                        br;
                        small {
                            (v.t("docs.stored")) " " (local_date(&d.stored_at)) " · "
                            @if d.in_advance {
                                (v.t("docs.advance")) " " (d.days_before) " " (v.t("docs.days"))
                            } @else {
                                span.warn { (v.t("docs.late")) " (" (d.days_before) " " (v.t("docs.days")) ")" }
                            }
                            " · SHA-256 " code { (d.sha256) }
                        }
                    }
                }
            }
            h3 { (v.t("docs.link")) }
            p { a href=(url) { (url) } }
            div.qr { (maud::PreEscaped(qr)) }
            p { small { (v.t("docs.link_note")) " " (local_date(&link.expires_at)) "." } }
            @if admin {
                form.upload method="post" action=(format!("/api/v1/meetings/{meeting}/documents")) data-upload="document" data-failed=(v.t("docs.failed")) {
                    h3 { (v.t("docs.upload")) }
                    label { (v.t("docs.file")) input type="file" name="file" required accept=".pdf,.docx,.odt,.png,.jpg,.jpeg"; }
                    label { (v.t("docs.doc_title")) input type="text" name="title"; }
                    label { (v.t("docs.kind")) select name="kind" {
                        @for k in niem_core::documents::KINDS { option value=(k) { (v.t(doc_kind_key(k))) } }
                    } }
                    label { input type="checkbox" name="confidential" value="true"; " " (v.t("docs.confidential")) }
                    button type="submit" { (v.t("docs.send")) }
                    noscript { p { (v.t("docs.needs_js")) } }
                }
                form method="post" action=(format!("/api/v1/meetings/{meeting}/link/revoke")) data-post="revoke" data-failed=(v.t("docs.failed")) {
                    button type="submit" { (v.t("docs.revoke")) }
                }
            }
        }
    })
}

fn doc_kind_key(kind: &str) -> &'static str {
    match kind {
        "agenda" => "docs.kind.agenda",
        "resolution" => "docs.kind.resolution",
        "study" => "docs.kind.study",
        MINUTES => "docs.kind.minutes",
        _ => "docs.kind.other",
    }
}

/// Why there is no transcript, in the page's language; the technical sentence
/// for admins only.
fn missing(v: &Viewer, rec: RecordingId, why: &niem_core::transcripts::Missing) -> Markup {
    use niem_core::transcripts::Missing;
    let (said, hint) = match why {
        Missing::NotSealed => (html! { (v.t("transcript.not_sealed")) }, None),
        Missing::Making { percent } => (html! { (v.t("transcript.making")) " " (percent) "%." }, None),
        Missing::Failed { .. } => (html! { (v.t("transcript.failed")) }, None),
        Missing::Waiting { loading: true, .. } => (html! { (v.t("transcript.waiting")) }, Some("transcript.loading")),
        Missing::Waiting { no_model: true, .. } => (html! { (v.t("transcript.waiting")) }, Some("transcript.no_model")),
        Missing::Waiting { .. } => (html! { (v.t("transcript.waiting")) }, None),
    };
    html! {
        p.none { (v.t("meeting.no_transcript")) " " (said) @if let Some(h) = hint { " " (v.t(h)) } }
        @if v.who.role == Role::Admin {
            details.detail { summary { (v.t("transcript.detail")) } code { (why.describe(rec)) } }
        }
    }
}

fn transcript_lines(v: &Viewer, meeting: &str, t: &Transcript, playing: Option<&str>) -> Markup {
    let several = t.streams.len() > 1;
    html! {
        p.machine { (v.t("meeting.machine")) " " code { (t.model.name) } " (sha256 " code { (t.model.sha256.get(..12).unwrap_or("")) } "…)" }
        ol.lines {
            @for l in t.segments.iter().filter(|l| !l.flagged()) {
                @let secs = l.segment.start_ms as f64 / 1000.0;
                li {
                    a.line href=(format!("/meetings/{meeting}?stream={}&t={secs:.1}", l.stream)) data-t=(format!("{secs:.2}")) data-stream=(l.stream) data-here=[(Some(l.stream.as_str()) == playing).then_some("1")] {
                        span.time { (clock(l.segment.start_ms)) }
                        @if several { span.label { (l.label) } }
                        span.text { (l.segment.text) }
                    }
                }
            }
        }
    }
}

/// The integrity badge: the newest kept verification of this recording (run
/// after its seal, by the scheduled verification, or on request), when it ran
/// and against which signed checkpoint. A page view reads the catalog only: it
/// never fetches or hashes the recording.
async fn integrity(app: &App, v: &Viewer, rec: RecordingId) -> Markup {
    match niem_core::verification::latest_verification(app, rec).await {
        Ok(r) if r.intact && r.covered_by_checkpoint => html! {
            p.badge.ok { strong { "✔ " (v.t("badge.intact")) } " — " (checked(v, &r)) }
        },
        Ok(r) if r.intact => html! {
            p.badge.pending {
                strong { "… " (v.t("badge.intact")) }
                " — " (v.t("badge.pending")) " " (checked(v, &r))
            }
        },
        Ok(r) => html! {
            div.badge.broken { strong { "✘ " (v.t("badge.broken")) } " — " (checked(v, &r))
                (damage(v, &r.problems)) }
        },
        Err(DomainError::NotFound(_)) => {
            html! { p.badge.unknown { (v.t("badge.never")) } }
        }
        Err(_) => html! { p.badge.unknown { (v.t("badge.unavailable")) } },
    }
}

/// What a broken badge says: for everyone, what to do; the damaged objects
/// (store keys, the verifier's English) for admins only.
pub(crate) fn damage(v: &Viewer, problems: &[impl AsRef<str>]) -> Markup {
    html! {
        p { (v.t("badge.tell_admin")) }
        @if v.who.role == Role::Admin {
            details.detail open { summary { (v.t("error.detail")) }
                ul { @for p in problems { li { code { (p.as_ref()) } } } } }
        }
    }
}

/// "verified at …, by …; against the checkpoint signed at … (covering N entries)".
fn checked(v: &Viewer, r: &Verification) -> Markup {
    let by = match r.source.as_deref() {
        Some("seal") => Some("badge.by_seal"),
        Some("request") => Some("badge.by_request"),
        Some("scheduled") => Some("badge.by_schedule"),
        _ => None,
    };
    html! {
        (v.t("badge.verified_at")) " " (local_date(&r.checked_at))
        @if let Some(by) = by { " (" (v.t(by)) ")" }
        @if let Some(cp) = &r.checkpoint {
            "; " (v.t("badge.checked")) " " (cp.time.as_deref().map(local_date).unwrap_or_default())
            " (" (v.t("ledger.covers")) " " (cp.size) " " (v.t("badge.entries")) ")"
        }
    }
}

/// When each part of the store was last fetched and hashed by the rolling run.
async fn store_coverage(app: &App, v: &Viewer, c: &niem_core::verification::StoreCheck) -> Markup {
    let Ok(Some(cov)) = niem_core::verification::coverage(app).await else { return html! {} };
    html! {
        p.hint.coverage {
            @if let (Some(f), Some(p)) = (c.fetched, c.population) {
                (v.t("badge.rolling")) " " (f) " / " (p) " " (v.t("badge.of_objects")) "; "
            }
            (v.t("badge.every_object")) " " (local_date(&cov.every_object_since))
            " (" (v.t("badge.cycle")) " " (cov.cycle_days) " " (v.t("badge.days")) ")"
        }
    }
}

/// Whether a witness has cosigned past this recording's seal (nothing when no
/// witness is configured).
async fn witness_badge(app: &App, v: &Viewer, rec: RecordingId) -> Markup {
    match niem_core::witnesses::witnessed(app, rec).await {
        Ok(Some(w)) if w.witnessed => html! { p.badge.ok.witness { "✔ " (v.t("badge.witnessed")) } },
        Ok(Some(w)) if w.seal_seq.is_some() => html! { p.badge.pending.witness { "… " (v.t("badge.not_witnessed")) } },
        _ => html! {},
    }
}

/// The newest scheduled verification of the whole store (`niem_core::verification`).
async fn store_integrity(app: &App, v: &Viewer) -> Markup {
    match niem_core::verification::latest(app).await {
        Ok(Some(c)) if c.intact => html! {
            p.badge.ok.store { strong { "✔ " (v.t("badge.store")) ": " (v.t("badge.intact")) } " — " (v.t("badge.verified_at")) " " (local_date(&c.checked_at)) " (" (c.entries) " / " (c.objects) ")" }
            (store_coverage(app, v, &c).await)
        },
        Ok(Some(c)) => html! {
            div.badge.broken.store { strong { "✘ " (v.t("badge.store")) ": " (v.t("badge.broken")) } " (" (local_date(&c.checked_at)) ")"
                ul { @for p in &c.problems { li { (p) } } } }
        },
        Ok(None) => html! { p.badge.unknown.store { (v.t("badge.store")) ": " (v.t("badge.store_never")) } },
        Err(_) => html! { p.badge.unknown.store { (v.t("badge.unavailable")) } },
    }
}

pub async fn live(State(app): State<Arc<App>>, v: Viewer) -> Response {
    if v.who.role == Role::Recorder {
        return not_allowed(&v);
    }
    let shown = match niem_core::live::visible_status(&app, &v.who).await {
        Ok(s) => s,
        Err(e) => return error_page(&v, e),
    };
    let missed = niem_core::schedules::visible_alerts(&app, &v.who, None).await.unwrap_or_default();
    let names: std::collections::HashMap<String, String> = niem_core::orgs::scoped(&app, &v.who)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|(id, name, _)| (id, name))
        .collect();
    let body = html! {
        meta http-equiv="refresh" content="5";
        h1 { (v.t("live.title")) }
        p.hint { (v.t("live.refresh")) " " (v.t("live.backlog")) ": " (mib(app.live.spool.backlog_bytes())) }
        @if !missed.is_empty() {
            section.alerts role="alert" {
                h2 { (v.t("live.missed")) }
                ul { @for a in &missed { li.missed { strong { (a.org_name) } " — " (a.title) " · " (local_date(&a.scheduled_at)) } } }
            }
        }
        @if shown.is_empty() {
            p.none { (v.t("live.none")) }
        } @else {
            table.live {
                thead { tr { th { (v.t("search.org")) } th { (v.t("live.endpoint")) } th { (v.t("live.state")) } th { (v.t("live.since")) } th { (v.t("live.bitrate")) } th { (v.t("live.stored")) } } }
                tbody {
                    @for s in &shown {
                        tr {
                            td { (names.get(&s.org).map(String::as_str).unwrap_or("")) }
                            td { (s.endpoint_name) }
                            td.state { (s.state) " · " (s.protocol) }
                            td { (local_date(&s.started_at)) }
                            td { (s.bitrate_bps / 1000) " kbit/s" }
                            td { (mib(s.bytes_spooled)) }
                        }
                    }
                }
            }
        }
    };
    page(&v, v.t("live.title"), body).into_response()
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct LedgerQuery {
    action: Option<String>,
    before: Option<u64>,
}

const LEDGER_PAGE: u64 = 100;

pub async fn ledger(State(app): State<Arc<App>>, v: Viewer, RawQuery(raw): RawQuery) -> Response {
    if !matches!(v.who.role, Role::Admin | Role::Auditor) {
        return not_allowed(&v);
    }
    match ledger_page(&app, &v, raw).await {
        Ok(body) => page(&v, v.t("ledger.title"), body).into_response(),
        Err(e) => error_page(&v, e),
    }
}

async fn ledger_page(app: &App, v: &Viewer, raw: Option<String>) -> Result<Markup, ApiError> {
    let q: LedgerQuery = query(raw)?;
    let action = q.action.filter(|a| !a.trim().is_empty());
    let before = q.before.unwrap_or(u64::MAX >> 1);
    let entries = niem_core::ledger::entries(app, &v.who, action.clone(), before, LEDGER_PAGE).await?;
    let newest = niem_core::ledger::newest_checkpoint(app, &v.who).await.map_err(ApiError::from);
    let oldest = entries.first().map(|e| e.seq);
    let store_badge = store_integrity(app, v).await;
    Ok(html! {
        h1 { (v.t("ledger.title")) }
        (store_badge)
        h2 { (v.t("ledger.checkpoints")) }
        p.hint { (v.t("ledger.checkpoints_hint")) }
        @match &newest {
            Ok(None) => p.none { (v.t("ledger.no_checkpoint")) },
            Ok(Some(cp)) => ul.checkpoints {
                li { (local_date(&cp.time)) " — " (v.t("ledger.covers")) " " (cp.size) " · "
                    @if cp.valid { span.ok { (v.t("ledger.signature_ok")) } } @else { span.bad { (v.t("ledger.signature_bad")) } } }
            },
            Err(e) => (super::failure(v.lang, v.who.role == Role::Admin, e)),
        }
        h2 { (v.t("ledger.entries")) }
        form.filter method="get" action="/ledger" {
            label { (v.t("ledger.action")) " " input name="action" value=(action.as_deref().unwrap_or("")) placeholder="search.performed"; }
            button type="submit" { (v.t("ledger.filter")) }
        }
        table.ledger {
            thead { tr { th { "#" } th { (v.t("ledger.time")) } th { (v.t("ledger.actor")) } th { (v.t("ledger.action")) } th { (v.t("ledger.subject")) } th { "data" } } }
            tbody {
                @for e in entries.iter().rev() {
                    tr { td { (e.seq) } td { (local_date(&e.ts)) } td { (e.actor) } td { code { (e.action) } } td { (e.subject) } td.data { code { (e.data.to_string()) }
                        // Admins may open a search's sealed query; the link's answer
                        // is ledgered (`sealed.opened`), so it is a link, not shown inline.
                        @if v.who.role == Role::Admin && niem_core::facts::OPENABLE.contains(&e.action.as_str()) {
                            " " a.unseal href=(format!("/api/v1/ledger/{}/sealed", e.seq)) { (v.t("ledger.unseal")) }
                        }
                    } }
                }
            }
        }
        @if let Some(seq) = oldest.filter(|_| entries.len() as u64 == LEDGER_PAGE) {
            p { a href=(format!("/ledger?before={seq}{}", action.as_deref().map(|a| format!("&action={}", super::url_encode(a))).unwrap_or_default())) { (v.t("ledger.older")) " →" } }
        }
    })
}
