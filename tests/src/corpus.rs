//! A synthetic Vietnamese meeting corpus for search tests and benchmarks: a word
//! list of what Party meetings talk about, with Zipf-like frequencies and a
//! first-order Markov chain, so that words and phrases recur as in speech; and
//! back-to-back transcript segments at a speaking rate of 2.5 syllables/s.
//!
//! Deterministic: the same seed gives the same words, the same chain and the
//! same text. It is not Vietnamese grammar, and does not try to be; it is text
//! with the vocabulary, frequencies and diacritics that a search index meets.

use std::collections::HashSet;
use unicode_normalization::UnicodeNormalization;

/// Speech rate the corpus is sized by (syllables per second of meeting).
pub const SYLLABLES_PER_S: f64 = 2.5;
const ZIPF_S: f64 = 1.0;
/// Likely successors of each word in the chain, and how often the chain follows one.
const SUCCESSORS: usize = 5;
const FOLLOW: f64 = 0.7;
const NAMES: usize = 300;

/// SplitMix64: tiny, fast and good enough for synthetic data; no `rand` crate.
#[derive(Clone)]
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (the modulo bias is far below what a benchmark notices).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo)
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

/// The most frequent words of speech: they carry the Zipf head.
#[rustfmt::skip]
pub const FUNCTION_WORDS: &[&str] = &[
    "và", "của", "là", "có", "được", "trong", "các", "những", "đã", "sẽ", "đang", "cho", "với", "này", "để", "không", "người",
    "một", "hai", "ba", "thì", "mà", "nhưng", "cũng", "về", "từ", "theo", "đến", "như", "khi", "nên", "vì", "do", "tại", "trên",
    "dưới", "sau", "trước", "nữa", "rất", "nhiều", "đều", "còn", "lại", "ra", "vào", "đó", "đây", "thế", "nào", "gì", "ai",
    "chúng ta", "chúng tôi", "tôi", "mình", "anh", "chị", "em", "ạ", "nhé", "vâng", "thưa", "xin", "hết", "rồi", "vẫn", "chỉ",
    "ngay", "luôn", "phải", "cần", "nếu", "bởi vì", "tuy nhiên", "đồng thời", "bên cạnh đó", "ngoài ra", "vừa", "hơn", "nhất",
    "bây giờ", "hôm nay", "năm nay", "tháng này", "vừa qua", "sắp tới",
];

/// What Party meetings talk about: the words people search for.
#[rustfmt::skip]
pub const VOCABULARY: &[&str] = &[
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
pub const FAMILY: &[&str] = &["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô", "Dương", "Lý"];
pub const MIDDLE: &[&str] = &["Văn", "Thị", "Đức", "Minh", "Thanh", "Quốc", "Hữu", "Ngọc", "Xuân", "Thu"];
#[rustfmt::skip]
pub const GIVEN: &[&str] = &[
    "An", "Bình", "Cường", "Dũng", "Giang", "Hà", "Hải", "Hạnh", "Hùng", "Hương", "Khánh", "Lan", "Linh", "Long", "Mai", "Nam",
    "Nga", "Ngọc", "Phong", "Phương", "Quân", "Quang", "Sơn", "Tâm", "Thảo", "Thắng", "Thủy", "Trang", "Trung", "Tuấn", "Vân",
    "Việt", "Yến", "Hiếu", "Huệ", "Lộc", "Nhung", "Oanh", "Phúc",
];

/// A word list with Zipf frequencies by rank and a Markov chain over it.
pub struct Lang {
    pub words: Vec<String>,
    pub syllables: Vec<usize>,
    /// Cumulative Zipf weights by rank (index = rank), for sampling.
    pub cumulative: Vec<f64>,
    /// Each word's likely successors, most likely first.
    pub next: Vec<Vec<usize>>,
    /// What a user searches for: the vocabulary and the names, not function words.
    pub content: Vec<usize>,
}

impl Lang {
    pub fn new(rng: &mut Rng) -> Lang {
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

    pub fn unigram(&self, rng: &mut Rng) -> usize {
        let x = rng.unit() * self.cumulative[self.cumulative.len() - 1];
        self.cumulative.partition_point(|&c| c < x).min(self.words.len() - 1)
    }

    /// The word after `prev`: mostly one of its successors (geometrically weighted).
    pub fn step(&self, prev: usize, rng: &mut Rng) -> usize {
        if !rng.chance(FOLLOW) {
            return self.unigram(rng);
        }
        let next = &self.next[prev];
        next.iter().find(|_| rng.chance(0.5)).copied().unwrap_or(next[next.len() - 1])
    }

    /// A segment's text of about `syllables` syllables, continuing the chain from
    /// `prev`; with its syllables and words (list entries) counted.
    pub fn sentence(&self, syllables: usize, prev: &mut usize, rng: &mut Rng) -> (String, usize, usize) {
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
        assert_eq!(*w, w.nfc().collect::<String>(), "the word list must be NFC: {w}");
    }
    words
}

pub fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    chars.next().map_or_else(String::new, |c| c.to_uppercase().chain(chars).collect())
}

/// One transcript segment, relative to its stream's start.
#[derive(Debug, Clone)]
pub struct Line {
    pub start_ms: u64,
    pub end_ms: u64,
    pub text: String,
}

/// Back-to-back segments of 3–8 s of speech filling `duration_ms`.
pub fn transcript(duration_ms: u64, lang: &Lang, rng: &mut Rng) -> Vec<Line> {
    let (mut lines, mut t, mut prev) = (Vec::new(), 0, 0);
    while t < duration_ms {
        let len = rng.between(3_000, 8_001).min(duration_ms - t).max(1_000);
        let target = ((len as f64 / 1000.0) * SYLLABLES_PER_S * (0.8 + 0.4 * rng.unit())).round().max(2.0) as usize;
        let (text, ..) = lang.sentence(target, &mut prev, rng);
        lines.push(Line { start_ms: t, end_ms: t + len - rng.between(0, 300), text });
        t += len;
    }
    lines
}

/// A content word or phrase (vocabulary or a name, never a function word): what
/// a user types into the search box.
pub fn content_word(lang: &Lang, rng: &mut Rng) -> String {
    lang.words[*rng.pick(&lang.content)].clone()
}
