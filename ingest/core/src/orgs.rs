//! Orgs (bloc → base committee → cell) and their meetings: created by admins,
//! listed within the caller's scope.

use crate::app::App;
use crate::error::DomainError;
use crate::principal::{self, Principal, Role};
use crate::schema::{MeetingId, OrgId};
use archive::ledger::NewEntry;
use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewOrg {
    pub name: String,
    pub kind: String,
    pub parent: Option<OrgId>,
    /// Whisper language code for this org's meetings; inherited by orgs below.
    pub language: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Org {
    pub id: OrgId,
    pub parent: Option<String>,
    pub kind: String,
    pub name: String,
    /// Ids from the root down, `/`-separated: a subtree is a path prefix.
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
}

/// A transcription language as the API takes it: a code Whisper knows.
fn check_language(language: Option<String>) -> Result<Option<String>, DomainError> {
    match language {
        Some(l) if !media::transcribe::language_known(&l) => {
            Err(DomainError::invalid(format!("language {l:?} is not a Whisper language code (vi, en, fr, ...)")))
        }
        other => Ok(other),
    }
}

/// Which kind of org may sit under which.
fn parent_kind(kind: &str) -> Result<Option<&'static str>, DomainError> {
    match kind {
        "bloc" => Ok(None),
        "base" => Ok(Some("bloc")),
        "cell" => Ok(Some("base")),
        _ => Err(DomainError::invalid("kind must be bloc, base or cell")),
    }
}

fn check_name(name: &str, what: &str) -> Result<String, DomainError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 300 || name.chars().any(char::is_control) {
        return Err(DomainError::invalid(format!("{what} must be 1 to 300 characters, without control characters")));
    }
    Ok(name.to_string())
}

pub async fn create_org(app: &App, who: &Principal, req: NewOrg) -> Result<Org, DomainError> {
    who.require(&[Role::Admin])?;
    let name = check_name(&req.name, "name")?;
    let want_parent = parent_kind(&req.kind)?;
    let language = check_language(req.language)?;
    let id = OrgId::new();
    let (kind, parent) = (req.kind.clone(), req.parent);
    let entry = NewEntry {
        actor: who.actor(),
        action: "org.created",
        subject: format!("org/{id}"),
        data: json!({ "kind": kind, "parent": parent, "name": name, "language": language }),
    };
    let now = app.vault.now();
    let (org, _) = app
        .vault
        .commit(entry, move |tx| {
            let parent_path = match (want_parent, parent) {
                (None, None) => String::new(),
                (Some(want), Some(p)) => {
                    let row: Option<(String, String)> =
                        tx.query_row("SELECT kind, path FROM orgs WHERE id = ?1", [p.to_string()], |r| Ok((r.get(0)?, r.get(1)?))).optional()?;
                    match row {
                        Some((k, path)) if k == want => path,
                        Some((k, _)) => return Err(archive::vault::VaultError::Conflict(format!("a {kind} must sit under a {want}, not a {k}"))),
                        None => return Err(archive::vault::VaultError::Missing(format!("parent org {p} not found"))),
                    }
                }
                (None, Some(_)) => return Err(archive::vault::VaultError::Conflict("a bloc has no parent".into())),
                (Some(want), None) => return Err(archive::vault::VaultError::Conflict(format!("a {kind} needs a parent {want}"))),
            };
            let path = format!("{parent_path}/{id}");
            tx.execute(
                "INSERT INTO orgs (id, parent, kind, name, path, created_at, language) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![id.to_string(), parent.map(|p| p.to_string()), kind, name, path, now, language],
            )?;
            Ok(Org { id, parent: parent.map(|p| p.to_string()), kind, name, path, language })
        })
        .await?;
    Ok(org)
}

