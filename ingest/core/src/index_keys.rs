//! The search index's cipher over the archive's keys ([`search::IndexCipher`]).
//!
//! Every index file gets a fresh data key and a fresh 7-byte nonce prefix; the
//! key is wrapped by the current KEK like a stream's DEK, bound to the file's
//! name and the prefix (`niem/index-key/v1|niem/index/v1|<name>|<prefix>`). Its
//! pieces are sealed in the archive's chunk format ([`archive::chunk::LabelledKey`]):
//! nonce = prefix ‖ piece index ‖ last flag, AAD = `niem/index/v1|<name>|<i>`.
//! The header the directory stores in clear in front of the file is JSON: the
//! wrapped key (KEK id, nonce, sealed bytes) and the prefix; no secret in clear.
//!
//! The ring is read at every call, so files written after a KEK rotation are
//! wrapped by the new KEK, and [`search::IndexCipher::generation`] tells which KEK
//! each file still needs (a retirement rebuilds the index before destroying one).

use archive::chunk::{LabelledKey, PREFIX_LEN};
use archive::keys::{Dek, KeyError, Keys, WrappedDek};
use ring::rand::{SecureRandom, SystemRandom};
use search::{CipherError, FileKey, IndexCipher};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The AAD label of every piece of index file `name`.
fn label(name: &str) -> String {
    format!("niem/index/v1|{name}")
}

/// What the directory stores in clear in front of an index file.
#[derive(Serialize, Deserialize)]
struct Header {
    #[serde(flatten)]
    wrapped: WrappedDek,
    /// The pieces' nonce prefix, hex.
    prefix: String,
}

/// Seals index files with data keys wrapped by the vault's KEKs.
pub struct ArchiveIndexCipher {
    keys: Arc<Keys>,
}

impl ArchiveIndexCipher {
    pub fn new(keys: Arc<Keys>) -> ArchiveIndexCipher {
        ArchiveIndexCipher { keys }
    }
}

struct Piece(LabelledKey);

impl FileKey for Piece {
    fn seal(&self, index: u32, last: bool, buf: &mut Vec<u8>) -> Result<(), CipherError> {
        self.0.seal(index, last, buf).map_err(|_| CipherError::Unavailable("a piece could not be sealed".into()))
    }
    fn open(&self, index: u32, last: bool, buf: &mut Vec<u8>) -> Result<(), CipherError> {
        self.0.open(index, last, buf).map_err(|_| CipherError::Authentication)
    }
}

fn parse(header: &[u8]) -> Result<(Header, [u8; PREFIX_LEN]), CipherError> {
    let h: Header = serde_json::from_slice(header).map_err(|_| CipherError::Authentication)?;
    let prefix: [u8; PREFIX_LEN] =
        hex::decode(&h.prefix).ok().and_then(|p| p.try_into().ok()).ok_or(CipherError::Authentication)?;
    Ok((h, prefix))
}

impl IndexCipher for ArchiveIndexCipher {
    fn new_file(&self, name: &str) -> Result<(Box<dyn FileKey>, Vec<u8>), CipherError> {
        let unavailable = |e: KeyError| CipherError::Unavailable(e.to_string());
        let dek = Dek::generate().map_err(unavailable)?;
        let mut prefix = [0u8; PREFIX_LEN];
        SystemRandom::new().fill(&mut prefix).map_err(|_| CipherError::Unavailable("no randomness".into()))?;
        let prefix_hex = hex::encode(prefix);
        let wrapped =
            self.keys.ring().wrap_index_key(&dek, &format!("{}|{prefix_hex}", label(name))).map_err(unavailable)?;
        let header = serde_json::to_vec(&Header { wrapped, prefix: prefix_hex })
            .map_err(|e| CipherError::Unavailable(e.to_string()))?;
        Ok((Box::new(Piece(LabelledKey::new(&dek, prefix, label(name)))), header))
    }

    fn open_file(&self, name: &str, header: &[u8]) -> Result<Box<dyn FileKey>, CipherError> {
        let (h, prefix) = parse(header)?;
        let ring = self.keys.ring();
        if !ring.has(&h.wrapped.kek) {
            return Err(CipherError::Unavailable(format!("KEK {:?} is not in the keyring", h.wrapped.kek)));
        }
        let dek = ring
            .unwrap_index_key(&h.wrapped, &format!("{}|{}", label(name), h.prefix))
            .map_err(|_| CipherError::Authentication)?;
        Ok(Box::new(Piece(LabelledKey::new(&dek, prefix, label(name)))))
    }

