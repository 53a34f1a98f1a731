//! Search benchmark: how fast the transcript index answers, on an archive the size
//! of a year of meetings, against ripgrep scanning the same text as plain files.
//!
//! It generates a synthetic Vietnamese corpus (default 1,000 meeting-hours, about
//! 9 M syllables at 2.5 syllables/s) from a word list with Zipf-like frequencies and
//! a first-order Markov chain, so that words and phrases recur as in speech; writes
//! it as one text file per meeting under per-org folders (for ripgrep) and into the
//! encrypted on-disk index through the crate's own API (`Index::open` with a large
//! writer buffer, `put_all`); reopens the index as the service would (every piece
//! authenticated, the default piece cache) and times it, then times 1,000 mixed
//! queries (words with diacritics, the same typed without, quoted phrases, scoped
//! and filtered, newest first, the second page), then a sample of the same queries
//! with `rg`. Prints size, build and open times, memory (RSS) after opening and
//! after the queries, the cache's figures, and latencies; asserts nothing.
//!
//! The cipher is ring's AES-256-GCM with a random key-encryption key, shaped like
//! the service's (`tests/support/ring_cipher.rs`).
//!
//!   bench/search.sh [--hours N] [--queries N] [--dir PATH] [--no-rg] [--reuse]
//!   cargo run --release -p search --example search-bench -- --hours 20 --queries 200
//!
//! `--reuse` opens the index a previous run left in `--dir` (same `--hours`)
//! instead of building one: open time and memory then come from a fresh process.
//!
//! Everything is deterministic (fixed seeds): two runs generate the same corpus
//! and the same queries.

#[path = "../tests/support/ring_cipher.rs"]
mod ring_cipher;

use search::{Index, IndexCipher, Options, Query, Recording, Scope, Segment, Sort};
use std::collections::HashSet;
use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};
use time::macros::datetime;
use time::OffsetDateTime;

type Res<T> = Result<T, Box<dyn Error>>;

/// Speech rate the corpus is sized by (syllables per second of meeting).
const SYLLABLES_PER_S: f64 = 2.5;
const MEETING_HOURS: u32 = 2;
/// Recordings per `put_all`, i.e. per commit.
const BATCH: usize = 50;
const BULK_MEMORY: usize = 256 << 20;
/// Meetings asked for per query: one page of results.
const LIMIT: usize = 20;
const WARMUP: usize = 50;
/// Queries also run with rg (rg scans everything, so a sample suffices).
const RG_SAMPLE: usize = 100;
/// The org tree: blocs × bases per bloc × cells per base.
const TREE: (usize, usize, usize) = (3, 5, 8);
const ZIPF_S: f64 = 1.0;
/// Likely successors of each word in the chain, and how often the chain follows one.
const SUCCESSORS: usize = 5;
const FOLLOW: f64 = 0.7;
const NAMES: usize = 300;

// ---------------------------------------------------------------- arguments

struct Args {
    hours: u32,
    queries: usize,
    dir: Option<PathBuf>,
    /// Skip writing the text files and the ripgrep anchor (large corpora).
    no_rg: bool,
    /// Open the index already in `dir` rather than building one.
    reuse: bool,
}

fn parse_args() -> Res<Args> {
    let mut args = Args { hours: 1000, queries: 1000, dir: None, no_rg: false, reuse: false };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--hours" => args.hours = value()?.parse()?,
            "--queries" => args.queries = value()?.parse()?,
            "--dir" => args.dir = Some(PathBuf::from(value()?)),
            "--no-rg" => args.no_rg = true,
            "--reuse" => args.reuse = true,
            "-h" | "--help" => {
                println!(
                    "search-bench [--hours N (1000)] [--queries N (1000)] \
                     [--dir PATH (a temp dir)] [--no-rg] [--reuse]"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?} (try --help)").into()),
        }
    }
    if args.reuse && args.dir.is_none() {
        return Err("--reuse needs the --dir of an earlier run".into());
    }
    if args.hours == 0 || args.queries == 0 {
        return Err("--hours and --queries must be at least 1".into());
    }
    Ok(args)
}

// ---------------------------------------------------------------- randomness

/// SplitMix64: tiny, fast and good enough for synthetic data; no `rand` crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (the modulo bias is far below what a benchmark notices).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo)
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

// ---------------------------------------------------------------- the language