/// The orgs in the caller's scope: every org for admins and auditors, an
/// inspector's subtrees (not their ancestors: a visible org's `path` already
/// names its ancestors' ids, and no page needs their names).
pub async fn list_orgs(app: &App, who: &Principal) -> Result<Vec<Org>, DomainError> {
    who.require(&[Role::Admin, Role::Inspector, Role::Auditor])?;
    let scope = who.scope_json();
    let orgs = app
        .vault
        .catalog
        .call(move |c| {
            let sql = format!(
                "SELECT id, parent, kind, name, path, language FROM orgs o WHERE {} ORDER BY path",
                principal::in_scope_sql("o.path", 1)
            );
            let mut stmt = c.prepare(&sql)?;
            let rows = stmt.query_map([scope], |r| {
                Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
            })?;
            rows.map(|r| {
                let (id, parent, kind, name, path, language) = r?;
                Ok(Org { id: id.parse()?, parent, kind, name, path, language })
            })
            .collect::<Result<Vec<_>, DomainError>>()
        })
        .await?;
    Ok(orgs)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewMeeting {
    pub org: OrgId,
    pub kind: String,
    pub title: String,
    /// RFC 3339.
    pub scheduled_at: String,
    /// Whisper language code; default: the org's, else the service's.
    pub language: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Meeting {
    pub id: MeetingId,
    pub org: String,
    pub kind: String,
    pub title: String,
    pub scheduled_at: String,
    pub recording: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
}

pub async fn create_meeting(app: &App, who: &Principal, req: NewMeeting) -> Result<Meeting, DomainError> {
    who.require(&[Role::Admin])?;
    if !matches!(req.kind.as_str(), "regular" | "thematic" | "conference") {
        return Err(DomainError::invalid("kind must be regular, thematic or conference"));
    }
    let title = check_name(&req.title, "title")?;
    let language = check_language(req.language)?;
    let scheduled = archive::clock::parse_ts(&req.scheduled_at)
        .map_err(|_| DomainError::invalid("scheduled_at must be an RFC 3339 time, e.g. 2026-11-22T08:00:00+07:00"))?;
    let scheduled_at = archive::clock::format_ts(scheduled);
    let id = MeetingId::new();
    let meeting =
        Meeting { id, org: req.org.to_string(), kind: req.kind, title, scheduled_at, recording: None, language };
    // The title stays in the catalog only: the ledger in the store names ids, not content.
    let mut data = json!({ "org": meeting.org, "kind": meeting.kind, "scheduled_at": meeting.scheduled_at });
    let subject = format!("meeting/{id}");
    crate::facts::seal_into(
        &app.vault.keys,
        &subject,
        &mut data,
        json!({ "title": meeting.title, "language": meeting.language }),
    )?;
    let entry = NewEntry { actor: who.actor(), action: "meeting.created", subject, data };
    let now = app.vault.now();
    let (org, kind, title, at, lang) = (
        meeting.org.clone(),
        meeting.kind.clone(),
        meeting.title.clone(),
        meeting.scheduled_at.clone(),
        meeting.language.clone(),
    );
    app.vault
        .commit(entry, move |tx| {
            let exists: Option<String> = tx.query_row("SELECT id FROM orgs WHERE id = ?1", [&org], |r| r.get(0)).optional()?;
            if exists.is_none() {
                return Err(archive::vault::VaultError::Missing(format!("org {org} not found")));
            }
            tx.execute(
                "INSERT INTO meetings (id, org, kind, title, scheduled_at, created_at, language) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![id.to_string(), org, kind, title, at, now, lang],
            )?;
            Ok(())
        })
        .await?;
    Ok(meeting)
}

type MeetingRow = (String, String, String, String, String, Option<String>, Option<String>);

fn meeting_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<MeetingRow> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?))
}

fn to_meeting(row: MeetingRow) -> Result<Meeting, DomainError> {
    let (id, org, kind, title, scheduled_at, recording, language) = row;
    Ok(Meeting { id: id.parse()?, org, kind, title, scheduled_at, recording, language })
}

#[derive(Debug, Deserialize)]
pub struct MeetingFilter {
    pub org: Option<OrgId>,
}

