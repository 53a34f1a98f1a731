//! The bloc's evaluation on the meeting page: the latest score with each
//! checklist item met or not, the comment, every version with its evaluator,
//! and, for those who score (admins, inspectors in scope), a form pre-filled
//! from the latest version or else from what the facts suggest. The rules
//! (checklist, 1–5, a reason for a revision, four-eyes none) are
//! `niem_core::evaluation`'s; a refused form says why in the page's language.

use super::pages::local_date;
use super::{error_page, refusal, Viewer};
use crate::http::ApiError;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup};
use niem_core::evaluation::{self, EvaluationView, NewEvaluation};
use niem_core::principal::Role;
use niem_core::schema::MeetingId;
use niem_core::App;
use std::collections::BTreeMap;
use std::sync::Arc;

type Pairs = Vec<(String, String)>;

fn scores(role: Role) -> bool {
    matches!(role, Role::Admin | Role::Inspector)
}

/// The section; `view` is `None` when the viewer may not read the evaluation.
pub(crate) fn evaluation_section(v: &Viewer, meeting: MeetingId, view: &Option<EvaluationView>) -> Markup {
    let Some(view) = view else { return html! {} };
    html! {
        section.evaluation #evaluation {
            h2 { (v.t("evaluation.title")) }
            @match &view.latest {
                None => p.none { (v.t("evaluation.none")) },
                Some(e) => {
                    p.score { strong { (e.score) "/5" } " · " (v.t("evaluation.by")) " " (e.evaluator) }
                    ul.checklist { @for i in &e.items {
                        li.met[i.met] { (if i.met { "✔ " } else { "✘ " }) (i.label) " — "
                            (v.t(if i.met { "evaluation.met" } else { "evaluation.not_met" })) }
                    } }
                    @if let Some(c) = &e.comment { p.comment { (v.t("evaluation.comment")) ": " (c) } }
                },
            }
            @if view.versions.len() > 1 {
                details { summary { (v.t("evaluation.versions")) " (" (view.versions.len()) ")" }
                    ul { @for x in &view.versions {
                        li { "v" (x.version) " · " (local_date(&x.stored_at)) " · " (x.stored_by) " · " (x.score) "/5"
                            @if let Some(r) = &x.reason { " · " (r) } }
                    } } }
            }
            @if scores(v.who.role) { (form(v, meeting, view)) }
        }
    }
}

fn form(v: &Viewer, meeting: MeetingId, view: &EvaluationView) -> Markup {
    let met = |key: &str| match &view.latest {
        Some(e) => e.items.iter().any(|i| i.key == key && i.met),
        None => view.suggested.get(key).is_some_and(|s| s.met),
    };
    let score = view.latest.as_ref().map_or(3, |e| e.score);
    html! {
        form.evaluation method="post" action=(format!("/meetings/{meeting}/evaluation")) {
            input type="hidden" name="csrf" value=(v.csrf());
            @for item in &view.checklist {
                label.check { input type="checkbox" name=(format!("item.{}", item.key)) value="on" checked[met(&item.key)];
                    " " (item.label)
                    @if let Some(s) = view.suggested.get(&item.key) {
                        br; small { (v.t("evaluation.suggested")) ": " (v.t(if s.met { "evaluation.met" } else { "evaluation.not_met" })) " — " (s.why) }
                    } }
            }
            label { (v.t("evaluation.score")) select name="score" {
                @for n in 1..=5u8 { option value=(n) selected[n == score] { (n) } } } }
            label { (v.t("evaluation.comment")) textarea name="comment" rows="3" {} }
            @if view.latest.is_some() {
                label { (v.t("evaluation.reason")) input type="text" name="reason" required; }
            }
            button type="submit" { (v.t("evaluation.save")) }
        }
    }
}

/// The form as an evaluation: every checklist item, checked or not.
fn read_form(form: &Pairs, checklist: &[niem_core::config::ChecklistItem]) -> Result<NewEvaluation, ApiError> {
    let get = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim()).filter(|v| !v.is_empty());
    let items: BTreeMap<String, bool> =
        checklist.iter().map(|i| (i.key.clone(), get(&format!("item.{}", i.key)).is_some())).collect();
    let score = get("score")
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| ApiError::bad_request("the score must be a whole number from 1 to 5"))?;
    Ok(NewEvaluation {
        items,
        score,
        comment: get("comment").map(str::to_string),
        reason: get("reason").map(str::to_string),
    })
}

/// `POST /meetings/{meeting}/evaluation`: a new version, then back to the page.
pub async fn score(
    State(app): State<Arc<App>>,
    v: Viewer,
    Path(meeting): Path<String>,
    Form(form): Form<Pairs>,
) -> Response {
    let csrf = form.iter().find(|(k, _)| k == "csrf").map(|(_, v)| v.as_str()).unwrap_or("");
    if csrf != v.csrf() || v.csrf().is_empty() {
        return refusal(&v, StatusCode::FORBIDDEN, "login.expired");
    }
    let done = async {
        let id: MeetingId = meeting.parse()?;
        let new = read_form(&form, &app.config.evaluation.items)?;
        Ok::<_, ApiError>(evaluation::put(&app, &v.who, id, new).await?)
    };
    match done.await {
        Ok(ver) => Redirect::to(&format!("/meetings/{meeting}?evaluated={}#evaluation", ver.version)).into_response(),
        Err(e) => error_page(&v, e),
    }
}