/// The most frequent words of speech: they carry the Zipf head.
#[rustfmt::skip]
const FUNCTION_WORDS: &[&str] = &[
    "và", "của", "là", "có", "được", "trong", "các", "những", "đã", "sẽ", "đang", "cho", "với", "này", "để", "không", "người",
    "một", "hai", "ba", "thì", "mà", "nhưng", "cũng", "về", "từ", "theo", "đến", "như", "khi", "nên", "vì", "do", "tại", "trên",
    "dưới", "sau", "trước", "nữa", "rất", "nhiều", "đều", "còn", "lại", "ra", "vào", "đó", "đây", "thế", "nào", "gì", "ai",
    "chúng ta", "chúng tôi", "tôi", "mình", "anh", "chị", "em", "ạ", "nhé", "vâng", "thưa", "xin", "hết", "rồi", "vẫn", "chỉ",
    "ngay", "luôn", "phải", "cần", "nếu", "bởi vì", "tuy nhiên", "đồng thời", "bên cạnh đó", "ngoài ra", "vừa", "hơn", "nhất",
    "bây giờ", "hôm nay", "năm nay", "tháng này", "vừa qua", "sắp tới",
];

/// What Party meetings talk about: the words people search for.
#[rustfmt::skip]
const VOCABULARY: &[&str] = &[
    "chi bộ", "đảng viên", "đảng bộ", "kết nạp", "nghị quyết", "chuyển đổi số", "kiểm tra", "giám sát", "bí thư", "phó bí thư",
    "báo cáo", "tổ chức", "sinh hoạt", "kinh tế", "xã hội", "ngân sách", "công tác", "cán bộ", "phát triển", "đồng chí",
    "hội nghị", "chuyên đề", "thường kỳ", "biểu quyết", "thông qua", "dự thảo", "ý kiến", "thảo luận", "đóng góp", "triển khai",
    "thực hiện", "nhiệm vụ", "kế hoạch", "chỉ tiêu", "kết quả", "đánh giá", "xếp loại", "hoàn thành", "xuất sắc", "khen thưởng",
    "kỷ luật", "vi phạm", "khuyết điểm", "ưu điểm", "hạn chế", "nguyên nhân", "giải pháp", "phương hướng", "chỉ thị", "quy định",
    "điều lệ", "ban chấp hành", "ban thường vụ", "ủy ban kiểm tra", "đại hội", "nhiệm kỳ", "bầu cử", "ứng cử", "đề cử",
    "phiếu bầu", "đảng phí", "thu chi", "tài chính", "quyết toán", "dự toán", "đầu tư", "công trình", "dự án", "hạ tầng",
    "giao thông", "nông thôn mới", "đô thị", "môi trường", "y tế", "giáo dục", "văn hóa", "thể thao", "an ninh", "quốc phòng",
    "trật tự", "an toàn", "phòng chống", "tham nhũng", "lãng phí", "tiêu cực", "cải cách hành chính", "thủ tục", "dịch vụ công",
    "trực tuyến", "dữ liệu", "số hóa", "chính quyền số", "công nghệ", "thông tin", "tuyên truyền", "học tập", "làm theo",
    "tư tưởng", "đạo đức", "phong cách", "Hồ Chí Minh", "chủ nghĩa Mác Lênin", "lý luận", "chính trị", "bồi dưỡng", "đào tạo",
    "quần chúng", "ưu tú", "cảm tình đảng", "đoàn viên", "thanh niên", "công đoàn", "phụ nữ", "cựu chiến binh",
    "mặt trận tổ quốc", "hội nông dân", "nhân dân", "cử tri", "tiếp xúc", "kiến nghị", "khiếu nại", "tố cáo", "giải quyết",
    "đơn thư", "hòa giải", "dân vận", "dân chủ", "cơ sở", "tập trung", "tự phê bình", "phê bình", "đoàn kết", "thống nhất",
    "nội bộ", "lãnh đạo", "chỉ đạo", "điều hành", "quản lý", "phân công", "phụ trách", "trách nhiệm", "người đứng đầu",
    "gương mẫu", "tiên phong", "nêu gương", "rèn luyện", "tu dưỡng", "sản xuất", "kinh doanh", "doanh nghiệp", "hợp tác xã",
    "lao động", "việc làm", "thu nhập", "hộ nghèo", "giảm nghèo", "an sinh", "chính sách", "người có công", "thương binh",
    "liệt sĩ", "gia đình", "bảo hiểm", "xây dựng", "chỉnh đốn", "sắp xếp", "tinh gọn", "bộ máy", "biên chế", "tinh giản",
    "sáp nhập", "đơn vị hành chính", "cấp xã", "cấp huyện", "cấp tỉnh", "trung ương", "địa phương", "thành phố", "phường", "xã",
    "thôn", "tổ dân phố", "khu phố", "ấp", "bản", "quý một", "sáu tháng đầu năm", "cuối năm", "tổng kết", "sơ kết",
    "phần trăm", "tỷ đồng", "triệu đồng", "tăng trưởng", "thu ngân sách", "chi thường xuyên", "giải ngân", "vốn đầu tư công",
    "tiến độ", "chậm", "vướng mắc", "khó khăn", "thuận lợi", "thách thức", "cơ hội", "tình hình", "diễn biến", "phức tạp",
    "thiên tai", "bão lũ", "hạn hán", "dịch bệnh", "khắc phục", "hậu quả", "hỗ trợ", "cứu trợ", "ủng hộ", "quỹ",
    "vì người nghèo", "nhà tình nghĩa", "học sinh", "sinh viên", "trường học", "bệnh viện", "trạm y tế", "tiêm chủng",
    "chuyển giao", "ứng dụng", "phần mềm", "hệ thống", "văn bản", "hồ sơ", "điện tử", "chữ ký số", "định danh", "căn cước",
    "kết nối", "nền tảng", "trí tuệ nhân tạo", "an toàn thông tin", "bảo mật", "bí mật nhà nước", "tài liệu", "lưu trữ",
    "biên bản", "thư ký", "chủ trì", "khai mạc", "bế mạc", "phát biểu", "kết luận", "tiếp thu", "giải trình", "thời gian",
    "địa điểm", "thành phần", "vắng mặt", "có lý do", "có mặt", "tổng số", "tán thành", "không tán thành", "nhất trí",
    "tuyệt đối", "đa số", "biểu dương", "nhắc nhở", "đề nghị", "cấp ủy", "ủy viên", "tổ đảng", "đảng ủy", "huyện ủy",
    "tỉnh ủy", "thành ủy", "Bộ Chính trị", "Ban Bí thư", "Tổng Bí thư", "văn kiện", "cương lĩnh", "đường lối", "chủ trương",
    "pháp luật", "nhà nước", "Quốc hội", "Hội đồng nhân dân", "Ủy ban nhân dân", "đoàn thể", "hội viên", "phong trào thi đua",
    "yêu nước", "điển hình", "tiên tiến", "nhân rộng", "mô hình", "sáng kiến", "hiệu quả", "chất lượng", "nâng cao", "đổi mới",
    "tăng cường", "đẩy mạnh", "quyết liệt", "đồng bộ", "kịp thời", "nghiêm túc", "chặt chẽ", "thực chất", "cụ thể", "rõ ràng",
    "minh bạch", "công khai", "trung thực", "khách quan",
];

