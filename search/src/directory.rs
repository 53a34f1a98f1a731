//! A tantivy [`Directory`] whose every file is sealed, piece by piece, with the
//! archive's chunk format.
//!
//! What it is: the on-disk home of the index. A file is a short clear preamble
//! followed by AES-256-GCM pieces:
//!
//! ```text
//! "NIEMIX01" | piece size (u32 BE) | header length (u16 BE) | header | piece 0 | piece 1 | …
//! ```
//!
//! The header comes from the [`IndexCipher`] (the file's data key wrapped by a
//! KEK; no secret in clear); each piece is `piece size` bytes of plaintext (the
//! last may be shorter) sealed by the file's [`FileKey`] with its index and the
//! last flag. The sealed stream starts with a copy of the piece size and header
//! length, so that a changed preamble fails authentication too, even in a file of
//! one piece; tantivy's bytes follow. The plaintext length follows from the
//! file's length, so nothing about the content is in clear.
//! Reads decrypt only the pieces they touch, through the shared [`PieceCache`].
//! Files are written under a temporary name and linked to their own when
//! complete (never over an existing file); `meta.json` and `.managed.json` are
//! replaced atomically (temporary file, fsync, rename, fsync of the directory).
//! Locks are OS file locks on empty files, released if the process dies.
//!
//! A piece that fails authentication is reported as a [`Fault`], both inside the
//! `io::Error` tantivy gets and in a sticky slot the index reads back, so the
//! service can tell a damaged index (rebuild it) from a passing I/O error.
//!
//! What it is not: a cache of the index in memory, nor an index format of its
//! own: tantivy's files pass through unchanged once decrypted.

use crate::cache::PieceCache;
use crate::cipher::{CipherError, FileKey, IndexCipher, TAG_LEN};
use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use tantivy::directory::error::{DeleteError, LockError, OpenReadError, OpenWriteError};
use tantivy::directory::{
    AntiCallToken, Directory, DirectoryLock, FileHandle, Lock, OwnedBytes, TerminatingWrite, WatchCallback,
    WatchCallbackList, WatchHandle, WritePtr,
};
use tantivy::HasLen;

pub const MAGIC: &[u8; 8] = b"NIEMIX01";
/// Plaintext bytes per piece of new files. Small enough that a lookup of a few
/// bytes decrypts little; large enough that the tag and the cache's per-piece
/// bookkeeping stay negligible.
pub const DEFAULT_PIECE_BYTES: u32 = 64 << 10;
const PREAMBLE: usize = 14;
/// The preamble's piece size and header length, repeated inside the seal.
const DESCRIPTOR: usize = 6;
const MAX_HEADER: usize = 4096;
const PIECE_BYTES_RANGE: Range<u32> = 512..(16 << 20) + 1;
/// Marks temporary files; tantivy never makes such a name.
const TEMP_MARK: &str = ".niem-tmp-";
const META: &str = "meta.json";

/// Why an index file cannot be read: carried in the `io::Error`s tantivy sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Fault {
    #[error("index file {file} is damaged: {reason}")]
    Damaged { file: String, reason: String },
    #[error("index file {file} cannot be opened: {reason}")]
    Key { file: String, reason: String },
}

impl Fault {
    fn from_cipher(file: &str, e: CipherError) -> Fault {
        match e {
            CipherError::Authentication => Fault::damaged(file, "authentication failed"),
            CipherError::Unavailable(reason) => Fault::Key { file: file.into(), reason },
        }
    }

    fn damaged(file: &str, reason: impl Into<String>) -> Fault {
        Fault::Damaged { file: file.into(), reason: reason.into() }
    }

    fn into_io(self) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, self)
    }
}

/// The encrypted directory; clones share files, cache and fault slot.
#[derive(Clone)]
pub struct EncryptedDirectory {
    inner: Arc<Inner>,
}

struct Inner {
    root: PathBuf,
    cipher: Arc<dyn IndexCipher>,
    cache: Arc<PieceCache>,
    piece_bytes: u32,
    open: Mutex<HashMap<String, Weak<SealedFile>>>,
    next_id: AtomicU64,
    watchers: WatchCallbackList,
    fault: Mutex<Option<Fault>>,
}

impl std::fmt::Debug for EncryptedDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EncryptedDirectory({})", self.inner.root.display())
    }
}

