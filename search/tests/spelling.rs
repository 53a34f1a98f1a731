//! The canonical spelling the analysers apply, rule by rule: each table is one
//! pattern, spelt out with the expected vowel for the tone mark, and each
//! syllable is tried with the tone on every other vowel too (how people, or
//! Whisper, also write it).

#![allow(clippy::unwrap_used)] // tests and benches may: a panic is their failure report

use search::vietnamese::{canonical, canonical_word};
use unicode_normalization::UnicodeNormalization;

/// Grave, acute, hook, tilde, dot below.
const TONES: [char; 5] = ['\u{300}', '\u{301}', '\u{309}', '\u{303}', '\u{323}'];

/// `bare` with `tone` on its letter number `at` (0-based), in NFC.
fn toned(bare: &str, at: usize, tone: char) -> String {
    let mut s = String::new();
    for (i, c) in bare.chars().enumerate() {
        s.push(c);
        if i == at {
            s.push(tone);
        }
    }
    s.nfc().collect()
}

fn canon(word: &str) -> String {
    canonical_word(word).unwrap_or_else(|| word.to_string())
}

/// One pattern: initials × rhymes × tones; `canonical` is the letter (in the
/// whole syllable, counted from the end of the initial) that must carry the
/// tone, `variants` the letters people also put it on.
struct Pattern {
    name: &'static str,
    initials: &'static [&'static str],
    /// (rhyme, its canonical letter, the other letters tried), letters counted
    /// within initial + rhyme (so the u of qu- can be a variant).
    rhymes: &'static [(&'static str, isize, &'static [isize])],
}

fn check(p: &Pattern) -> usize {
    let mut syllables = 0;
    for initial in p.initials {
        let base = initial.chars().count() as isize;
        for &(rhyme, canonical, variants) in p.rhymes {
            let bare = format!("{initial}{rhyme}");
            for &tone in &TONES {
                let want = toned(&bare, (base + canonical) as usize, tone);
                assert_eq!(canon(&want), want, "{}: {want} is canonical", p.name);
                for &v in variants {
                    let other = toned(&bare, (base + v) as usize, tone);
                    assert_ne!(other, want);
                    assert_eq!(canon(&other), want, "{}: {other} → {want}", p.name);
                    let upper = other.to_uppercase();
                    assert_eq!(canon(&upper), want.to_uppercase(), "{}: {upper}", p.name);
                }
                syllables += 1;
            }
        }
    }
    syllables
}

const OPEN: &[&str] = &["", "h", "kh", "l", "t", "th", "x", "ng", "nh", "đ", "s", "tr", "ch", "n"];

#[test]
fn open_oa_takes_the_tone_on_o() {
    let p = Pattern { name: "oa", initials: OPEN, rhymes: &[("oa", 0, &[1])] };
    assert!(check(&p) >= 60);
}

#[test]
fn open_oe_takes_the_tone_on_o() {
    let p = Pattern { name: "oe", initials: OPEN, rhymes: &[("oe", 0, &[1])] };
    assert!(check(&p) >= 60);
}

#[test]
fn open_uy_takes_the_tone_on_u() {
    let p = Pattern { name: "uy", initials: OPEN, rhymes: &[("uy", 0, &[1])] };
    assert!(check(&p) >= 60);
}

#[test]
fn the_u_of_qu_never_takes_the_tone() {
    let rhymes: &[(&str, isize, &[isize])] = &[
        ("a", 0, &[-1]),
        ("e", 0, &[-1]),
        ("ê", 0, &[-1]),
        ("ơ", 0, &[-1]),
        ("ai", 0, &[-1, 1]),
        ("ay", 0, &[-1, 1]),
        ("ân", 0, &[-1]),
        ("ang", 0, &[-1]),
        ("anh", 0, &[-1]),
        ("yên", 1, &[-1, 0]),
        ("yêt", 1, &[-1, 0]),
        ("ynh", 0, &[-1]),
        ("ôc", 0, &[-1]),
    ];
    let p = Pattern { name: "qu-", initials: &["qu"], rhymes };
    assert!(check(&p) >= 60);
}

#[test]
fn the_i_of_gi_never_takes_the_tone() {
    let rhymes: &[(&str, isize, &[isize])] = &[
        ("a", 0, &[-1]),
        ("ư", 0, &[-1]),
        ("ơ", 0, &[-1]),
        ("ô", 0, &[-1]),
        ("u", 0, &[-1]),
        ("e", 0, &[-1]),
        ("ai", 0, &[-1, 1]),
        ("ao", 0, &[-1, 1]),
        ("au", 0, &[-1, 1]),
        ("ưa", 0, &[-1, 1]),
        ("ương", 1, &[-1, 0]),
        ("ân", 0, &[-1]),
        ("ang", 0, &[-1]),
        ("êng", 0, &[-1]),
    ];
    let p = Pattern { name: "gi-", initials: &["gi"], rhymes };
    assert!(check(&p) >= 60);
}

