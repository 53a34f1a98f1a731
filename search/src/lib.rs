//! Niêm search: the tantivy index of meeting transcripts.
//!
//! What it is: a schema with two views of the same words — `text_exact` (NFC,
//! lowercase, diacritics kept, one spelling per syllable) and `text_folded` (also
//! ASCII-folded, so `đảng`, `đang`, `dạng` and `đăng` all become `dang`) — queried
//! together with exact matches boosted above folded ones; Vietnamese spelling
//! variants (`hoà`/`hòa`, `kĩ`/`kỹ`) folded to one form in both
//! ([`vietnamese`]); twin fields of neighbouring word pairs, so that a quoted
//! phrase is a lookup of rare terms; one document per *window* of a transcript
//! (a few segments, 15–30 s, overlapping by one segment) so that a phrase spoken
//! across a segment boundary still matches; org scoping as a facet filter inside the query; every
//! matching meeting counted and paged, by relevance or date, with a highlighted
//! snippet and the moment of each hit; on disk, an index whose every file is
//! sealed with AES-256-GCM through a [`IndexCipher`] the service provides
//! ([`EncryptedDirectory`]).
//!
//! What it is not: a source of truth. Every document is derived from a sealed
//! transcript and the index can be deleted and rebuilt from the archive at any time.
//! It knows nothing of users or roles: the caller turns a user's scopes into a
//! [`Scope`] and the index puts it in the query, never filtering results afterwards.
//! It holds no key: the cipher does.

mod analyzer;
mod cache;
mod cipher;
mod cursor;
mod directory;
mod grouping;
mod index;
mod query;
mod runs;
pub mod vietnamese;
mod window;

pub use analyzer::{fold, normalize};
pub use cache::{CacheStats, PieceCache, DEFAULT_CACHE_BYTES};
pub use cipher::{CipherError, FileKey, IndexCipher, TAG_LEN};
pub use cursor::CursorError;
pub use directory::{EncryptedDirectory, Fault, DEFAULT_PIECE_BYTES, MAGIC};
pub use index::{default_search_threads, reencrypt, Index, Options, SearchError, SCHEMA_VERSION};
pub use query::{Hit, MeetingHits, Query, Results, Scope, Sort, Total, HITS_PER_MEETING, MAX_LIMIT, TOTAL_BOUND};
pub use vietnamese::canonical;
pub use window::{windows, Recording, Segment, Window};