impl EncryptedDirectory {
    /// The directory at `root` (created if missing). New files are cut into
    /// `piece_bytes` pieces.
    pub fn open(
        root: &Path,
        cipher: Arc<dyn IndexCipher>,
        cache: Arc<PieceCache>,
        piece_bytes: u32,
    ) -> io::Result<EncryptedDirectory> {
        if !PIECE_BYTES_RANGE.contains(&piece_bytes) {
            let msg = format!("piece size {piece_bytes} outside {PIECE_BYTES_RANGE:?}");
            return Err(io::Error::new(io::ErrorKind::InvalidInput, msg));
        }
        std::fs::create_dir_all(root)?;
        let inner = Inner {
            root: root.to_path_buf(),
            cipher,
            cache,
            piece_bytes,
            open: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
            watchers: WatchCallbackList::default(),
            fault: Mutex::new(None),
        };
        Ok(EncryptedDirectory { inner: Arc::new(inner) })
    }

    /// Removes the temporary files of writes a crash cut short. Only for the
    /// one process that uses the directory (the caller holds its lock).
    pub fn remove_leftovers(&self) -> io::Result<()> {
        for entry in std::fs::read_dir(&self.inner.root)? {
            let entry = entry?;
            if entry.file_name().to_string_lossy().contains(TEMP_MARK) {
                std::fs::remove_file(entry.path())?;
            }
        }
        Ok(())
    }

    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    pub fn cache(&self) -> &Arc<PieceCache> {
        &self.inner.cache
    }

    /// The first fault any read met, if any: once damaged, always damaged.
    pub fn fault(&self) -> Option<Fault> {
        lock(&self.inner.fault).clone()
    }

    fn record(&self, fault: Fault) -> Fault {
        lock(&self.inner.fault).get_or_insert_with(|| fault.clone());
        fault
    }