/// People's names make the long tail: each is said in only some meetings.
#[rustfmt::skip]
const FAMILY: &[&str] = &["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô", "Dương", "Lý"];
const MIDDLE: &[&str] = &["Văn", "Thị", "Đức", "Minh", "Thanh", "Quốc", "Hữu", "Ngọc", "Xuân", "Thu"];
#[rustfmt::skip]
const GIVEN: &[&str] = &[
    "An", "Bình", "Cường", "Dũng", "Giang", "Hà", "Hải", "Hạnh", "Hùng", "Hương", "Khánh", "Lan", "Linh", "Long", "Mai", "Nam",
    "Nga", "Ngọc", "Phong", "Phương", "Quân", "Quang", "Sơn", "Tâm", "Thảo", "Thắng", "Thủy", "Trang", "Trung", "Tuấn", "Vân",
    "Việt", "Yến", "Hiếu", "Huệ", "Lộc", "Nhung", "Oanh", "Phúc",
];

/// A word list with Zipf frequencies by rank and a Markov chain over it.
struct Lang {
    words: Vec<String>,
    syllables: Vec<usize>,
    /// Cumulative Zipf weights by rank (index = rank), for sampling.
    cumulative: Vec<f64>,
    /// Each word's likely successors, most likely first.
    next: Vec<Vec<usize>>,
    /// What a user searches for: the vocabulary and the names, not function words.
    content: Vec<usize>,
}

impl Lang {
    fn new(rng: &mut Rng) -> Lang {
        let words = ranked_words(rng);
        let mut total = 0.0;
        let cumulative = (0..words.len())
            .map(|r| {
                total += 1.0 / ((r + 1) as f64).powf(ZIPF_S);
                total
            })
            .collect();
        let syllables = words.iter().map(|w| w.split(' ').count()).collect();
        let content = (FUNCTION_WORDS.len()..words.len()).collect();
        let mut lang = Lang { words, syllables, cumulative, next: Vec::new(), content };
        // Successors drawn by frequency: common words follow each other more often,
        // and each pair a word forms recurs, as collocations do.
        lang.next = (0..lang.words.len()).map(|_| (0..SUCCESSORS).map(|_| lang.unigram(rng)).collect()).collect();
        lang
    }

    fn unigram(&self, rng: &mut Rng) -> usize {
        let x = rng.unit() * self.cumulative[self.cumulative.len() - 1];
        self.cumulative.partition_point(|&c| c < x).min(self.words.len() - 1)
    }

