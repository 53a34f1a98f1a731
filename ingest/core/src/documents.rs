//! Documents before the meeting (the meeting record, storage format v4): an
//! agenda, a draft resolution, study material, attached to a meeting days before
//! it, sealed in the store under the meeting and ledgered with the time, so the
//! ledger proves when each was available.
//!
//! - Upload (admins): the body streams through [`archive::record::RecordWriter`],
//!   one piece in memory; the first bytes are sniffed before anything is put
//!   (PDF, DOCX, ODT, PNG, JPEG); over the cap or not a document leaves nothing:
//!   no object (what was put is deleted), no row, no entry.
//! - Title and file name are sealed facts: under the note key in the ledger and
//!   in the catalog alike, opened only in memory.
//! - Read (admins; inspectors in scope), and by a member's bearer link: signed
//!   with the link key (HKDF from the signing key, never the key itself), with an
//!   expiry and the meeting's link generation, which a revocation bumps. A link
//!   never reaches a confidential (*Mật*) document. Every download is ledgered
//!   (`record.document.downloaded`, no personal data) before a byte flows.

use crate::app::App;
use crate::catalog::{self, DocumentRow};
use crate::error::DomainError;
use crate::principal::{Principal, Role};
use crate::schema::MeetingId;
use archive::id::RecordObjectId;
use archive::ledger::NewEntry;
use archive::record::{RecordError, RecordMeta};
use archive::vault::VaultError;
use bytes::Bytes;
use futures::{Stream, StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::Arc;

/// The kinds of document a meeting may carry.
pub const KINDS: &[&str] = &["agenda", "resolution", "study", "other"];

/// Bytes looked at before anything is stored: enough for every signature below.
const SNIFF_BYTES: usize = 512;

/// What an upload says of itself (query or headers).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewDocument {
    pub filename: String,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub kind: Option<String>,
    /// Mật: never downloadable through a member's link.
    #[serde(default)]
    pub confidential: bool,
}

/// A stored document as callers see it.
#[derive(Debug, Clone, Serialize)]
pub struct DocumentView {
    pub id: RecordObjectId,
    pub meeting: MeetingId,
    pub kind: String,
    pub content_type: String,
    pub confidential: bool,
    pub title: String,
    pub filename: String,
    /// Plaintext bytes.
    pub len: u64,
    /// SHA-256 of the file as uploaded.
    pub sha256: String,
    pub stored_at: String,
    /// Whole days between storing and the meeting (negative: after it).
    pub days_before: i64,
    /// Stored at least `documents.advance_days` before the meeting.
    pub in_advance: bool,
}

/// The sealed facts of one document.
#[derive(Debug, Serialize, Deserialize)]
struct Facts {
    title: String,
    filename: String,
}

/// The content type of a document, from its first bytes; `None`: not one we take.
pub fn sniff(head: &[u8]) -> Option<&'static str> {
    if head.starts_with(b"%PDF-") {
        return Some("application/pdf");
    }
    if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Some("image/png");
    }
    if head.starts_with(b"\xFF\xD8\xFF") {
        return Some("image/jpeg");
    }
    if !head.starts_with(b"PK\x03\x04") || head.len() < 30 {
        return None;
    }
    // The first entry of a ZIP's local headers names the package: ODF puts an
    // uncompressed `mimetype` first; OOXML writers put `[Content_Types].xml`
    // (or its rels) first.
    let name_len = u16::from_le_bytes([head[26], head[27]]) as usize;
    let extra_len = u16::from_le_bytes([head[28], head[29]]) as usize;
    let name = head.get(30..30 + name_len)?;
    match name {
        b"mimetype" => {
            let data = head.get(30 + name_len + extra_len..)?;
            data.starts_with(b"application/vnd.oasis.opendocument.text")
                .then_some("application/vnd.oasis.opendocument.text")
        }
        b"[Content_Types].xml" | b"_rels/.rels" => {
            Some("application/vnd.openxmlformats-officedocument.wordprocessingml.document")
        }
        n if n.starts_with(b"word/") || n.starts_with(b"docProps/") => {
            Some("application/vnd.openxmlformats-officedocument.wordprocessingml.document")
        }
        _ => None,
    }
}