    /// The names of the sealed files (everything but locks and unfinished writes).
    pub fn files(&self) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&self.inner.root)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let sealed = !name.ends_with(".lock") && !name.contains(TEMP_MARK);
            if entry.file_type()?.is_file() && sealed {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    /// Opens every piece of every file: a flipped byte anywhere is found here
    /// rather than in the middle of a search. Runs on every core.
    pub fn verify(&self) -> Result<(), Fault> {
        let files = self.files().map_err(|e| Fault::damaged(".", e.to_string()))?;
        let next = AtomicUsize::new(0);
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
        let first_fault: Mutex<Option<Fault>> = Mutex::new(None);
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| {
                    while let Some(name) = files.get(next.fetch_add(1, Ordering::Relaxed)) {
                        if let Err(f) = self.verify_file(name) {
                            lock(&first_fault).get_or_insert(f);
                            return;
                        }
                    }
                });
            }
        });
        let found = lock(&first_fault).take();
        match found {
            Some(f) => Err(self.record(f)),
            None => Ok(()),
        }
    }

    fn verify_file(&self, name: &str) -> Result<(), Fault> {
        let mut reader = PieceReader::open(self, name)?;
        while reader.next_piece()?.is_some() {}
        Ok(())
    }

    /// How many files depend on each key generation (the KEK ids in their headers).
    pub fn generations(&self) -> Result<BTreeMap<String, usize>, Fault> {
        let mut counts = BTreeMap::new();
        for name in self.files().map_err(|e| Fault::damaged(".", e.to_string()))? {
            let path = self.path(&name);
            let (file, preamble) = match read_preamble(&path, &name) {
                Ok(found) => found,
                // Deleted since the listing (a merge finished): not a fault.
                Err(_) if !path.exists() => continue,
                Err(fault) => return Err(fault),
            };
            drop(file);
            let generation = self.inner.cipher.generation(&preamble.header);
            let generation = generation.map_err(|e| Fault::from_cipher(&name, e))?;
            *counts.entry(generation).or_insert(0) += 1;
        }
        Ok(counts)
    }

    /// Copies every file into `dst` (which must be empty), decrypting with this
    /// directory's cipher and sealing under fresh keys from `dst`'s.
    pub fn copy_to(&self, dst: &EncryptedDirectory) -> Result<(), Fault> {
        let io_fault = |e: io::Error| Fault::damaged(".", e.to_string());
        for name in self.files().map_err(io_fault)? {
            let mut reader = PieceReader::open(self, &name)?;
            let mut writer = dst.create(&name).map_err(io_fault)?;
            while let Some(piece) = reader.next_piece()? {
                writer.write_all(piece).map_err(io_fault)?;
            }
            writer.finish(true).map_err(io_fault)?;
        }
        dst.sync_directory().map_err(io_fault)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.inner.root.join(name)
    }

    /// A writer for `name` under a temporary name, linked to `name` at the end.
    fn create(&self, name: &str) -> io::Result<SealingWriter> {
        let (key, header) = self
            .inner
            .cipher
            .new_file(name)
            .map_err(|e| io::Error::other(format!("cannot make a key for index file {name}: {e}")))?;
        let n = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let temp = self.path(&format!("{name}{TEMP_MARK}{}-{n}", std::process::id()));
        let mut file = OpenOptions::new().write(true).create_new(true).open(&temp)?;
        let header_len = u16::try_from(header.len())
            .ok()
            .filter(|&l| (l as usize) <= MAX_HEADER)
            .ok_or_else(|| io::Error::other("the cipher's header is too long"))?;
        let mut preamble = Vec::with_capacity(PREAMBLE + header.len());
        preamble.extend_from_slice(MAGIC);
        preamble.extend_from_slice(&self.inner.piece_bytes.to_be_bytes());
        preamble.extend_from_slice(&header_len.to_be_bytes());
        preamble.extend_from_slice(&header);
        file.write_all(&preamble)?;
        Ok(SealingWriter {
            name: name.to_string(),
            target: self.path(name),
            temp,
            file: Some(file),
            key,
            piece_bytes: self.inner.piece_bytes as usize,
            pending: preamble[8..PREAMBLE].to_vec(),
            next: 0,
        })
    }

    fn read_whole(&self, name: &str) -> Result<Vec<u8>, Fault> {
        let mut reader = PieceReader::open(self, name)?;
        let mut out = Vec::with_capacity(reader.layout.len as usize - DESCRIPTOR);
        while let Some(piece) = reader.next_piece()? {
            out.extend_from_slice(piece);
        }
        Ok(out)
    }

    fn open_sealed(&self, name: &str) -> Result<Arc<SealedFile>, OpenReadError> {
        let mut open = lock(&self.inner.open);
        if let Some(file) = open.get(name).and_then(Weak::upgrade) {
            return Ok(file);
        }
        let path = self.path(name);
        let (file, preamble) = match read_preamble(&path, name) {
            Ok(found) => found,
            Err(_) if !path.exists() => return Err(OpenReadError::FileDoesNotExist(path)),
            Err(f) => return Err(read_error(self.record(f), path)),
        };
        let key = match self.inner.cipher.open_file(name, &preamble.header) {
            Ok(key) => key,
            Err(e) => return Err(read_error(self.record(Fault::from_cipher(name, e)), path)),
        };
        let sealed = Arc::new(SealedFile {
            id: self.inner.next_id.fetch_add(1, Ordering::Relaxed),
            name: name.to_string(),
            file,
            key,
            layout: preamble.layout,
            dir: self.clone(),
        });
        let first = sealed.piece(0).map_err(|e| OpenReadError::wrap_io_error(e, path.clone()))?;
        if first.get(..DESCRIPTOR) != Some(&preamble.descriptor[..]) {
            let fault = Fault::damaged(name, "the preamble does not match its sealed copy");
            return Err(read_error(self.record(fault), path));
        }
        open.retain(|_, f| f.strong_count() > 0);
        open.insert(name.to_string(), Arc::downgrade(&sealed));
        Ok(sealed)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every critical section leaves its data whole; a panic elsewhere cannot
    // leave it half-updated.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn read_error(fault: Fault, filepath: PathBuf) -> OpenReadError {
    OpenReadError::IoError { io_error: Arc::new(fault.into_io()), filepath }
}

/// The one plain name a tantivy path may be (no folders, no `..`).
fn file_name(path: &Path) -> io::Result<String> {
    let mut parts = path.components();
    match (parts.next(), parts.next()) {
        (Some(Component::Normal(name)), None) => match name.to_str() {
            Some(name) if !name.contains(TEMP_MARK) => Ok(name.to_string()),
            _ => Err(io::Error::new(io::ErrorKind::InvalidInput, "bad index file name")),
        },
        _ => Err(io::Error::new(io::ErrorKind::InvalidInput, "bad index file name")),
    }
}

/// Where each piece of a sealed file lies.
#[derive(Debug, Clone, Copy)]
struct Layout {
    data_start: u64,
    piece_bytes: u64,
    pieces: u32,
    len: u64,
    file_len: u64,
}

