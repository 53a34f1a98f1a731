//! Vietnamese spelling variants, folded to one form before a word is indexed or
//! looked up.
//!
//! What it is: one function, [`canonical_word`], that both analysers run on every
//! token (after lowercasing), so that a query and the text it should find agree
//! on one spelling of each syllable:
//!
//! - **Tone-mark placement.** Two placements are in everyday use for the open
//!   rhymes *oa*, *oe* and *uy*: `hòa`/`hoà`, `khỏe`/`khoẻ`, `thủy`/`thuỷ`. Every
//!   syllable gets the tone mark where the traditional rule puts it, whatever
//!   vowel it came on: on the vowel with a shape mark (ă â ê ô ơ ư; the second of
//!   *ươ*); else, in a closed syllable, on the last vowel (`hoàng`, `huỳnh`);
//!   else on the first of two vowels (`hòa`, `thủy`, `mùa`) and the middle of
//!   three (`ngoài`, `khuỷu`). The *u* of *qu-* and the *i* of *gi-* belong to the
//!   initial, so `qúa` → `quá` and `gìa` → `già`.
//! - **i/y.** A syllable that ends in a bare *i* or *y* after h, k, l, m, s, t or
//!   qu- is spelt both ways (`kỹ`/`kĩ`, `lý`/`lí`, `quý`/`quí`); both become *i*.
//!
//! **Why the traditional placement is canonical.** It is what Vietnamese keyboards
//! type by default and what most published text, and so Whisper's output, uses;
//! the newer placement (tone on the main vowel: `hoà`, `thuỷ`) is the Ministry of
//! Education's rule and common in schoolbooks. The canonical form is only an index
//! key: stored text and snippets keep the spelling that was spoken or typed, so
//! the choice never shows; choosing the more frequent form means that most words
//! are already canonical and pass through unchanged. *i* is canonical for the
//! i/y pair because the lone vowel is written *i* after every other initial (bi,
//! chi, nhi, vi), so the canonical form never depends on the initial.
//!
//! What it is not: a spell checker. A token that does not parse as one Vietnamese
//! syllable (a loanword, a name in another script, a number, a typo with two tone
//! marks) comes back unchanged, and so does every diacritic that is not a tone
//! mark moved by these rules: `hóa` and `hòa` stay different words. Glides are
//! never folded: *uy* is not *ui* (`tuy` ≠ `tui`).

use std::sync::OnceLock;
use unicode_normalization::UnicodeNormalization;

/// The bare vowels; a tone mark goes on one of them.
const VOWELS: [char; 12] = ['a', 'ă', 'â', 'e', 'ê', 'i', 'o', 'ô', 'ơ', 'u', 'ư', 'y'];
/// Vowels with a shape mark: where present, the tone goes on (the last of) them.
const SHAPED: [char; 6] = ['ă', 'â', 'ê', 'ô', 'ơ', 'ư'];
/// The combining tone marks, in the order of [`Letter::tone`] 1..=5.
const TONE_MARKS: [char; 5] = ['\u{300}', '\u{301}', '\u{309}', '\u{303}', '\u{323}'];
const CONSONANTS: &str = "bcdđghklmnpqrstvx";
const INITIALS: [&str; 28] = [
    "", "b", "c", "ch", "d", "đ", "g", "gh", "gi", "h", "k", "kh", "l", "m", "n", "ng", "ngh", "nh", "p", "ph", "qu",
    "r", "s", "t", "th", "tr", "v", "x",
];
const FINALS: [&str; 9] = ["", "c", "ch", "m", "n", "ng", "nh", "p", "t"];
/// Every vowel cluster of standard Vietnamese (bare vowels, no tone).
const NUCLEI: [&str; 54] = [
    "a", "ă", "â", "e", "ê", "i", "o", "ô", "ơ", "u", "ư", "y", "ai", "ao", "au", "ay", "âu", "ây", "eo", "êu", "ia",
    "iê", "iu", "oa", "oă", "oe", "oi", "ôi", "ơi", "oo", "ua", "uâ", "uê", "ui", "uô", "uơ", "uy", "ưa", "ưi", "ưu",
    "ươ", "yê", "iêu", "oai", "oay", "oeo", "uây", "uôi", "uya", "uyê", "uyu", "ươi", "ươu", "yêu",
];
/// Initials after which a final bare i/y is spelt both ways.
const I_Y_INITIALS: [&str; 7] = ["h", "k", "l", "m", "s", "t", "qu"];
/// The longest syllable, `nghiêng`, has 7 letters.
const MAX_LETTERS: usize = 8;