    /// The word after `prev`: mostly one of its successors (geometrically weighted).
    fn step(&self, prev: usize, rng: &mut Rng) -> usize {
        if !rng.chance(FOLLOW) {
            return self.unigram(rng);
        }
        let next = &self.next[prev];
        next.iter().find(|_| rng.chance(0.5)).copied().unwrap_or(next[next.len() - 1])
    }

    /// A segment's text of about `syllables` syllables, continuing the chain from
    /// `prev`; with its syllables and words (list entries) counted.
    fn sentence(&self, syllables: usize, prev: &mut usize, rng: &mut Rng) -> (String, usize, usize) {
        let (mut text, mut count, mut words) = (String::new(), 0, 0);
        while count < syllables {
            *prev = self.step(*prev, rng);
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(&self.words[*prev]);
            count += self.syllables[*prev];
            words += 1;
        }
        (capitalize(&text) + ".", count, words)
    }
}

/// Function words first (the head), then the vocabulary, then names (the tail);
/// shuffled within each group so the ranks do not follow the lists' order.
fn ranked_words(rng: &mut Rng) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut groups: Vec<Vec<String>> = vec![
        FUNCTION_WORDS.iter().map(|w| w.to_string()).collect(),
        VOCABULARY.iter().map(|w| w.to_string()).collect(),
        (0..NAMES).map(|_| format!("{} {} {}", rng.pick(FAMILY), rng.pick(MIDDLE), rng.pick(GIVEN))).collect(),
    ];
    let mut words = Vec::new();
    for g in &mut groups {
        rng.shuffle(g);
        words.extend(g.drain(..).filter(|w| seen.insert(w.to_lowercase())));
    }
    for w in &words {
        assert_eq!(*w, search::normalize(w), "the word list must be NFC: {w}");
    }
    words
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    chars.next().map_or_else(String::new, |c| c.to_uppercase().chain(chars).collect())
}

// ---------------------------------------------------------------- the corpus

/// A meeting's metadata; its transcript is generated when it is indexed.
struct Meeting {
    n: usize,
    cell: (usize, usize, usize),
    kind: &'static str,
    date: OffsetDateTime,
    streams: usize,
}

impl Meeting {
    fn id(&self) -> String {
        format!("meeting_{:05}", self.n)
    }
    /// Facet path `/org_b1/org_b1x2/org_b1x2c3`; also the text folder, relative.
    fn org_path(&self) -> String {
        let (b, x, c) = self.cell;
        format!("/org_b{b}/org_b{b}x{x}/org_b{b}x{x}c{c}")
    }
    fn bloc_path(&self) -> String {
        format!("/org_b{}", self.cell.0)
    }
}

fn plan_meetings(count: usize, rng: &mut Rng) -> Vec<Meeting> {
    let start = datetime!(2025-01-01 08:00 +7);
    (0..count)
        .map(|n| {
            let cell = (1 + rng.below(TREE.0), 1 + rng.below(TREE.1), 1 + rng.below(TREE.2));
            // Most meetings are the monthly regular one.
            let kind = match rng.below(10) {
                0..=6 => "regular",
                7 | 8 => "thematic",
                _ => "conference",
            };
            let date =
                start + time::Duration::days(rng.below(730) as i64) + time::Duration::hours(6 * rng.below(2) as i64);
            Meeting { n, cell, kind, date, streams: if rng.chance(0.3) { 2 } else { 1 } }
        })
        .collect()
}

/// Back-to-back segments of 3–8 s filling `duration_ms`; with two endpoints the
/// floor passes between them in turns of a few segments.
fn transcript(m: &Meeting, duration_ms: u64, lang: &Lang, rng: &mut Rng, c: &mut Corpus) -> Vec<Segment> {
    let (mut segments, mut t, mut stream, mut prev) = (Vec::new(), 0, 1, 0);
    while t < duration_ms {
        let len = rng.between(3_000, 8_001).min(duration_ms - t).max(1_000);
        if m.streams == 2 && rng.chance(0.15) {
            stream = 3 - stream;
        }
        let target = ((len as f64 / 1000.0) * SYLLABLES_PER_S * (0.8 + 0.4 * rng.unit())).round().max(2.0) as usize;
        let (text, syllables, words) = lang.sentence(target, &mut prev, rng);
        (c.syllables, c.words) = (c.syllables + syllables, c.words + words);
        let end_ms = t + len - rng.between(0, 300);
        segments.push(Segment {
            stream: format!("stream_{stream}"),
            label: format!("Điểm cầu {stream}"),
            start_ms: t,
            end_ms,
            text,
        });
        t += len;
    }
    c.segments += segments.len();
    segments
}

fn recording(m: &Meeting, segments: Vec<Segment>) -> Recording {
    Recording {
        recording: format!("rec_{:05}", m.n),
        meeting: m.id(),
        org_path: m.org_path(),
        kind: m.kind.into(),
        date: m.date,
        segments,
    }
}