impl Layout {
    fn new(data_start: u64, piece_bytes: u32, file_len: u64) -> Result<Layout, String> {
        let body = file_len.checked_sub(data_start).ok_or("shorter than its preamble")?;
        let stride = piece_bytes as u64 + TAG_LEN as u64;
        let pieces = body.div_ceil(stride).max(1);
        let last = body - (pieces - 1) * stride;
        if last < TAG_LEN as u64 {
            return Err("truncated in a piece".into());
        }
        let pieces = u32::try_from(pieces).map_err(|_| "too many pieces")?;
        let len = body - pieces as u64 * TAG_LEN as u64;
        Ok(Layout { data_start, piece_bytes: piece_bytes as u64, pieces, len, file_len })
    }

    /// The bytes of sealed piece `i` in the file.
    fn sealed(&self, i: u32) -> Range<u64> {
        let start = self.data_start + i as u64 * (self.piece_bytes + TAG_LEN as u64);
        start..(start + self.piece_bytes + TAG_LEN as u64).min(self.file_len)
    }

    fn is_last(&self, i: u32) -> bool {
        i + 1 == self.pieces
    }
}

struct Preamble {
    descriptor: [u8; DESCRIPTOR],
    header: Vec<u8>,
    layout: Layout,
}

fn read_preamble(path: &Path, name: &str) -> Result<(File, Preamble), Fault> {
    let damaged = |reason: &str| Fault::damaged(name, reason);
    let mut file = File::open(path).map_err(|e| damaged(&e.to_string()))?;
    let file_len = file.metadata().map_err(|e| damaged(&e.to_string()))?.len();
    let mut fixed = [0u8; PREAMBLE];
    file.read_exact(&mut fixed).map_err(|_| damaged("shorter than its preamble"))?;
    if &fixed[..8] != MAGIC {
        return Err(damaged("not a sealed index file"));
    }
    let piece_bytes = u32::from_be_bytes([fixed[8], fixed[9], fixed[10], fixed[11]]);
    let header_len = u16::from_be_bytes([fixed[12], fixed[13]]) as usize;
    if !PIECE_BYTES_RANGE.contains(&piece_bytes) || header_len > MAX_HEADER {
        return Err(damaged("impossible preamble"));
    }
    let mut header = vec![0u8; header_len];
    file.read_exact(&mut header).map_err(|_| damaged("shorter than its header"))?;
    let layout =
        Layout::new((PREAMBLE + header_len) as u64, piece_bytes, file_len).map_err(|reason| damaged(&reason))?;
    if layout.len < DESCRIPTOR as u64 {
        return Err(damaged("shorter than its sealed preamble"));
    }
    let mut descriptor = [0u8; DESCRIPTOR];
    descriptor.copy_from_slice(&fixed[8..PREAMBLE]);
    Ok((file, Preamble { descriptor, header, layout }))
}

/// Reads a whole file piece by piece, in order (verification, copies, atomic reads).
struct PieceReader {
    name: String,
    file: io::BufReader<File>,
    key: Box<dyn FileKey>,
    layout: Layout,
    next: u32,
    buf: Vec<u8>,
    descriptor: [u8; DESCRIPTOR],
}

impl PieceReader {
    fn open(dir: &EncryptedDirectory, name: &str) -> Result<PieceReader, Fault> {
        let (file, preamble) = read_preamble(&dir.path(name), name)?;
        let key = dir.inner.cipher.open_file(name, &preamble.header);
        let key = key.map_err(|e| Fault::from_cipher(name, e))?;
        let capacity = preamble.layout.piece_bytes as usize + TAG_LEN;
        let file = io::BufReader::with_capacity(capacity, file);
        let buf = Vec::with_capacity(capacity);
        let descriptor = preamble.descriptor;
        let layout = preamble.layout;
        Ok(PieceReader { name: name.into(), file, key, layout, next: 0, buf, descriptor })
    }

    fn next_piece(&mut self) -> Result<Option<&[u8]>, Fault> {
        let i = self.next;
        if i == self.layout.pieces {
            return Ok(None);
        }
        let range = self.layout.sealed(i);
        self.buf.resize((range.end - range.start) as usize, 0);
        let read = self.file.read_exact(&mut self.buf);
        read.map_err(|e| Fault::damaged(&self.name, e.to_string()))?;
        let opened = self.key.open(i, self.layout.is_last(i), &mut self.buf);
        opened.map_err(|e| Fault::from_cipher(&self.name, e))?;
        self.next += 1;
        if i > 0 {
            return Ok(Some(&self.buf));
        }
        if self.buf.get(..DESCRIPTOR) != Some(&self.descriptor[..]) {
            return Err(Fault::damaged(&self.name, "the preamble does not match its sealed copy"));
        }
        Ok(Some(&self.buf[DESCRIPTOR..]))
    }
}