/// One letter of a word: its bare lowercase form, its tone (0 = none), its case.
#[derive(Clone, Copy)]
struct Letter {
    bare: char,
    tone: u8,
    upper: bool,
}

/// Letters with a tone or a case the tables know: every vowel in both cases and
/// with each tone, and đ. Sorted by the character, for a binary search.
struct Table {
    letters: Vec<(char, Letter)>,
    /// `[vowel][tone]` → the lowercase precomposed letter.
    compose: [[char; 6]; 12],
}

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut letters = Vec::new();
        let mut compose = [['a'; 6]; 12];
        for (v, &bare) in VOWELS.iter().enumerate() {
            for tone in 0..6u8 {
                let mut s = String::from(bare);
                if tone > 0 {
                    s.push(TONE_MARKS[tone as usize - 1]);
                }
                let lower = s.nfc().next().unwrap_or(bare);
                compose[v][tone as usize] = lower;
                letters.push((lower, Letter { bare, tone, upper: false }));
                for upper in lower.to_uppercase() {
                    letters.push((upper, Letter { bare, tone, upper: true }));
                }
            }
        }
        letters.push(('đ', Letter { bare: 'đ', tone: 0, upper: false }));
        letters.push(('Đ', Letter { bare: 'đ', tone: 0, upper: true }));
        letters.sort_by_key(|(c, _)| *c);
        Table { letters, compose }
    })
}

fn letter(c: char) -> Option<Letter> {
    if c.is_ascii_alphabetic() {
        let bare = c.to_ascii_lowercase();
        return Some(Letter { bare, tone: 0, upper: c.is_ascii_uppercase() });
    }
    let t = table();
    t.letters.binary_search_by_key(&c, |(k, _)| *k).ok().map(|i| t.letters[i].1)
}

fn spell(l: Letter) -> char {
    let lower = match VOWELS.iter().position(|&v| v == l.bare) {
        Some(v) => table().compose[v][l.tone as usize],
        None => l.bare,
    };
    if l.upper {
        lower.to_uppercase().next().unwrap_or(lower)
    } else {
        lower
    }
}

fn is_vowel(c: char) -> bool {
    VOWELS.contains(&c)
}

/// A syllable cut into its initial, its vowel cluster (letter indices) and
/// whether a final consonant closes it.
struct Parts {
    nucleus: std::ops::Range<usize>,
    initial: String,
    has_final: bool,
}

fn bare(letters: &[Letter]) -> String {
    letters.iter().map(|l| l.bare).collect()
}

/// Splits `letters` as one Vietnamese syllable, or says it is not one.
fn parse(letters: &[Letter]) -> Option<Parts> {
    let mut start = letters.iter().take_while(|l| CONSONANTS.contains(l.bare)).count();
    let next_is_vowel = |i: usize| letters.get(i).is_some_and(|l| is_vowel(l.bare));
    // The u of qu- and the i of gi- are part of the initial when a vowel follows.
    let glued = match (bare(&letters[..start]).as_str(), letters.get(start).map(|l| l.bare)) {
        ("q", Some('u')) | ("g", Some('i')) => next_is_vowel(start + 1),
        _ => false,
    };
    if glued {
        start += 1;
    }
    let initial = bare(&letters[..start]);
    if !INITIALS.contains(&initial.as_str()) {
        return None;
    }
    let end = start + letters[start..].iter().take_while(|l| is_vowel(l.bare)).count();
    if !NUCLEI.contains(&bare(&letters[start..end]).as_str()) {
        return None;
    }
    let coda = bare(&letters[end..]);
    if !FINALS.contains(&coda.as_str()) {
        return None;
    }
    Some(Parts { nucleus: start..end, initial, has_final: !coda.is_empty() })
}