/// The same transcript as ripgrep sees it: `start_ms<TAB>text` lines, one file per
/// meeting under its org's folder, so a scope is a folder.
fn write_text(root: &Path, rec: &Recording) -> Res<u64> {
    let dir = root.join(rec.org_path.trim_start_matches('/'));
    std::fs::create_dir_all(&dir)?;
    let body: String = rec.segments.iter().map(|s| format!("{}\t{}\n", s.start_ms, s.text)).collect();
    std::fs::write(dir.join(format!("{}.txt", rec.meeting)), &body)?;
    Ok(body.len() as u64)
}

#[derive(Default)]
struct Corpus {
    meetings: usize,
    hours: f64,
    segments: usize,
    syllables: usize,
    words: usize,
    text_bytes: u64,
    documents: usize,
    generate: Duration,
    index: Duration,
}

/// Generates the corpus batch by batch (it never all lies in memory), writing the
/// text files and indexing each batch with one commit; only indexing is timed as
/// the build.
fn build(
    meetings: &[Meeting],
    duration_ms: u64,
    lang: &Lang,
    index: (&Path, Arc<dyn IndexCipher>),
    text_dir: Option<&Path>,
) -> Res<Corpus> {
    let mut c = Corpus {
        meetings: meetings.len(),
        hours: meetings.len() as f64 * duration_ms as f64 / 3.6e6,
        ..Corpus::default()
    };
    let mut rng = Rng(0x7E57_0002);
    let started = Instant::now();
    let options = Options { writer_memory: BULK_MEMORY, ..Options::default() };
    let index = Index::open(index.0, index.1, &options)?;
    c.index += started.elapsed();
    for (i, batch) in meetings.chunks(BATCH).enumerate() {
        let t = Instant::now();
        let recs = generate_batch(batch, duration_ms, lang, &mut rng, text_dir, &mut c)?;
        c.generate += t.elapsed();
        let t = Instant::now();
        c.documents += index.put_all(&recs)?;
        c.index += t.elapsed();
        let done = (i * BATCH + batch.len()) as f64;
        println!(
            "  indexed {done:>5} / {} meetings: generating {:.1} s, indexing {:.1} s",
            meetings.len(),
            c.generate.as_secs_f64(),
            c.index.as_secs_f64()
        );
    }
    // Dropping the writer joins its threads (and abandons merges in flight): part of the build.
    let t = Instant::now();
    drop(index);
    c.index += t.elapsed();
    Ok(c)
}

fn generate_batch(
    batch: &[Meeting],
    duration_ms: u64,
    lang: &Lang,
    rng: &mut Rng,
    text_dir: Option<&Path>,
    c: &mut Corpus,
) -> Res<Vec<Recording>> {
    let mut recs = Vec::with_capacity(batch.len());
    for m in batch {
        let rec = recording(m, transcript(m, duration_ms, lang, rng, c));
        c.text_bytes += match text_dir {
            Some(dir) => write_text(dir, &rec)?,
            None => rec.segments.iter().map(|s| s.text.len() as u64 + 10).sum(),
        };
        recs.push(rec);
    }
    Ok(recs)
}

// ---------------------------------------------------------------- queries

#[derive(Clone, Copy, PartialEq, Debug)]
enum Class {
    Word,
    Folded,
    Phrase,
    Filtered,
    Newest,
    NextPage,
}

const CLASSES: [Class; 6] =
    [Class::Word, Class::Folded, Class::Phrase, Class::Filtered, Class::Newest, Class::NextPage];

impl Class {
    fn name(self) -> &'static str {
        match self {
            Class::Word => "word (diacritics)",
            Class::Folded => "word typed folded",
            Class::Phrase => "\"quoted phrase\"",
            Class::Filtered => "scoped + filters",
            Class::Newest => "word, newest first",
            Class::NextPage => "word, second page",
        }
    }
}

/// One query, as the index gets it and as ripgrep approximates it.
struct Probe {
    class: Class,
    query: Query,
    /// A fixed string for `rg -F -i`.
    rg_pattern: String,
    /// The folder rg searches, relative to the text root (the scope's).
    rg_scope: String,
}

fn query(text: String) -> Query {
    Query { text, scope: Scope::All, limit: LIMIT, ..Query::default() }
}

/// A word a user would search for, with at least one diacritic.
fn content_word(lang: &Lang, rng: &mut Rng) -> String {
    loop {
        let w = &lang.words[*rng.pick(&lang.content)];
        if !w.is_ascii() {
            return w.clone();
        }
    }
}

