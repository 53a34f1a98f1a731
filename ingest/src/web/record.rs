//! The attendance page (`/meetings/{meeting}/attendance`), made for a phone at
//! the bridge point: one column, big touch targets, no script. It shows the
//! latest sheet as a form (each member's status and bridge point, each point's
//! chair, the reason a correction needs), the summary derived by
//! `niem_core::attendance` (rate against the 90 % target, who is absent
//! without leave, chairs who are not the secretary or a deputy), every version
//! with who stored it and why, and the absence requests with their decisions.
//!
//! Names are opened in memory for this page only (`attendance::context`); the
//! form posts member ids. A page view reads the catalog and one store object
//! (the latest sheet), whatever the cell's size.

use super::admin::member_role_key;
use super::pages::local_date;
use super::{error_page, failure, not_allowed, page, refusal, Viewer};
use crate::http::ApiError;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup};
use niem_core::attendance::{self, AttendanceView, Chair, Decision, Line, NewSheet, SheetContext, Status, Summary};
use niem_core::documents::DocumentView;
use niem_core::principal::Role;
use niem_core::schema::{MeetingId, MemberId};
use niem_core::App;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

type Pairs = Vec<(String, String)>;

/// The provincial target: 90 % or more of members at every meeting.
pub const TARGET_RATE: f64 = 90.0;

/// Meetings listed on `/attendance`, newest first.
const LISTED: usize = 100;

/// `GET /attendance`: the meetings in the viewer's scope, newest first, each
/// with the way to its sheet; where a secretary or a recorder starts.
pub async fn meetings(State(app): State<Arc<App>>, v: Viewer) -> Response {
    if !matches!(v.who.role, Role::Admin | Role::Inspector | Role::Secretary | Role::Recorder) {
        return not_allowed(&v);
    }
    let filter = niem_core::orgs::MeetingFilter { org: None };
    let mut list = match niem_core::orgs::list_meetings(&app, &v.who, filter).await {
        Ok(l) => l,
        Err(e) => return error_page(&v, e),
    };
    list.sort_by(|a, b| b.scheduled_at.cmp(&a.scheduled_at));
    let more = list.len() > LISTED;
    list.truncate(LISTED);
    let body = html! {
        div.record {
            h1 { (v.t("sheet.meetings")) }
            @if list.is_empty() { p.none { (v.t("browse.none")) } }
            ul.meetings {
                @for m in &list {
                    li data-meeting=(m.id) {
                        a href=(format!("/meetings/{}/attendance", m.id)) { (m.title) }
                        br; small { (local_date(&m.scheduled_at)) }
                    }
                }
            }
            @if more { p.hint { (v.t("sheet.newest")) " " (LISTED) "." } }
        }
    };
    page(&v, v.t("sheet.meetings"), body).into_response()
}

/// The statuses in the order a person picks them, with their words.
const STATUSES: [(&str, &str); 6] = [
    ("present", "sheet.present"),
    ("late", "sheet.late"),
    ("left_early", "sheet.left_early"),
    ("absent_approved", "sheet.absent_approved"),
    ("absent_requested", "sheet.absent_requested"),
    ("absent_unexcused", "sheet.absent_unexcused"),
];

fn status_of(code: &str) -> Option<Status> {
    Some(match code {
        "present" => Status::Present,
        "late" => Status::Late,
        "left_early" => Status::LeftEarly,
        "absent_approved" => Status::AbsentApproved,
        "absent_requested" => Status::AbsentRequested,
        "absent_unexcused" => Status::AbsentUnexcused,
        _ => return None,
    })
}

fn code_of(s: Status) -> &'static str {
    match s {
        Status::Present => "present",
        Status::Late => "late",
        Status::LeftEarly => "left_early",
        Status::AbsentApproved => "absent_approved",
        Status::AbsentRequested => "absent_requested",
        Status::AbsentUnexcused => "absent_unexcused",
    }
}

fn status_key(s: Status) -> &'static str {
    STATUSES.iter().find(|(c, _)| *c == code_of(s)).map_or("sheet.present", |(_, k)| k)
}

/// Who may fill the sheet (the domain checks again; this only hides the form).
fn files(role: Role) -> bool {
    matches!(role, Role::Admin | Role::Secretary | Role::Recorder)
}

/// Who may decide absence requests.
fn decides(role: Role) -> bool {
    matches!(role, Role::Admin | Role::Secretary)
}

/// The form's values: the stored sheet, or what was just sent back with a
/// message, so a refused form keeps everything typed on the phone.
#[derive(Debug, Default)]
struct Draft {
    lines: BTreeMap<MemberId, (String, String, String)>,
    chairs: BTreeMap<String, MemberId>,
    reason: String,
}