fn check_text(s: &str, what: &str) -> Result<String, DomainError> {
    let s = s.trim();
    if s.is_empty() || s.chars().count() > 255 || s.chars().any(char::is_control) {
        return Err(DomainError::invalid(format!("{what} must be 1 to 255 characters without control characters")));
    }
    Ok(s.to_string())
}

fn not_a_document() -> DomainError {
    DomainError::NotMedia(
        "Tệp này không phải là tài liệu được chấp nhận / this file is not an accepted document: \
         send a PDF, DOCX, ODT, PNG or JPEG"
            .into(),
    )
}

fn too_large(cap: u64) -> DomainError {
    DomainError::TooLarge(format!(
        "Tài liệu vượt quá giới hạn {cap} byte / the document is larger than the limit of {cap} bytes"
    ))
}

/// Stores a document for `meeting` from a streamed body (admins; the cell's secretary).
pub async fn upload<S, E>(
    app: &Arc<App>,
    who: &Principal,
    meeting: MeetingId,
    doc: NewDocument,
    declared: Option<u64>,
    body: S,
) -> Result<DocumentView, DomainError>
where
    S: Stream<Item = Result<Bytes, E>> + Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    who.require(&[Role::Admin, Role::Secretary])?;
    who.require_meeting(app, meeting).await?;
    let scheduled_at = scheduled_at(app, meeting).await?;
    let (filename, title) = check_names(&doc.filename, doc.title.as_deref())?;
    let kind = doc.kind.unwrap_or_else(|| "other".into());
    if !KINDS.contains(&kind.as_str()) {
        return Err(DomainError::invalid("kind must be agenda, resolution, study or other"));
    }
    let filing = Filing {
        kind,
        confidential: doc.confidential,
        title,
        filename,
        action: "record.document.stored",
        data: serde_json::Map::new(),
    };
    store(app, who, meeting, &scheduled_at, filing, declared, body, Box::new(|_, _| Ok(()))).await
}

/// A meeting's scheduled time, or not found.
pub(crate) async fn scheduled_at(app: &App, meeting: MeetingId) -> Result<String, DomainError> {
    let found = catalog::read(&app.vault.catalog, move |repo| repo.meeting(meeting).map_err(DomainError::from)).await?;
    Ok(found.ok_or_else(|| DomainError::not_found(format!("meeting {meeting} not found")))?.scheduled_at)
}

/// Checks a file name and an optional title (the file name when none).
pub(crate) fn check_names(filename: &str, title: Option<&str>) -> Result<(String, String), DomainError> {
    let filename = check_text(filename, "filename")?;
    let title = match title.map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) => check_text(t, "title")?,
        None => filename.clone(),
    };
    Ok((filename, title))
}

/// What one stored file is besides its bytes: documents, minutes and absence
/// reports all go through [`store`], one streamed, sniffed and sealed path.
pub(crate) struct Filing {
    pub kind: String,
    pub confidential: bool,
    pub title: String,
    pub filename: String,
    /// The entry's action, `record.<class>.stored`.
    pub action: &'static str,
    /// More of the entry's data: ids only, never a name.
    pub data: serde_json::Map<String, serde_json::Value>,
}

/// A check and change of the filing's own, run in the commit's transaction
/// after the row is written (given the object's id): refusing it leaves nothing.
pub(crate) type InCommit = Box<dyn FnOnce(&dyn catalog::Repo, RecordObjectId) -> Result<(), VaultError> + Send>;

