//! What the service reads about itself: the figures `/metrics` shows, and KEK
//! retirements.

use super::Result;

/// What the catalog knows, read at scrape time.
#[derive(Debug, Default)]
pub struct Figures {
    pub ingested: i64,
    pub chunks: i64,
    pub queue: i64,
    /// (started_at, finished_at, total_ms) of the newest finished transcription.
    pub last_transcription: Option<(String, String, i64)>,
    pub head: Option<i64>,
    pub checkpoint_ts: Option<String>,
    pub checkpointed: i64,
    pub retired: Option<String>,
}

pub trait Service {
    fn figures(&self) -> Result<Figures>;
    /// The KEK retirements so far, oldest first, as JSON for the keys page.
    fn retirements(&self) -> Result<Vec<serde_json::Value>>;
    /// The newest finished retirement's time.
    fn last_retirement(&self) -> Result<Option<String>>;
    /// Whether any ledger entry names KEK `kek`.
    fn kek_ledgered(&self, kek: &str) -> Result<bool>;
    /// The time of the ledger's first entry; an error before there is one.
    fn first_entry_ts(&self) -> Result<String>;
}
