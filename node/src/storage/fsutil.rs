//! Small durable-file helpers shared by the WAL, the vote file and the snapshot store.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use crate::storage::error::{Result, StorageError};

/// fsyncs a directory so that file creations, renames and deletions inside it are durable.
pub(crate) fn fsync_dir(dir: &Path) -> Result<()> {
    let d = File::open(dir).map_err(|e| StorageError::io("open directory", dir, e))?;
    d.sync_all()
        .map_err(|e| StorageError::io("fsync directory", dir, e))
}

/// `path` with `.tmp` appended to its file name.
pub(crate) fn tmp_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".tmp");
    PathBuf::from(s)
}

/// Replaces `path` with `bytes` atomically and durably: write `path.tmp`, fsync it, rename over
/// `path`, fsync the directory. A crash leaves either the old or the new content (plus possibly
/// a stray `.tmp`, which readers ignore and `open` deletes).
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = tmp_path(path);
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(|e| StorageError::io("create", &tmp, e))?;
        f.write_all(bytes)
            .map_err(|e| StorageError::io("write", &tmp, e))?;
        f.sync_all()
            .map_err(|e| StorageError::io("fsync", &tmp, e))?;
    }
    fs::rename(&tmp, path).map_err(|e| StorageError::io("rename into", path, e))?;
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => fsync_dir(dir),
        _ => fsync_dir(Path::new(".")),
    }
}

/// Writes a small checksummed file: `magic[4] | payload_len u32 LE | payload | crc32c u32 LE`
/// (the CRC covers everything before it), via [`write_atomic`].
pub(crate) fn write_small_file(path: &Path, magic: &[u8; 4], payload: &[u8]) -> Result<()> {
    let mut buf = Vec::with_capacity(payload.len() + 12);
    buf.extend_from_slice(magic);
    buf.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    buf.extend_from_slice(payload);
    let crc = crc32c::crc32c(&buf);
    buf.extend_from_slice(&crc.to_le_bytes());
    write_atomic(path, &buf)
}

/// Reads a file written by [`write_small_file`]; `Ok(None)` if it does not exist. Any damage is
/// an error naming the file and offset: these files are replaced atomically, so a bad one is
/// real corruption, never a torn write.
pub(crate) fn read_small_file(path: &Path, magic: &[u8; 4]) -> Result<Option<Vec<u8>>> {
    let data = match fs::read(path) {
        Ok(d) => d,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StorageError::io("read", path, e)),
    };
    let corrupt = |offset: u64, reason: String| StorageError::Corrupt {
        path: path.to_path_buf(),
        offset,
        reason,
    };
    if data.len() < 12 {
        return Err(corrupt(
            0,
            format!(
                "file is {} bytes, shorter than the 12-byte minimum",
                data.len()
            ),
        ));
    }
    if &data[..4] != magic {
        return Err(corrupt(
            0,
            format!("bad magic {:02x?}, expected {:02x?}", &data[..4], magic),
        ));
    }
    let len = u32::from_le_bytes([data[4], data[5], data[6], data[7]]) as usize;
    if len != data.len() - 12 {
        return Err(corrupt(
            4,
            format!(
                "payload length {len} does not match file size {}",
                data.len()
            ),
        ));
    }
    let body_end = 8 + len;
    let stored = u32::from_le_bytes([
        data[body_end],
        data[body_end + 1],
        data[body_end + 2],
        data[body_end + 3],
    ]);
    let actual = crc32c::crc32c(&data[..body_end]);
    if stored != actual {
        return Err(corrupt(
            body_end as u64,
            format!("checksum mismatch (stored {stored:#010x}, computed {actual:#010x})"),
        ));
    }
    Ok(Some(data[8..body_end].to_vec()))
}

/// An exclusive `flock` on `<dir>/LOCK`, held for as long as the returned file is open, so two
/// processes never write the same data directory.
pub(crate) fn lock_dir(dir: &Path) -> Result<File> {
    use std::os::fd::AsRawFd;
    let path = dir.join("LOCK");
    let f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| StorageError::io("open", &path, e))?;
    // SAFETY: flock on a valid, owned file descriptor has no memory-safety requirements.
    let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        if err.kind() == ErrorKind::WouldBlock {
            return Err(StorageError::Locked {
                path: dir.to_path_buf(),
            });
        }
        return Err(StorageError::io("flock", &path, err));
    }
    Ok(f)
}