/// Streams `body` into a new record object of `meeting`, sniffed before any
/// byte is stored and capped at `documents.max_bytes`, then commits its row and
/// its `filing.action` entry together; on any refusal nothing is left behind.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn store<S, E>(
    app: &Arc<App>,
    who: &Principal,
    meeting: MeetingId,
    scheduled_at: &str,
    filing: Filing,
    declared: Option<u64>,
    body: S,
    in_commit: InCommit,
) -> Result<DocumentView, DomainError>
where
    S: Stream<Item = Result<Bytes, E>> + Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    let cap = app.config.documents.max_bytes;
    if declared.is_some_and(|n| n > cap) {
        return Err(too_large(cap));
    }
    // In its own task, so a client that vanishes mid-body still leaves nothing behind.
    let (app2, actor) = (app.clone(), who.actor());
    let stored = tokio::spawn(async move {
        let mut writer = app2.vault.begin_record(&meeting.to_string(), cap)?;
        match receive(&mut writer, body, cap).await {
            Ok(content_type) => match writer.finish().await {
                Ok(meta) => Ok((content_type, meta)),
                Err(e) => Err(record_error(e, cap)),
            },
            Err(e) => {
                writer.abandon().await;
                Err(e)
            }
        }
    })
    .await
    .map_err(DomainError::internal)?;
    let (content_type, meta) = stored?;
    let subject = format!("meeting/{meeting}");
    let mut data = meta.to_data();
    if let Some(d) = data.as_object_mut() {
        d.insert("kind".into(), json!(filing.kind));
        d.insert("content_type".into(), json!(content_type));
        d.insert("confidential".into(), json!(filing.confidential));
        d.extend(filing.data);
    }
    let facts = json!({ "title": filing.title, "filename": filing.filename });
    crate::facts::seal_into(&app.vault.keys, &subject, &mut data, facts)?;
    let sealed = data.get("sealed").map(|s| s.to_string()).unwrap_or_default();
    let row = DocumentRow {
        id: meta.object,
        meeting,
        kind: filing.kind,
        content_type: content_type.to_string(),
        confidential: filing.confidential,
        sealed,
        meta: serde_json::to_string(&meta).map_err(DomainError::internal)?,
        // The entry's time is known once it is appended; until it is set below,
        // the time the commit began (the entry's is never earlier).
        stored_at: app.vault.now(),
        stored_by: actor.clone(),
    };
    let entry = NewEntry { actor, action: filing.action, subject, data };
    let mut committed_row = row.clone();
    let result = catalog::commit(&app.vault, entry, move |repo| {
        if repo.meeting(meeting)?.is_none() {
            return Err(VaultError::Missing(format!("meeting {meeting} not found")));
        }
        repo.insert_document(&row)?;
        in_commit(repo, row.id)
    })
    .await;
    match result {
        Ok((_, entry)) => {
            committed_row.stored_at = entry.ts.clone();
            let (id, ts) = (committed_row.id, entry.ts);
            catalog::read(&app.vault.catalog, move |repo| repo.set_document_time(id, &ts).map_err(DomainError::from))
                .await?;
            view(app, &committed_row, scheduled_at)
        }
        Err(e) => {
            // Nothing names the object: remove it, so it never becomes a stray.
            archive::record::abandon_record(&app.vault.store, &meeting.to_string(), meta.object).await;
            Err(e.into())
        }
    }
}

fn record_error(e: RecordError, cap: u64) -> DomainError {
    match e {
        RecordError::TooLarge { .. } => too_large(cap),
        RecordError::Vault(v) => v.into(),
    }
}

/// Feeds the body to the writer, sniffing its first bytes before any is stored.
async fn receive<S, E>(
    writer: &mut archive::record::RecordWriter,
    body: S,
    cap: u64,
) -> Result<&'static str, DomainError>
where
    S: Stream<Item = Result<Bytes, E>>,
    E: std::fmt::Display,
{
    let mut body = std::pin::pin!(body);
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    let mut content_type = None;
    while let Some(frame) = body.next().await {
        let frame = frame.map_err(|e| DomainError::invalid(format!("the upload broke off: {e}")))?;
        if content_type.is_some() {
            writer.write(&frame).await.map_err(|e| record_error(e, cap))?;
            continue;
        }
        head.extend_from_slice(&frame);
        if head.len() >= SNIFF_BYTES {
            content_type = Some(sniff(&head).ok_or_else(not_a_document)?);
            writer.write(&head).await.map_err(|e| record_error(e, cap))?;
            head = Vec::new();
        }
    }
    match content_type {
        Some(t) => Ok(t),
        None => {
            let t = sniff(&head).ok_or_else(not_a_document)?;
            writer.write(&head).await.map_err(|e| record_error(e, cap))?;
            Ok(t)
        }
    }
}