#[test]
fn closed_syllables_take_the_tone_on_the_last_vowel() {
    let rhymes: &[(&str, isize, &[isize])] = &[
        ("oan", 1, &[0]),
        ("oang", 1, &[0]),
        ("oanh", 1, &[0]),
        ("oach", 1, &[0]),
        ("oat", 1, &[0]),
        ("oen", 1, &[0]),
        ("uynh", 1, &[0]),
        ("uych", 1, &[0]),
        ("uyt", 1, &[0]),
        ("uyên", 2, &[0, 1]),
        ("ương", 1, &[0]),
        ("iêng", 1, &[0]),
        ("uôn", 1, &[0]),
    ];
    let p = Pattern { name: "closed", initials: &["h", "t", "ng"], rhymes };
    assert!(check(&p) >= 60);
}

#[test]
fn three_vowels_take_the_tone_in_the_middle_or_on_the_shaped_one() {
    let rhymes: &[(&str, isize, &[isize])] = &[
        ("oai", 1, &[0, 2]),
        ("oay", 1, &[0, 2]),
        ("uyu", 1, &[0, 2]),
        ("oeo", 1, &[0, 2]),
        ("ươi", 1, &[0, 2]),
        ("ươu", 1, &[0, 2]),
        ("iêu", 1, &[0, 2]),
        ("uôi", 1, &[0, 2]),
        ("uây", 1, &[0, 2]),
    ];
    let p = Pattern { name: "three vowels", initials: &["h", "ng", "kh"], rhymes };
    assert!(check(&p) >= 60);
}

#[test]
fn a_final_i_or_y_is_one_letter_after_h_k_l_m_s_t_qu() {
    let mut syllables = 0;
    for initial in ["h", "k", "l", "m", "s", "t", "qu"] {
        for tone in std::iter::once(None).chain(TONES.iter().copied().map(Some)) {
            let spell = |v: char| -> String {
                let mut s = format!("{initial}{v}");
                s.extend(tone);
                s.nfc().collect()
            };
            let (i, y) = (spell('i'), spell('y'));
            assert_eq!(canon(&y), i, "{y}");
            assert_eq!(canon(&i), i, "{i}");
            let cap = |s: &str| {
                let mut c = s.chars();
                c.next().map(|f| f.to_uppercase().chain(c).collect::<String>()).unwrap_or_default()
            };
            assert_eq!(canon(&cap(&y)), cap(&i));
            syllables += 4;
        }
    }
    assert!(syllables >= 60);
    // Elsewhere i and y stay as they are: other initials, glides, closed syllables.
    for word in ["ý", "y", "chi", "vi", "nhi", "uy", "huy", "tuy", "tui", "kính", "yên", "hy"] {
        let want = if word == "hy" { "hi" } else { word };
        assert_eq!(canon(word), want, "{word}");
    }
}

#[test]
fn real_words_typed_with_the_mark_in_the_wrong_place() {
    let pairs = [
        ("ngừơi", "người"),
        ("đựơc", "được"),
        ("lựơng", "lượng"),
        ("nghịêm", "nghiệm"),
        ("tiêú", "tiếu"),
        ("baỏ", "bảo"),
        ("chuẩn", "chuẩn"),
        ("muốn", "muốn"),
        ("thuế", "thuế"),
        ("thuở", "thuở"),
        ("khuấy", "khuấy"),
        ("hoặc", "hoặc"),
        ("tuần", "tuần"),
        ("cưú", "cứu"),
        ("rựơu", "rượu"),
        ("ủy", "ủy"),
        ("uỷ", "ủy"),
        ("Uỷ", "Ủy"),
        ("ỦY", "ỦY"),
        ("hoá", "hóa"),
        ("hoà", "hòa"),
        ("thuỷ", "thủy"),
        ("khoẻ", "khỏe"),
        ("quí", "quí"),
        ("quý", "quí"),
        ("kỹ", "kĩ"),
        ("lý", "lí"),
        ("mỹ", "mĩ"),
        ("tỷ", "tỉ"),
        ("sỹ", "sĩ"),
        ("gíup", "giúp"),
    ];
    for (typed, want) in pairs {
        assert_eq!(canon(typed), want, "{typed}");
    }
}

#[test]
fn other_text_is_left_exactly_as_it_was() {
    let untouched = [
        "The quick brown fox, 42 times; e-mail: a.b@c.vn (https://x.y/z?q=1).",
        "Đảng bộ tỉnh họp lúc 8:30 ngày 15/7/2026 — 99,5% đảng viên có mặt!",
        "Nghị quyết số 18-NQ/TW về tinh gọn bộ máy; COVID-19; 1,2 tỉ đồng…",
        "日本語 العربية русский 😀 café naïve façade",
        "Chuyển đổi số, hòa bình, thủy lợi, khỏe mạnh, quí báu, kĩ thuật.",
    ];
    for text in untouched {
        assert_eq!(canonical(text), text);
    }
    let mixed = "Hoà bình, thuỷ lợi và kỹ thuật: khoẻ!";
    let once = canonical(mixed);
    assert_eq!(once, "Hòa bình, thủy lợi và kĩ thuật: khỏe!");
    assert_eq!(canonical(&once), once, "idempotent");
    let nfd: String = mixed.nfd().collect();
    assert_eq!(canonical(&nfd), canonical(mixed), "NFD behaves like NFC");
}