/// Two or three syllables that the chain does produce: the end of a word and the
/// start of one of its likely successors.
fn chain_phrase(lang: &Lang, rng: &mut Rng) -> String {
    let a = *rng.pick(&lang.content);
    let b = lang.next[a][rng.below(2)];
    let syllables: Vec<&str> = lang.words[a].split(' ').chain(lang.words[b].split(' ')).collect();
    let n = (2 + rng.below(2)).min(syllables.len());
    let start = (lang.syllables[a] - 1).min(syllables.len() - n);
    syllables[start..start + n].join(" ")
}

fn probe(class: Class, lang: &Lang, meetings: &[Meeting], rng: &mut Rng) -> Probe {
    let plain = |q: Query, pattern: String| Probe { class, query: q, rg_pattern: pattern, rg_scope: String::new() };
    match class {
        Class::Word => {
            let w = content_word(lang, rng);
            plain(query(w.clone()), w)
        }
        // rg cannot fold diacritics with a fixed string: it gets the accented form.
        Class::Folded => {
            let w = content_word(lang, rng);
            plain(query(search::fold(&w)), w)
        }
        Class::Phrase => {
            let p = chain_phrase(lang, rng);
            plain(query(format!("\"{p}\"")), p)
        }
        Class::Filtered => filtered(lang, meetings, rng),
        // rg has no order and no pages: it gets the word.
        Class::Newest => {
            let w = content_word(lang, rng);
            plain(Query { sort: Sort::Newest, ..query(w.clone()) }, w)
        }
        Class::NextPage => {
            let w = content_word(lang, rng);
            plain(query(w.clone()), w)
        }
    }
}

/// A scope around a real meeting (its bloc or its cell), and half the time its kind
/// and a three-month window around its date, so that most such queries can match.
fn filtered(lang: &Lang, meetings: &[Meeting], rng: &mut Rng) -> Probe {
    let m = rng.pick(meetings);
    let scope = if rng.chance(0.5) { m.bloc_path() } else { m.org_path() };
    let w = content_word(lang, rng);
    let mut q = query(if rng.chance(0.3) { search::fold(&w) } else { w.clone() });
    q.scope = Scope::Orgs(vec![scope.clone()]);
    if rng.chance(0.5) {
        q.kind = Some(m.kind.to_string());
    }
    if rng.chance(0.5) {
        q.from = Some(m.date - time::Duration::days(45));
        q.to = Some(m.date + time::Duration::days(45));
    }
    Probe { class: Class::Filtered, query: q, rg_pattern: w, rg_scope: scope.trim_start_matches('/').to_string() }
}

fn probes(n: usize, seed: u64, lang: &Lang, meetings: &[Meeting]) -> Vec<Probe> {
    let mut rng = Rng(seed);
    (0..n).map(|i| probe(CLASSES[i % CLASSES.len()], lang, meetings, &mut rng)).collect()
}

// ---------------------------------------------------------------- timing

struct Timed {
    class: Class,
    took: Duration,
    /// Meetings returned (index) or files listed (rg).
    found: usize,
}

/// Each query's wall-clock time, and the CPU time of the thread that ran it.
fn time_index(index: &Index, probes: &[Probe]) -> Res<(Vec<Timed>, Vec<Timed>)> {
    let (mut wall, mut cpu) = (Vec::with_capacity(probes.len()), Vec::new());
    for p in probes {
        let mut q = p.query.clone();
        if p.class == Class::NextPage {
            // The first page is not timed; a query with one page is timed on it.
            q.cursor = index.search(&q)?.next;
        }
        let (t, c) = (Instant::now(), thread_cpu());
        let r = index.search(&q)?;
        let (took, used) = (t.elapsed(), thread_cpu().saturating_sub(c));
        let found = r.meetings.len();
        wall.push(Timed { class: p.class, took, found });
        cpu.push(Timed { class: p.class, took: used, found });
    }
    Ok((wall, cpu))
}

/// CPU time of this thread: what a query costs whatever else the machine runs
/// (the 2 cores here are shared, so wall-clock times include waiting for one).
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes only the timespec it is given.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// `rg -l`: stops reading a file at its first match, the fastest way rg can answer
/// "which meetings", so the anchor is on rg's side. Output goes to a pipe, never to
/// /dev/null, where rg would stop at the very first match.
fn time_rg(text_dir: &Path, probes: &[&Probe]) -> Res<Vec<Timed>> {
    let mut out = Vec::with_capacity(probes.len());
    for p in probes {
        let t = Instant::now();
        let o = Command::new("rg")
            .args(["--no-config", "-l", "-i", "-F", "--", &p.rg_pattern])
            .arg(text_dir.join(&p.rg_scope))
            .output()?;
        let took = t.elapsed();
        if o.status.code() == Some(2) {
            return Err(format!("rg failed: {}", String::from_utf8_lossy(&o.stderr)).into());
        }
        out.push(Timed {
            class: p.class,
            took,
            found: o.stdout.split(|&b| b == b'\n').filter(|l| !l.is_empty()).count(),
        });
    }
    Ok(out)
}