pub(crate) fn view(app: &App, row: &DocumentRow, scheduled_at: &str) -> Result<DocumentView, DomainError> {
    let subject = format!("meeting/{}", row.meeting);
    let note: archive::keys::WrappedDek = serde_json::from_str(&row.sealed).map_err(DomainError::internal)?;
    let plain = app.vault.keys.open_note(&subject, &note).map_err(DomainError::internal)?;
    let facts: Facts = serde_json::from_slice(&plain).map_err(DomainError::internal)?;
    let meta: RecordMeta = serde_json::from_str(&row.meta).map_err(DomainError::internal)?;
    let ahead = match (archive::clock::parse_ts(&row.stored_at), archive::clock::parse_ts(scheduled_at)) {
        (Ok(stored), Ok(at)) => at - stored,
        _ => time::Duration::ZERO,
    };
    let advance = time::Duration::days(i64::from(app.config.documents.advance_days));
    Ok(DocumentView {
        id: row.id,
        meeting: row.meeting,
        kind: row.kind.clone(),
        content_type: row.content_type.clone(),
        confidential: row.confidential,
        title: facts.title,
        filename: facts.filename,
        len: meta.len,
        sha256: meta.sha256,
        stored_at: row.stored_at.clone(),
        days_before: ahead.whole_days(),
        in_advance: ahead >= advance,
    })
}

/// A meeting's documents and its time (rows, scheduled_at).
pub(crate) async fn rows(app: &App, meeting: MeetingId) -> Result<(Vec<DocumentRow>, String), DomainError> {
    catalog::read(&app.vault.catalog, move |repo| {
        let m = repo.meeting(meeting)?.ok_or_else(|| DomainError::not_found(format!("meeting {meeting} not found")))?;
        Ok((repo.documents(meeting)?, m.scheduled_at))
    })
    .await
}

/// A meeting's documents (admins; inspectors and the cell's secretary in scope).
pub async fn list(app: &App, who: &Principal, meeting: MeetingId) -> Result<Vec<DocumentView>, DomainError> {
    who.require(&[Role::Admin, Role::Inspector, Role::Secretary])?;
    who.require_meeting(app, meeting).await?;
    let (rows, at) = rows(app, meeting).await?;
    rows.iter().filter(|r| before_meeting(r)).map(|r| view(app, r, &at)).collect()
}

/// Whether a row is one of the documents sent before the meeting: minutes and
/// absence reports are stored alike but listed apart, and never reach a link.
fn before_meeting(row: &DocumentRow) -> bool {
    KINDS.contains(&row.kind.as_str())
}

/// A document's bytes, decrypted piece by piece as they stream.
pub type Download = std::pin::Pin<Box<dyn Stream<Item = Result<Bytes, DomainError>> + Send>>;

/// Downloads one document of any kind, minutes and absence reports too (admins;
/// inspectors and the cell's secretary in scope), ledgered first.
pub async fn download(
    app: &App,
    who: &Principal,
    meeting: MeetingId,
    id: RecordObjectId,
) -> Result<(DocumentView, Download), DomainError> {
    who.require(&[Role::Admin, Role::Inspector, Role::Secretary])?;
    who.require_meeting(app, meeting).await?;
    fetch(app, meeting, id, who.actor(), json!({ "object": id, "via": "user" }), true).await
}