/// An open sealed file: what tantivy reads through.
struct SealedFile {
    id: u64,
    name: String,
    file: File,
    key: Box<dyn FileKey>,
    layout: Layout,
    dir: EncryptedDirectory,
}

impl std::fmt::Debug for SealedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SealedFile({}, {} bytes)", self.name, self.len())
    }
}

impl HasLen for SealedFile {
    fn len(&self) -> usize {
        self.layout.len as usize - DESCRIPTOR
    }
}

impl SealedFile {
    /// Piece `i`'s plaintext, from the cache or decrypted now.
    fn piece(&self, i: u32) -> io::Result<Arc<[u8]>> {
        let cache = self.dir.cache();
        if let Some(plain) = cache.get(self.id, i) {
            return Ok(plain);
        }
        let range = self.layout.sealed(i);
        let mut buf = vec![0u8; (range.end - range.start) as usize];
        let fault = |f: Fault| self.dir.record(f).into_io();
        self.file.read_exact_at(&mut buf, range.start).map_err(|e| fault(Fault::damaged(&self.name, e.to_string())))?;
        self.key.open(i, self.layout.is_last(i), &mut buf).map_err(|e| fault(Fault::from_cipher(&self.name, e)))?;
        let plain: Arc<[u8]> = Arc::from(buf);
        cache.put(self.id, i, plain.clone());
        Ok(plain)
    }
}

impl FileHandle for SealedFile {
    fn read_bytes(&self, range: Range<usize>) -> io::Result<OwnedBytes> {
        if range.end > self.len() || range.start > range.end {
            let msg = format!("read {range:?} past the end of {} ({})", self.name, self.len());
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, msg));
        }
        if range.is_empty() {
            return Ok(OwnedBytes::empty());
        }
        // Offsets in the sealed stream, which starts with the descriptor.
        let range = range.start + DESCRIPTOR..range.end + DESCRIPTOR;
        let size = self.layout.piece_bytes as usize;
        let (first, last) = (range.start / size, (range.end - 1) / size);
        if first == last {
            // Within one piece: share the cached plaintext, no copy.
            let at = first * size;
            let piece = OwnedBytes::new(self.piece(first as u32)?);
            return Ok(piece.slice(range.start - at..range.end - at));
        }
        let mut out = Vec::with_capacity(range.len());
        for i in first..=last {
            let piece = self.piece(i as u32)?;
            let at = i * size;
            let from = range.start.max(at) - at;
            let to = range.end.min(at + piece.len()) - at;
            out.extend_from_slice(&piece[from..to]);
        }
        Ok(OwnedBytes::new(out))
    }
}

/// Seals what tantivy writes, one piece at a time. A piece is sealed only once
/// the next byte arrives or the file ends, because only then is its last flag
/// known.
struct SealingWriter {
    name: String,
    target: PathBuf,
    temp: PathBuf,
    file: Option<File>,
    key: Box<dyn FileKey>,
    piece_bytes: usize,
    pending: Vec<u8>,
    next: u32,
}

impl SealingWriter {
    fn seal_pending(&mut self, last: bool) -> io::Result<()> {
        let mut piece = std::mem::replace(&mut self.pending, Vec::with_capacity(self.piece_bytes));
        piece.reserve_exact(TAG_LEN);
        self.key
            .seal(self.next, last, &mut piece)
            .map_err(|e| io::Error::other(format!("sealing {}: {e}", self.name)))?;
        self.next =
            self.next.checked_add(1).ok_or_else(|| io::Error::other(format!("{} has too many pieces", self.name)))?;
        self.file()?.write_all(&piece)
    }

    fn file(&mut self) -> io::Result<&mut File> {
        self.file.as_mut().ok_or_else(|| io::Error::other("index file already finished"))
    }

    /// Seals the last piece, makes the file durable and gives it its name:
    /// alongside an existing file (`replace` false) or over it (atomic writes).
    fn finish(&mut self, replace: bool) -> io::Result<()> {
        self.seal_pending(true)?;
        self.file()?.sync_all()?;
        self.file = None;
        if replace {
            std::fs::rename(&self.temp, &self.target)?;
        } else {
            // A link fails if the name exists: files are written once.
            std::fs::hard_link(&self.temp, &self.target)?;
            std::fs::remove_file(&self.temp)?;
        }
        Ok(())
    }
}

