//! Niêm search: the tantivy index of meeting transcripts.
//!
//! What it is: a schema with two views of the same words — `text_exact` (NFC,
//! lowercase, diacritics kept) and `text_folded` (also ASCII-folded, so `đảng`,
//! `đang`, `dạng` and `đăng` all become `dang`) — queried together with exact
//! matches boosted above folded ones; one document per *window* of a transcript
//! (a few segments, 15–30 s, overlapping by one segment) so that a phrase spoken
//! across a segment boundary still matches; org scoping as a facet filter inside
//! the query; results grouped by meeting with a highlighted snippet and the moment
//! of the first match.
//!
//! What it is not: a source of truth. Every document is derived from a sealed
//! transcript and the index can be deleted and rebuilt from the archive at any time.
//! It knows nothing of users or roles: the caller turns a user's scopes into a
//! [`Scope`] and the index puts it in the query, never filtering results afterwards.

mod analyzer;
mod index;
mod window;

pub use analyzer::{fold, normalize};
pub use index::{Hit, Index, MeetingHits, Query, Results, Scope, SearchError};
pub use window::{windows, Recording, Segment, Window};