fn rg_available() -> bool {
    Command::new("rg").arg("--version").output().is_ok_and(|o| o.status.success())
}

/// Nearest-rank percentile of sorted durations, in ms.
fn pct(sorted: &[Duration], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1].as_secs_f64() * 1e3
}

struct Stats {
    n: usize,
    p50: f64,
    p90: f64,
    p99: f64,
    max: f64,
    mean_found: f64,
    zero: usize,
}

fn stats(timed: &[&Timed]) -> Option<Stats> {
    if timed.is_empty() {
        return None;
    }
    let mut d: Vec<Duration> = timed.iter().map(|t| t.took).collect();
    d.sort();
    let found: usize = timed.iter().map(|t| t.found).sum();
    Some(Stats {
        n: timed.len(),
        p50: pct(&d, 50.0),
        p90: pct(&d, 90.0),
        p99: pct(&d, 99.0),
        max: pct(&d, 100.0),
        mean_found: found as f64 / timed.len() as f64,
        zero: timed.iter().filter(|t| t.found == 0).count(),
    })
}

/// Per class, then all together.
fn by_class(timed: &[Timed]) -> Vec<(&'static str, Option<Stats>)> {
    let mut rows: Vec<_> = CLASSES
        .iter()
        .map(|&c| (c.name(), stats(&timed.iter().filter(|t| t.class == c).collect::<Vec<_>>())))
        .collect();
    rows.push(("all", stats(&timed.iter().collect::<Vec<_>>())));
    rows
}

fn print_table(title: &str, found: &str, timed: &[Timed]) {
    println!("\n{title}");
    println!(
        "  {:<20} {:>5} {:>8} {:>8} {:>8} {:>8} {:>10} {:>6}",
        "class", "n", "p50 ms", "p90 ms", "p99 ms", "max ms", found, "zero"
    );
    for (name, s) in by_class(timed) {
        let Some(s) = s else { continue };
        println!(
            "  {name:<20} {:>5} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>10.1} {:>6}",
            s.n, s.p50, s.p90, s.p99, s.max, s.mean_found, s.zero
        );
    }
}

// ---------------------------------------------------------------- main

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// The machine's 1-minute load average: above its cores, queries wait for one.
fn load_average() -> String {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    load.split_whitespace().next().unwrap_or("?").to_string()
}

/// This process's resident memory now and at its peak, in MiB (Linux).
fn rss_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn header(args: &Args, meetings: usize, duration_ms: u64) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("Niêm search benchmark: query latency of the transcript index (search::Index::search,");
    println!("snippets included) on a synthetic Vietnamese archive, against ripgrep over the same text.");
    println!("goals: p99 <= 20 ms over all queries; index p50 >= 100x faster than rg p50;");
    println!("at 10,000 h: open <= 5 s, RSS <= 1 GiB.");
    println!(
        "corpus: {} meeting-hours ({meetings} meetings x {} h), {} queries, {LIMIT} meetings per page, {cores} cores",
        args.hours,
        duration_ms as f64 / 3.6e6,
        args.queries
    );
}

