//! The index on disk, tested like an attacker would: known words searched for in
//! every file, a byte flipped in every file, files truncated, swapped, renamed,
//! opened with the wrong key or by an older schema; shredding checked by
//! decrypting every file; re-encryption under a new key.

#![allow(clippy::unwrap_used)] // tests and benches may: a panic is their failure report

#[path = "support/ring_cipher.rs"]
mod ring_cipher;

use ring_cipher::{random_key, RingCipher};
use search::{
    reencrypt, EncryptedDirectory, Index, IndexCipher, Options, PieceCache, Query, Recording, Scope, SearchError,
    Segment, MAGIC,
};
use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use tantivy::directory::Directory;
use time::macros::datetime;

const CELL: &str = "/org_bloc/org_base/org_cell";

/// Words found nowhere else, with diacritics and without, sharing no four bytes
/// with other text (so the doc store's compression keeps them whole).
const SECRET: [&str; 3] = ["Phượngvĩđỏthắm", "Xylofqwzjuáng", "Trầmhươngkìbí"];

fn seg(start_s: u64, text: &str) -> Segment {
    Segment {
        stream: "stream_1".into(),
        label: "Điểm cầu 1".into(),
        start_ms: start_s * 1000,
        end_ms: start_s * 1000 + 4000,
        text: text.into(),
    }
}

fn rec(id: &str, lines: &[&str]) -> Recording {
    Recording {
        recording: format!("rec_{id}"),
        meeting: format!("meeting_{id}"),
        org_path: CELL.into(),
        kind: "regular".into(),
        date: datetime!(2026-05-04 08:00 +7),
        segments: lines.iter().enumerate().map(|(i, t)| seg(i as u64 * 5, t)).collect(),
    }
}

fn small() -> Options {
    // Small pieces, so that files have many and flips land in the middle of some.
    Options { piece_bytes: 512, cache_bytes: 1 << 20, ..Options::default() }
}

fn cipher() -> Arc<RingCipher> {
    Arc::new(RingCipher::new("kek-1"))
}

fn query(text: &str) -> Query {
    Query { text: text.into(), scope: Scope::All, ..Query::default() }
}

fn meetings(index: &Index, text: &str) -> Vec<String> {
    index.search(&query(text)).unwrap().meetings.into_iter().map(|m| m.meeting).collect()
}

/// An index with a few commits (so several segments) holding the secret words.
fn build(dir: &Path, cipher: Arc<RingCipher>) {
    let index = Index::open(dir, cipher, &small()).unwrap();
    index.put(&rec("a", &["Chi bộ họp bàn về kết nạp đảng viên mới.", SECRET[0]])).unwrap();
    index.put(&rec("b", &["Báo cáo thủy lợi và hòa giải.", SECRET[1]])).unwrap();
    index.put(&rec("c", &["Đồng chí bí thư kết luận.", SECRET[2]])).unwrap();
    index.put(&rec("d", &[])).unwrap();
    // Enough text that some files have many pieces.
    let long: Vec<String> =
        (0..150).map(|i| format!("Ý kiến thứ {i} về tổ chức cơ sở đảng và phát triển kinh tế xã hội.")).collect();
    let long: Vec<&str> = long.iter().map(String::as_str).collect();
    index.put(&rec("e", &long)).unwrap();
}

