//! Orgs (bloc → base committee → cell) and their meetings: created by admins,
//! listed within the caller's scope.

use crate::app::App;
use crate::catalog::{self, NewMeetingRow, Scope};
use crate::error::DomainError;
use crate::principal::{Principal, Role};
use crate::schema::{MeetingId, OrgId};
use archive::id::RecordingId;
use archive::ledger::NewEntry;
use archive::vault::VaultError;
use serde::Deserialize;
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

pub use crate::catalog::{BrowsedMeeting, Meeting, MeetingDetail, Org};

/// A transcription language as the API takes it: a code Whisper knows.
fn check_language(language: Option<String>) -> Result<Option<String>, DomainError> {
    match language {
        Some(l) if !media::transcribe::language_known(&l) => {
            Err(DomainError::invalid(format!("language {l:?} is not a Whisper language code (vi, en, fr, ...)")))
        }
        other => Ok(other),
    }
}

/// The kinds of meeting: a cell's regular monthly meeting, a thematic one, a
/// conference (đại hội), and the cell committee's own meeting (họp chi ủy), which
/// the practice wants held before the cell meets.
pub const MEETING_KINDS: [&str; 4] = ["regular", "thematic", "conference", "committee"];

/// Refuses a meeting kind that is not one of [`MEETING_KINDS`].
pub fn check_meeting_kind(kind: &str) -> Result<(), DomainError> {
    if MEETING_KINDS.contains(&kind) {
        Ok(())
    } else {
        Err(DomainError::invalid("kind must be regular, thematic, conference or committee"))
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
    let (org, _) = catalog::commit(&app.vault, entry, move |repo| {
        let parent_path = match (want_parent, parent) {
            (None, None) => String::new(),
            (Some(want), Some(p)) => match repo.org_kind_path(p)? {
                Some((k, path)) if k == want => path,
                Some((k, _)) => {
                    return Err(VaultError::Conflict(format!("a {kind} must sit under a {want}, not a {k}")))
                }
                None => return Err(VaultError::Missing(format!("parent org {p} not found"))),
            },
            (None, Some(_)) => return Err(VaultError::Conflict("a bloc has no parent".into())),
            (Some(want), None) => return Err(VaultError::Conflict(format!("a {kind} needs a parent {want}"))),
        };
        let path = format!("{parent_path}/{id}");
        let org = Org { id, parent: parent.map(|p| p.to_string()), kind, name, path, language };
        repo.insert_org(&org, &now)?;
        Ok(org)
    })
    .await?;
    Ok(org)
}

/// The orgs in the caller's scope: every org for admins and auditors, an
/// inspector's or secretary's subtrees (not their ancestors: a visible org's `path` already
/// names its ancestors' ids, and no page needs their names).
pub async fn list_orgs(app: &App, who: &Principal) -> Result<Vec<Org>, DomainError> {
    who.require(&[Role::Admin, Role::Inspector, Role::Auditor, Role::Secretary])?;
    let scope = Scope::of(who);
    catalog::read(&app.vault.catalog, move |repo| repo.orgs(&scope).map_err(DomainError::from)).await
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

pub async fn create_meeting(app: &App, who: &Principal, req: NewMeeting) -> Result<Meeting, DomainError> {
    who.require(&[Role::Admin])?;
    check_meeting_kind(&req.kind)?;
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
    let row = NewMeetingRow { id, org, kind, title, scheduled_at: at, language: lang, created_at: now };
    catalog::commit(&app.vault, entry, move |repo| {
        if !repo.org_exists(&row.org)? {
            return Err(VaultError::Missing(format!("org {} not found", row.org)));
        }
        Ok(repo.insert_meeting(&row)?)
    })
    .await?;
    Ok(meeting)
}

#[derive(Debug, Deserialize)]
pub struct MeetingFilter {
    pub org: Option<OrgId>,
}

pub async fn list_meetings(app: &App, who: &Principal, f: MeetingFilter) -> Result<Vec<Meeting>, DomainError> {
    who.require(&[Role::Admin, Role::Inspector, Role::Auditor, Role::Recorder, Role::Secretary])?;
    let scope = Scope::of(who);
    catalog::read(&app.vault.catalog, move |repo| repo.meetings(f.org, &scope).map_err(DomainError::from)).await
}

pub async fn get_meeting(app: &App, who: &Principal, id: MeetingId) -> Result<Meeting, DomainError> {
    who.require(&[Role::Admin, Role::Inspector, Role::Auditor, Role::Recorder, Role::Secretary])?;
    who.require_meeting(app, id).await?;
    let found = catalog::read(&app.vault.catalog, move |repo| repo.meeting(id).map_err(DomainError::from)).await?;
    found.ok_or_else(|| DomainError::not_found(format!("meeting {id} not found")))
}

/// Meetings per browse page.
pub const BROWSE_PAGE: usize = 50;

/// What the meetings page asks for (its form's fields; empty ones are no filter).
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Browse {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Local dates, `YYYY-MM-DD`, both included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// Any value (a checked box sends `on`): only meetings with a recording.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording: Option<String>,
    /// Any value: only meetings with a stored transcript.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcript: Option<String>,
    /// Any value: only meetings with minutes filed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minutes: Option<String>,
    /// The `next` of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

impl Browse {
    /// Empty form fields mean "no filter".
    fn trimmed(mut self) -> Browse {
        for f in [
            &mut self.org,
            &mut self.kind,
            &mut self.from,
            &mut self.to,
            &mut self.recording,
            &mut self.transcript,
            &mut self.minutes,
            &mut self.after,
        ] {
            *f = f.take().map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        }
        self
    }
}

/// One page of browsed meetings, and where the next starts (`after`).
#[derive(Debug, serde::Serialize)]
pub struct BrowsePage {
    pub meetings: Vec<BrowsedMeeting>,
    pub next: Option<String>,
}

/// The meetings of the caller's scope (an org's subtree within it), newest
/// first, [`BROWSE_PAGE`] a page; the scope is part of the catalog query.
pub async fn browse(app: &App, who: &Principal, b: Browse) -> Result<BrowsePage, DomainError> {
    who.require(&[Role::Admin, Role::Inspector])?;
    let b = b.trimmed();
    if let Some(k) = &b.kind {
        check_meeting_kind(k)?;
    }
    let path = match &b.org {
        Some(org) => {
            let path = path_of(app, org.parse()?).await?;
            who.require_scope_or_above(&path)?;
            Some(path)
        }
        None => None,
    };
    let day = |d: &Option<String>, end: bool| -> Result<Option<String>, DomainError> {
        d.as_deref()
            .map(|d| {
                let start = crate::local_time::day_start(crate::local_time::date(d)?);
                Ok(archive::clock::format_ts(if end { start + time::Duration::days(1) } else { start }))
            })
            .transpose()
    };
    let after = match b.after.as_deref() {
        Some(a) => {
            let (at, id) = a.split_once('~').ok_or_else(|| DomainError::invalid("after: not a page position"))?;
            archive::clock::parse_ts(at).map_err(|_| DomainError::invalid("after: not a page position"))?;
            Some((at.to_string(), id.parse::<MeetingId>()?.to_string()))
        }
        None => None,
    };
    let f = catalog::MeetingBrowse {
        path,
        kind: b.kind.clone(),
        from: day(&b.from, false)?,
        to: day(&b.to, true)?,
        recording: b.recording.is_some(),
        transcript: b.transcript.is_some(),
        minutes: b.minutes.is_some(),
        after,
        limit: BROWSE_PAGE + 1,
    };
    let scope = Scope::of(who);
    let mut meetings =
        catalog::read(&app.vault.catalog, move |repo| repo.browse_meetings(&f, &scope).map_err(DomainError::from))
            .await?;
    let next = if meetings.len() > BROWSE_PAGE {
        meetings.truncate(BROWSE_PAGE);
        meetings.last().map(|m| format!("{}~{}", m.scheduled_at, m.id))
    } else {
        None
    };
    Ok(BrowsePage { meetings, next })
}

/// (id, name, path) of the orgs in the caller's scope, in tree order: what every
/// page's org names and choices come from.
pub async fn scoped(app: &App, who: &Principal) -> Result<Vec<(String, String, String)>, DomainError> {
    let scope = Scope::of(who);
    catalog::read(&app.vault.catalog, move |repo| repo.org_names(&scope).map_err(DomainError::from)).await
}

pub async fn meeting_detail(app: &App, who: &Principal, id: MeetingId) -> Result<MeetingDetail, DomainError> {
    who.require(&[Role::Admin, Role::Inspector])?;
    let m = catalog::read(&app.vault.catalog, move |repo| repo.meeting_detail(id).map_err(DomainError::from)).await?;
    let m = m.ok_or_else(|| DomainError::not_found(format!("meeting {id} not found")))?;
    who.require_scope(&m.org_path)?;
    Ok(m)
}

/// The path of org `id` in the tree (`/bloc/base/cell`).
pub async fn path_of(app: &App, id: OrgId) -> Result<String, DomainError> {
    let path = catalog::read(&app.vault.catalog, move |repo| repo.org_path(id).map_err(DomainError::from)).await?;
    path.ok_or_else(|| DomainError::not_found(format!("org {id} not found")))
}

/// The scope doors that need the catalog: a meeting's or a recording's org.
impl Principal {
    /// Refuses a meeting outside this caller's scope; not found if unknown.
    pub async fn require_meeting(&self, app: &App, meeting: MeetingId) -> Result<(), DomainError> {
        if !self.role.is_scoped() {
            return Ok(());
        }
        let path =
            catalog::read(&app.vault.catalog, move |repo| repo.meeting_org_path(meeting).map_err(DomainError::from))
                .await?;
        let path = path.ok_or_else(|| DomainError::not_found(format!("meeting {meeting} not found")))?;
        self.require_scope(&path)
    }

    /// Refuses a recording whose meeting is outside this caller's scope. A
    /// recording of no meeting is in nobody's scope but an admin's or auditor's.
    pub async fn require_recording(&self, app: &App, rec: RecordingId) -> Result<(), DomainError> {
        if !self.role.is_scoped() {
            return Ok(());
        }
        let path =
            catalog::read(&app.vault.catalog, move |repo| repo.recording_org_path(rec).map_err(DomainError::from))
                .await?;
        match path {
            Some(p) => self.require_scope(&p),
            None => Err(DomainError::forbidden("this recording belongs to no meeting in your scope")),
        }
    }
}
