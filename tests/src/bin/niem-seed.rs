//! `niem-seed`: fills a stopped service's data dir and store with synthetic
//! meetings, for the search tests and the search benchmark. Not part of the
//! product, and never installed.
//!
//! It opens the service's own domain (`niem_core::app::App`, the same config
//! from `NIEM_*`, the same keys, catalog and store; it refuses while `niem serve`
//! holds the data dir) and does what a user and the transcription worker would:
//! creates an org tree, schedules meetings, uploads a short clip to each, seals
//! it, then takes each transcription job off the queue and stores a synthetic
//! Vietnamese transcript for it (`niem_tests::corpus`) through the vault's one
//! path, ledgered as `transcript.stored`. Only the words are made up: what is
//! sealed, ledgered and signed is what the service itself would have written.
//!
//!   niem-seed --hours 1000 [--meeting-hours 2] [--seed 1] [--word W --word-in N]
//!             [--extra FILE.json] [--text-dir DIR] [--concurrency 4]
//!
//! Prints one JSON object: every meeting made (id, recording, org path, its
//! unique marker word, whether it holds the planted word) and the time taken.
//! `--extra` adds meetings with exactly the given lines (for ranking tests), all
//! in a cell of their own (`extra_org` in the output):
//! `[{"title": "...", "lines": ["...", "..."]}, ...]`. The output also holds an
//! admin token (`token`) made for the run. `--text-dir` also writes
//! each transcript as a text file (for the ripgrep comparison).

#![allow(clippy::unwrap_used)] // a test tool: a panic is its failure report

use anyhow::{bail, Context};
use bytes::Bytes;
use futures::StreamExt;
use niem_core::app::App;
use niem_core::catalog;
use niem_core::orgs::{NewMeeting, NewOrg};
use niem_core::principal::{Principal, Role};
use niem_core::schema::{MeetingId, OrgId};
use niem_core::transcript::{ModelRef, StreamPart, StreamResult, Transcript, FORMAT};
use niem_core::DomainError;
use niem_tests::corpus::{self, Lang, Rng};
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// The org tree: blocs × bases per bloc × cells per base.
const TREE: (usize, usize, usize) = (3, 5, 8);

struct Args {
    hours: u32,
    meeting_hours: u32,
    seed: u64,
    word: Option<(String, usize)>,
    extra: Vec<Extra>,
    text_dir: Option<PathBuf>,
    concurrency: usize,
}

#[derive(Deserialize, Clone)]
struct Extra {
    title: String,
    lines: Vec<String>,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut a =
        Args { hours: 10, meeting_hours: 2, seed: 1, word: None, extra: Vec::new(), text_dir: None, concurrency: 4 };
    let (mut word, mut word_in) = (None, None);
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--hours" => a.hours = value()?.parse()?,
            "--meeting-hours" => a.meeting_hours = value()?.parse()?,
            "--seed" => a.seed = value()?.parse()?,
            "--word" => word = Some(value()?),
            "--word-in" => word_in = Some(value()?.parse::<usize>()?),
            "--extra" => a.extra = serde_json::from_slice(&std::fs::read(value()?)?)?,
            "--text-dir" => a.text_dir = Some(value()?.into()),
            "--concurrency" => a.concurrency = value()?.parse::<usize>()?.max(1),
            other => bail!("unknown argument {other:?}; see the doc comment of tests/src/bin/niem-seed.rs"),
        }
    }
    a.word = match (word, word_in) {
        (Some(w), Some(n)) => Some((w, n)),
        (None, None) => None,
        _ => bail!("--word and --word-in go together"),
    };
    anyhow::ensure!(a.meeting_hours >= 1, "--meeting-hours must be at least 1");
    Ok(a)
}

/// One meeting to make: synthetic (`n`, its filler drawn from the seed) or an
/// extra one with exactly its lines.
#[derive(Clone)]
struct Planned {
    n: usize,
    cell: usize,
    kind: &'static str,
    scheduled_at: String,
    title: String,
    marker: String,
    planted: bool,
    lines: Option<Vec<String>>,
}

fn plan(a: &Args, cells: usize) -> Vec<Planned> {
    let count = (a.hours / a.meeting_hours) as usize;
    let mut rng = Rng(a.seed ^ 0x5EED);
    let start = time::macros::datetime!(2025-01-01 08:00 +7);
    let plant = a.word.as_ref().map_or(0, |(_, k)| (*k).min(count));
    let mut out: Vec<Planned> = (0..count)
        .map(|n| {
            let kind = match rng.below(10) {
                0..=6 => "regular",
                7 | 8 => "thematic",
                _ => "conference",
            };
            let at = start + time::Duration::days(rng.below(730) as i64) + time::Duration::minutes(n as i64 % 600);
            // Exactly `plant` meetings, spread evenly over the list.
            let planted = (n * plant) % count.max(1) < plant;
            Planned {
                n,
                cell: rng.below(cells),
                kind,
                scheduled_at: archive::clock::format_ts(at.to_offset(time::UtcOffset::UTC)),
                title: format!("Sinh hoạt chi bộ số {n}"),
                marker: format!("hs{n:06}"),
                planted,
                lines: None,
            }
        })
        .collect();
    for (i, e) in a.extra.iter().enumerate() {
        let n = count + i;
        let at = start + time::Duration::days(800) + time::Duration::hours(i as i64);
        out.push(Planned {
            n,
            cell: cells,
            kind: "thematic",
            scheduled_at: archive::clock::format_ts(at.to_offset(time::UtcOffset::UTC)),
            title: e.title.clone(),
            marker: format!("hs{n:06}"),
            planted: false,
            lines: Some(e.lines.clone()),
        });
    }
    out
}

