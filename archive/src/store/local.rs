//! A store in a local directory: the embedded default, and what tests use.
//!
//! Durability: write a nameless file (`O_TMPFILE`), fsync it, `linkat(2)` it to its
//! name (which fails if the name exists, so objects are never overwritten), then
//! fsync the directory so the new name survives a crash.

use super::{ObjectMeta, ObjectStore, StoreError};
use crate::layout::ObjectKey;
use bytes::Bytes;
use futures::future::BoxFuture;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
}

const TMP_DIR: &str = ".tmp";

impl LocalStore {
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let root = root.into();
        std::fs::create_dir_all(root.join(TMP_DIR)).map_err(|e| StoreError::io(root.display(), e))?;
        Ok(Self { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn put_blocking(&self, key: &ObjectKey, body: &[u8]) -> Result<(), StoreError> {
        let path = self.root.join(key.as_str());
        let err = |e: std::io::Error| StoreError::io(key, e);
        let parent = path.parent().ok_or_else(|| StoreError::io(key, "no parent directory"))?;
        create_dirs_durably(&self.root, parent).map_err(err)?;
        match link_new(parent, &self.root.join(TMP_DIR), &path, body) {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(StoreError::AlreadyExists(key.clone())),
            Err(e) => Err(err(e)),
            Ok(()) => sync_dir(parent).map_err(err),
        }
    }

    fn list_blocking(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError> {
        let mut out = Vec::new();
        // Walk only the top-level directory the prefix names, not the whole store.
        let top = prefix.split('/').next().unwrap_or("");
        let start = if top.is_empty() || !prefix.contains('/') { self.root.clone() } else { self.root.join(top) };
        walk(&self.root, &start, &mut out).map_err(|e| StoreError::io(prefix, e))?;
        out.retain(|m| m.key.starts_with(prefix));
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<ObjectMeta>) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    // An object deleted while the walk passes (a shred running beside it) is
    // simply not listed: a listing is a snapshot that may miss what vanishes.
    let gone = |e: &std::io::Error| e.kind() == std::io::ErrorKind::NotFound;
    for entry in entries {
        let entry = match entry {
            Ok(e) => e,
            Err(e) if gone(&e) => continue,
            Err(e) => return Err(e),
        };
        let path = entry.path();
        let ty = match entry.file_type() {
            Ok(t) => t,
            Err(e) if gone(&e) => continue,
            Err(e) => return Err(e),
        };
        if ty.is_dir() {
            if dir == root && entry.file_name() == TMP_DIR {
                continue;
            }
            walk(root, &path, out)?;
        } else if let Ok(rel) = path.strip_prefix(root) {
            let size = match entry.metadata() {
                Ok(m) => m.len(),
                Err(e) if gone(&e) => continue,
                Err(e) => return Err(e),
            };
            // Keys always use '/', and a name that is not UTF-8 is still reported.
            let key = rel.to_string_lossy().replace(std::path::MAIN_SEPARATOR, "/");
            out.push(ObjectMeta { key, size });
        }
    }
    Ok(())
}

/// Creates `dir` and any missing parents under `root`, fsyncing each parent so the
/// new directory entries are durable before an object is linked into them.
fn create_dirs_durably(root: &Path, dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        if parent != root {
            create_dirs_durably(root, parent)?;
        }
        match std::fs::create_dir(dir) {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(e),
            _ => {}
        }
        sync_dir(parent)?;
    }
    Ok(())
}

/// Writes `body` to a new file, fsyncs it, and gives it the name `path` only if that
/// name is free. On Linux the file is born nameless (`O_TMPFILE`) and named with
/// `linkat`, so there is no temporary name to clean up and no inode churn; elsewhere
/// (or on filesystems without `O_TMPFILE`) a temporary name in `tmp` is linked and
/// removed.
fn link_new(dir: &Path, tmp: &Path, path: &Path, body: &[u8]) -> std::io::Result<()> {
    // Only Linux names the file from the directory (O_TMPFILE).
    #[cfg(not(target_os = "linux"))]
    let _ = dir;
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::ffi::OsStrExt;
        use std::os::unix::fs::OpenOptionsExt;
        use std::os::unix::io::AsRawFd;
        match std::fs::OpenOptions::new().write(true).custom_flags(libc::O_TMPFILE).mode(0o640).open(dir) {
            Ok(mut f) => {
                super::direct::write_all(&mut f, body)?;
                f.sync_all()?;
                let from = std::ffi::CString::new(format!("/proc/self/fd/{}", f.as_raw_fd()))?;
                let to = std::ffi::CString::new(path.as_os_str().as_bytes())?;
                // SAFETY: both are valid NUL-terminated paths; AT_SYMLINK_FOLLOW resolves
                // the /proc link to the open file, which linkat gives its first name.
                let r = unsafe {
                    libc::linkat(libc::AT_FDCWD, from.as_ptr(), libc::AT_FDCWD, to.as_ptr(), libc::AT_SYMLINK_FOLLOW)
                };
                return if r == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) };
            }
            Err(e) if matches!(e.raw_os_error(), Some(libc::EOPNOTSUPP) | Some(libc::EISDIR) | Some(libc::EINVAL)) => {}
            Err(e) => return Err(e),
        }
    }
    let tmp = tmp.join(ulid::Ulid::new().to_string());
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).open(&tmp)?;
    let result = f.write_all(body).and_then(|_| f.sync_all()).and_then(|_| std::fs::hard_link(&tmp, path));
    let _ = std::fs::remove_file(&tmp);
    result
}