/// Every file's plaintext, through the directory's own reader.
fn decrypted(dir: &Path, cipher: Arc<RingCipher>) -> Vec<(String, Vec<u8>)> {
    let d = EncryptedDirectory::open(dir, cipher, Arc::new(PieceCache::new(0)), 512).unwrap();
    let files = d.files().unwrap();
    files.into_iter().map(|f| (f.clone(), d.atomic_read(Path::new(&f)).unwrap())).collect()
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    let needle = needle.as_bytes();
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A word as the files could hold it: as written (stored text), as terms.
fn forms(word: &str) -> Vec<String> {
    vec![word.to_string(), search::canonical(word).to_lowercase(), search::fold(word)]
}

/// Every term of the text and recording fields in every live segment, read by
/// tantivy itself through the decrypting directory (a term dictionary is an FST:
/// its terms are not contiguous bytes); and every file no live segment owns.
fn terms_and_strays(dir: &Path, cipher: Arc<RingCipher>) -> (HashSet<String>, Vec<String>) {
    let d = EncryptedDirectory::open(dir, cipher, Arc::new(PieceCache::new(0)), 512).unwrap();
    let index = tantivy::Index::open(d.clone()).unwrap();
    let reader = index.reader_builder().reload_policy(tantivy::ReloadPolicy::Manual).try_into().unwrap();
    let searcher = reader.searcher();
    let schema = index.schema();
    let mut terms = HashSet::new();
    let mut owned: HashSet<String> = HashSet::new();
    for segment in searcher.segment_readers() {
        owned.insert(segment.segment_id().uuid_string());
        for field in ["text_exact", "text_folded", "pairs_exact", "pairs_folded", "recording"] {
            let inverted = segment.inverted_index(schema.get_field(field).unwrap()).unwrap();
            let mut stream = inverted.terms().stream().unwrap();
            while stream.advance() {
                terms.insert(String::from_utf8_lossy(stream.key()).into_owned());
            }
        }
    }
    let metadata = ["meta.json", ".managed.json", "niem-index.json"];
    let strays = d
        .files()
        .unwrap()
        .into_iter()
        .filter(|f| !metadata.contains(&f.as_str()))
        .filter(|f| !owned.iter().any(|id| f.starts_with(id.as_str())))
        .collect();
    (terms, strays)
}

fn raw_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        out.push((name, std::fs::read(entry.path()).unwrap()));
    }
    out.sort();
    out
}

#[test]
fn no_plaintext_byte_reaches_the_disk() {
    let dir = tempfile::tempdir().unwrap();
    let cipher = cipher();
    build(dir.path(), cipher.clone());
    let plain = decrypted(dir.path(), cipher.clone());
    let (terms, _) = terms_and_strays(dir.path(), cipher.clone());
    // The words are in the index (as stored text and as terms) ...
    for word in SECRET {
        assert!(plain.iter().any(|(_, p)| contains(p, word)), "{word} stored");
        let [_, exact, folded] = &forms(word)[..] else { unreachable!() };
        assert!(terms.contains(exact) && terms.contains(folded), "{word} indexed");
    }
    // ... and on disk every file but the empty locks is sealed: none holds them.
    let files = raw_files(dir.path());
    assert!(files.len() > 8, "{:?}", files.iter().map(|f| &f.0).collect::<Vec<_>>());
    for (name, bytes) in &files {
        if name.ends_with(".lock") {
            assert!(bytes.is_empty(), "{name}");
            continue;
        }
        assert_eq!(&bytes[..8], MAGIC, "{name}");
        for word in SECRET.iter().chain(&["đảng viên", "thủy lợi", "meeting_a", "text_exact"]) {
            for form in forms(word) {
                assert!(!contains(bytes, &form), "{form} in clear in {name}");
            }
        }
    }
    // And it opens again, with what was indexed.
    let index = Index::open(dir.path(), cipher, &small()).unwrap();
    assert_eq!(meetings(&index, "thuỷ lợi"), vec!["meeting_b"]);
    assert!(index.contains("rec_d").unwrap(), "a speechless recording stays marked indexed");
}

/// Flips one byte of `file` at `at`, runs `f`, flips it back.
fn with_flipped<T>(dir: &Path, file: &str, at: usize, f: impl FnOnce() -> T) -> T {
    let path = dir.join(file);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[at] ^= 0x20;
    std::fs::write(&path, &bytes).unwrap();
    let out = f();
    bytes[at] ^= 0x20;
    std::fs::write(&path, &bytes).unwrap();
    out
}

