//! Minutes (*biên bản*, the meeting record): the signed minutes, filed after
//! the meeting, and a draft for the secretary to edit and sign outside Niêm.
//!
//! - Filed (admins; the cell's secretary) as a scan (PNG, JPEG), PDF, DOCX or
//!   ODT through the documents' one upload path ([`crate::documents`]): the
//!   body streamed, sniffed and sealed as a record object of class `minutes`
//!   (`record.minutes.stored`), a row of kind `minutes`. Never before the
//!   meeting's time: minutes record what happened. Every upload is a new
//!   version, never overwritten; the latest is the minutes.
//! - Minutes never go through a member's link: they are read by admins and,
//!   in scope, inspectors and the cell's secretary.
//! - The draft (DOCX or ODT, made in memory) holds the meeting's facts, the
//!   attendance summary and the timed outline of the machine transcript,
//!   which it calls what it is (*bản chép lời tự động*), never *biên bản*.
//!   It holds content, so making one is ledgered (`minutes.drafted`, the
//!   format only).

use crate::app::App;
use crate::catalog::{self, Scope};
use crate::documents::{self, DocumentView, Filing};
use crate::error::DomainError;
use crate::principal::{Principal, Role};
use crate::schema::MeetingId;
use crate::transcript::Transcript;
use archive::ledger::NewEntry;
use bytes::Bytes;
use futures::Stream;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::io::Write;
use std::sync::Arc;

pub const KIND: &str = "minutes";

/// What a minutes upload says of itself (query).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewMinutes {
    pub filename: String,
    #[serde(default)]
    pub title: Option<String>,
}

/// A meeting's minutes as a reader sees them.
#[derive(Debug, Clone, Serialize)]
pub struct MinutesView {
    pub meeting: MeetingId,
    pub filed: bool,
    /// The latest version: the minutes.
    pub latest: Option<DocumentView>,
    /// Whole local days between the meeting and the latest version (0: the same day).
    pub days_after: Option<i64>,
    /// Whole local days between the meeting and the first version.
    pub first_days_after: Option<i64>,
    /// Every version, oldest first.
    pub versions: Vec<DocumentView>,
}

/// Whole days between the local dates of two instants (`to` minus `from`).
fn local_days(from: &str, to: &str) -> Option<i64> {
    let from = archive::clock::parse_ts(from).ok()?.to_offset(crate::local_time::OFFSET).date();
    let to = archive::clock::parse_ts(to).ok()?.to_offset(crate::local_time::OFFSET).date();
    Some((to - from).whole_days())
}

/// Files a version of the meeting's signed minutes (admins; the cell's secretary).
pub async fn upload<S, E>(
    app: &Arc<App>,
    who: &Principal,
    meeting: MeetingId,
    new: NewMinutes,
    declared: Option<u64>,
    body: S,
) -> Result<DocumentView, DomainError>
where
    S: Stream<Item = Result<Bytes, E>> + Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    who.require(&[Role::Admin, Role::Secretary])?;
    who.require_meeting(app, meeting).await?;
    let scheduled_at = documents::scheduled_at(app, meeting).await?;
    let (filename, title) = documents::check_names(&new.filename, new.title.as_deref())?;
    let now = archive::clock::parse_ts(&app.vault.now()).map_err(DomainError::internal)?;
    let at = archive::clock::parse_ts(&scheduled_at).map_err(DomainError::internal)?;
    if now < at {
        return Err(DomainError::conflict(format!(
            "Cuộc họp chưa diễn ra (dự kiến {}): biên bản chỉ nộp sau cuộc họp / the meeting has not happened yet \
             (scheduled at {scheduled_at}): minutes are filed after it",
            crate::local_time::display(&scheduled_at)
        )));
    }
    let filing = Filing {
        kind: KIND.into(),
        confidential: false,
        title,
        filename,
        action: "record.minutes.stored",
        data: serde_json::Map::new(),
    };
    documents::store(app, who, meeting, &scheduled_at, filing, declared, body, Box::new(|_, _| Ok(()))).await
}

/// The meeting's minutes (admins; inspectors and the cell's secretary in scope).
pub async fn get(app: &App, who: &Principal, meeting: MeetingId) -> Result<MinutesView, DomainError> {
    who.require(&[Role::Admin, Role::Inspector, Role::Secretary])?;
    who.require_meeting(app, meeting).await?;
    let (rows, at) = documents::rows(app, meeting).await?;
    let versions =
        rows.iter().filter(|r| r.kind == KIND).map(|r| documents::view(app, r, &at)).collect::<Result<Vec<_>, _>>()?;
    let latest = versions.last().cloned();
    Ok(MinutesView {
        meeting,
        filed: latest.is_some(),
        days_after: latest.as_ref().and_then(|l| local_days(&at, &l.stored_at)),
        first_days_after: versions.first().and_then(|f| local_days(&at, &f.stored_at)),
        latest,
        versions,
    })
}