use crate::sync_dir;

/// Reads a whole object: large ones directly (`direct`), bypassing the cache.
fn read(path: &Path) -> std::io::Result<Vec<u8>> {
    #[cfg(target_os = "linux")]
    {
        let (mut f, len, direct) = super::direct::open(path)?;
        super::direct::read_all(&mut f, len, direct)
    }
    #[cfg(not(target_os = "linux"))]
    std::fs::read(path)
}

/// Feeds an object to `hash` block by block: large ones read directly in
/// 4 MiB blocks, small ones through one 256 KiB buffer.
fn hash_file(path: &Path, hash: &mut dyn FnMut(&[u8]) -> std::io::Result<()>) -> std::io::Result<()> {
    use std::io::Read;
    #[cfg(target_os = "linux")]
    let (mut file, direct) = {
        let (f, _, direct) = super::direct::open(path)?;
        (f, direct)
    };
    #[cfg(target_os = "linux")]
    if direct {
        return super::direct::each_block(&mut file, hash);
    }
    #[cfg(not(target_os = "linux"))]
    let mut file = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        hash(&buf[..n])?;
    }
}

/// Objects are read only by key strings that came from a listing or from
/// [`ObjectKey`]; anything that could climb out of the root is refused.
fn safe_path(root: &Path, key: &str) -> Result<PathBuf, StoreError> {
    if key.is_empty() || key.split('/').any(|p| p.is_empty() || p == "." || p == "..") || key.contains('\0') {
        return Err(StoreError::NotFound(key.to_string()));
    }
    Ok(root.join(key))
}

impl ObjectStore for LocalStore {
    fn describe(&self) -> String {
        self.root.display().to_string()
    }

    fn put_new<'a>(&'a self, key: &'a ObjectKey, body: Bytes) -> BoxFuture<'a, Result<(), StoreError>> {
        let this = self.clone();
        let key = key.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || this.put_blocking(&key, &body))
                .await
                .map_err(|e| StoreError::io("put", e))?
        })
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Bytes, StoreError>> {
        Box::pin(async move {
            let path = safe_path(&self.root, key)?;
            let key = key.to_string();
            tokio::task::spawn_blocking(move || match read(&path) {
                Ok(b) => Ok(Bytes::from(b)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(StoreError::NotFound(key)),
                Err(e) => Err(StoreError::io(key, e)),
            })
            .await
            .map_err(|e| StoreError::io("get", e))?
        })
    }

    /// Reads through one 256 KiB buffer, hashing each block while it is in cache.
    fn digest<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(String, u64), StoreError>> {
        Box::pin(async move {
            let path = safe_path(&self.root, key)?;
            let key = key.to_string();
            tokio::task::spawn_blocking(move || {
                let io = |e: std::io::Error| match e.kind() {
                    std::io::ErrorKind::NotFound => StoreError::NotFound(key.clone()),
                    _ => StoreError::io(key.clone(), e),
                };
                let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
                let mut len = 0u64;
                let mut hash = |block: &[u8]| {
                    ctx.update(block);
                    len += block.len() as u64;
                    Ok(())
                };
                hash_file(&path, &mut hash).map_err(io)?;
                Ok((hex::encode(ctx.finish()), len))
            })
            .await
            .map_err(|e| StoreError::io("digest", e))?
        })
    }

    fn list<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Vec<ObjectMeta>, StoreError>> {
        let this = self.clone();
        let prefix = prefix.to_string();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || this.list_blocking(&prefix))
                .await
                .map_err(|e| StoreError::io("list", e))?
        })
    }

    fn delete<'a>(&'a self, key: &'a ObjectKey) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let path = self.root.join(key.as_str());
            match tokio::fs::remove_file(&path).await {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(StoreError::io(key, e)),
            }
        })
    }
}
