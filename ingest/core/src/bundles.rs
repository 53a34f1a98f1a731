//! Evidence bundles made by the service, which holds the KEK: `niem bundle`
//! (the host, service stopped) and `POST /api/v1/recordings/{rec}/bundle`
//! (admins; inspectors in scope). Without media a bundle is what `niem-audit
//! bundle` writes; with media it also carries each stream decrypted and the
//! transcript as WebVTT, in the clear or encrypted to one person with age.
//!
//! Every bundle made here is ledgered first as `recording.exported`, naming who
//! made it, for whom (the recipient), and the SHA-256 and length of every file
//! it carries. The bundle is written only once a signed checkpoint covers that
//! entry, so the bundle proves its own export: a live stream's plaintext hash,
//! which no earlier entry records, is signed by it. The format itself is
//! `archive::bundle`'s; this module only gathers plaintext and ledgers.

use crate::app::App;
use crate::error::DomainError;
use crate::principal::{Principal, Role};
use archive::bundle::{self, MediaItem, MediaSource};
use archive::id::{RecordingId, StreamId};
use archive::ledger::NewEntry;
use archive::manifest::Manifest;
use archive::reader::StreamReader;
use archive::vault::Vault;
use futures::TryStreamExt;
use serde::Deserialize;
use serde_json::json;
use std::io::{Read, Write};
use std::sync::Arc;

/// What to put in a bundle.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// The decrypted media and the transcript too, not only the proofs.
    #[serde(default)]
    pub with_media: bool,
    /// An age X25519 recipient (`age1…`): the media travel encrypted to it.
    #[serde(default)]
    pub recipient: Option<String>,
}

/// What a made bundle holds, for the caller to print or log.
#[derive(Debug, Clone)]
pub struct Made {
    pub files: Vec<MediaItem>,
    pub export_seq: u64,
    pub checkpoint_size: u64,
}

/// A bundle ready to write: checked, ledgered and signed.
pub struct Prepared {
    ev: bundle::Evidence,
    sources: Vec<MediaSource<'static>>,
    recipient: Option<age::x25519::Recipient>,
    made_at: time::OffsetDateTime,
    pub made: Made,
}

impl Prepared {
    /// Writes the tar to `out` on a blocking thread (the media decrypt as it goes).
    pub async fn write<W: Write + Send + 'static>(self, out: W) -> Result<W, DomainError> {
        let Prepared { ev, sources, recipient, made_at, .. } = self;
        tokio::task::spawn_blocking(move || bundle::write(out, &ev, sources, recipient.as_ref(), made_at))
            .await
            .map_err(DomainError::internal)?
            .map_err(DomainError::internal)
    }
}

/// The bundle of `rec` for `who` (admins; inspectors in scope).
pub async fn prepare_as(app: &App, who: &Principal, rec: RecordingId, req: Request) -> Result<Prepared, DomainError> {
    who.require(&[Role::Admin, Role::Inspector])?;
    who.require_recording(app, rec).await?;
    prepare(&app.vault, &who.actor(), rec, req).await
}

/// The bundle of `rec`, ledgered as made by `actor`. No role check: callers go
/// through [`prepare_as`]; the host CLI comes here directly.
pub async fn prepare(vault: &Arc<Vault>, actor: &str, rec: RecordingId, req: Request) -> Result<Prepared, DomainError> {
    let recipient =
        match &req.recipient {
            Some(r) => Some(r.trim().parse::<age::x25519::Recipient>().map_err(|e| {
                DomainError::invalid(format!("recipient is not an age X25519 public key (age1…): {e}"))
            })?),
            None => None,
        };
    let before = bundle::gather(&vault.store, vault.keys.signer.verifier(), rec).await.map_err(gather_error)?;
    let manifest: Manifest = serde_json::from_slice(&before.manifest)
        .map_err(|e| DomainError::internal(format!("the sealed manifest does not parse: {e}")))?;
    let (files, streams, transcript) =
        if req.with_media { plaintext(vault, rec, &manifest).await? } else { Default::default() };
    let entry = NewEntry {
        actor: actor.to_string(),
        action: "recording.exported",
        subject: format!("recording/{rec}"),
        data: json!({ "with_media": req.with_media, "recipient": req.recipient, "files": files }),
    };
    let exported = vault.record(entry).await?;
    // The bundle proves only signed entries: sign this one before gathering.
    vault.mirror.flush(true).await.map_err(DomainError::unavailable)?;
    let ev = bundle::gather(&vault.store, vault.keys.signer.verifier(), rec).await.map_err(gather_error)?;
    if !ev.entries.iter().any(|e| e.seq == exported.seq) {
        return Err(DomainError::unavailable("no signed checkpoint covers the export entry yet; try again"));
    }
    let made = Made { files: files.clone(), export_seq: exported.seq, checkpoint_size: ev.checkpoint.size };
    let sources = sources(&tokio::runtime::Handle::current(), files, streams, transcript);
    Ok(Prepared { ev, sources, recipient, made_at: vault.clock.now(), made })
}

