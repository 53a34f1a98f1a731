//! Which objects a partial verification fetches: a reproducible random sample
//! with the confidence it gives, and the rolling schedule that checks every
//! object within a cycle of days.
//!
//! Both are pure functions of an object's key (and times), so a run can be
//! repeated and checked by anyone: an object is in the sample when
//! `SHA-256("niem/sample/v1\n" ‖ seed ‖ "\n" ‖ key)`, read as a big-endian u64,
//! is below `rate × 2^64`, independent of listing order or of the other objects.
//!
//! The ledger and every signature are always verified in full; this only
//! decides which content objects are fetched and hashed. It does not fetch
//! anything itself: the verifier asks [`Selection::selects`] per object.

use ring::digest::{Context, SHA256};
use time::OffsetDateTime;

/// Which content objects to fetch and hash.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Selection {
    /// Every object.
    #[default]
    All,
    /// Objects named by ledger entries with seq ≥ `first_seq` (entries after a
    /// checkpoint of `first_seq` entries).
    Since { first_seq: u64 },
    /// A reproducible sample: each object with probability `rate`.
    Sample { seed: Vec<u8>, rate: f64 },
    /// The service's rolling schedule ([`due`]): new objects, plus the old ones
    /// whose day in the cycle came since the last run, plus every object of the
    /// recordings and meeting records in `recheck` (damage found earlier stays
    /// named until an object is fetched again).
    Rolling(Rolling),
}

/// The inputs of one rolling run.
#[derive(Debug, Clone, PartialEq)]
pub struct Rolling {
    pub last_run: Option<OffsetDateTime>,
    pub now: OffsetDateTime,
    pub cycle_days: u32,
    /// Recording ids, and meeting ids (their record objects), whose objects
    /// are all fetched.
    pub recheck: Vec<String>,
}

impl Rolling {
    fn rechecks(&self, key: &str) -> bool {
        let mut parts = key.split('/');
        match (parts.next(), parts.next()) {
            (Some("recordings" | "keys" | "meetings"), Some(id)) => self.recheck.iter().any(|r| r == id),
            _ => false,
        }
    }
}

impl Selection {
    /// Whether to fetch the object `key`, which the ledger names at entry
    /// `named_at` (None for an object no entry names, such as a stray: strays are
    /// always fetched, since they are findings whatever they hold), at the time
    /// `stored_at` of that entry (None if it does not parse: then it counts as new).
    pub fn selects(&self, key: &str, named_at: Option<u64>, stored_at: Option<OffsetDateTime>) -> bool {
        match (self, named_at) {
            (_, None) | (Selection::All, _) => true,
            (Selection::Since { first_seq }, Some(seq)) => seq >= *first_seq,
            (Selection::Sample { seed, rate }, Some(_)) => picked(seed, key, *rate),
            (Selection::Rolling(r), Some(_)) => {
                let stored = stored_at.unwrap_or(r.now);
                r.rechecks(key) || due(key, stored, r.last_run, r.now, r.cycle_days)
            }
        }
    }
}