pub async fn list_meetings(app: &App, who: &Principal, f: MeetingFilter) -> Result<Vec<Meeting>, DomainError> {
    who.require(&[Role::Admin, Role::Inspector, Role::Auditor, Role::Recorder])?;
    let scope = who.scope_json();
    let meetings = app
        .vault
        .catalog
        .call(move |c| {
            let sql = format!(
                "SELECT m.id, m.org, m.kind, m.title, m.scheduled_at, m.recording, m.language
                 FROM meetings m JOIN orgs o ON o.id = m.org
                 WHERE (?1 IS NULL OR m.org = ?1) AND {}
                 ORDER BY m.scheduled_at DESC",
                principal::in_scope_sql("o.path", 2)
            );
            let mut stmt = c.prepare(&sql)?;
            let rows = stmt.query_map(params![f.org.map(|o| o.to_string()), scope], meeting_row)?;
            rows.map(|r| to_meeting(r?)).collect::<Result<Vec<_>, DomainError>>()
        })
        .await?;
    Ok(meetings)
}

pub async fn get_meeting(app: &App, who: &Principal, id: MeetingId) -> Result<Meeting, DomainError> {
    who.require(&[Role::Admin, Role::Inspector, Role::Auditor, Role::Recorder])?;
    who.require_meeting(app, id).await?;
    let row = app
        .vault
        .catalog
        .call(move |c| {
            c.query_row(
                "SELECT id, org, kind, title, scheduled_at, recording, language FROM meetings WHERE id = ?1",
                [id.to_string()],
                meeting_row,
            )
            .optional()
            .map_err(DomainError::from)
        })
        .await?;
    to_meeting(row.ok_or_else(|| DomainError::not_found(format!("meeting {id} not found")))?)
}

/// (id, name, path) of the orgs in the caller's scope, in tree order: what every
/// page's org names and choices come from.
pub async fn scoped(app: &App, who: &Principal) -> Result<Vec<(String, String, String)>, DomainError> {
    let scope = who.scope_json();
    app.vault
        .catalog
        .call(move |c| {
            let scoped = crate::principal::in_scope_sql("o.path", 1);
            let sql = format!("SELECT id, name, path FROM orgs o WHERE {scoped} ORDER BY path");
            let mut stmt = c.prepare(&sql)?;
            let rows = stmt.query_map([scope], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            rows.collect::<Result<Vec<_>, _>>().map_err(DomainError::from)
        })
        .await
}

/// A meeting with its org's name and path, for the people who read its content
/// (admins; inspectors in scope).
#[derive(Debug, Clone)]
pub struct MeetingDetail {
    pub id: String,
    pub title: String,
    pub kind: String,
    pub scheduled_at: String,
    pub recording: Option<String>,
    pub org_name: String,
    pub org_path: String,
}

pub async fn meeting_detail(app: &App, who: &Principal, id: MeetingId) -> Result<MeetingDetail, DomainError> {
    who.require(&[Role::Admin, Role::Inspector])?;
    let m = app
        .vault
        .catalog
        .call(move |c| {
            c.query_row(
                "SELECT m.id, m.title, m.kind, m.scheduled_at, m.recording, o.name, o.path FROM meetings m JOIN orgs o ON o.id = m.org WHERE m.id = ?1",
                [id.to_string()],
                |r| {
                    let (id, title, kind, scheduled_at) = (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
                    Ok(MeetingDetail { id, title, kind, scheduled_at, recording: r.get(4)?, org_name: r.get(5)?, org_path: r.get(6)? })
                },
            )
            .optional()
            .map_err(DomainError::from)
        })
        .await?
        .ok_or_else(|| DomainError::not_found(format!("meeting {id} not found")))?;
    who.require_scope(&m.org_path)?;
    Ok(m)
}

/// The path of org `id` in the tree (`/bloc/base/cell`).
pub async fn path_of(app: &App, id: OrgId) -> Result<String, DomainError> {
    let path: Option<String> = app
        .vault
        .catalog
        .call(move |c| {
            c.query_row("SELECT path FROM orgs WHERE id = ?1", [id.to_string()], |r| r.get(0))
                .optional()
                .map_err(DomainError::from)
        })
        .await?;
    path.ok_or_else(|| DomainError::not_found(format!("org {id} not found")))
}