fn main() -> Res<()> {
    let args = parse_args()?;
    let meetings_n = (args.hours as usize / MEETING_HOURS as usize).max(1);
    let duration_ms = args.hours as u64 * 3_600_000 / meetings_n as u64;
    header(&args, meetings_n, duration_ms);
    let tmp = tempfile::tempdir()?;
    let root = args.dir.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    let (index_dir, text_dir) = (root.join("index"), root.join("text"));
    if !args.reuse && (index_dir.exists() || text_dir.exists()) {
        return Err(format!("{} already holds index/ or text/: give an empty --dir", root.display()).into());
    }
    let kept = if args.dir.is_some() { " (kept)" } else { " (deleted at exit)" };
    println!("files under {}{kept}", root.display());

    let lang = Lang::new(&mut Rng(0x4E49_454D));
    let meetings = plan_meetings(meetings_n, &mut Rng(0x7E57_0001));
    // A fixed key, so that --reuse can open what an earlier run built.
    let kek = [("bench-kek", [0x4E; 32])];
    let cipher: Arc<dyn IndexCipher> = Arc::new(ring_cipher::RingCipher::with_keks(&kek, "bench-kek"));
    println!(
        "\nbuilding: {} words and phrases ({} content, {} names) ...",
        lang.words.len(),
        lang.content.len(),
        NAMES
    );
    if args.reuse {
        let size = dir_size(&index_dir) as f64 / 1e6;
        println!("reusing the index an earlier run built in {}: {size:.1} MB", index_dir.display());
    } else {
        let text = (!args.no_rg).then_some(text_dir.as_path());
        let c = build(&meetings, duration_ms, &lang, (&index_dir, cipher.clone()), text)?;
        report_corpus(&c, &index_dir);
    }
    let (rss_before, _) = rss_mib();

    let t = Instant::now();
    let index = Index::open(&index_dir, cipher, &Options::default())?;
    let opened = t.elapsed();
    let (rss_open, _) = rss_mib();
    println!(
        "open to ready (every piece authenticated, default cache {} MiB): {:.2} s; \
         {} documents in {} segments; RSS {rss_open:.0} MiB ({rss_before:.0} MiB before)",
        search::DEFAULT_CACHE_BYTES >> 20,
        opened.as_secs_f64(),
        index.documents(),
        index.segments()
    );
    let all = probes(args.queries, 0x9E55_0001, &lang, &meetings);
    time_index(&index, &probes(WARMUP, 0x9E55_0002, &lang, &meetings))?;
    let (timed, cpu) = time_index(&index, &all)?;
    let (rss, peak) = rss_mib();
    let cache = index.cache_stats().unwrap_or_else(|| unreachable!("an index on disk"));
    println!(
        "after {} queries: RSS {rss:.0} MiB (peak {peak:.0} MiB); \
         piece cache {:.0} MiB in {} pieces, {} hits, {} misses ({:.1}% hits), {} evictions",
        all.len() + WARMUP,
        cache.bytes as f64 / 1048576.0,
        cache.pieces,
        cache.hits,
        cache.misses,
        100.0 * cache.hits as f64 / (cache.hits + cache.misses).max(1) as f64,
        cache.evictions
    );
    print_table(&format!("index: {} queries after {WARMUP} warm-up", all.len()), "meetings", &timed);
    print_table("index, CPU time of the searching thread (no wait for a core)", "meetings", &cpu);
    println!("  load average while querying: {}", load_average());
    if args.no_rg || !text_dir.exists() {
        println!("\n--no-rg: ripgrep anchor skipped");
        return Ok(());
    }
    anchor(&text_dir, &all, &timed)
}

fn report_corpus(c: &Corpus, index_dir: &Path) {
    println!(
        "\ncorpus: {} meetings, {:.0} hours, {} segments, {:.2} M syllables ({:.2} M words), plain text {:.1} MB",
        c.meetings,
        c.hours,
        c.segments,
        c.syllables as f64 / 1e6,
        c.words as f64 / 1e6,
        c.text_bytes as f64 / 1e6
    );
    println!("generating + writing text: {:.1} s", c.generate.as_secs_f64());
    println!(
        "index build: {:.1} s ({} documents put, {BATCH} recordings per commit, {} MiB buffer), {:.2} M syllables/s",
        c.index.as_secs_f64(),
        c.documents,
        BULK_MEMORY >> 20,
        c.syllables as f64 / 1e6 / c.index.as_secs_f64()
    );
    println!(
        "index on disk (encrypted): {:.1} MB ({:.2}x the plain text)",
        dir_size(index_dir) as f64 / 1e6,
        dir_size(index_dir) as f64 / c.text_bytes as f64
    );
}

/// ripgrep over the plain text, on an evenly spread sample of the same queries.
fn anchor(text_dir: &Path, all: &[Probe], timed: &[Timed]) -> Res<()> {
    if !rg_available() {
        println!("\nrg (ripgrep) not found: anchor skipped (bench/search.sh installs it)");
        return Ok(());
    }
    // Whole groups of one query per class, so that every class is sampled alike.
    let groups = all.len().div_ceil(CLASSES.len());
    let step = groups.div_ceil(RG_SAMPLE / CLASSES.len()).max(1);
    let sample: Vec<&Probe> = all.chunks(CLASSES.len()).step_by(step).flatten().collect();
    time_rg(text_dir, &sample[..sample.len().min(3)])?; // page cache and rg's own start
    let rg = time_rg(text_dir, &sample)?;
    print_table(
        &format!(
            "rg -l -i -F (ripgrep, all cores): {} of the queries (1 group of {} in {step})",
            rg.len(),
            CLASSES.len()
        ),
        "files",
        &rg,
    );
    println!("  rg gets: words as one fixed string (so \"nghị quyết\" is a phrase to rg, two words to the index);");
    println!(
        "  folded queries in their accented form (rg cannot fold); scopes as the org's folder; kind and dates ignored."
    );
    println!("\nspeed-up, rg p50 / index p50 (index p50 over all its queries of the class):");
    let (idx, rgs) = (by_class(timed), by_class(&rg));
    for ((name, i), (_, r)) in idx.iter().zip(&rgs) {
        if let (Some(i), Some(r)) = (i, r) {
            println!("  {name:<20} {:>8.1}x   (rg {:.2} ms, index {:.3} ms)", r.p50 / i.p50, r.p50, i.p50);
        }
    }
    Ok(())
}
