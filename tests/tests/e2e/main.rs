//! The end-to-end tests: one test binary, one module per area, all driving real
//! `niem` and `niem-audit` processes through the harness in `tests/src/`.
//!
//! One binary rather than one per file (as Garage and ripgrep do): the harness
//! and its dependencies (the S3 SDK above all) are linked once instead of once per
//! file, and the tests share one SeaweedFS (`SeaweedFs::shared`) for the whole run.
//! A test that stops or restarts SeaweedFS takes its own (`SeaweedFs::own`).
//! Every test here runs beside the others in one process, so none may change
//! process-wide state (environment variables, the working directory, signal
//! handlers): settings go to the child's environment (`Server::start`,
//! `Server::set_env`). Select an area with its module path, e.g.
//! `cargo test -p niem-tests --test e2e deploy::`.
//!
//! Not here: the unit and property tests of each crate, and the tests of `media`,
//! `search` and `archive` against their own APIs, which stay with those crates.

#![allow(clippy::unwrap_used)] // tests and benches may: a panic is their failure report

mod access;
mod alerts;
mod attendance;
mod bad_input;
mod browser;
mod browser_record;
mod browser_report;
mod browser_search;
mod bundle;
mod catalog_move;
mod cluster;
mod costs;
mod deploy;
mod documents;
mod evaluation;
mod layers;
mod leaks;
mod lifecycle;
mod live;
mod metrics;
mod minutes;
mod paging;
mod plaintext;
mod province;
mod record;
mod restore;
mod resumable;
mod retention;
mod roster;
mod search_index;
mod store;
mod tamper;
mod tls;
mod transcribe;
mod trust;
mod unseal;
mod upgrade;
mod web;
mod witness;
mod workers;