#[test]
fn one_flipped_byte_in_any_file_is_found_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let cipher = cipher();
    build(dir.path(), cipher.clone());
    let files: Vec<(String, usize)> =
        raw_files(dir.path()).into_iter().filter(|(n, _)| !n.ends_with(".lock")).map(|(n, b)| (n, b.len())).collect();
    for (name, len) in &files {
        // The magic, the piece size, the header length, the wrapped key, the
        // nonce prefix, the first piece, the middle, the end. (A changed KEK id
        // names a key the cipher lacks: KeyUnavailable, tested below.)
        for at in [0, 9, 13, 30, 90, 100, len / 2, len - 1] {
            let opened =
                with_flipped(dir.path(), name, at, || Index::open(dir.path(), cipher.clone(), &small()).map(|_| ()));
            match opened {
                Err(e @ SearchError::Damaged(_)) => assert!(e.needs_rebuild()),
                other => panic!("{name} byte {at} of {len}: {other:?}"),
            }
        }
    }
    // Every byte restored: it opens.
    let index = Index::open(dir.path(), cipher, &small()).unwrap();
    assert_eq!(meetings(&index, "hoà giải"), vec!["meeting_b"]);
}

#[test]
fn truncated_swapped_and_renamed_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cipher = cipher();
    build(dir.path(), cipher.clone());
    let mut files = raw_files(dir.path());
    files.retain(|(n, b)| !n.ends_with(".lock") && b.len() > 3 * 528);
    assert!(files.len() >= 2, "the test needs two files of several pieces");
    files.sort_by_key(|(_, b)| std::cmp::Reverse(b.len()));
    let (big, bytes) = files[0].clone();
    let (other, other_bytes) = files[1].clone();
    let path = dir.path().join(&big);
    let refused = |what: &str| {
        let r = Index::open(dir.path(), cipher.clone(), &small());
        assert!(matches!(r, Err(SearchError::Damaged(_))), "{what}: {:?}", r.map(|_| ()));
    };
    // Cut at a piece boundary (the last piece gone: its predecessor is not last),
    // and in the middle of a piece.
    for cut in [528, 100] {
        std::fs::write(&path, &bytes[..bytes.len() - cut]).unwrap();
        refused(&format!("{big} cut by {cut}"));
    }
    // Two files' contents swapped: each is bound to its own name.
    std::fs::write(&path, &other_bytes).unwrap();
    std::fs::write(dir.path().join(&other), &bytes).unwrap();
    refused("swapped");
    std::fs::write(dir.path().join(&other), &other_bytes).unwrap();
    // A file under another file's name (the original gone).
    std::fs::remove_file(&path).unwrap();
    std::fs::write(&path, &other_bytes).unwrap();
    refused("renamed");
    // A file missing altogether.
    std::fs::remove_file(&path).unwrap();
    refused(&format!("missing {big}"));
    std::fs::write(&path, &bytes).unwrap();
    Index::open(dir.path(), cipher, &small()).unwrap();
}

#[test]
fn a_wrong_or_missing_key_is_told_apart() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), cipher());
    let missing = Arc::new(RingCipher::new("kek-2"));
    let r = Index::open(dir.path(), missing, &small());
    assert!(matches!(&r, Err(e @ SearchError::KeyUnavailable(_)) if e.needs_rebuild()), "{:?}", r.map(|_| ()));
    let wrong = Arc::new(RingCipher::with_keks(&[("kek-1", random_key())], "kek-1"));
    let r = Index::open(dir.path(), wrong, &small());
    assert!(matches!(r, Err(SearchError::Damaged(_))), "{:?}", r.map(|_| ()));
}

#[test]
fn an_index_from_another_schema_version_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let cipher = cipher();
    build(dir.path(), cipher.clone());
    let d = EncryptedDirectory::open(dir.path(), cipher.clone(), Arc::new(PieceCache::new(0)), 512).unwrap();
    d.atomic_write(Path::new("niem-index.json"), br#"{"schema":1}"#).unwrap();
    let r = Index::open(dir.path(), cipher.clone(), &small());
    assert!(
        matches!(&r, Err(e @ SearchError::Outdated { found: Some(1), .. }) if e.needs_rebuild()),
        "{:?}",
        r.map(|_| ())
    );
    // Older still: an index from before the marker existed.
    d.delete(Path::new("niem-index.json")).unwrap();
    let r = Index::open(dir.path(), cipher, &small());
    assert!(matches!(r, Err(SearchError::Outdated { found: None, .. })), "{:?}", r.map(|_| ()));
}