    fn generation(&self, header: &[u8]) -> Result<String, CipherError> {
        Ok(parse(header)?.0.wrapped.kek)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use archive::keys::KeyDir;

    fn cipher(dir: &std::path::Path) -> ArchiveIndexCipher {
        ArchiveIndexCipher::new(Arc::new(KeyDir::new(dir.join("keys")).init("niem.test/ledger").unwrap()))
    }

    fn sealed(c: &ArchiveIndexCipher, name: &str) -> (Vec<u8>, Vec<u8>) {
        let (key, header) = c.new_file(name).unwrap();
        let mut buf = "biên bản họp chi bộ".as_bytes().to_vec();
        key.seal(3, true, &mut buf).unwrap();
        (header, buf)
    }

    #[test]
    fn a_piece_opens_under_its_name_index_and_flag_only() {
        let dir = tempfile::tempdir().unwrap();
        let c = cipher(dir.path());
        let (header, piece) = sealed(&c, "abc.idx");
        let key = c.open_file("abc.idx", &header).unwrap();
        let mut buf = piece.clone();
        key.open(3, true, &mut buf).unwrap();
        assert_eq!(buf, "biên bản họp chi bộ".as_bytes());
        for (i, last) in [(2, true), (3, false)] {
            let mut b = piece.clone();
            assert_eq!(key.open(i, last, &mut b), Err(CipherError::Authentication), "piece {i} last {last}");
        }
        // Renamed: the wrapped key is bound to the name, and so is every piece.
        assert!(c.open_file("abd.idx", &header).is_err(), "a renamed file does not open");
        let (other, _) = c.new_file("abd.idx").unwrap();
        let mut b = piece.clone();
        assert!(other.open(3, true, &mut b).is_err(), "another file's key opens nothing");
    }

    #[test]
    fn a_flipped_byte_fails() {
        let dir = tempfile::tempdir().unwrap();
        let c = cipher(dir.path());
        let (header, piece) = sealed(&c, "meta.json");
        let key = c.open_file("meta.json", &header).unwrap();
        for at in [0, piece.len() / 2, piece.len() - 1] {
            let mut b = piece.clone();
            b[at] ^= 1;
            assert_eq!(key.open(3, true, &mut b), Err(CipherError::Authentication), "byte {at}");
        }
        // A changed prefix in the header fails to unwrap (it is bound to the key).
        let mut h: serde_json::Value = serde_json::from_slice(&header).unwrap();
        let p = h["prefix"].as_str().unwrap().to_string();
        let flipped = format!("{}{}", if p.starts_with('0') { "1" } else { "0" }, &p[1..]);
        h["prefix"] = flipped.into();
        assert!(c.open_file("meta.json", &serde_json::to_vec(&h).unwrap()).is_err());
        let mut bad = header.clone();
        let n = bad.len();
        bad[n / 2] ^= 1;
        assert!(c.open_file("meta.json", &bad).is_err(), "a flipped header byte fails");
    }

    #[test]
    fn the_header_names_the_kek_and_holds_no_secret() {
        let dir = tempfile::tempdir().unwrap();
        let c = cipher(dir.path());
        let (header, _) = sealed(&c, "x.pos");
        let kek = c.keys.ring().current_id().to_string();
        assert_eq!(c.generation(&header).unwrap(), kek);
        let h: serde_json::Value = serde_json::from_slice(&header).unwrap();
        assert_eq!(h["kek"], kek.as_str());
        let keys: Vec<&str> = h.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        assert_eq!(keys.len(), 5, "format, kek, nonce, sealed, prefix: {keys:?}");
        assert_eq!(h["format"], "niem/dek/v1");
        // Two files of one name get different keys and prefixes.
        let (again, _) = sealed(&c, "x.pos");
        assert_ne!(header, again);
    }

    #[test]
    fn an_index_round_trips_through_the_encrypted_directory() {
        let dir = tempfile::tempdir().unwrap();
        let c: Arc<dyn IndexCipher> = Arc::new(cipher(dir.path()));
        let at = dir.path().join("index");
        let rec = search::Recording {
            recording: "r1".into(),
            meeting: "m1".into(),
            org_path: "/a/b".into(),
            kind: "regular".into(),
            date: time::OffsetDateTime::UNIX_EPOCH,
            segments: vec![search::Segment {
                stream: "s".into(),
                label: "A".into(),
                start_ms: 0,
                end_ms: 5000,
                text: "bồi thường đất đai".into(),
            }],
        };
        {
            let index = search::Index::open(&at, c.clone(), &search::Options::default()).unwrap();
            index.put(&rec).unwrap();
        }
        let index = search::Index::open(&at, c, &search::Options::default()).unwrap();
        assert!(index.contains("r1").unwrap());
        let q = search::Query { text: "bồi thường".into(), scope: search::Scope::All, ..Default::default() };
        assert_eq!(index.search(&q).unwrap().meetings.len(), 1);
        for entry in std::fs::read_dir(&at).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            let text = String::from_utf8_lossy(&bytes);
            assert!(!text.contains("thường") && !text.contains("thuong"), "no word in clear");
        }
    }
}
