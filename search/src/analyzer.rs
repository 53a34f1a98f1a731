//! The two analysers, registered on every opened index under the names the
//! schema's fields use (so that the query parser applies them too: tantivy#2290).
//!
//! Both lowercase and then spell every word canonically ([`crate::vietnamese`]):
//! `hoà`/`hòa`, `thuỷ`/`thủy`, `kĩ`/`kỹ` become one term in either field. The
//! folded one also strips every diacritic. Each has a twin that indexes pairs of
//! neighbouring words, so that a phrase is looked up as terms rather than by
//! comparing the positions of common words. They change terms only: the stored
//! text, and so every snippet, keeps the spelling that was transcribed.

use crate::vietnamese::canonical_word;
use tantivy::tokenizer::{
    AsciiFoldingFilter, LowerCaser, RemoveLongFilter, SimpleTokenizer, TextAnalyzer, Token, TokenFilter, TokenStream,
    Tokenizer,
};
use unicode_normalization::UnicodeNormalization;

pub const EXACT: &str = "vi_exact";
pub const FOLDED: &str = "vi_folded";
/// The same words, as pairs of neighbours (`hòa bình`): the terms of phrases.
pub const PAIRS_EXACT: &str = "vi_pairs_exact";
pub const PAIRS_FOLDED: &str = "vi_pairs_folded";
/// Joins the two words of a pair; no token holds one.
pub const PAIR_JOINER: char = ' ';

/// Longer tokens are noise (URLs, hashes, a stuck key) and would bloat the terms.
const LONGEST_TOKEN: usize = 40;

pub fn register(index: &tantivy::Index) {
    let exact = || {
        TextAnalyzer::builder(SimpleTokenizer::default())
            .filter(RemoveLongFilter::limit(LONGEST_TOKEN))
            .filter(LowerCaser)
            .filter(Canonical)
    };
    let folded = || exact().filter(AsciiFoldingFilter);
    let tokenizers = index.tokenizers();
    tokenizers.register(EXACT, exact().build());
    tokenizers.register(FOLDED, folded().build());
    tokenizers.register(PAIRS_EXACT, exact().filter(Pairs).build());
    tokenizers.register(PAIRS_FOLDED, folded().filter(Pairs).build());
}

/// NFC. Both indexed text and queries go through it: the tokenizer splits words on
/// anything not alphanumeric, and NFD's combining marks are not, so `đảng` typed on
/// a keyboard that sends NFD would otherwise become three tokens.
pub fn normalize(text: &str) -> String {
    text.nfc().collect()
}

/// Spells each token canonically ([`canonical_word`]); offsets and positions
/// stay, so phrases and highlighting work on the original text.
#[derive(Clone)]
struct Canonical;

impl TokenFilter for Canonical {
    type Tokenizer<T: Tokenizer> = CanonicalFilter<T>;

    fn transform<T: Tokenizer>(self, tokenizer: T) -> CanonicalFilter<T> {
        CanonicalFilter(tokenizer)
    }
}

#[derive(Clone)]
struct CanonicalFilter<T>(T);

impl<T: Tokenizer> Tokenizer for CanonicalFilter<T> {
    type TokenStream<'a> = CanonicalStream<T::TokenStream<'a>>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        CanonicalStream(self.0.token_stream(text))
    }
}

struct CanonicalStream<S>(S);

impl<S: TokenStream> TokenStream for CanonicalStream<S> {
    fn advance(&mut self) -> bool {
        if !self.0.advance() {
            return false;
        }
        if let Some(word) = canonical_word(&self.0.token().text) {
            self.0.token_mut().text = word;
        }
        true
    }

    fn token(&self) -> &Token {
        self.0.token()
    }

    fn token_mut(&mut self) -> &mut Token {
        self.0.token_mut()
    }
}

/// Each word joined to the next (`a b c` → `a b`, `b c`), at the first word's
/// position, so that a phrase of n words is n − 1 consecutive pairs. Words that a
/// filter dropped between two others leave a gap in positions: no pair spans it.
#[derive(Clone)]
struct Pairs;

impl TokenFilter for Pairs {
    type Tokenizer<T: Tokenizer> = PairsFilter<T>;

    fn transform<T: Tokenizer>(self, tokenizer: T) -> PairsFilter<T> {
        PairsFilter(tokenizer)
    }
}

#[derive(Clone)]
struct PairsFilter<T>(T);

impl<T: Tokenizer> Tokenizer for PairsFilter<T> {
    type TokenStream<'a> = PairsStream<T::TokenStream<'a>>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        PairsStream { words: self.0.token_stream(text), previous: None, pair: Token::default() }
    }
}

struct PairsStream<S> {
    words: S,
    previous: Option<Token>,
    pair: Token,
}

impl<S: TokenStream> TokenStream for PairsStream<S> {
    fn advance(&mut self) -> bool {
        while self.words.advance() {
            let word = self.words.token().clone();
            let Some(previous) = self.previous.replace(word) else {
                continue;
            };
            let Some(word) = &self.previous else { continue };
            if word.position != previous.position + 1 {
                continue;
            }
            self.pair.text.clear();
            self.pair.text.push_str(&previous.text);
            self.pair.text.push(PAIR_JOINER);
            self.pair.text.push_str(&word.text);
            self.pair.position = previous.position;
            self.pair.offset_from = previous.offset_from;
            self.pair.offset_to = word.offset_to;
            self.pair.position_length = 1;
            return true;
        }
        false
    }

    fn token(&self) -> &Token {
        &self.pair
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.pair
    }
}

/// The folded form of `text`, as the `text_folded` field sees it (for callers that
/// show or compare folded text).
pub fn fold(text: &str) -> String {
    let index = tantivy::Index::create_in_ram(tantivy::schema::Schema::builder().build());
    register(&index);
    let mut analyzer = index.tokenizers().get(FOLDED).expect("registered above");
    let normalized = normalize(text);
    let mut stream = analyzer.token_stream(&normalized);
    let mut words = Vec::new();
    while stream.advance() {
        words.push(stream.token().text.clone());
    }
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_vietnamese_letter_folds_to_ascii() {
        let lower = "aàáảãạăằắẳẵặâầấẩẫậeèéẻẽẹêềếểễệiìíỉĩịoòóỏõọôồốổỗộơờớởỡợuùúủũụưừứửữựyỳýỷỹỵđ";
        let folded = fold(lower);
        assert!(folded.is_ascii(), "{folded}");
        assert_eq!(fold(&lower.to_uppercase()), folded);
        assert_eq!(fold("Đảng đang dạng đăng"), "dang dang dang dang");
    }

    #[test]
    fn nfd_input_folds_like_nfc() {
        let nfd: String = "chuyển đổi số".nfd().collect();
        assert_ne!(nfd, "chuyển đổi số");
        assert_eq!(fold(&nfd), "chuyen doi so");
    }
}