/// Where the tone goes, as an index into the nucleus (see the module doc).
fn tone_position(nucleus: &[Letter], has_final: bool) -> usize {
    if let Some(i) = nucleus.iter().rposition(|l| SHAPED.contains(&l.bare)) {
        return i;
    }
    if has_final {
        return nucleus.len() - 1;
    }
    match nucleus.len() {
        3 => 1,
        _ => 0,
    }
}

/// The canonical spelling of one word, or `None` when it is canonical already or
/// is not a Vietnamese syllable. Case is kept letter by letter. This is the one
/// function both analysers apply to every token (see the module doc).
pub fn canonical_word(word: &str) -> Option<String> {
    let mut letters = [Letter { bare: 'a', tone: 0, upper: false }; MAX_LETTERS];
    let mut n = 0;
    for c in word.chars() {
        if n == MAX_LETTERS {
            return None;
        }
        letters[n] = letter(c)?;
        n += 1;
    }
    let letters = &mut letters[..n];
    let parts = parse(letters)?;
    let mut toned = letters.iter().filter(|l| l.tone > 0);
    let tone = toned.next().map_or(0, |l| l.tone);
    if toned.next().is_some() {
        return None;
    }
    let nucleus = parts.nucleus.clone();
    if nucleus.len() == 1 && !parts.has_final && I_Y_INITIALS.contains(&parts.initial.as_str()) {
        let l = &mut letters[nucleus.start];
        if l.bare == 'y' {
            l.bare = 'i';
        }
    }
    let at = nucleus.start + tone_position(&letters[nucleus.clone()], parts.has_final);
    for (i, l) in letters.iter_mut().enumerate() {
        l.tone = if i == at { tone } else { 0 };
    }
    let out: String = letters.iter().map(|&l| spell(l)).collect();
    (out != word).then_some(out)
}

/// NFC, then [`canonical_word`] on every word; everything between words, and
/// every word that is not a Vietnamese syllable, is left as it was.
pub fn canonical(text: &str) -> String {
    let nfc: String = text.nfc().collect();
    let mut out = String::with_capacity(nfc.len());
    let mut word = String::new();
    for c in nfc.chars() {
        if c.is_alphanumeric() {
            word.push(c);
            continue;
        }
        flush(&mut word, &mut out);
        out.push(c);
    }
    flush(&mut word, &mut out);
    out
}

fn flush(word: &mut String, out: &mut String) {
    match canonical_word(word) {
        Some(w) => out.push_str(&w),
        None => out.push_str(word),
    }
    word.clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(w: &str) -> String {
        canonical_word(w).unwrap_or_else(|| w.to_string())
    }

    #[test]
    fn both_placements_of_open_oa_oe_uy_meet() {
        for (old, new) in [("hòa", "hoà"), ("khỏe", "khoẻ"), ("thủy", "thuỷ"), ("Ủy", "Uỷ")] {
            assert_eq!(c(new), old);
            assert_eq!(c(old), old);
        }
    }

    #[test]
    fn misplaced_marks_move_to_the_main_vowel() {
        for (bad, good) in [("lựơng", "lượng"), ("nghịêm", "nghiệm"), ("baỏ", "bảo")] {
            assert_eq!(c(bad), good);
        }
        assert_eq!(c("hòang"), "hoàng");
        assert_eq!(c("qúa"), "quá");
        assert_eq!(c("gìa"), "già");
    }

    #[test]
    fn glides_and_other_words_stay() {
        assert_eq!(c("tuy"), "tuy");
        assert_eq!(c("tui"), "tui");
        assert_eq!(c("túi"), "túi");
        for w in ["email", "covid19", "hóa", "gìn", "xyz", "ngoằn", "đảng"] {
            assert_eq!(canonical_word(w), None, "{w}");
        }
    }
}