#[test]
fn replace_remove_reopen_and_one_process_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let cipher = cipher();
    {
        let index = Index::open(dir.path(), cipher.clone(), &small()).unwrap();
        let r = rec("p", &["kết nạp đảng viên"]);
        index.put(&r).unwrap();
        index.put(&r).unwrap();
        assert_eq!(index.documents(), 1, "a second put replaces, not duplicates");
        let again = Index::open(dir.path(), cipher.clone(), &small());
        assert!(matches!(again, Err(SearchError::Locked(_))), "one writer per index");
        let copy = reencrypt(dir.path(), cipher.clone(), &dir.path().join("x"), cipher.clone(), &small());
        assert!(matches!(copy, Err(SearchError::Locked(_))), "no copy of an open index");
    }
    // A write a crash cut short leaves a temporary file: opening removes it.
    let leftover = dir.path().join("abc.idx.niem-tmp-1-2");
    std::fs::write(&leftover, b"half a piece").unwrap();
    let index = Index::open(dir.path(), cipher, &small()).unwrap();
    assert!(!leftover.exists());
    assert_eq!(meetings(&index, "ket nap"), vec!["meeting_p"]);
    index.remove("rec_p").unwrap();
    assert!(meetings(&index, "ket nap").is_empty());
    assert!(!index.contains("rec_p").unwrap());
}

#[test]
fn shredding_leaves_none_of_the_recordings_words_in_any_file() {
    let dir = tempfile::tempdir().unwrap();
    let cipher = cipher();
    let index = Index::open(dir.path(), cipher.clone(), &small()).unwrap();
    // The recording indexed twice (an old copy lies deleted in an older
    // segment), among others in several segments.
    let doomed = ["Quỹ đen Bạchkimxanh chi sai.", "Hồsơmậttím bị lộ.", SECRET[2]];
    index.put(&rec("keep1", &["Tổng kết thi đua Hoàngkimsáng.", SECRET[0]])).unwrap();
    index.put(&rec("doomed", &doomed[..2])).unwrap();
    index.put(&rec("keep2", &["Nhiệm kỳ mới Lụcbảolam.", SECRET[1]])).unwrap();
    index.put(&rec("doomed", &doomed)).unwrap();
    let words = ["Bạchkimxanh", "Hồsơmậttím", SECRET[2]];
    let plain = decrypted(dir.path(), cipher.clone());
    let (terms, _) = terms_and_strays(dir.path(), cipher.clone());
    for w in words {
        assert!(plain.iter().any(|(_, p)| contains(p, w)), "{w} stored first");
        assert!(terms.contains(&search::fold(w)), "{w} indexed first");
        let folded = search::fold(w);
        let pairs = terms.iter().filter(|t| t.contains(' ') && t.contains(&folded)).count();
        assert!(pairs > 0, "{w} in pairs first");
    }
    assert!(terms.contains("rec_doomed"));
    assert!(words.iter().all(|w| index.holds_word(w).unwrap()), "holds_word sees them first");
    index.shred("rec_doomed").unwrap();
    for w in words {
        assert!(!index.holds_word(w).unwrap(), "holds_word still sees {w} after the shred");
    }
    assert!(index.holds_word("Lụcbảolam").unwrap() && index.holds_word("lucbaolam").unwrap());
    assert!(!index.contains("rec_doomed").unwrap());
    assert!(meetings(&index, "Bạchkimxanh").is_empty());
    assert_eq!(meetings(&index, "Lụcbảolam"), vec!["meeting_keep2"]);
    let plain = decrypted(dir.path(), cipher.clone());
    for (name, bytes) in &plain {
        for w in words {
            for form in forms(w) {
                assert!(!contains(bytes, &form), "{form} still in {name} after the shred");
            }
        }
    }
    let (terms, strays) = terms_and_strays(dir.path(), cipher.clone());
    assert!(strays.is_empty(), "files of merged-away segments remain: {strays:?}");
    for w in words {
        for form in forms(w) {
            let left: Vec<&String> = terms.iter().filter(|t| t.contains(&form)).collect();
            assert!(left.is_empty(), "terms with {form} survived the shred: {left:?}");
        }
    }
    assert!(!terms.contains("rec_doomed"));
    for w in ["Hoàngkimsáng", "Lụcbảolam", SECRET[0], SECRET[1]] {
        assert!(plain.iter().any(|(_, p)| contains(p, w)), "{w} kept");
        assert!(terms.contains(&search::fold(w)), "{w} kept");
    }
    drop(index);
    let index = Index::open(dir.path(), cipher, &small()).unwrap();
    assert_eq!(meetings(&index, "Hoàngkimsáng"), vec!["meeting_keep1"]);
}