async fn fetch(
    app: &App,
    meeting: MeetingId,
    id: RecordObjectId,
    actor: String,
    data: serde_json::Value,
    confidential_ok: bool,
) -> Result<(DocumentView, Download), DomainError> {
    let (row, at) = catalog::read(&app.vault.catalog, move |repo| {
        let m = repo.meeting(meeting)?.ok_or_else(|| DomainError::not_found(format!("meeting {meeting} not found")))?;
        Ok::<_, DomainError>((repo.document(meeting, id)?, m.scheduled_at))
    })
    .await?;
    let row = row.ok_or_else(|| DomainError::not_found(format!("document {id} not found in meeting {meeting}")))?;
    if !confidential_ok && !before_meeting(&row) {
        // Minutes and absence reports are for signed-in readers in scope only.
        return Err(DomainError::forbidden(
            "Biên bản và báo cáo vắng mặt không tải được qua liên kết; hãy đăng nhập / minutes and absence \
             reports are never downloadable through a link: sign in",
        ));
    }
    if row.confidential && !confidential_ok {
        return Err(DomainError::forbidden(
            "Tài liệu Mật không tải được qua liên kết; hãy đăng nhập / a confidential (Mật) document is never \
             downloadable through a link: sign in",
        ));
    }
    let v = view(app, &row, &at)?;
    let meta: RecordMeta = serde_json::from_str(&row.meta).map_err(DomainError::internal)?;
    let bytes = app.vault.read_record(&meeting.to_string(), meta).await?;
    // Ledgered before a byte flows (invariant 11).
    let entry = NewEntry { actor, action: "record.document.downloaded", subject: format!("meeting/{meeting}"), data };
    app.vault.record(entry).await?;
    Ok((v, Box::pin(bytes.map_err(DomainError::from))))
}

/// A member's link to a meeting's documents.
#[derive(Debug, Clone, Serialize)]
pub struct MemberLink {
    /// The bearer token: the path is `/l/<token>`.
    pub token: String,
    pub expires_at: String,
    pub generation: u64,
}

fn link_message(meeting: MeetingId, generation: u64, expires: i64) -> String {
    format!("niem/link/v1|{meeting}|{generation}|{expires}")
}

/// Makes a member link valid for `documents.link_days` (admins; inspectors in
/// scope, who may hand it on). It changes nothing, so it is not ledgered; each
/// download through it is.
pub async fn link(app: &App, who: &Principal, meeting: MeetingId) -> Result<MemberLink, DomainError> {
    who.require(&[Role::Admin, Role::Inspector, Role::Secretary])?;
    who.require_meeting(app, meeting).await?;
    let generation = catalog::read(&app.vault.catalog, move |repo| {
        repo.meeting(meeting)?.ok_or_else(|| DomainError::not_found(format!("meeting {meeting} not found")))?;
        Ok::<_, DomainError>(repo.link_generation(meeting)?)
    })
    .await?;
    let now = archive::clock::parse_ts(&app.vault.now()).map_err(DomainError::internal)?;
    let expires = now + time::Duration::days(i64::from(app.config.documents.link_days));
    let expires_unix = expires.unix_timestamp();
    let tag = app.vault.keys.link_tag(link_message(meeting, generation, expires_unix).as_bytes());
    let token = format!("{meeting}.{generation}.{expires_unix}.{}", hex::encode(tag));
    Ok(MemberLink { token, expires_at: archive::clock::format_ts(expires), generation })
}

/// Revokes every link made so far for the meeting (admins; the cell's secretary), ledgered.
pub async fn revoke_links(app: &App, who: &Principal, meeting: MeetingId) -> Result<u64, DomainError> {
    who.require(&[Role::Admin, Role::Secretary])?;
    who.require_meeting(app, meeting).await?;
    let entry = NewEntry {
        actor: who.actor(),
        action: "record.link.revoked",
        subject: format!("meeting/{meeting}"),
        data: json!({}),
    };
    let (generation, _) = catalog::commit(&app.vault, entry, move |repo| {
        if repo.meeting(meeting)?.is_none() {
            return Err(VaultError::Missing(format!("meeting {meeting} not found")));
        }
        Ok(repo.bump_link_generation(meeting)?)
    })
    .await?;
    Ok(generation)
}

