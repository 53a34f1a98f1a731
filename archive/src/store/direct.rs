//! Direct I/O (`O_DIRECT`) for the local store's large objects.
//!
//! Why: a sealed chunk is written once and read rarely (playback, verify), so
//! copying it through the page cache costs CPU for nothing. Measured on the
//! 2-core test VM, the kernel's copy into the page cache was 36 % of the
//! service's CPU during a 1 GiB upload, as much as both SHA-256 passes.
//! Direct I/O moves the bytes by DMA from a page-aligned buffer instead; the
//! object is still fsynced before it gets its name, so durability is unchanged.
//!
//! Only objects of at least [`MIN_DIRECT`] bytes go direct (small ones, the
//! ledger's tiles and keys, are read again and again and belong in the cache),
//! and only where the filesystem takes `O_DIRECT` (tmpfs does not: it falls
//! back to buffered I/O). Buffers are per thread and reused, so that no
//! transfer touches freshly allocated memory.

use std::cell::RefCell;
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::path::Path;

/// Alignment of buffers, offsets and lengths for direct I/O: a page, which
/// covers every logical block size in use (512 B and 4 KiB).
pub const ALIGN: usize = 4096;

/// Smaller objects use the page cache.
pub const MIN_DIRECT: usize = 1 << 20;

/// Bytes read per direct read while hashing.
const READ_BLOCK: usize = 4 << 20;

thread_local! {
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` on this thread's aligned scratch buffer of exactly `len` bytes
/// (`len` a multiple of [`ALIGN`]).
fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [u8]) -> R) -> R {
    SCRATCH.with(|cell| {
        let mut buf = cell.borrow_mut();
        if buf.len() < len + ALIGN {
            *buf = vec![0u8; len + ALIGN];
        }
        let start = buf.as_ptr().align_offset(ALIGN);
        f(&mut buf[start..start + len])
    })
}

/// Turns `O_DIRECT` on or off for an open file.
fn set_direct(f: &File, on: bool) -> std::io::Result<()> {
    // SAFETY: fcntl on a descriptor `f` owns, with integer arguments only.
    let flags = unsafe { libc::fcntl(f.as_raw_fd(), libc::F_GETFL) };
    if flags < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let flags = if on { flags | libc::O_DIRECT } else { flags & !libc::O_DIRECT };
    // SAFETY: as above.
    if unsafe { libc::fcntl(f.as_raw_fd(), libc::F_SETFL, flags) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Writes `body` to `f` (at offset 0): its whole pages directly when it is
/// large and the filesystem allows, the rest through the page cache. The
/// caller fsyncs.
pub fn write_all(f: &mut File, body: &[u8]) -> std::io::Result<()> {
    let whole = body.len() / ALIGN * ALIGN;
    if body.len() < MIN_DIRECT || set_direct(f, true).is_err() {
        return f.write_all(body);
    }
    let direct = with_scratch(whole, |buf| {
        buf.copy_from_slice(&body[..whole]);
        f.write_all(buf)
    });
    match direct {
        Ok(()) => {
            set_direct(f, false)?;
            f.write_all(&body[whole..])
        }
        // A filesystem that takes the flag but not the write: write it all
        // through the page cache from the start.
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
            set_direct(f, false)?;
            f.set_len(0)?;
            std::io::Seek::rewind(f)?;
            f.write_all(body)
        }
        Err(e) => Err(e),
    }
}

/// Opens `path` for reading, directly when it is large and the filesystem
/// allows. Returns the file, its length, and whether it is direct.
pub fn open(path: &Path) -> std::io::Result<(File, u64, bool)> {
    let len = std::fs::metadata(path)?.len();
    if len >= MIN_DIRECT as u64 {
        if let Ok(f) = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_DIRECT).open(path) {
            return Ok((f, len, true));
        }
    }
    Ok((File::open(path)?, len, false))
}

/// Reads all of `f` (opened by [`open`]).
pub fn read_all(f: &mut File, len: u64, direct: bool) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(len as usize);
    if !direct {
        f.read_to_end(&mut out)?;
        return Ok(out);
    }
    each_block(f, |block| {
        out.extend_from_slice(block);
        Ok(())
    })?;
    Ok(out)
}

/// Calls `f` on each successive block of a direct file until its end.
pub fn each_block(file: &mut File, mut f: impl FnMut(&[u8]) -> std::io::Result<()>) -> std::io::Result<()> {
    with_scratch(READ_BLOCK, |buf| loop {
        // A direct read returns whole blocks, and fewer bytes only at the end.
        let mut got = 0;
        while got < buf.len() {
            match file.read(&mut buf[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
            if got % ALIGN != 0 {
                break;
            }
        }
        if got == 0 {
            return Ok(());
        }
        f(&buf[..got])?;
        if got < buf.len() {
            return Ok(());
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_written_directly_reads_back_the_same_at_every_awkward_length() {
        let dir = tempfile::tempdir().unwrap();
        let mut x: u32 = 7;
        for len in [
            0,
            1,
            ALIGN - 1,
            MIN_DIRECT - 1,
            MIN_DIRECT,
            MIN_DIRECT + 1,
            READ_BLOCK,
            READ_BLOCK + 16,
            3 * READ_BLOCK + 4097,
        ] {
            let body: Vec<u8> = (0..len)
                .map(|_| {
                    x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                    (x >> 16) as u8
                })
                .collect();
            let path = dir.path().join(format!("o{len}"));
            let mut f = std::fs::OpenOptions::new().write(true).create_new(true).open(&path).unwrap();
            write_all(&mut f, &body).unwrap();
            f.sync_all().unwrap();
            drop(f);
            assert_eq!(std::fs::read(&path).unwrap(), body, "buffered read of {len}");
            let (mut f, n, direct) = open(&path).unwrap();
            assert_eq!((n as usize, direct && len < MIN_DIRECT), (len, false), "{len}");
            assert_eq!(read_all(&mut f, n, direct).unwrap(), body, "read of {len} (direct: {direct})");
        }
    }
}
