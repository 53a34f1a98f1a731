//! The Niêm service core: the domain rules, the one commit path, and the
//! workers, with no HTTP in them.
//!
//! What it is: every rule of the service (who may do what, in which scope;
//! four-eyes; retention and holds; what a meeting, a recording, an upload, a live
//! stream, a transcript is) as functions that take a [`principal::Principal`]
//! and typed inputs, read and write the catalog only through its interface
//! ([`catalog`]), change state only through the vault's one commit path
//! (`archive::vault::Vault::commit_as`, which [`catalog::commit`] wraps: a state
//! change and its ledger entry in one transaction, on the vault's clock), and
//! answer with a [`error::DomainError`].
//! The background workers (live drain, transcription, indexing, retention,
//! alerts, verification, KEK retirement) live here too.
//!
//! What it is not: a transport. It knows no HTTP, HTML, RTMP framing or command
//! line; the `niem` binary's adapters (the API, the web UI, the CLI, the RTMP
//! server, HTTP push) call it and never each other. A test keeps axum and maud
//! out of this crate.
//!
//! - [`app`]: the shared state of a running service and its start;
//! - [`catalog`]: the domain's catalog interface (a trait per aggregate, the
//!   entry points `read`, `with`, `commit`, `in_tx`) and, under
//!   `catalog::sqlite`, the SQLite engine: every SQL statement, the migrations
//!   and `niem restore`'s replay;
//! - [`config`]: the one typed configuration;
//! - [`error`]: the domain's error kinds; [`local_time`]: Vietnam's local time;
//! - [`principal`]: who is calling and what they may see; [`users`]: users,
//!   tokens and sign-in as callers manage them; [`accounts`]: the rules on the
//!   data whoever asks (unique names, hashed secrets); [`admins`]: four-eyes
//!   over who is an admin;
//! - [`orgs`]: orgs and meetings (and the scope doors of a meeting or a
//!   recording); [`endpoints`]: bridge points and stream keys;
//! - [`recordings`]: recordings, sealing, verification; [`uploads`]: an upload's
//!   path from bytes to sealed chunks; [`resumable`]: resumable (tus) uploads;
//!   [`playback`]: reading media back; [`live`]: live streams; [`bundles`]:
//!   evidence bundles with the decrypted media, ledgered; [`documents`]: the
//!   meeting record's documents before the meeting and members' links to them;
//!   [`attendance`]: attendance sheets (sealed versions) and absence requests;
//!   [`minutes`]: the signed minutes and their editable draft; [`evaluation`]:
//!   the bloc's evaluation of a meeting (sealed versions);
//! - [`transcript`]: the transcript document; [`transcription`]: the worker;
//!   [`transcripts`]: transcripts and their queue as callers read them;
//!   [`jobs`]: the job queue; [`search`]: the index worker and the one search;
//!   [`index_keys`]: the search index's cipher over the archive's keys;
//! - [`retention`]: policies, holds, enforcement, Object Lock; [`retirement`]:
//!   KEK retirement; [`schedules`]: schedules and missed-meeting alerts;
//!   [`reports`]: the compliance report; [`ledger`]: the ledger as people read
//!   it; [`verification`]: scheduled store
//!   verification; [`witnesses`]: each checkpoint sent to the witnesses to
//!   cosign; [`metrics`]: what `/metrics` and `/readyz` say;
//! - [`host`]: what the operator at the host may do with the service stopped;
//! - [`facts`]: sealed facts; [`restore`]: the catalog rebuilt from the store
//!   (the replay is the engine's, `catalog::sqlite::restore`);
//! - [`schema`]: the service's ids.

pub mod accounts;
pub mod admins;
pub mod app;
pub mod attendance;
pub mod bundles;
pub mod catalog;
pub mod config;
pub mod documents;
pub mod endpoints;
pub mod error;
pub mod evaluation;
pub mod facts;
pub mod host;
pub mod index_keys;
pub mod jobs;
pub mod ledger;
pub mod live;
pub mod local_time;
pub mod members;
pub mod metrics;
pub mod minutes;
pub mod orgs;
pub mod playback;
pub mod principal;
pub mod recordings;
pub mod reports;
pub mod restore;
pub mod resumable;
pub mod retention;
pub mod retirement;
pub mod schedules;
pub mod schema;
pub mod search;
pub mod transcript;
pub mod transcription;
pub mod transcripts;
pub mod uploads;
pub mod users;
pub mod verification;
pub mod versions;
pub mod witnesses;
pub mod workers;

pub use app::App;
pub use error::DomainError;