/// The draft's file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Docx,
    Odt,
}

impl Format {
    pub fn parse(s: Option<&str>) -> Result<Self, DomainError> {
        match s.unwrap_or("docx") {
            "docx" => Ok(Format::Docx),
            "odt" => Ok(Format::Odt),
            other => Err(DomainError::invalid(format!("format must be docx or odt, not {other:?}"))),
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Docx => "docx",
            Format::Odt => "odt",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Docx => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            Format::Odt => "application/vnd.oasis.opendocument.text",
        }
    }
}

/// A draft made for download.
#[derive(Debug)]
pub struct Draft {
    pub filename: String,
    pub content_type: &'static str,
    pub bytes: Vec<u8>,
}

/// One block of the draft's text.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    Heading(String),
    Para(String),
}

fn kind_label(kind: &str) -> &str {
    match kind {
        "regular" => "Sinh hoạt thường kỳ",
        "thematic" => "Sinh hoạt chuyên đề",
        "conference" => "Hội nghị",
        "committee" => "Họp chi ủy",
        other => other,
    }
}

/// `[mm:ss]` from the recording's start (minutes past 59 keep counting).
fn stamp(ms: u64) -> String {
    let s = ms / 1000;
    format!("[{:02}:{:02}]", s / 60, s % 60)
}

/// The facts a draft is made of, gathered before it is written.
pub struct DraftFacts {
    pub org_name: String,
    pub title: String,
    pub kind: String,
    pub scheduled_at: String,
    pub summary: crate::attendance::Summary,
    /// (bridge point, chair's name).
    pub chairs: Vec<(String, String)>,
    pub transcript: Option<Transcript>,
}

/// The draft's text, in order: marked as a draft first.
pub fn blocks(f: &DraftFacts) -> Vec<Block> {
    let s = &f.summary;
    let mut b = vec![
        Block::Heading("DỰ THẢO".into()),
        Block::Heading("BIÊN BẢN CUỘC HỌP".into()),
        Block::Para(
            "Bản dự thảo do Niêm tạo để thư ký chỉnh sửa; biên bản chính thức là bản đã ký, nộp lại sau cuộc họp."
                .into(),
        ),
        Block::Para(format!("Tổ chức: {}", f.org_name)),
        Block::Para(format!("Cuộc họp: {}", f.title)),
        Block::Para(format!("Loại: {}", kind_label(&f.kind))),
        Block::Para(format!("Thời gian: {}", crate::local_time::display(&f.scheduled_at))),
        Block::Heading("Tình hình dự họp".into()),
        Block::Para(format!(
            "Đảng viên phải dự: {}; có mặt: {} (tỷ lệ {:.1} %); đến muộn: {}; về sớm: {}.",
            s.expected, s.present, s.rate, s.late, s.left_early
        )),
        Block::Para(format!("Vắng có phép: {}; vắng không phép: {}.", s.absent_approved, s.unexcused)),
    ];
    if f.chairs.is_empty() {
        b.push(Block::Para("Chủ trì: chưa ghi trong bảng điểm danh.".into()));
    }
    for (point, name) in &f.chairs {
        b.push(Block::Para(format!("Chủ trì điểm cầu {point}: {name}")));
    }
    b.push(Block::Heading("Diễn biến theo bản chép lời tự động (máy tạo, chưa được kiểm tra)".into()));
    match &f.transcript {
        Some(t) if t.segments.iter().any(|l| !l.flagged()) => {
            for l in t.segments.iter().filter(|l| !l.flagged()) {
                b.push(Block::Para(format!("{} {}", stamp(l.offset_ms), l.segment.text.trim())));
            }
        }
        Some(_) => b.push(Block::Para("Bản chép lời tự động không có đoạn nào.".into())),
        None => b.push(Block::Para("Cuộc họp chưa có bản chép lời tự động.".into())),
    }
    b.push(Block::Heading("Kết luận, nghị quyết".into()));
    b.push(Block::Para("…".into()));
    b.push(Block::Para("THƯ KÝ                                        CHỦ TRÌ".into()));
    b
}

/// Text as XML character data (and attribute values).
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 has no place for other control characters.
            c if c.is_control() && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

const XML_HEAD: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n";

fn docx_document(blocks: &[Block]) -> String {
    let mut x = String::from(XML_HEAD);
    x.push_str("<w:document xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\"><w:body>");
    for b in blocks {
        match b {
            Block::Heading(t) => x.push_str(&format!(
                "<w:p><w:pPr><w:jc w:val=\"center\"/></w:pPr><w:r><w:rPr><w:b/><w:sz w:val=\"28\"/></w:rPr>\
                 <w:t xml:space=\"preserve\">{}</w:t></w:r></w:p>",
                escape(t)
            )),
            Block::Para(t) => {
                x.push_str(&format!("<w:p><w:r><w:t xml:space=\"preserve\">{}</w:t></w:r></w:p>", escape(t)))
            }
        }
    }
    x.push_str("<w:sectPr/></w:body></w:document>");
    x
}