/// The objects the ledger names, each with the seq of the entry that names it
/// (the verifier's `named_at` for [`Selection::selects`]): a chunk by its
/// `chunk.stored`, a stream's wrapped key by `stream.opened`, a manifest by
/// `recording.sealed`, a transcript and its key by `transcript.stored`.
pub fn objects_named(entries: &[crate::ledger::Entry]) -> std::collections::HashMap<String, u64> {
    use crate::id::StreamName;
    use crate::layout::ObjectKey;
    let mut out = std::collections::HashMap::new();
    for e in entries {
        if crate::record::is_stored_action(&e.action) {
            let meeting = e.subject.strip_prefix("meeting/").and_then(|m| crate::id::parse_ulid("meeting", m).ok());
            if let (Some(m), Ok(meta)) = (meeting, crate::record::RecordMeta::from_data(&e.data)) {
                out.entry(ObjectKey::record_key(m, meta.object).to_string()).or_insert(e.seq);
                for i in 0..meta.chunks.len() as u32 {
                    out.entry(ObjectKey::record_piece(m, meta.object, i).to_string()).or_insert(e.seq);
                }
            }
            continue;
        }
        let Some((rec, stream)) = crate::verify::parse_subject(&e.subject) else {
            continue;
        };
        let keys: Vec<ObjectKey> = match (e.action.as_str(), stream) {
            ("chunk.stored", Some(StreamName::Media(sid))) => {
                let index = e.data.get("index").and_then(|i| i.as_u64());
                let Some(index) = index.and_then(|i| u32::try_from(i).ok()) else {
                    continue;
                };
                vec![ObjectKey::chunk(rec, sid, index)]
            }
            ("stream.opened", Some(name)) => vec![ObjectKey::dek(rec, name)],
            ("recording.sealed", None) => vec![ObjectKey::manifest(rec)],
            ("transcript.stored", None) => {
                vec![ObjectKey::transcript(rec), ObjectKey::dek(rec, StreamName::Transcript)]
            }
            _ => continue,
        };
        for k in keys {
            out.entry(k.to_string()).or_insert(e.seq);
        }
    }
    out
}

/// Whether `key` is in the sample of `rate` (0.0..=1.0) drawn with `seed`.
pub fn picked(seed: &[u8], key: &str, rate: f64) -> bool {
    if rate >= 1.0 {
        return true;
    }
    if rate <= 0.0 || rate.is_nan() {
        return false;
    }
    let mut c = Context::new(&SHA256);
    c.update(b"niem/sample/v1\n");
    c.update(seed);
    c.update(b"\n");
    c.update(key.as_bytes());
    let d = c.finish();
    let mut first = [0u8; 8];
    first.copy_from_slice(&d.as_ref()[..8]);
    // rate × 2^64, computed in f64: exact to 2^-53, far below any rate asked for.
    (u64::from_be_bytes(first) as f64) < rate * 18_446_744_073_709_551_616.0
}

/// What a sample proves, with 99 % confidence (or `confidence`).
#[derive(Debug, Clone, PartialEq)]
pub struct Confidence {
    pub confidence: f64,
    /// Objects the sample could have picked.
    pub population: u64,
    /// The fewest damaged objects that a sample finding none would have missed
    /// with probability below 1 − confidence.
    pub damaged_objects: u64,
    /// `damaged_objects / population`.
    pub damage_rate: f64,
}

/// The damage a clean sample rules out. Each object is picked independently
/// with probability `rate`, so `d` damaged objects are all missed with
/// probability exactly `(1 − rate)^d`, whichever they are, as long as whoever
/// damaged them did not know the seed. The sample would have seen damage with
/// probability ≥ `confidence` once `d ≥ ln(1 − confidence) / ln(1 − rate)`.
pub fn confidence(population: u64, rate: f64, confidence: f64) -> Confidence {
    let damaged = if rate >= 1.0 {
        1
    } else if rate <= 0.0 {
        population.saturating_add(1)
    } else {
        ((1.0 - confidence).ln() / (1.0 - rate).ln()).ceil().max(1.0) as u64
    };
    let damage_rate = if population == 0 { 1.0 } else { damaged as f64 / population as f64 };
    Confidence { confidence, population, damaged_objects: damaged, damage_rate }
}

impl Confidence {
    /// The sentence an auditor reads.
    pub fn statement(&self) -> String {
        let pct = self.confidence * 100.0;
        if self.damaged_objects > self.population {
            return format!("this sample is too small to promise anything at {pct:.0} % confidence");
        }
        format!(
            "a damage rate above {} % ({} of {} objects) would have been seen with {pct:.0} % \
             probability",
            round_rate(self.damage_rate * 100.0),
            self.damaged_objects,
            self.population
        )
    }
}