/// The transcript lines of one meeting: its marker first (a word said in this
/// meeting only), then synthetic speech, with the planted word in one line.
fn lines(p: &Planned, a: &Args, lang: &Lang) -> Vec<corpus::Line> {
    if let Some(given) = &p.lines {
        return given
            .iter()
            .enumerate()
            .map(|(i, t)| corpus::Line {
                start_ms: i as u64 * 5_000,
                end_ms: i as u64 * 5_000 + 4_000,
                text: t.clone(),
            })
            .collect();
    }
    let mut rng = Rng(a.seed.wrapping_mul(0x9E37_79B9).wrapping_add(p.n as u64));
    let mut lines = corpus::transcript(u64::from(a.meeting_hours) * 3_600_000, lang, &mut rng);
    lines[0].text = format!("Hồ sơ số {}. {}", p.marker, lines[0].text);
    if let (true, Some((word, _))) = (p.planted, &a.word) {
        let at = rng.below(lines.len());
        lines[at].text = format!("{} Về {word}, chi bộ đã thảo luận.", lines[at].text);
    }
    lines
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Arc::new(parse_args()?);
    let started = Instant::now();
    let cfg = niem_core::config::Config::load(None)?;
    let app = App::start(cfg).await.context("open the service's data dir (is `niem serve` stopped?)")?;
    let token = niem_core::host::create_token(&app.vault, Role::Admin, &format!("seed-{}", ulid::Ulid::new())).await?;
    let who = catalog::read(&app.vault.catalog, {
        let token = token.clone();
        move |repo| niem_core::accounts::authenticate(repo, &token)
    })
    .await?;
    let mut cells = org_tree(&app, &who).await?;
    let planned = plan(&args, cells.len());
    // The extra meetings' own cell, under the first base.
    let first_base: OrgId = cells[0].1.rsplit('/').nth(1).context("a cell path names its base")?.parse()?;
    let extra =
        NewOrg { name: "Chi bộ kiểm thử".into(), kind: "cell".into(), parent: Some(first_base), language: None };
    let extra = niem_core::orgs::create_org(&app, &who, extra).await?;
    cells.push((extra.id, extra.path));
    let lang = Arc::new(Lang::new(&mut Rng(args.seed)));
    let made = futures::stream::iter(planned.iter().cloned())
        .map(|p| meeting(app.clone(), who.clone(), cells[p.cell].clone(), p))
        .buffer_unordered(args.concurrency)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<Vec<_>>>()?;
    let by_rec: Arc<HashMap<String, (Planned, String)>> =
        Arc::new(made.iter().map(|m| (m.recording.clone(), (m.planned.clone(), m.org_path.clone()))).collect());
    let workers = (0..args.concurrency)
        .map(|_| tokio::spawn(transcribe(app.clone(), args.clone(), lang.clone(), by_rec.clone())))
        .collect::<Vec<_>>();
    let mut stored = 0;
    for w in workers {
        stored += w.await??;
    }
    anyhow::ensure!(stored == made.len(), "stored {stored} transcripts for {} meetings", made.len());
    app.vault.mirror.flush(true).await.context("sign and store the ledger")?;
    let meetings: Vec<_> = made
        .iter()
        .map(|m| {
            json!({ "meeting": m.meeting, "recording": m.recording, "org": m.org_path, "title": m.planned.title,
                    "marker": m.planned.marker, "planted": m.planned.planted, "scheduled_at": m.planned.scheduled_at })
        })
        .collect();
    let extra_org = cells.last().map(|(id, _)| id.to_string());
    let seconds = started.elapsed().as_secs_f64();
    println!("{}", json!({ "meetings": meetings, "extra_org": extra_org, "token": token, "seconds": seconds }));
    Ok(())
}

/// Creates the org tree; returns each cell's id and path.
async fn org_tree(app: &Arc<App>, who: &Principal) -> anyhow::Result<Vec<(OrgId, String)>> {
    let mut cells = Vec::new();
    let org = |name: String, kind: &str, parent: Option<OrgId>| NewOrg {
        name,
        kind: kind.into(),
        parent,
        language: Some("vi".into()),
    };
    for b in 1..=TREE.0 {
        let bloc = niem_core::orgs::create_org(app, who, org(format!("Khối {b}"), "bloc", None)).await?;
        for x in 1..=TREE.1 {
            let base =
                niem_core::orgs::create_org(app, who, org(format!("Cơ sở {b}.{x}"), "base", Some(bloc.id))).await?;
            for c in 1..=TREE.2 {
                let cell =
                    niem_core::orgs::create_org(app, who, org(format!("Chi bộ {b}.{x}.{c}"), "cell", Some(base.id)))
                        .await?;
                cells.push((cell.id, cell.path));
            }
        }
    }
    Ok(cells)
}

