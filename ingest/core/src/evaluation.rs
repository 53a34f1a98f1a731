//! The bloc's evaluation of a meeting (the meeting record): a supervisor (an
//! admin, or an inspector in scope) scores it against the configured checklist
//! (`[evaluation]`), each item met or not, and its content quality 1 to 5, with
//! an optional comment.
//!
//! - Every version, the first and each revision (which must say why), is a new
//!   sealed record object of class `evaluation` (the whole evaluation as JSON)
//!   with its own `record.evaluation.stored` entry naming the evaluator (its
//!   actor) and the version: never overwritten. The comment and the reason may
//!   name people, so they are sealed under the note key in the entry and the
//!   catalog alike.
//! - Two revisions racing: the second to commit is refused (409), so each
//!   revision answers the version its author saw.
//! - What the service can tell from facts (documents sent in advance,
//!   attendance at 90 % or more, every bridge point chaired by the secretary
//!   or deputy, minutes filed, the committee meeting held first) is suggested
//!   so that a page can pre-fill the checklist; the supervisor decides.

use crate::app::App;
use crate::catalog::{self, EvaluationRow, Scope};
use crate::config::ChecklistItem;
use crate::error::DomainError;
use crate::principal::{Principal, Role};
use crate::schema::{MeetingId, OrgId};
use archive::id::RecordObjectId;
use archive::ledger::NewEntry;
use archive::record::RecordMeta;
use archive::vault::VaultError;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The longest comment or reason, in characters.
const MAX_TEXT: usize = 4000;

/// An evaluation as the API and the page send it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewEvaluation {
    /// Every checklist key, met or not.
    pub items: BTreeMap<String, bool>,
    /// Content quality, 1 to 5.
    pub score: u8,
    #[serde(default)]
    pub comment: Option<String>,
    /// Required for a revision (every version after the first).
    #[serde(default)]
    pub reason: Option<String>,
}

/// One checklist item as scored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scored {
    pub key: String,
    pub label: String,
    pub met: bool,
}

/// What the record object holds: the whole evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredEvaluation {
    pub meeting: MeetingId,
    pub version: u32,
    /// Who scored it (the ledger's actor).
    pub evaluator: String,
    pub score: u8,
    pub items: Vec<Scored>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One stored version, as listed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Version {
    pub version: u32,
    pub object: RecordObjectId,
    pub stored_at: String,
    /// The evaluator.
    pub stored_by: String,
    pub score: u8,
    pub met: u32,
    pub items: u32,
    pub comment: Option<String>,
    pub reason: Option<String>,
    /// SHA-256 of the evaluation's JSON as stored.
    pub sha256: String,
}

/// A checklist item the service can judge from facts, and on what.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Suggestion {
    pub met: bool,
    /// The facts, in Vietnamese, for the page.
    pub why: String,
}

/// A meeting's evaluation: the checklist in force, the latest version, every
/// version, and the suggested items.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvaluationView {
    pub meeting: MeetingId,
    pub checklist: Vec<ChecklistItem>,
    /// The latest version; `null` before the first.
    pub latest: Option<StoredEvaluation>,
    pub versions: Vec<Version>,
    /// By checklist key, for the items the service can judge.
    pub suggested: BTreeMap<String, Suggestion>,
}

fn check_text(t: Option<&str>, what: &str) -> Result<Option<String>, DomainError> {
    match t.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(t) if t.chars().count() <= MAX_TEXT && !t.chars().any(|c| c.is_control() && c != '\n') => {
            Ok(Some(t.to_string()))
        }
        Some(_) => Err(DomainError::invalid(format!(
            "a {what} must be at most {MAX_TEXT} characters without control characters"
        ))),
    }
}

/// Checks an evaluation against the checklist: a score of 1 to 5, every key
/// known and every item scored.
pub fn validate(new: &NewEvaluation, checklist: &[ChecklistItem]) -> Result<(u8, Vec<Scored>), DomainError> {
    if !(1..=5).contains(&new.score) {
        return Err(DomainError::invalid(format!("score must be 1 to 5, not {}", new.score)));
    }
    if let Some(k) = new.items.keys().find(|k| !checklist.iter().any(|c| &c.key == *k)) {
        let known: Vec<&str> = checklist.iter().map(|c| c.key.as_str()).collect();
        return Err(DomainError::invalid(format!("{k:?} is not on the checklist; its items are {}", known.join(", "))));
    }
    let mut items = Vec::with_capacity(checklist.len());
    for c in checklist {
        let met = *new
            .items
            .get(&c.key)
            .ok_or_else(|| DomainError::invalid(format!("say whether {:?} ({}) was met", c.key, c.label)))?;
        items.push(Scored { key: c.key.clone(), label: c.label.clone(), met });
    }
    Ok((new.score, items))
}