type Plaintext = (Vec<MediaItem>, Vec<StreamReader>, Option<Vec<u8>>);

/// Each stream's reader and plaintext hash, and the transcript as WebVTT.
async fn plaintext(vault: &Vault, rec: RecordingId, manifest: &Manifest) -> Result<Plaintext, DomainError> {
    let (mut files, mut streams) = (Vec::new(), Vec::new());
    for s in &manifest.streams {
        let reader = reader(vault, rec, s.id).await?;
        let item = hash_stream(&reader, media_name(s.id, s.content_type.as_deref())).await?;
        if s.sha256.as_ref().is_some_and(|want| *want != item.sha256) {
            return Err(DomainError::internal(format!("stream {} decrypts to other bytes than sealed", s.id)));
        }
        files.push(item);
        streams.push(reader);
    }
    let transcript = vtt(vault, rec).await?;
    if let Some(t) = &transcript {
        files.push(MediaItem { name: "transcript.vtt".into(), sha256: archive::sha256_hex(t), len: t.len() as u64 });
    }
    Ok((files, streams, transcript))
}

fn gather_error(e: bundle::BundleError) -> DomainError {
    match e {
        bundle::BundleError::NotABundle(why) => DomainError::conflict(why),
        e => DomainError::conflict(format!("no bundle can be made: {e}")),
    }
}

/// `<stream>.<ext>`, the extension from the content type.
fn media_name(id: StreamId, content_type: Option<&str>) -> String {
    let ext = match content_type.unwrap_or("") {
        t if t.contains("mp4") => "mp4",
        t if t.contains("wav") => "wav",
        t if t.contains("mpeg") => "mp3",
        t if t.contains("ogg") => "ogg",
        t if t.contains("webm") => "webm",
        _ => "bin",
    };
    format!("{id}.{ext}")
}

async fn reader(vault: &Vault, rec: RecordingId, id: StreamId) -> Result<StreamReader, DomainError> {
    let info = vault.stream(id).await?;
    let key = Arc::new(vault.stream_key(&info).await?);
    Ok(StreamReader::new(vault.store.clone(), key, info.manifest.layout(), rec, id))
}

/// Decrypts a whole stream once to learn its plaintext hash (a live stream's
/// is recorded nowhere else), before the index that names it is written.
async fn hash_stream(reader: &StreamReader, name: String) -> Result<MediaItem, DomainError> {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    let mut body = Box::pin(reader.range(0..reader.len()).map_err(DomainError::internal)?);
    let mut len = 0u64;
    while let Some(piece) = body.try_next().await.map_err(DomainError::internal)? {
        ctx.update(&piece);
        len += piece.len() as u64;
    }
    Ok(MediaItem { name, sha256: hex::encode(ctx.finish()), len })
}

/// The transcript as WebVTT, if there is one.
async fn vtt(vault: &Vault, rec: RecordingId) -> Result<Option<Vec<u8>>, DomainError> {
    let Some(plain) = vault.read_transcript(rec).await? else { return Ok(None) };
    let doc: crate::transcript::Transcript = serde_json::from_slice(&plain)
        .map_err(|e| DomainError::internal(format!("stored transcript does not parse: {e}")))?;
    Ok(Some(doc.to_vtt(None).into_bytes()))
}

/// Blocking readers of each file's plaintext, for `bundle::write` on a
/// blocking thread: the streams decrypt again as the tar takes them.
fn sources(
    handle: &tokio::runtime::Handle,
    files: Vec<MediaItem>,
    streams: Vec<StreamReader>,
    transcript: Option<Vec<u8>>,
) -> Vec<MediaSource<'static>> {
    let mut readers: Vec<Box<dyn Read + Send>> = Vec::new();
    for s in streams {
        let body = match s.range(0..s.len()) {
            Ok(b) => b.map_err(std::io::Error::other),
            Err(e) => {
                let e = std::io::Error::other(e.to_string());
                readers.push(Box::new(FailingRead(Some(e))));
                continue;
            }
        };
        let r = tokio_util::io::StreamReader::new(Box::pin(body));
        readers.push(Box::new(tokio_util::io::SyncIoBridge::new_with_handle(r, handle.clone())));
    }
    if let Some(t) = transcript {
        readers.push(Box::new(std::io::Cursor::new(t)));
    }
    files.into_iter().zip(readers).map(|(item, reader)| MediaSource { item, reader }).collect()
}

/// A reader that fails once with the error it holds.
struct FailingRead(Option<std::io::Error>);

impl Read for FailingRead {
    fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
        Err(self.0.take().unwrap_or_else(|| std::io::Error::other("stream unreadable")))
    }
}