fn odt_content(blocks: &[Block]) -> String {
    let mut x = String::from(XML_HEAD);
    x.push_str(
        "<office:document-content xmlns:office=\"urn:oasis:names:tc:opendocument:xmlns:office:1.0\" \
         xmlns:text=\"urn:oasis:names:tc:opendocument:xmlns:text:1.0\" office:version=\"1.2\">\
         <office:body><office:text>",
    );
    for b in blocks {
        match b {
            Block::Heading(t) => {
                x.push_str(&format!("<text:h text:outline-level=\"1\">{}</text:h>", escape(t)));
            }
            Block::Para(t) => x.push_str(&format!("<text:p>{}</text:p>", escape(t))),
        }
    }
    x.push_str("</office:text></office:body></office:document-content>");
    x
}

/// The draft as a DOCX or ODT package: stored (uncompressed) entries, the one
/// that names the package first, as the documents' sniffer and office suites
/// expect.
pub fn package(format: Format, blocks: &[Block]) -> Result<Vec<u8>, DomainError> {
    let files: Vec<(&str, String)> = match format {
        Format::Docx => vec![
            (
                "[Content_Types].xml",
                format!(
                    "{XML_HEAD}<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">\
                     <Default Extension=\"rels\" ContentType=\"application/vnd.openxmlformats-package.relationships+xml\"/>\
                     <Default Extension=\"xml\" ContentType=\"application/xml\"/>\
                     <Override PartName=\"/word/document.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml\"/>\
                     </Types>"
                ),
            ),
            (
                "_rels/.rels",
                format!(
                    "{XML_HEAD}<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">\
                     <Relationship Id=\"rId1\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument\" Target=\"word/document.xml\"/>\
                     </Relationships>"
                ),
            ),
            ("word/document.xml", docx_document(blocks)),
        ],
        Format::Odt => vec![
            // First and uncompressed, so the type is read from fixed offsets.
            ("mimetype", Format::Odt.content_type().to_string()),
            (
                "META-INF/manifest.xml",
                format!(
                    "{XML_HEAD}<manifest:manifest xmlns:manifest=\"urn:oasis:names:tc:opendocument:xmlns:manifest:1.0\" manifest:version=\"1.2\">\
                     <manifest:file-entry manifest:full-path=\"/\" manifest:version=\"1.2\" manifest:media-type=\"application/vnd.oasis.opendocument.text\"/>\
                     <manifest:file-entry manifest:full-path=\"content.xml\" manifest:media-type=\"text/xml\"/>\
                     </manifest:manifest>"
                ),
            ),
            ("content.xml", odt_content(blocks)),
        ],
    };
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, text) in files {
        zip.start_file(name, options).map_err(DomainError::internal)?;
        zip.write_all(text.as_bytes()).map_err(DomainError::internal)?;
    }
    Ok(zip.finish().map_err(DomainError::internal)?.into_inner())
}