struct Made {
    meeting: String,
    recording: String,
    org_path: String,
    planned: Planned,
}

/// Schedules one meeting, uploads a short clip to it and seals the recording:
/// its transcription job is then queued, as after any upload.
async fn meeting(app: Arc<App>, who: Principal, (cell, path): (OrgId, String), p: Planned) -> anyhow::Result<Made> {
    let req = NewMeeting {
        org: cell,
        kind: p.kind.into(),
        title: p.title.clone(),
        scheduled_at: p.scheduled_at.clone(),
        language: None,
    };
    let m = niem_core::orgs::create_meeting(&app, &who, req).await?;
    let id: MeetingId = m.id;
    let clip = Bytes::from(niem_tests::wav::tone(0.2, 440.0, 16_000, None));
    let len = clip.len() as u64;
    let body = futures::stream::iter([Ok::<_, std::convert::Infallible>(clip)]);
    let info = niem_core::uploads::receive(&app, &who, id, Some("audio/wav".into()), Some(len), body).await?;
    niem_core::recordings::seal(&app, &who, info.rec).await?;
    Ok(Made { meeting: m.id.to_string(), recording: info.rec.to_string(), org_path: path, planned: p })
}

/// Takes transcription jobs off the queue until none is left, storing each
/// recording's synthetic transcript as the worker stores a real one.
async fn transcribe(
    app: Arc<App>,
    args: Arc<Args>,
    lang: Arc<Lang>,
    by_rec: Arc<HashMap<String, (Planned, String)>>,
) -> anyhow::Result<usize> {
    let mut stored = 0;
    loop {
        let now = app.vault.now();
        let Some(job) =
            catalog::read(&app.vault.catalog, move |repo| repo.claim_job(&now).map_err(DomainError::from)).await?
        else {
            return Ok(stored);
        };
        let rec = job.recording;
        let (planned, org_path) =
            by_rec.get(&rec.to_string()).context("a job for a recording this run did not make")?;
        let (meeting, org, _) =
            catalog::read(&app.vault.catalog, move |repo| repo.recording_meeting(rec).map_err(DomainError::from))
                .await?;
        let streams =
            catalog::read(&app.vault.catalog, move |repo| repo.stream_labels(rec).map_err(DomainError::from)).await?;
        let stream = streams.first().context("a sealed recording without a stream")?;
        let lines = lines(planned, &args, &lang);
        if let Some(dir) = &args.text_dir {
            write_text(dir, org_path, &meeting, &lines)?;
        }
        let started = archive::clock::parse_ts(&stream.opened_at).map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let audio_ms = lines.last().map_or(0, |l| l.end_ms);
        let part = StreamPart {
            stream: stream.id.to_string(),
            label: stream.endpoint.clone().or(stream.filename.clone()).unwrap_or(stream.kind.clone()),
            started_at: stream.opened_at.clone(),
            audio_ms,
            speech_ms: audio_ms,
            dropped_silent: 0,
            note: None,
        };
        let segments = lines
            .into_iter()
            .map(|l| media::transcribe::Segment {
                start_ms: l.start_ms,
                end_ms: l.end_ms,
                text: l.text,
                avg_logprob: -0.25,
                no_speech_prob: 0.02,
                flags: Vec::new(),
            })
            .collect();
        let head = Transcript {
            format: FORMAT.into(),
            recording: rec.to_string(),
            meeting,
            org,
            language: "vi".into(),
            machine_generated: true,
            model: ModelRef { name: "niem-seed (synthetic)".into(), sha256: "0".repeat(64) },
            created_at: app.vault.now(),
            streams: Vec::new(),
            segments: Vec::new(),
        };
        let doc = Transcript::merge(head, vec![StreamResult { part, started, segments }]);
        let meta = json!({ "model": doc.model.name, "model_sha256": doc.model.sha256, "language": "vi",
                           "segments": doc.segments.len(), "flagged": 0, "machine_generated": true });
        let (id, now) = (job.id, app.vault.now());
        app.vault
            .store_transcript(
                &archive::ledger::actor_system(),
                rec,
                serde_json::to_vec(&doc)?,
                meta,
                catalog::in_tx(move |repo| Ok(repo.job_done(id, &now)?)),
            )
            .await?;
        stored += 1;
    }
}

/// The transcript as ripgrep sees it: `start_ms<TAB>text` lines, one file per
/// meeting under its org's folder.
fn write_text(root: &std::path::Path, org_path: &str, meeting: &str, lines: &[corpus::Line]) -> anyhow::Result<()> {
    let dir = root.join(org_path.trim_start_matches('/'));
    std::fs::create_dir_all(&dir)?;
    let text: String = lines.iter().map(|l| format!("{}\t{}\n", l.start_ms, l.text)).collect();
    std::fs::write(dir.join(format!("{meeting}.txt")), text)?;
    Ok(())
}