impl Write for SealingWriter {
    fn write(&mut self, mut data: &[u8]) -> io::Result<usize> {
        let total = data.len();
        while !data.is_empty() {
            if self.pending.len() == self.piece_bytes {
                self.seal_pending(false)?;
            }
            let take = (self.piece_bytes - self.pending.len()).min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
        }
        Ok(total)
    }

    fn flush(&mut self) -> io::Result<()> {
        // Plaintext is held back until a whole piece can be sealed; nothing
        // partial is ever written.
        Ok(())
    }
}

impl TerminatingWrite for SealingWriter {
    fn terminate_ref(&mut self, _: AntiCallToken) -> io::Result<()> {
        self.finish(false)
    }
}

impl Drop for SealingWriter {
    fn drop(&mut self) {
        if self.file.is_some() {
            // Abandoned before the end: the temporary file would only be garbage.
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

/// Holds an OS lock until dropped.
struct FileLock(#[allow(dead_code)] File);

impl Directory for EncryptedDirectory {
    fn get_file_handle(&self, path: &Path) -> Result<Arc<dyn FileHandle>, OpenReadError> {
        let name = file_name(path).map_err(|e| OpenReadError::wrap_io_error(e, path.into()))?;
        Ok(self.open_sealed(&name)?)
    }

    fn delete(&self, path: &Path) -> Result<(), DeleteError> {
        let wrap = |e: io::Error| DeleteError::IoError { io_error: Arc::new(e), filepath: path.into() };
        let name = file_name(path).map_err(wrap)?;
        if let Some(file) = lock(&self.inner.open).remove(&name).and_then(|f| f.upgrade()) {
            self.inner.cache.forget(file.id);
        }
        match std::fs::remove_file(self.path(&name)) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(DeleteError::FileDoesNotExist(path.into())),
            other => other.map_err(wrap),
        }
    }

    fn exists(&self, path: &Path) -> Result<bool, OpenReadError> {
        let name = file_name(path).map_err(|e| OpenReadError::wrap_io_error(e, path.into()))?;
        Ok(self.path(&name).exists())
    }

    fn open_write(&self, path: &Path) -> Result<WritePtr, OpenWriteError> {
        let wrap = |e: io::Error| OpenWriteError::wrap_io_error(e, path.into());
        let name = file_name(path).map_err(wrap)?;
        if self.path(&name).exists() {
            return Err(OpenWriteError::FileAlreadyExists(path.into()));
        }
        let writer = self.create(&name).map_err(wrap)?;
        Ok(io::BufWriter::new(Box::new(writer)))
    }

    fn atomic_read(&self, path: &Path) -> Result<Vec<u8>, OpenReadError> {
        let name = file_name(path).map_err(|e| OpenReadError::wrap_io_error(e, path.into()))?;
        if !self.path(&name).exists() {
            return Err(OpenReadError::FileDoesNotExist(path.into()));
        }
        self.read_whole(&name).map_err(|f| read_error(self.record(f), path.into()))
    }

    fn atomic_write(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        let name = file_name(path)?;
        let mut writer = self.create(&name)?;
        writer.write_all(data)?;
        writer.finish(true)?;
        self.sync_directory()?;
        if name == META {
            // Only this process writes; readers here reload on their own, but
            // tantivy's watchers expect to hear of every commit.
            drop(self.inner.watchers.broadcast());
        }
        Ok(())
    }

    fn sync_directory(&self) -> io::Result<()> {
        File::open(&self.inner.root)?.sync_all()
    }

    fn acquire_lock(&self, lock: &Lock) -> Result<DirectoryLock, LockError> {
        use fs4::fs_std::FileExt as _;
        let path = self.inner.root.join(&lock.filepath);
        let file =
            OpenOptions::new().write(true).create(true).truncate(false).open(path).map_err(LockError::wrap_io_error)?;
        if lock.is_blocking {
            file.lock_exclusive().map_err(LockError::wrap_io_error)?;
        } else if !file.try_lock_exclusive().map_err(LockError::wrap_io_error)? {
            return Err(LockError::LockBusy);
        }
        Ok(DirectoryLock::from(Box::new(FileLock(file))))
    }

    fn watch(&self, callback: WatchCallback) -> tantivy::Result<WatchHandle> {
        Ok(self.inner.watchers.subscribe(callback))
    }
}