/// Makes an editable draft of the minutes (admins; the cell's secretary),
/// ledgered as `minutes.drafted` with its format and no content.
/// `format`: `docx` (the default) or `odt`.
pub async fn draft(app: &App, who: &Principal, meeting: MeetingId, format: Option<&str>) -> Result<Draft, DomainError> {
    who.require(&[Role::Admin, Role::Secretary])?;
    who.require_meeting(app, meeting).await?;
    let format = Format::parse(format)?;
    let m = catalog::read(&app.vault.catalog, move |repo| repo.meeting_detail(meeting).map_err(DomainError::from))
        .await?
        .ok_or_else(|| DomainError::not_found(format!("meeting {meeting} not found")))?;
    let attendance = crate::attendance::get(app, who, meeting).await?;
    let mut chairs = Vec::new();
    if let Some(sheet) = &attendance.sheet {
        if !sheet.chairs.is_empty() {
            let roster = crate::members::list_in(&app.vault, m.org_path.clone(), true, Scope::All).await?;
            for c in &sheet.chairs {
                let name = roster.iter().find(|r| r.id == c.member).map(|r| r.name.clone());
                chairs.push((c.point.clone(), name.unwrap_or_else(|| c.member.to_string())));
            }
        }
    }
    let transcript = match m.recording.as_deref().map(str::parse::<archive::id::RecordingId>) {
        Some(Ok(rec)) => match app.vault.read_transcript(rec).await? {
            Some(plain) => Some(
                serde_json::from_slice::<Transcript>(&plain)
                    .map_err(|e| DomainError::internal(format!("stored transcript does not parse: {e}")))?,
            ),
            None => None,
        },
        _ => None,
    };
    let facts = DraftFacts {
        org_name: m.org_name,
        title: m.title,
        kind: m.kind,
        scheduled_at: m.scheduled_at,
        summary: attendance.summary,
        chairs,
        transcript,
    };
    let bytes = package(format, &blocks(&facts))?;
    // Ledgered before it is handed out: the draft carries the record's content.
    let entry = NewEntry {
        actor: who.actor(),
        action: "minutes.drafted",
        subject: format!("meeting/{meeting}"),
        data: json!({ "format": format.extension() }),
    };
    app.vault.record(entry).await?;
    Ok(Draft {
        filename: format!("du-thao-bien-ban-{meeting}.{}", format.extension()),
        content_type: format.content_type(),
        bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(transcript: bool) -> DraftFacts {
        let summary = crate::attendance::summarize(&[], &[], &[], &Default::default());
        let transcript = transcript.then(|| {
            serde_json::from_value(json!({
                "format": "niem-transcript/1", "recording": "r", "meeting": "m", "org": "o", "language": "vi",
                "machine_generated": true, "model": { "name": "ggml-base.bin", "sha256": "00" },
                "created_at": "2026-07-15T01:00:00Z", "streams": [],
                "segments": [
                    { "stream": "s", "label": "a", "at": "2026-07-15T01:00:00Z", "offset_ms": 65_400,
                      "start_ms": 0, "end_ms": 1000, "text": " Khai mạc <hội nghị> & chào cờ", "avg_logprob": -0.2, "no_speech_prob": 0.1 },
                    { "stream": "s", "label": "a", "at": "2026-07-15T01:00:00Z", "offset_ms": 70_000,
                      "start_ms": 0, "end_ms": 1000, "text": "lặp lặp", "avg_logprob": -0.2, "no_speech_prob": 0.1, "flags": ["repeated"] }
                ]
            }))
            .unwrap()
        });
        DraftFacts {
            org_name: "Chi bộ A".into(),
            title: "Sinh hoạt tháng 7".into(),
            kind: "regular".into(),
            scheduled_at: "2026-07-15T01:00:00.000Z".into(),
            summary,
            chairs: vec![("diem-cau-1".into(), "Nguyễn Văn A".into())],
            transcript,
        }
    }

    fn entry(bytes: &[u8], name: &str) -> String {
        let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        let mut f = z.by_name(name).unwrap();
        let mut s = String::new();
        std::io::Read::read_to_string(&mut f, &mut s).unwrap();
        s
    }

    #[test]
    fn the_draft_is_marked_and_holds_the_facts_and_the_outline() {
        let b = blocks(&facts(true));
        assert_eq!(b[0], Block::Heading("DỰ THẢO".into()));
        let text: Vec<String> = b.iter().map(|b| format!("{b:?}")).collect();
        let text = text.join("\n");
        assert!(text.contains("Chi bộ A") && text.contains("15/07/2026 08:00"), "{text}");
        assert!(text.contains("[01:05] Khai mạc"), "{text}");
        assert!(!text.contains("lặp lặp"), "flagged segments stay out: {text}");
        assert!(text.contains("Nguyễn Văn A"));
        assert!(text.contains("bản chép lời tự động"));
        let none = blocks(&facts(false));
        assert!(none.iter().any(|b| matches!(b, Block::Para(t) if t.contains("chưa có bản chép lời"))));
    }

    #[test]
    fn both_packages_are_what_the_document_sniffer_takes() {
        let b = blocks(&facts(true));
        let docx = package(Format::Docx, &b).unwrap();
        assert_eq!(documents::sniff(&docx), Some(Format::Docx.content_type()));
        let body = entry(&docx, "word/document.xml");
        assert!(body.contains("DỰ THẢO") && body.contains("&lt;hội nghị&gt; &amp; chào cờ"), "{body}");
        let odt = package(Format::Odt, &b).unwrap();
        assert_eq!(documents::sniff(&odt), Some(Format::Odt.content_type()));
        assert_eq!(&odt[30..38], b"mimetype");
        assert!(entry(&odt, "content.xml").contains("DỰ THẢO"));
        assert!(entry(&odt, "META-INF/manifest.xml").contains("content.xml"));
    }

    #[test]
    fn days_after_count_local_dates() {
        // 23:30 local on the 15th, then 00:30 local on the 16th: one day.
        assert_eq!(local_days("2026-07-15T16:30:00Z", "2026-07-15T17:30:00Z"), Some(1));
        assert_eq!(local_days("2026-07-15T01:00:00Z", "2026-07-15T09:00:00Z"), Some(0));
        assert_eq!(local_days("2026-07-15T01:00:00Z", "2026-07-18T01:00:00Z"), Some(3));
    }
}