fn round_rate(pct: f64) -> String {
    if pct >= 10.0 {
        format!("{pct:.0}")
    } else if pct >= 0.1 {
        format!("{pct:.2}")
    } else {
        format!("{pct:.4}")
    }
}

/// One day in the rolling schedule: days since the Unix epoch, UTC.
fn day(t: OffsetDateTime) -> i64 {
    t.unix_timestamp().div_euclid(86_400)
}

/// The day of the cycle on which `key` is checked: spread evenly by its hash.
pub fn slot(key: &str, cycle_days: u32) -> i64 {
    let d = ring::digest::digest(&SHA256, format!("niem/rolling/v1\n{key}").as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&d.as_ref()[..8]);
    (u64::from_be_bytes(first) % u64::from(cycle_days.max(1))) as i64
}

/// Whether the rolling verification running at `now` checks the object `key`
/// stored at `stored_at`, the previous run having been at `last_run`:
/// - the first run (no `last_run`) checks everything;
/// - objects stored since a day before the last run are checked (so every new
///   object within a day of a daily run, with a day's slack for clock skew);
/// - each object has a slot in the cycle; it is checked when a day of its slot
///   passed since the last run, so a missed run is caught up, and a gap of a
///   whole cycle checks everything.
///
/// With `cycle_days` = `verify.full_cycle_days`, every object is checked at
/// least once in every `cycle_days` days, and about 1/`cycle_days` of old
/// objects on each day.
pub fn due(
    key: &str,
    stored_at: OffsetDateTime,
    last_run: Option<OffsetDateTime>,
    now: OffsetDateTime,
    cycle_days: u32,
) -> bool {
    let Some(last) = last_run else { return true };
    if stored_at > last - time::Duration::days(1) {
        return true;
    }
    let cycle = i64::from(cycle_days.max(1));
    let (from, to) = (day(last) + 1, day(now));
    if to < from {
        return false; // a second run on the same day
    }
    if to - from + 1 >= cycle {
        return true;
    }
    // The first day ≥ from that falls on the key's slot.
    let first = from + (slot(key, cycle_days) - from).rem_euclid(cycle);
    first <= to
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn keys(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("recordings/R/S/{i:08}.niem")).collect()
    }

    /// 1 damaged chunk in 1,000 and a 10 % sample: over 1,000 seeds the damaged
    /// chunk is picked about 100 times. The count is Binomial(1000, 0.1)
    /// (mean 100, sd 9.5); 5 sd either side (50..150) fails a correct sampler
    /// with probability below 10^-6.
    #[test]
    fn the_damaged_chunk_is_picked_at_the_sampling_rate() {
        let ks = keys(1000);
        let damaged = &ks[617];
        let mut hits = 0;
        let mut sizes = Vec::new();
        for seed in 0..1000u32 {
            let seed = seed.to_be_bytes();
            hits += usize::from(picked(&seed, damaged, 0.10));
            sizes.push(ks.iter().filter(|k| picked(&seed, k, 0.10)).count());
        }
        assert!((50..=150).contains(&hits), "picked {hits} times in 1000 seeds");
        // And each sample holds about 10 % of the objects (sd 9.5 per sample).
        let mean = sizes.iter().sum::<usize>() as f64 / sizes.len() as f64;
        assert!((97.0..=103.0).contains(&mean), "mean sample size {mean}");
        assert!(sizes.iter().all(|&s| (50..=150).contains(&s)), "{sizes:?}");
    }

    #[test]
    fn samples_are_reproducible_and_order_independent() {
        let ks = keys(500);
        let take = |seed: &[u8], reversed: bool| {
            let order: Box<dyn Iterator<Item = &String>> =
                if reversed { Box::new(ks.iter().rev()) } else { Box::new(ks.iter()) };
            let mut v: Vec<String> = order.filter(|k| picked(seed, k, 0.2)).cloned().collect();
            v.sort();
            v
        };
        let forward = take(b"seed-1", false);
        assert_eq!(forward, take(b"seed-1", true));
        assert_ne!(forward, take(b"seed-2", false));
        assert!(ks.iter().all(|k| picked(b"s", k, 1.0) && !picked(b"s", k, 0.0)));
        let sel = Selection::Sample { seed: b"seed-1".to_vec(), rate: 0.2 };
        assert!(sel.selects("stray.bin", None, None), "strays are always fetched");
        let since = Selection::Since { first_seq: 40 };
        assert!(since.selects("k", Some(40), None) && !since.selects("k", Some(39), None));
    }

    /// (1 − r)^d ≤ 1 − c at the bound and not one object below it.
    #[test]
    fn confidence_bound_is_tight() {
        for (n, r) in [(1000u64, 0.1), (1_000_000, 0.01), (50, 0.5), (10, 0.05)] {
            let c = confidence(n, r, 0.99);
            let miss = |d: u64| (1.0 - r).powf(d as f64);
            assert!(miss(c.damaged_objects) <= 0.01, "{c:?}");
            assert!(miss(c.damaged_objects - 1) > 0.01 || c.damaged_objects == 1, "{c:?}");
        }
        // 10 % of 1,000: 44 damaged objects (4.4 %) are seen with 99 % probability.
        let c = confidence(1000, 0.10, 0.99);
        assert_eq!(c.damaged_objects, 44);
        assert_eq!(
            c.statement(),
            "a damage rate above 4.40 % (44 of 1000 objects) would have been seen with 99 % \
             probability"
        );
        assert_eq!(confidence(1000, 1.0, 0.99).damaged_objects, 1);
        assert!(confidence(10, 0.05, 0.99).statement().contains("too small"));
    }

    /// Every content object of a store is named by an entry, and `Since` picks
    /// exactly those of the recording sealed after the checkpoint.
    #[tokio::test]
    async fn the_ledger_names_every_object_and_since_picks_the_new_ones() {
        let fx = crate::bundle::tests::Fixture::new().await;
        let a = fx.recording(&[1u8; 2500]).await;
        let (_, entries) = crate::verify::verify_ledger(&fx.vault.store, fx.key(), &Default::default()).await.unwrap();
        let first_seq = entries.len() as u64;
        let b = fx.recording(&[2u8; 1500]).await;
        let (_, entries) = crate::verify::verify_ledger(&fx.vault.store, fx.key(), &Default::default()).await.unwrap();
        let named = objects_named(&entries);
        let mut listed = fx.vault.store.list("recordings/").await.unwrap();
        listed.extend(fx.vault.store.list("keys/").await.unwrap());
        assert_eq!(listed.len(), 2 * (1 + 1) + 3 + 2, "{listed:?}");
        let since = Selection::Since { first_seq };
        for o in &listed {
            let seq = named.get(&o.key).copied();
            assert!(seq.is_some(), "{} is named by no entry", o.key);
            assert_eq!(since.selects(&o.key, seq, None), o.key.contains(&b.to_string()), "{}", o.key);
            assert!(o.key.contains(&a.to_string()) || o.key.contains(&b.to_string()));
        }
    }

    /// 30-day cycle, daily runs under an injected clock for 120 days, objects
    /// arriving every day: each is checked within a day of arrival and then at
    /// least once in every 30 consecutive days; a day's load is about 1/30.
    #[test]
    fn the_rolling_schedule_covers_every_object_within_the_cycle() {
        let start = datetime!(2026-01-01 02:00 UTC);
        let mut objects: Vec<(String, OffsetDateTime)> =
            keys(3000).into_iter().map(|k| (k, start - time::Duration::days(400))).collect();
        let mut last_checked: Vec<Option<OffsetDateTime>> = vec![None; objects.len()];
        let mut last_run = None;
        for d in 0..120 {
            let now = start + time::Duration::days(d);
            // Ten new objects stored during the previous day.
            for j in 0..10 {
                objects.push((format!("new/{d}/{j}"), now - time::Duration::hours(5)));
                last_checked.push(None);
            }
            let mut checked_old = 0;
            for (i, (key, stored)) in objects.iter().enumerate() {
                if due(key, *stored, last_run, now, 30) {
                    if *stored < start {
                        checked_old += 1;
                    }
                    last_checked[i] = Some(now);
                }
                let first_due = *stored + time::Duration::days(1);
                assert!(last_checked[i].is_some() || now < first_due, "{key} unchecked a day after it came");
                if let Some(t) = last_checked[i] {
                    assert!(now - t < time::Duration::days(30), "{key} last checked {t}, now {now}");
                }
            }
            if d > 0 {
                assert!((40..=170).contains(&checked_old), "day {d}: {checked_old} old objects");
            }
            last_run = Some(now);
        }
    }

    /// Damage found before is fetched again at every run until it is clean, even
    /// off its day; other old objects wait for theirs.
    #[test]
    fn a_rolling_run_refetches_recordings_found_damaged() {
        let last = datetime!(2026-03-01 03:00 UTC);
        let r = Rolling {
            last_run: Some(last),
            now: last + time::Duration::hours(1),
            cycle_days: 30,
            recheck: vec!["R1".into()],
        };
        let sel = Selection::Rolling(r);
        let old = Some(last - time::Duration::days(100));
        for key in ["recordings/R1/S/00000000.niem", "keys/R1/S.json", "recordings/R1/manifest.json"] {
            assert!(sel.selects(key, Some(3), old), "{key}");
        }
        assert!(!sel.selects("recordings/R2/S/00000000.niem", Some(3), old), "not due, not damaged");
        assert!(!sel.selects("recordings/R12/S/00000000.niem", Some(3), old), "a prefix is not the id");
        assert!(sel.selects("recordings/R2/S/00000001.niem", Some(9), Some(last)), "new since the last run");
    }

    /// A meeting's record found damaged is fetched again too; another
    /// meeting's old record objects wait for their day.
    #[test]
    fn a_rolling_run_refetches_meeting_records_found_damaged() {
        let last = datetime!(2026-03-01 03:00 UTC);
        let r = Rolling {
            last_run: Some(last),
            now: last + time::Duration::hours(1),
            cycle_days: 30,
            recheck: vec!["M1".into()],
        };
        let sel = Selection::Rolling(r);
        let old = Some(last - time::Duration::days(100));
        for key in ["meetings/M1/record/O1/00000000.niem", "meetings/M1/record/O1/key.dek"] {
            assert!(sel.selects(key, Some(3), old), "{key}");
        }
        assert!(!sel.selects("meetings/M2/record/O2/00000000.niem", Some(3), old), "not due, not damaged");
    }

    /// Runs skipped for a week catch up: what fell due meanwhile is checked at
    /// the next run; a gap of a whole cycle checks everything.
    #[test]
    fn missed_runs_are_caught_up() {
        let old = datetime!(2025-01-01 00:00 UTC);
        let last = datetime!(2026-03-01 03:00 UTC);
        let now = last + time::Duration::days(7);
        let ks = keys(3000);
        let due_now = ks.iter().filter(|k| due(k, old, Some(last), now, 30)).count();
        let due_daily: usize = (1..=7)
            .map(|d| {
                let run = last + time::Duration::days(d);
                let prev = run - time::Duration::days(1);
                ks.iter().filter(|k| due(k, old, Some(prev), run, 30)).count()
            })
            .sum();
        assert_eq!(due_now, due_daily);
        let after_gap = last + time::Duration::days(30);
        assert!(ks.iter().all(|k| due(k, old, Some(last), after_gap, 30)));
        assert!(!ks.iter().any(|k| due(k, old, Some(last), last + time::Duration::hours(1), 30)));
    }
}