/// The meeting's org and scheduled time.
async fn meeting_of(app: &App, meeting: MeetingId) -> Result<(OrgId, String, String), DomainError> {
    let m = catalog::read(&app.vault.catalog, move |repo| repo.meeting(meeting).map_err(DomainError::from))
        .await?
        .ok_or_else(|| DomainError::not_found(format!("meeting {meeting} not found")))?;
    Ok((m.org.parse().map_err(DomainError::internal)?, m.kind, m.scheduled_at))
}

/// Stores a new version of the meeting's evaluation (admins; inspectors in
/// scope). Nothing is written if anything is wrong.
pub async fn put(
    app: &Arc<App>,
    who: &Principal,
    meeting: MeetingId,
    new: NewEvaluation,
) -> Result<Version, DomainError> {
    who.require(&[Role::Admin, Role::Inspector])?;
    who.require_meeting(app, meeting).await?;
    meeting_of(app, meeting).await?;
    let (score, items) = validate(&new, &app.config.evaluation.items)?;
    let comment = check_text(new.comment.as_deref(), "comment")?;
    let reason = check_text(new.reason.as_deref(), "reason")?;
    let current = catalog::read(&app.vault.catalog, move |repo| {
        repo.evaluations(meeting).map(|v| v.len() as u32).map_err(DomainError::from)
    })
    .await?;
    let version = current + 1;
    if version > 1 && reason.is_none() {
        return Err(DomainError::invalid("a revision needs a reason: say why the evaluation changes"));
    }
    let met = items.iter().filter(|i| i.met).count() as u32;
    let count = items.len() as u32;
    let stored = StoredEvaluation {
        meeting,
        version,
        evaluator: who.actor(),
        score,
        items,
        comment: comment.clone(),
        reason: reason.clone(),
    };
    let body = serde_json::to_vec(&stored).map_err(DomainError::internal)?;
    let meta = crate::versions::seal(app, meeting, &body).await?;
    let subject = format!("meeting/{meeting}");
    let mut data = meta.to_data();
    if let Some(d) = data.as_object_mut() {
        d.insert("version".into(), json!(version));
        d.insert("score".into(), json!(score));
        d.insert("met".into(), json!(met));
        d.insert("items".into(), json!(count));
    }
    let mut sealed = String::new();
    if comment.is_some() || reason.is_some() {
        crate::facts::seal_into(&app.vault.keys, &subject, &mut data, json!({ "comment": comment, "reason": reason }))?;
        sealed = data.get("sealed").map(|s| s.to_string()).unwrap_or_default();
    }
    let row = EvaluationRow {
        id: meta.object,
        meeting,
        version,
        score,
        met,
        items: count,
        sealed,
        meta: serde_json::to_string(&meta).map_err(DomainError::internal)?,
        stored_at: app.vault.now(),
        stored_by: who.actor(),
    };
    let entry = NewEntry { actor: who.actor(), action: "record.evaluation.stored", subject, data };
    let entry = crate::versions::commit(app, meeting, &meta, entry, move |repo| {
        // Another version committed since this one was numbered: refuse, so
        // numbers stay dense and each revision answers the one it saw.
        if repo.evaluations(meeting)?.len() as u32 != version - 1 {
            return Err(VaultError::Conflict(
                "Đánh giá vừa được người khác sửa; hãy tải lại / the evaluation changed meanwhile: reload it and \
                 try again"
                    .into(),
            ));
        }
        Ok(repo.insert_evaluation(&row)?)
    })
    .await?;
    let (id, ts) = (meta.object, entry.ts.clone());
    catalog::read(&app.vault.catalog, move |repo| repo.set_evaluation_time(id, &ts).map_err(DomainError::from)).await?;
    Ok(Version {
        version,
        object: meta.object,
        stored_at: entry.ts,
        stored_by: who.actor(),
        score,
        met,
        items: count,
        comment,
        reason,
        sha256: meta.sha256,
    })
}

