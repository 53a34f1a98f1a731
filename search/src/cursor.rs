//! The cursor that continues a search on its next page.
//!
//! What it is: the sort key of the last meeting a page returned (its score or
//! date, and its id, which breaks ties), how many meetings came before, and an
//! HMAC-SHA-256 (ring) over that and the search it belongs to (query text,
//! scope, filters, sort), under a key drawn when the index opened. Encoded as
//! URL-safe base64. A cursor that was altered, cut, made by another process or
//! before a restart, or replayed with another query or scope is refused with a
//! clear error; none can widen a scope, because the scope is re-applied from the
//! request, never read from the cursor.
//!
//! What it is not: a snapshot. The next page is computed on the index as it is
//! then: ordering by date is exact across changes; ordering by relevance can
//! shift if documents were added or removed in between (scores depend on the
//! whole index), and the page then starts after the cursor's score and id.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::hmac;

const VERSION: u8 = 1;
const DOMAIN: &[u8] = b"niem/search-cursor/v1\n";
const TAG_LEN: usize = 32;
/// Meeting ids are ULIDs (26 characters); anything near this is not ours.
const LONGEST_ID: usize = 200;

/// Where the last page ended.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Position {
    pub sort: u8,
    /// Meetings returned on earlier pages.
    pub seen: u32,
    /// The last meeting's score bits (relevance) or date (Unix seconds).
    pub key: i64,
    pub meeting: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CursorError {
    #[error("not a search cursor")]
    Malformed,
    #[error("the cursor belongs to another search, or to one made before the index reopened")]
    Foreign,
}

pub(crate) struct CursorKey(hmac::Key);

impl CursorKey {
    pub fn generate() -> Result<CursorKey, ring::error::Unspecified> {
        let rng = ring::rand::SystemRandom::new();
        hmac::Key::generate(hmac::HMAC_SHA256, &rng).map(CursorKey)
    }

    /// `search` identifies the query the cursor may continue.
    pub fn seal(&self, search: &[u8], at: &Position) -> String {
        let mut bytes = payload(at);
        let tag = hmac::sign(&self.0, &signed(search, &bytes));
        bytes.extend_from_slice(tag.as_ref());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    pub fn open(&self, search: &[u8], cursor: &str) -> Result<Position, CursorError> {
        let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| CursorError::Malformed)?;
        let split = bytes.len().checked_sub(TAG_LEN).ok_or(CursorError::Malformed)?;
        let (body, tag) = bytes.split_at(split);
        hmac::verify(&self.0, &signed(search, body), tag).map_err(|_| CursorError::Foreign)?;
        parse(body).ok_or(CursorError::Malformed)
    }
}

fn signed(search: &[u8], body: &[u8]) -> Vec<u8> {
    let mut data = Vec::with_capacity(DOMAIN.len() + 8 + search.len() + body.len());
    data.extend_from_slice(DOMAIN);
    data.extend_from_slice(&(search.len() as u64).to_be_bytes());
    data.extend_from_slice(search);
    data.extend_from_slice(body);
    data
}

fn payload(at: &Position) -> Vec<u8> {
    let id = at.meeting.as_bytes();
    let id = &id[..id.len().min(LONGEST_ID)];
    let mut out = Vec::with_capacity(15 + id.len());
    out.push(VERSION);
    out.push(at.sort);
    out.extend_from_slice(&at.seen.to_be_bytes());
    out.extend_from_slice(&at.key.to_be_bytes());
    out.push(id.len() as u8);
    out.extend_from_slice(id);
    out
}

fn parse(body: &[u8]) -> Option<Position> {
    let (&version, rest) = body.split_first()?;
    let (&sort, rest) = rest.split_first()?;
    let (seen, rest) = rest.split_first_chunk::<4>()?;
    let (key, rest) = rest.split_first_chunk::<8>()?;
    let (&len, id) = rest.split_first()?;
    if version != VERSION || id.len() != len as usize {
        return None;
    }
    Some(Position {
        sort,
        seen: u32::from_be_bytes(*seen),
        key: i64::from_be_bytes(*key),
        meeting: String::from_utf8(id.to_vec()).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> Position {
        Position { sort: 0, seen: 100, key: -7, meeting: "01J0MEETING".into() }
    }

    #[test]
    fn round_trips_and_refuses_anything_else() {
        let key = CursorKey::generate().unwrap();
        let cursor = key.seal(b"query a", &at());
        assert_eq!(key.open(b"query a", &cursor), Ok(at()));
        assert_eq!(key.open(b"query b", &cursor), Err(CursorError::Foreign));
        let other = CursorKey::generate().unwrap();
        assert_eq!(other.open(b"query a", &cursor), Err(CursorError::Foreign));
        // Every single-character change fails, never panics.
        let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        for i in 0..cursor.len() {
            let mut chars: Vec<char> = cursor.chars().collect();
            chars[i] = alphabet.chars().find(|&c| c != chars[i]).unwrap();
            let bad: String = chars.into_iter().collect();
            assert!(key.open(b"query a", &bad).is_err(), "{bad}");
        }
        for bad in ["", "x", "%%%", &cursor[..cursor.len() - 1], &cursor[1..]] {
            assert!(key.open(b"query a", bad).is_err(), "{bad:?}");
        }
    }
}