impl Draft {
    fn of(view: &AttendanceView) -> Draft {
        let mut d = Draft::default();
        if let Some(s) = &view.sheet {
            for l in &s.members {
                let late = l.late_minutes.map(|m| m.to_string()).unwrap_or_default();
                d.lines.insert(l.member, (code_of(l.status).into(), l.point.clone().unwrap_or_default(), late));
            }
            d.chairs = s.chairs.iter().map(|c| (c.point.clone(), c.member)).collect();
        }
        d
    }
}

/// What the page says above the form.
enum Said {
    Saved(u32),
    Decided,
    /// A check of the form, worded here, naming the member.
    Check(&'static str, String),
    Failed(ApiError),
}

#[derive(Debug, Default, serde::Deserialize)]
struct Shown {
    saved: Option<u32>,
    decided: Option<String>,
}

/// `GET /meetings/{meeting}/attendance`.
pub async fn attendance(
    State(app): State<Arc<App>>,
    v: Viewer,
    Path(meeting): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let q: Shown = super::pages::query(raw).unwrap_or_default();
    let said = match (q.saved, q.decided) {
        (Some(n), _) => Some(Said::Saved(n)),
        (None, Some(_)) => Some(Said::Decided),
        _ => None,
    };
    show(&app, &v, &meeting, None, said, StatusCode::OK).await
}

/// The page, from the catalog (and the latest sheet's object).
async fn show(
    app: &App,
    v: &Viewer,
    meeting: &str,
    draft: Option<Draft>,
    said: Option<Said>,
    status: StatusCode,
) -> Response {
    let loaded = async {
        let id: MeetingId = meeting.parse()?;
        let ctx = attendance::context(app, &v.who, id).await?;
        let view = attendance::get(app, &v.who, id).await?;
        Ok::<_, ApiError>((ctx, view))
    };
    let (ctx, view) = match loaded.await {
        Ok(found) => found,
        Err(e) => return error_page(v, e),
    };
    let draft = draft.unwrap_or_else(|| Draft::of(&view));
    let names = Names::of(&ctx);
    let body = html! {
        h1 { (v.t("sheet.title")) }
        p.meta { strong { (ctx.title) } " · " (local_date(&ctx.scheduled_at))
            @if matches!(v.who.role, Role::Admin | Role::Inspector) {
                " · " a href=(format!("/meetings/{meeting}")) { (v.t("sheet.to_meeting")) }
            }
        }
        @match &said {
            Some(Said::Saved(n)) => p.notice role="status" { (v.t("sheet.saved")) " " (n) "." },
            Some(Said::Decided) => p.notice role="status" { (v.t("sheet.decided")) },
            Some(Said::Check(key, name)) => p.error role="alert" { (v.t(key)) @if !name.is_empty() { ": " strong { (name) } } },
            Some(Said::Failed(e)) => (failure(v.lang, v.who.role == Role::Admin, e)),
            None => {},
        }
        (summary_section(v, &view.summary, &names))
        @if files(v.who.role) { (sheet_form(v, meeting, &ctx, &view, &draft)) }
        @else { (sheet_read(v, &view, &names)) }
        (versions_section(v, &view))
        (absences_section(v, meeting, &view, &names))
    };
    (status, page(v, v.t("sheet.title"), html! { div.record { (body) } })).into_response()
}

/// Member names and roles by id, opened for this page.
pub(crate) struct Names(BTreeMap<MemberId, (String, String, bool)>);

impl Names {
    pub(crate) fn of(ctx: &SheetContext) -> Names {
        Names(ctx.members.iter().map(|m| (m.id, (m.name.clone(), m.role.clone(), m.exempt))).collect())
    }
    pub(crate) fn name(&self, id: MemberId) -> String {
        self.0.get(&id).map_or_else(|| id.to_string(), |(n, _, _)| n.clone())
    }
    fn role(&self, id: MemberId) -> &str {
        self.0.get(&id).map_or("member", |(_, r, _)| r.as_str())
    }
}

/// The summary: the rate against the target, flagged under it; who is absent
/// without leave, by name; chairs who are not the secretary or a deputy.
pub(crate) fn summary_section(v: &Viewer, s: &Summary, names: &Names) -> Markup {
    let under = s.rate < TARGET_RATE;
    html! {
        section.summary-box {
            h2 { (v.t("sheet.summary")) }
            p.rate.under[under] {
                strong { (v.t("sheet.rate")) ": " (format!("{:.1}", s.rate)) " %" }
                " (" (s.present) "/" (s.expected) ") · " (v.t("sheet.target")) " ≥ " (TARGET_RATE) " %"
                @if under { " — " strong.warn { (v.t("sheet.under")) } }
            }
            ul.counts {
                li { (v.t("sheet.late")) ": " (s.late) }
                li { (v.t("sheet.left_early")) ": " (s.left_early) }
                li { (v.t("sheet.absent_approved")) ": " (s.absent_approved) }
                li { (v.t("sheet.absent_requested")) ": " (s.absent_requested) }
                li { (v.t("sheet.unexcused_count")) ": " (s.unexcused) }
                @if s.exempt > 0 { li { (v.t("roster.exempt")) ": " (s.exempt) } }
            }
            @if !s.unexcused_members.is_empty() {
                p.unexcused { (v.t("sheet.unexcused_names")) ": "
                    (s.unexcused_members.iter().map(|m| names.name(*m)).collect::<Vec<_>>().join(", ")) }
            }
            @if !s.missing.is_empty() {
                p.missing { (v.t("sheet.missing")) ": "
                    (s.missing.iter().map(|m| names.name(*m)).collect::<Vec<_>>().join(", ")) }
            }
            @if !s.chair_problems.is_empty() {
                ul.chair-problems {
                    @for p in &s.chair_problems {
                        li.warn { (v.t("meeting.stream")) " " strong { (p.point) } ": " (names.name(p.member))
                            " (" (v.t(member_role_key(&p.role))) ") — " (v.t("sheet.chair_problem")) }
                    }
                }
            }
        }
    }
}

/// The points a sheet's chairs are picked for: the cell's bridge points, then
/// any other point the sheet or a line names.
fn chair_points(ctx: &SheetContext, draft: &Draft) -> Vec<String> {
    let mut points: Vec<String> = ctx.points.clone();
    let named = draft.chairs.keys().cloned().chain(draft.lines.values().map(|(_, p, _)| p.clone()));
    for p in named {
        if !p.trim().is_empty() && !points.contains(&p) {
            points.push(p);
        }
    }
    points
}

fn sheet_form(v: &Viewer, meeting: &str, ctx: &SheetContext, view: &AttendanceView, draft: &Draft) -> Markup {
    let correction = !view.versions.is_empty();
    let points = chair_points(ctx, draft);
    let none = (String::new(), String::new(), String::new());
    html! {
        form.sheet method="post" action=(format!("/meetings/{meeting}/attendance")) {
            input type="hidden" name="csrf" value=(v.csrf());
            input type="hidden" name="versions" value=(view.versions.len());
            h2 { (v.t("sheet.members")) }
            @if ctx.members.is_empty() { p.none { (v.t("roster.none")) } }
            @for m in &ctx.members {
                @let (status, point, late) = draft.lines.get(&m.id).unwrap_or(&none);
                @let listed = ctx.points.contains(point);
                fieldset.member data-member=(m.id) {
                    legend { strong { (m.name) } " · " (v.t(member_role_key(&m.role)))
                        @if m.exempt { " · " (v.t("roster.exempt")) } }
                    label { (v.t("sheet.status"))
                        select name=(format!("status.{}", m.id)) {
                            option value="" selected[status.is_empty()] { (v.t("sheet.unmarked")) }
                            @for (code, key) in STATUSES { option value=(code) selected[status == code] { (v.t(key)) } }
                        }
                    }
                    label { (v.t("meeting.stream"))
                        select name=(format!("point.{}", m.id)) {
                            option value="" selected[!listed] { "—" }
                            @for p in &ctx.points { option value=(p) selected[p == point] { (p) } }
                        }
                    }
                    label { (v.t("sheet.other_point"))
                        input type="text" name=(format!("point_text.{}", m.id)) value=(if listed { "" } else { point.as_str() }) maxlength="100";
                    }
                    label { (v.t("sheet.late_minutes"))
                        input type="number" name=(format!("late.{}", m.id)) value=(late) min="1" max="1440" inputmode="numeric";
                    }
                }
            }
            h2 { (v.t("sheet.chairs")) }
            p.hint { (v.t("sheet.chairs_hint")) }
            @for (j, p) in points.iter().enumerate() {
                label.chair { (v.t("meeting.stream")) " " strong { (p) }
                    input type="hidden" name=(format!("chair_point.{j}")) value=(p);
                    select name=(format!("chair.{j}")) {
                        option value="" { "—" }
                        @for m in &ctx.members {
                            option value=(m.id) selected[draft.chairs.get(p) == Some(&m.id)] {
                                (m.name) " (" (v.t(member_role_key(&m.role))) ")"
                            }
                        }
                    }
                }
            }
            @let j = points.len();
            label.chair { (v.t("sheet.other_point"))
                input type="text" name=(format!("chair_point.{j}")) maxlength="100";
                select name=(format!("chair.{j}")) {
                    option value="" { "—" }
                    @for m in &ctx.members { option value=(m.id) { (m.name) } }
                }
            }
            label.reason { (if correction { v.t("sheet.reason_required") } else { v.t("sheet.reason") })
                textarea name="reason" rows="3" maxlength="2000" required[correction] { (draft.reason) }
            }
            button.save type="submit" { (if correction { v.t("sheet.save_correction") } else { v.t("sheet.save") }) }
        }
    }
}

/// The latest sheet for those who read only (inspectors).
fn sheet_read(v: &Viewer, view: &AttendanceView, names: &Names) -> Markup {
    html! {
        @match &view.sheet {
            None => p.none { (v.t("sheet.none")) },
            Some(s) => {
                h2 { (v.t("sheet.members")) }
                ul.sheet-lines {
                    @for l in &s.members {
                        li { strong { (names.name(l.member)) } " — " (v.t(status_key(l.status)))
                            @if let Some(m) = l.late_minutes { " " (m) " " (v.t("sheet.minutes")) }
                            @if let Some(p) = &l.point { " · " (p) } }
                    }
                }
                @if !s.chairs.is_empty() {
                    h2 { (v.t("sheet.chairs")) }
                    ul { @for c in &s.chairs { li { (c.point) ": " (names.name(c.member)) " (" (v.t(member_role_key(names.role(c.member)))) ")" } } }
                }
            }
        }
    }
}

fn actor(v: &Viewer, who: &str) -> String {
    if who == v.who.actor() {
        v.who.name.clone()
    } else {
        who.to_string()
    }
}

fn versions_section(v: &Viewer, view: &AttendanceView) -> Markup {
    html! {
        section.versions {
            h2 { (v.t("sheet.versions")) }
            @if view.versions.is_empty() { p.none { (v.t("sheet.none")) } }
            ol.versions {
                @for ver in view.versions.iter().rev() {
                    li data-version=(ver.version) {
                        strong { (v.t("sheet.version")) " " (ver.version) }
                        " · " (local_date(&ver.stored_at)) " · " span.actor { (actor(v, &ver.stored_by)) }
                        @if let Some(r) = &ver.reason { br; (v.t("admin.reason")) ": " em { (r) } }
                        br; small { "SHA-256 " code { (ver.sha256) } }
                    }
                }
            }
        }
    }
}

fn absences_section(v: &Viewer, meeting: &str, view: &AttendanceView, names: &Names) -> Markup {
    html! {
        section.absences {
            h2 { (v.t("sheet.absences")) }
            @if view.absences.is_empty() { p.none { (v.t("sheet.no_absences")) } }
            ul.absences {
                @for a in &view.absences {
                    li data-absence=(a.id) {
                        strong { (names.name(a.member)) } " — " (a.reason) br;
                        small { (v.t("sheet.requested")) " " (local_date(&a.requested_at)) " · "
                            @match a.approved {
                                None => (v.t("sheet.pending")),
                                Some(true) => span.ok { (v.t("sheet.approved")) },
                                Some(false) => span.bad { (v.t("sheet.refused")) },
                            }
                            @if a.late { " (" (v.t("sheet.decided_late")) ")" }
                        }
                        @if a.approved.is_none() && decides(v.who.role) {
                            div.decide {
                                @for (what, key) in [("approve", "sheet.approve"), ("refuse", "sheet.refuse")] {
                                    form.inline method="post" action=(format!("/meetings/{meeting}/absences/{}/decide", a.id)) {
                                        input type="hidden" name="csrf" value=(v.csrf());
                                        input type="hidden" name="decision" value=(what);
                                        button type="submit" { (v.t(key)) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn field<'a>(form: &'a Pairs, name: &str) -> &'a str {
    form.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.trim())
}

/// Reads the form into a draft (everything as typed) and, when the page's own
/// checks pass, the sheet to store; a check that fails names the member.
fn read_form(form: &Pairs, ctx: &SheetContext, names: &Names) -> (Draft, Result<NewSheet, Said>) {
    let mut d = Draft { reason: field(form, "reason").to_string(), ..Default::default() };
    let mut lines = Vec::new();
    let mut problem: Option<Said> = None;
    let fail = |p: &mut Option<Said>, key: &'static str, name: String| {
        if p.is_none() {
            *p = Some(Said::Check(key, name));
        }
    };
    for m in &ctx.members {
        let status = field(form, &format!("status.{}", m.id));
        let typed = field(form, &format!("point_text.{}", m.id));
        let point = if typed.is_empty() { field(form, &format!("point.{}", m.id)) } else { typed };
        let late = field(form, &format!("late.{}", m.id));
        d.lines.insert(m.id, (status.to_string(), point.to_string(), late.to_string()));
        if status.is_empty() {
            continue;
        }
        let Some(st) = status_of(status) else {
            fail(&mut problem, "sheet.bad_status", m.name.clone());
            continue;
        };
        let attended = matches!(st, Status::Present | Status::Late | Status::LeftEarly);
        if attended && point.is_empty() {
            fail(&mut problem, "sheet.need_point", m.name.clone());
        }
        let late_minutes = match (st, late.parse::<u32>()) {
            (Status::Late, Ok(n)) if (1..=1440).contains(&n) => Some(n),
            (Status::Late, _) => {
                fail(&mut problem, "sheet.need_minutes", m.name.clone());
                None
            }
            _ => None,
        };
        let point = (!point.is_empty()).then(|| point.to_string());
        lines.push(Line { member: m.id, status: st, point, late_minutes });
    }
    let mut chairs = Vec::new();
    let mut seen = BTreeSet::new();
    for j in 0.. {
        let Some(point) = form.iter().find(|(k, _)| *k == format!("chair_point.{j}")).map(|(_, p)| p.trim()) else {
            break;
        };
        let chair = field(form, &format!("chair.{j}"));
        if point.is_empty() || chair.is_empty() {
            continue;
        }
        match chair.parse::<MemberId>() {
            Ok(member) if names.0.contains_key(&member) => {
                if !seen.insert(point.to_string()) {
                    fail(&mut problem, "sheet.two_chairs", point.to_string());
                }
                d.chairs.insert(point.to_string(), member);
                chairs.push(Chair { point: point.to_string(), member });
            }
            _ => fail(&mut problem, "sheet.bad_chair", point.to_string()),
        }
    }
    let versions: usize = field(form, "versions").parse().unwrap_or(0);
    if versions > 0 && d.reason.is_empty() {
        fail(&mut problem, "sheet.need_reason", String::new());
    }
    let reason = (!d.reason.is_empty()).then(|| d.reason.clone());
    match problem {
        Some(p) => (d, Err(p)),
        None => (d, Ok(NewSheet { members: lines, chairs, reason })),
    }
}

/// `POST /meetings/{meeting}/attendance`: a new version, then back to the page.
pub async fn file_sheet(
    State(app): State<Arc<App>>,
    v: Viewer,
    Path(meeting): Path<String>,
    Form(form): Form<Pairs>,
) -> Response {
    if field(&form, "csrf") != v.csrf() || v.csrf().is_empty() {
        return refusal(&v, StatusCode::FORBIDDEN, "login.expired");
    }
    if !files(v.who.role) {
        return not_allowed(&v);
    }
    let id: MeetingId = match meeting.parse() {
        Ok(id) => id,
        Err(e) => return error_page(&v, niem_core::DomainError::from(e)),
    };
    let ctx = match attendance::context(&app, &v.who, id).await {
        Ok(c) => c,
        Err(e) => return error_page(&v, e),
    };
    let names = Names::of(&ctx);
    let (draft, sheet) = read_form(&form, &ctx, &names);
    let sheet = match sheet {
        Ok(s) => s,
        Err(said) => return show(&app, &v, &meeting, Some(draft), Some(said), StatusCode::BAD_REQUEST).await,
    };
    match attendance::put(&app, &v.who, id, sheet).await {
        Ok(ver) => Redirect::to(&format!("/meetings/{meeting}/attendance?saved={}", ver.version)).into_response(),
        Err(e) => {
            let e = ApiError::from(e);
            let status = e.status;
            show(&app, &v, &meeting, Some(draft), Some(Said::Failed(e)), status).await
        }
    }
}

/// `POST /meetings/{meeting}/absences/{absence}/decide`: approve or refuse;
/// a decision once the meeting has begun is marked late.
pub async fn decide(
    State(app): State<Arc<App>>,
    v: Viewer,
    Path((meeting, absence)): Path<(String, String)>,
    Form(form): Form<Pairs>,
) -> Response {
    if field(&form, "csrf") != v.csrf() || v.csrf().is_empty() {
        return refusal(&v, StatusCode::FORBIDDEN, "login.expired");
    }
    if !decides(v.who.role) {
        return not_allowed(&v);
    }
    let approve = match field(&form, "decision") {
        "approve" => true,
        "refuse" => false,
        _ => return error_page(&v, ApiError::bad_request("decision must be approve or refuse")),
    };
    let done = async {
        let id: MeetingId = meeting.parse()?;
        let ctx = attendance::context(&app, &v.who, id).await?;
        let began = archive::clock::parse_ts(&ctx.scheduled_at).map_err(niem_core::DomainError::internal)?;
        let late = app.vault.clock.now() >= began;
        attendance::decide(&app, &v.who, absence.parse()?, Decision { approve, late }).await?;
        Ok::<_, ApiError>(())
    };
    match done.await {
        Ok(()) => Redirect::to(&format!("/meetings/{meeting}/attendance?decided=1")).into_response(),
        Err(e) => error_page(&v, e),
    }
}

/// The kind of document that is the meeting's signed minutes (*biên bản*).
pub const MINUTES: &str = "minutes";

/// The meeting's attendance as the meeting page shows it, read once for its
/// section and for the integrity badge.
pub(crate) struct Record(Result<(SheetContext, AttendanceView), ApiError>);

impl Record {
    pub(crate) async fn read(app: &App, v: &Viewer, meeting: MeetingId) -> Record {
        let read = async {
            let ctx = attendance::context(app, &v.who, meeting).await?;
            let view = attendance::get(app, &v.who, meeting).await?;
            Ok::<_, ApiError>((ctx, view))
        };
        Record(read.await)
    }
}

/// Attendance per bridge point on the meeting page: who was where, each
/// point's chair, the summary, and the way to the sheet.
pub(crate) fn attendance_section(v: &Viewer, meeting: MeetingId, record: &Record) -> Markup {
    let body = match &record.0 {
        Err(e) => failure(v.lang, v.who.role == Role::Admin, e),
        Ok((ctx, view)) => {
            let names = Names::of(ctx);
            let mut by_point: BTreeMap<String, Vec<&Line>> = BTreeMap::new();
            let mut away = Vec::new();
            if let Some(s) = &view.sheet {
                for l in &s.members {
                    match &l.point {
                        Some(p) if matches!(l.status, Status::Present | Status::Late | Status::LeftEarly) => {
                            by_point.entry(p.clone()).or_default().push(l)
                        }
                        _ => away.push(l),
                    }
                }
            }
            let chairs: BTreeMap<&str, MemberId> =
                view.sheet.iter().flat_map(|s| s.chairs.iter().map(|c| (c.point.as_str(), c.member))).collect();
            let mut points: Vec<String> = by_point.keys().cloned().collect();
            points.extend(chairs.keys().map(|p| p.to_string()).filter(|p| !by_point.contains_key(p)));
            html! {
                @if view.sheet.is_none() { p.none { (v.t("sheet.none")) } }
                @for p in &points {
                    div.point {
                        h3 { (v.t("meeting.stream")) " " (p) }
                        p.chair { (v.t("sheet.chair")) ": "
                            @match chairs.get(p.as_str()) {
                                Some(c) => {
                                    (names.name(*c)) " (" (v.t(member_role_key(names.role(*c)))) ")"
                                    @if view.summary.chair_problems.iter().any(|x| &x.point == p) {
                                        " — " strong.warn { (v.t("sheet.chair_problem")) }
                                    }
                                },
                                None => span.warn { (v.t("sheet.no_chair")) },
                            }
                        }
                        ul { @for l in by_point.get(p).map(Vec::as_slice).unwrap_or_default() {
                            li { (names.name(l.member)) @if l.status != Status::Present { " — " (v.t(status_key(l.status)))
                                @if let Some(m) = l.late_minutes { " " (m) " " (v.t("sheet.minutes")) } } }
                        } }
                    }
                }
                @if !away.is_empty() {
                    h3 { (v.t("sheet.away")) }
                    ul { @for l in &away { li { (names.name(l.member)) " — " (v.t(status_key(l.status))) } } }
                }
                (summary_section(v, &view.summary, &names))
                @if let Some(last) = view.versions.last() {
                    p.hint { (v.t("sheet.version")) " " (last.version) " · " (local_date(&last.stored_at)) }
                }
            }
        }
    };
    html! {
        section.attendance {
            h2 { (v.t("sheet.title")) }
            (body)
            p { a.to-sheet href=(format!("/meetings/{meeting}/attendance")) { (v.t("sheet.open")) " →" } }
        }
    }
}

/// Whether the signed minutes were filed, and how many days after the
/// meeting; for admins and the cell's secretary, the form that files them and
/// the editable drafts (DOCX, ODT) made from the meeting's facts.
pub(crate) fn minutes_section(
    v: &Viewer,
    meeting: MeetingId,
    minutes: &Option<niem_core::minutes::MinutesView>,
) -> Markup {
    let files = matches!(v.who.role, Role::Admin | Role::Secretary);
    let api = format!("/api/v1/meetings/{meeting}/minutes");
    html! {
        section.minutes #minutes {
            h2 { (v.t("minutes.title")) }
            @match minutes.as_ref().and_then(|m| m.latest.as_ref().map(|d| (m, d))) {
                None => p.none { (v.t("minutes.none")) },
                Some((m, d)) => p.filed {
                    a href=(format!("/api/v1/meetings/{meeting}/documents/{}", d.id)) { (d.title) }
                    br;
                    small { (v.t("minutes.filed")) " " (local_date(&d.stored_at)) " · "
                        (m.first_days_after.unwrap_or(0)) " " (v.t("minutes.days_after"))
                        @if m.versions.len() > 1 { " · " (v.t("minutes.versions")) ": " (m.versions.len()) }
                        " · SHA-256 " code { (d.sha256) } }
                },
            }
            @if files {
                p { (v.t("minutes.draft")) ": "
                    a href=(format!("{api}/draft?format=docx")) { "DOCX" } " · "
                    a href=(format!("{api}/draft?format=odt")) { "ODT" } }
                form.upload method="post" action=(api) data-upload="minutes" data-failed=(v.t("docs.failed")) {
                    h3 { (v.t("minutes.upload")) }
                    label { (v.t("docs.file")) input type="file" name="file" required accept=".pdf,.docx,.odt,.png,.jpg,.jpeg"; }
                    label { (v.t("docs.doc_title")) input type="text" name="title"; }
                    button type="submit" { (v.t("docs.send")) }
                    noscript { p { (v.t("docs.needs_js")) } }
                }
            }
        }
    }
}

/// The integrity badge's line for the meeting record (documents, minutes and
/// attendance versions). The catalog keeps the verifier's per-object verdicts
/// for recordings only; for record objects it keeps the newest scheduled run's
/// time and its damage lines (which name each object's key). So: the record's
/// objects stored before that run were checked by it (fetched then or within
/// the rolling cycle), a damage line naming `meetings/<id>/` turns the badge
/// red, and objects stored since wait for the next run. Catalog only.
pub(crate) async fn record_badge(
    app: &App,
    v: &Viewer,
    meeting: MeetingId,
    docs: &[DocumentView],
    extra: &[String],
    record: &Record,
) -> Markup {
    let mut stored: Vec<&str> = docs.iter().map(|d| d.stored_at.as_str()).collect();
    stored.extend(extra.iter().map(String::as_str));
    if let Ok((_, view)) = &record.0 {
        stored.extend(view.versions.iter().map(|ver| ver.stored_at.as_str()));
    }
    let total = stored.len();
    if total == 0 {
        return html! {};
    }
    let at = |t: &str| archive::clock::parse_ts(t).ok();
    match niem_core::verification::latest(app).await {
        Ok(Some(c)) => {
            let prefix = format!("meetings/{meeting}/");
            let damage: Vec<&String> = c.problems.iter().filter(|p| p.contains(&prefix)).collect();
            let run = at(&c.checked_at);
            let checked = stored.iter().filter(|t| matches!((at(t), run), (Some(t), Some(r)) if t < r)).count();
            // The run keeps its first 50 damage lines: past that, silence about
            // this meeting proves nothing.
            let truncated = !c.intact && damage.is_empty() && c.problems.len() >= 50;
            if !damage.is_empty() {
                html! {
                    div.badge.broken.record { strong { "✘ " (v.t("badge.record")) ": " (v.t("badge.broken")) }
                        " — " (v.t("badge.verified_at")) " " (local_date(&c.checked_at))
                        (super::pages::damage(v, &damage)) }
                }
            } else if truncated || checked == 0 {
                html! {
                    p.badge.pending.record { strong { "… " (v.t("badge.record")) } ": " (total) " " (v.t("badge.record_objects")) "; "
                        (v.t("badge.record_unchecked")) }
                }
            } else {
                html! {
                    p.badge.ok.record { strong { "✔ " (v.t("badge.record")) ": " (v.t("badge.intact")) }
                        " — " (v.t("badge.record_checked")) " " (checked) " / " (total) " " (v.t("badge.record_objects"))
                        " (" (v.t("badge.by_schedule")) " " (local_date(&c.checked_at)) ")"
                        @if checked < total { "; " (total - checked) " " (v.t("badge.record_newer")) }
                    }
                }
            }
        }
        Ok(None) => html! {
            p.badge.unknown.record { (v.t("badge.record")) ": " (total) " " (v.t("badge.record_objects")) "; " (v.t("badge.record_unchecked")) }
        },
        Err(_) => html! { p.badge.unknown.record { (v.t("badge.unavailable")) } },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use niem_core::members::Member;

    fn ctx(n: usize) -> SheetContext {
        let org: niem_core::schema::OrgId = "01ARZ3NDEKTSV4RRFFQ69G5FAV".parse().unwrap();
        let members = (0..n)
            .map(|i| Member {
                id: MemberId::new(),
                name: format!("Đảng viên {i}"),
                number: None,
                org,
                role: if i == 0 { "secretary" } else { "member" }.into(),
                joined: "2020-01-01".into(),
                left: None,
                exempt: false,
            })
            .collect();
        SheetContext {
            meeting: MeetingId::new(),
            title: "Họp".into(),
            scheduled_at: "2026-09-15T01:00:00Z".into(),
            members,
            points: vec!["Hội trường".into()],
        }
    }

    fn form(pairs: &[(String, &str)]) -> Pairs {
        pairs.iter().map(|(k, v)| (k.clone(), v.to_string())).collect()
    }

    fn check(r: &Result<NewSheet, Said>) -> (&'static str, String) {
        match r {
            Err(Said::Check(key, name)) => (key, name.clone()),
            Ok(_) => panic!("the form passed"),
            Err(_) => panic!("not a check"),
        }
    }

    /// Typed text wins over the picked point; unmarked members stay off the
    /// sheet; late needs minutes; the failing check names the member.
    #[test]
    fn the_form_names_whom_it_refuses() {
        let c = ctx(3);
        let names = Names::of(&c);
        let [a, b, d] = [c.members[0].id, c.members[1].id, c.members[2].id];
        let (_, sheet) = read_form(
            &form(&[
                (format!("status.{a}"), "present"),
                (format!("point.{a}"), "Hội trường"),
                (format!("status.{b}"), "late"),
                (format!("point.{b}"), "Hội trường"),
                (format!("point_text.{b}"), "Nhà văn hoá"),
                (format!("late.{b}"), "12"),
                ("chair_point.0".into(), "Hội trường"),
                ("chair.0".into(), &a.to_string()),
            ]),
            &c,
            &names,
        );
        let sheet = sheet.unwrap_or_else(|_| panic!("refused"));
        assert_eq!(sheet.members.len(), 2, "the unmarked member is left off");
        assert_eq!(sheet.members[1].point.as_deref(), Some("Nhà văn hoá"));
        assert_eq!(sheet.members[1].late_minutes, Some(12));
        assert_eq!(sheet.chairs, vec![Chair { point: "Hội trường".into(), member: a }]);
        assert!(sheet.members.iter().all(|l| l.member != d));

        let late = form(&[(format!("status.{b}"), "late"), (format!("point.{b}"), "Hội trường")]);
        let (draft, r) = read_form(&late, &c, &names);
        assert_eq!(check(&r), ("sheet.need_minutes", "Đảng viên 1".into()));
        assert_eq!(draft.lines[&b].0, "late", "what was typed is kept");
        let nowhere = form(&[(format!("status.{a}"), "present")]);
        assert_eq!(check(&read_form(&nowhere, &c, &names).1), ("sheet.need_point", "Đảng viên 0".into()));
        let forged = form(&[(format!("status.{a}"), "here")]);
        assert_eq!(check(&read_form(&forged, &c, &names).1).0, "sheet.bad_status");
        let stranger = MemberId::new().to_string();
        let outside = form(&[("chair_point.0".into(), "Hội trường"), ("chair.0".into(), &stranger)]);
        assert_eq!(check(&read_form(&outside, &c, &names).1).0, "sheet.bad_chair");
        let correction = form(&[("versions".into(), "1")]);
        assert_eq!(check(&read_form(&correction, &c, &names).1).0, "sheet.need_reason");
        let reasoned = form(&[("versions".into(), "1"), ("reason".into(), "Sửa")]);
        assert!(read_form(&reasoned, &c, &names).1.is_ok());
    }

    #[test]
    fn every_error_code_has_words_in_both_languages() {
        use super::super::Lang;
        for code in ["bad_request", "unauthorized", "forbidden", "not_found", "conflict", "gone", "too_large"] {
            let key = super::super::failure_key(code);
            assert_ne!(key, "error.internal", "{code}");
            assert_ne!(Lang::Vi.t(key), key, "{code} has no Vietnamese words");
            assert_ne!(Lang::Vi.t(key), Lang::En.t(key), "{code}");
        }
        for code in ["not_media", "media_refused", "busy", "too_many", "unavailable", "internal", "anything"] {
            let key = super::super::failure_key(code);
            assert_ne!(Lang::Vi.t(key), key, "{code} has no words");
        }
    }
}