#[test]
fn reencryption_moves_every_file_to_the_new_key() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = (random_key(), random_key());
    let before = Arc::new(RingCipher::with_keks(&[("kek-1", old)], "kek-1"));
    build(&dir.path().join("a"), before.clone());
    {
        let index = Index::open(&dir.path().join("a"), before.clone(), &small()).unwrap();
        let generations = index.key_generations().unwrap();
        assert_eq!(generations.keys().collect::<Vec<_>>(), vec!["kek-1"]);
    }
    let rotating = Arc::new(RingCipher::with_keks(&[("kek-1", old), ("kek-2", new)], "kek-2"));
    let (src, dst) = (dir.path().join("a"), dir.path().join("b"));
    reencrypt(&src, rotating.clone(), &dst, rotating, &Options::default()).unwrap();
    // The copy opens without the retired key, and finds the same.
    let after: Arc<RingCipher> = Arc::new(RingCipher::with_keks(&[("kek-2", new)], "kek-2"));
    let index = Index::open(&dst, after.clone(), &Options::default()).unwrap();
    let generations = index.key_generations().unwrap();
    assert_eq!(generations.keys().collect::<Vec<_>>(), vec!["kek-2"]);
    assert_eq!(meetings(&index, "thuỷ lợi"), vec!["meeting_b"]);
    assert_eq!(meetings(&index, SECRET[2]), vec!["meeting_c"]);
    // Every file of the copy has a new data key: no ciphertext is shared.
    let olds = raw_files(&src);
    for (name, bytes) in raw_files(&dst).iter().filter(|(n, _)| !n.ends_with(".lock")) {
        let (_, was) = olds.iter().find(|(n, _)| n == name).expect("same files");
        assert_ne!(&bytes[bytes.len() - 16..], &was[was.len() - 16..], "{name}");
    }
    let r = Index::open(&src, after, &small());
    assert!(matches!(r, Err(SearchError::KeyUnavailable(_))), "{:?}", r.map(|_| ()));
}

#[test]
fn the_piece_cache_is_bounded_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let cipher = cipher();
    build(dir.path(), cipher.clone());
    let options = Options { cache_bytes: 4 * 512, ..small() };
    let index = Index::open(dir.path(), cipher as Arc<dyn IndexCipher>, &options).unwrap();
    let start = index.cache_stats().unwrap();
    for _ in 0..3 {
        assert_eq!(meetings(&index, "ket luan"), vec!["meeting_c"]);
    }
    let s = index.cache_stats().unwrap();
    assert_eq!(s.capacity, 4 * 512);
    assert!(s.bytes <= s.capacity && s.evictions > 0, "{s:?}");
    assert!(s.misses > start.misses && s.hits > start.hits, "{start:?} {s:?}");
    assert!(Index::in_ram().unwrap().cache_stats().is_none());
}
