//! The PostgreSQL engine's connections: a small pool for one node, and the
//! move off the async runtime that the synchronous driver needs.

use super::CatalogError;
use std::sync::{Condvar, Mutex};

/// Runs `f`, which blocks on PostgreSQL's synchronous driver: moved off the
/// runtime's worker if called on one (start-up and the command line call the
/// catalog from async code), as is on any other thread.
pub(super) fn on_blocking_thread<R>(f: impl FnOnce() -> R) -> R {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// PostgreSQL connections, opened as needed up to a limit and reused. Calls
/// run on blocking threads, so a caller waiting for a connection waits there.
pub(super) struct Pool {
    url: String,
    max: usize,
    idle: Mutex<Vec<::postgres::Client>>,
    open: Mutex<usize>,
    freed: Condvar,
}

impl Drop for Pool {
    /// Closing a connection blocks on the driver's own runtime, which cannot
    /// run on a thread that drives another (the last handle dropped in async
    /// code): the connections close on a thread of their own.
    fn drop(&mut self) {
        let idle = std::mem::take(&mut *self.idle.lock().unwrap_or_else(|e| e.into_inner()));
        if !idle.is_empty() {
            let _ = std::thread::spawn(move || drop(idle)).join();
        }
    }
}

impl Pool {
    pub(super) fn new(url: &str, max: usize) -> Pool {
        Pool {
            url: url.to_string(),
            max: max.max(1),
            idle: Mutex::default(),
            open: Mutex::new(0),
            freed: Condvar::new(),
        }
    }

    pub(super) fn take(&self) -> Result<::postgres::Client, CatalogError> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(c) = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop() {
                if !c.is_closed() {
                    return Ok(c);
                }
                *open -= 1;
                continue;
            }
            if *open < self.max {
                *open += 1;
                drop(open);
                return ::postgres::Client::connect(&self.url, ::postgres::NoTls).map_err(|e| {
                    *self.open.lock().unwrap_or_else(|e| e.into_inner()) -= 1;
                    self.freed.notify_one();
                    CatalogError::Postgres(e)
                });
            }
            open = self.freed.wait(open).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// A connection back for reuse, or closed if a call left it broken.
    pub(super) fn give(&self, c: ::postgres::Client) {
        if c.is_closed() {
            *self.open.lock().unwrap_or_else(|e| e.into_inner()) -= 1;
        } else {
            self.idle.lock().unwrap_or_else(|e| e.into_inner()).push(c);
        }
        self.freed.notify_one();
    }
}
