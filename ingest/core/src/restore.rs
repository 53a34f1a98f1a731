//! `niem restore`: the service's catalog rebuilt from the object store and the
//! keys alone. The replay writes the catalog's tables entry by entry, so it is
//! the engine's: [`crate::catalog::sqlite::restore`].

pub use crate::catalog::sqlite::restore::{run, RestoreArgs};