fn open_sealed(app: &App, meeting: MeetingId, sealed: &str) -> Result<(Option<String>, Option<String>), DomainError> {
    if sealed.is_empty() {
        return Ok((None, None));
    }
    let note: archive::keys::WrappedDek = serde_json::from_str(sealed).map_err(DomainError::internal)?;
    let plain = app.vault.keys.open_note(&format!("meeting/{meeting}"), &note).map_err(DomainError::internal)?;
    let v: serde_json::Value = serde_json::from_slice(&plain).map_err(DomainError::internal)?;
    let text = |k: &str| v.get(k).and_then(|r| r.as_str()).map(str::to_string);
    Ok((text("comment"), text("reason")))
}

/// The meeting's evaluation (admins; inspectors and the cell's secretary in scope).
pub async fn get(app: &App, who: &Principal, meeting: MeetingId) -> Result<EvaluationView, DomainError> {
    who.require(&[Role::Admin, Role::Inspector, Role::Secretary])?;
    who.require_meeting(app, meeting).await?;
    let (org, kind, scheduled_at) = meeting_of(app, meeting).await?;
    let rows =
        catalog::read(&app.vault.catalog, move |repo| repo.evaluations(meeting).map_err(DomainError::from)).await?;
    let mut versions = Vec::with_capacity(rows.len());
    for r in &rows {
        let meta: RecordMeta = serde_json::from_str(&r.meta).map_err(DomainError::internal)?;
        let (comment, reason) = open_sealed(app, meeting, &r.sealed)?;
        versions.push(Version {
            version: r.version,
            object: r.id,
            stored_at: r.stored_at.clone(),
            stored_by: r.stored_by.clone(),
            score: r.score,
            met: r.met,
            items: r.items,
            comment,
            reason,
            sha256: meta.sha256,
        });
    }
    let latest = match rows.last() {
        Some(r) => {
            let meta: RecordMeta = serde_json::from_str(&r.meta).map_err(DomainError::internal)?;
            let bytes = archive::record::read_all(&app.vault, &meeting.to_string(), &meta).await?;
            Some(serde_json::from_slice::<StoredEvaluation>(&bytes).map_err(DomainError::internal)?)
        }
        None => None,
    };
    let suggested = suggest(app, who, meeting, org, &kind, &scheduled_at).await?;
    let checklist = app.config.evaluation.items.clone();
    let suggested = suggested.into_iter().filter(|(k, _)| checklist.iter().any(|c| &c.key == k)).collect();
    Ok(EvaluationView { meeting, checklist, latest, versions, suggested })
}

/// The local `YYYY-MM` of an instant.
fn local_month(ts: &str) -> Option<(i32, u8)> {
    let d = archive::clock::parse_ts(ts).ok()?.to_offset(crate::local_time::OFFSET).date();
    Some((d.year(), u8::from(d.month())))
}