fn forged() -> DomainError {
    DomainError::forbidden("Liên kết không hợp lệ / this link is not valid: ask the cell's secretary for a new one")
}

/// The meeting a member link opens, if it is genuine, unexpired and not revoked.
async fn open_link(app: &App, token: &str) -> Result<MeetingId, DomainError> {
    let mut parts = token.splitn(4, '.');
    let (Some(m), Some(g), Some(e), Some(tag)) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(forged());
    };
    let meeting: MeetingId = m.parse().map_err(|_| forged())?;
    let generation: u64 = g.parse().map_err(|_| forged())?;
    let expires: i64 = e.parse().map_err(|_| forged())?;
    let tag = hex::decode(tag).map_err(|_| forged())?;
    // The canonical spelling only, so one link has one token.
    if format!("{meeting}.{generation}.{expires}") != format!("{m}.{g}.{e}") {
        return Err(forged());
    }
    if !app.vault.keys.link_tag_ok(link_message(meeting, generation, expires).as_bytes(), &tag) {
        return Err(forged());
    }
    let now = archive::clock::parse_ts(&app.vault.now()).map_err(DomainError::internal)?;
    if now.unix_timestamp() >= expires {
        return Err(DomainError::Gone(
            "Liên kết đã hết hạn / this link has expired: ask the cell's secretary for a new one".into(),
        ));
    }
    let current =
        catalog::read(&app.vault.catalog, move |repo| repo.link_generation(meeting).map_err(DomainError::from)).await?;
    if generation != current {
        return Err(DomainError::Gone(
            "Liên kết đã bị thu hồi / this link was revoked: ask the cell's secretary for a new one".into(),
        ));
    }
    Ok(meeting)
}

/// What a member's link shows: the meeting's non-confidential documents.
pub async fn link_list(app: &App, token: &str) -> Result<(MeetingId, Vec<DocumentView>), DomainError> {
    let meeting = open_link(app, token).await?;
    let (rows, at) = rows(app, meeting).await?;
    let docs = rows
        .iter()
        .filter(|r| !r.confidential && before_meeting(r))
        .map(|r| view(app, r, &at))
        .collect::<Result<_, _>>()?;
    Ok((meeting, docs))
}

/// Downloads a non-confidential document through a member's link, ledgered
/// with the link's generation and no personal data.
pub async fn link_download(
    app: &App,
    token: &str,
    id: RecordObjectId,
) -> Result<(DocumentView, Download), DomainError> {
    let meeting = open_link(app, token).await?;
    let generation = token.split('.').nth(1).unwrap_or("0").to_string();
    let data = json!({ "object": id, "via": "link", "link_generation": generation.parse::<u64>().unwrap_or(0) });
    fetch(app, meeting, id, "link".into(), data, false).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_told_by_their_first_bytes() {
        assert_eq!(sniff(b"%PDF-1.7\n"), Some("application/pdf"));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
        assert_eq!(sniff(b"\xFF\xD8\xFF\xE0"), Some("image/jpeg"));
        let zip = |name: &[u8], data: &[u8]| {
            let mut z = b"PK\x03\x04".to_vec();
            z.extend_from_slice(&[0u8; 22]);
            z.extend_from_slice(&(name.len() as u16).to_le_bytes());
            z.extend_from_slice(&0u16.to_le_bytes());
            z.extend_from_slice(name);
            z.extend_from_slice(data);
            z
        };
        let odt = zip(b"mimetype", b"application/vnd.oasis.opendocument.text");
        assert_eq!(sniff(&odt), Some("application/vnd.oasis.opendocument.text"));
        assert!(sniff(&zip(b"[Content_Types].xml", b"<?xml")).unwrap().contains("wordprocessingml"));
        for not in [
            zip(b"mimetype", b"application/epub+zip"),
            zip(b"evil.exe", b"MZ"),
            b"MZ\x90\x00".to_vec(),
            b"<html>".to_vec(),
            b"PK\x03\x04".to_vec(),
            Vec::new(),
        ] {
            assert_eq!(sniff(&not), None, "{not:?}");
        }
    }
}