/// The checklist items the facts decide, by their well-known keys.
async fn suggest(
    app: &App,
    who: &Principal,
    meeting: MeetingId,
    org: OrgId,
    kind: &str,
    scheduled_at: &str,
) -> Result<BTreeMap<String, Suggestion>, DomainError> {
    let mut out = BTreeMap::new();
    let mut put = |k: &str, met: bool, why: String| {
        out.insert(k.to_string(), Suggestion { met, why });
    };
    let (rows, at) = crate::documents::rows(app, meeting).await?;
    let before: Vec<_> = rows.iter().filter(|r| crate::documents::KINDS.contains(&r.kind.as_str())).collect();
    let mut ahead = 0;
    for r in &before {
        if crate::documents::view(app, r, &at)?.in_advance {
            ahead += 1;
        }
    }
    let days = app.config.documents.advance_days;
    put(
        "documents_in_advance",
        !before.is_empty() && ahead == before.len(),
        match before.len() {
            0 => "Chưa có tài liệu nào được gửi.".into(),
            n => format!("{ahead}/{n} tài liệu gửi trước ít nhất {days} ngày."),
        },
    );
    let minutes = rows.iter().filter(|r| r.kind == crate::minutes::KIND).count();
    put(
        "minutes_filed",
        minutes > 0,
        match minutes {
            0 => "Chưa nộp biên bản.".into(),
            n => format!("Đã nộp biên bản ({n} phiên bản)."),
        },
    );
    let attendance = crate::attendance::get(app, who, meeting).await?;
    let s = &attendance.summary;
    match &attendance.sheet {
        None => {
            put("attendance_90", false, "Chưa có bảng điểm danh.".into());
            put("chair_present", false, "Chưa có bảng điểm danh.".into());
        }
        Some(sheet) => {
            put(
                "attendance_90",
                s.rate >= 90.0,
                format!("Có mặt {}/{} đảng viên ({:.1} %).", s.present, s.expected, s.rate),
            );
            let (chaired, problems) = (sheet.chairs.len(), s.chair_problems.len());
            put(
                "chair_present",
                chaired > 0 && problems == 0,
                match (chaired, problems) {
                    (0, _) => "Bảng điểm danh chưa ghi người chủ trì.".into(),
                    (n, 0) => format!("{n} điểm cầu, đều do bí thư hoặc phó bí thư chủ trì."),
                    (n, p) => format!("{p}/{n} điểm cầu không do bí thư hoặc phó bí thư chủ trì."),
                },
            );
        }
    }
    if kind != "committee" {
        let month = local_month(scheduled_at);
        let at = archive::clock::parse_ts(scheduled_at).map_err(DomainError::internal)?;
        let earlier = move |ts: &str| archive::clock::parse_ts(ts).is_ok_and(|t| t < at);
        let committee = catalog::read(&app.vault.catalog, move |repo| {
            let all = repo.meetings(Some(org), &Scope::All)?;
            Ok::<_, DomainError>(
                all.into_iter()
                    .filter(|m| m.kind == "committee" && m.id != meeting)
                    .filter(|m| earlier(&m.scheduled_at) && local_month(&m.scheduled_at) == month)
                    .map(|m| m.scheduled_at)
                    .max(),
            )
        })
        .await?;
        put(
            "committee_first",
            committee.is_some(),
            match committee {
                Some(t) => format!("Chi ủy họp lúc {} trong cùng tháng.", crate::local_time::display(&t)),
                None => "Không có cuộc họp chi ủy trước đó trong tháng.".into(),
            },
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checklist() -> Vec<ChecklistItem> {
        crate::config::EvaluationConfig::default().items
    }

    fn all(met: bool) -> BTreeMap<String, bool> {
        checklist().into_iter().map(|c| (c.key, met)).collect()
    }

    #[test]
    fn an_evaluation_scores_every_item_of_the_checklist_and_1_to_5() {
        let new = |items, score| NewEvaluation { items, score, comment: None, reason: None };
        let (score, items) = validate(&new(all(true), 4), &checklist()).unwrap();
        assert_eq!((score, items.len()), (4, 6));
        assert!(items.iter().all(|i| i.met && !i.label.is_empty()));
        for bad in [0, 6, 255] {
            let e = validate(&new(all(true), bad), &checklist()).unwrap_err();
            assert!(e.to_string().contains("1 to 5"), "{e}");
        }
        let mut unknown = all(true);
        unknown.insert("held_in_a_pagoda".into(), true);
        let e = validate(&new(unknown, 3), &checklist()).unwrap_err();
        assert!(e.to_string().contains("held_in_a_pagoda") && e.to_string().contains("minutes_filed"), "{e}");
        let mut missing = all(false);
        missing.remove("chair_present");
        let e = validate(&new(missing, 3), &checklist()).unwrap_err();
        assert!(e.to_string().contains("chair_present"), "{e}");
    }

    #[test]
    fn comments_are_bounded_text() {
        assert_eq!(check_text(Some("  "), "comment").unwrap(), None);
        assert_eq!(check_text(Some("Tốt\nnội dung"), "comment").unwrap().as_deref(), Some("Tốt\nnội dung"));
        assert!(check_text(Some("a\u{7}b"), "comment").is_err());
        assert!(check_text(Some(&"x".repeat(MAX_TEXT + 1)), "comment").is_err());
    }

    #[test]
    fn months_are_local() {
        // 23:30 UTC on 31 July is 06:30 on 1 August in Vietnam.
        assert_eq!(local_month("2026-07-31T23:30:00Z"), Some((2026, 8)));
        assert_eq!(local_month("2026-07-31T10:00:00Z"), Some((2026, 7)));
    }
}
