//! Snapshot files: `<dir>/snapshots/snap-<term>-<index>.bin`.
//!
//! ```text
//! magic "SDRSNAP\0" (8) | version u8 (=1) | meta_len u32 LE | meta (codec::encode_snapshot_meta)
//!   | keyspace_len u64 LE | keyspace (keyspace::codec) | crc32c u32 LE over every preceding byte
//! ```
//!
//! The whole file is also the snapshot data openraft ships to followers, so a received snapshot
//! is verified end to end (checksum and embedded metadata) before it is installed, and is
//! persisted byte-for-byte.
//!
//! Files are written tmp → fsync → rename → fsync dir; the newest two (by log id) are kept. At
//! boot the newest *valid* one is loaded; a damaged newest one is logged and the previous one
//! used; if files exist but none is valid, boot fails naming the newest.

use std::fs;
use std::path::{Path, PathBuf};

use openraft::{BasicNode, SnapshotMeta};

use crate::keyspace::{Keyspace, KeyspaceImage};
use crate::raft::types::NodeId;
use crate::storage::codec;
use crate::storage::error::{Result, StorageError};
use crate::storage::fsutil::{fsync_dir, write_atomic};

/// Snapshot file magic.
pub const SNAPSHOT_MAGIC: &[u8; 8] = b"SDRSNAP\0";
/// Snapshot file format version.
pub const SNAPSHOT_VERSION: u8 = 1;
/// How many snapshot files are kept.
pub const KEEP_SNAPSHOTS: usize = 2;

/// Metadata type used throughout.
pub type Meta = SnapshotMeta<NodeId, BasicNode>;

/// `snap-<term>-<index>.bin`, or `None` for a snapshot of the empty state (never persisted: it
/// equals what boot starts from).
pub fn snapshot_file_name(meta: &Meta) -> Option<String> {
    meta.last_log_id
        .map(|l| format!("snap-{}-{}.bin", l.leader_id.term, l.index))
}

fn parse_name(name: &str) -> Option<(u64, u64)> {
    let rest = name.strip_prefix("snap-")?.strip_suffix(".bin")?;
    let (t, i) = rest.split_once('-')?;
    Some((t.parse().ok()?, i.parse().ok()?))
}

/// Builds the complete file image for `meta` and a keyspace image (taken under the keyspace
/// lock with [`Keyspace::image`]; encoding it needs no lock).
pub fn encode_snapshot_file(meta: &Meta, ks: &KeyspaceImage) -> Vec<u8> {
    let mut meta_bytes = Vec::with_capacity(128);
    codec::encode_snapshot_meta(meta, &mut meta_bytes);
    let mut out = Vec::with_capacity(64 + meta_bytes.len() + ks.len() * 32);
    out.extend_from_slice(SNAPSHOT_MAGIC);
    out.push(SNAPSHOT_VERSION);
    out.extend_from_slice(&(meta_bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(&meta_bytes);
    let len_at = out.len();
    out.extend_from_slice(&[0u8; 8]);
    crate::keyspace::codec::encode_image(ks, &mut out);
    let ks_len = (out.len() - len_at - 8) as u64;
    out[len_at..len_at + 8].copy_from_slice(&ks_len.to_le_bytes());
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Verifies a file image and splits it into metadata and keyspace bytes. The error is
/// `(offset, reason)`.
pub fn parse_snapshot_file(data: &[u8]) -> std::result::Result<(Meta, &[u8]), (u64, String)> {
    const FIXED: usize = 8 + 1 + 4;
    if data.len() < FIXED + 8 + 4 {
        return Err((
            0,
            format!("{} bytes is too short for a snapshot", data.len()),
        ));
    }
    let body_end = data.len() - 4;
    let stored = u32::from_le_bytes([
        data[body_end],
        data[body_end + 1],
        data[body_end + 2],
        data[body_end + 3],
    ]);
    let actual = crc32c::crc32c(&data[..body_end]);
    if &data[..8] != SNAPSHOT_MAGIC {
        return Err((0, "bad snapshot magic".into()));
    }
    if stored != actual {
        return Err((
            body_end as u64,
            format!("checksum mismatch (stored {stored:#010x}, computed {actual:#010x})"),
        ));
    }
    if data[8] != SNAPSHOT_VERSION {
        return Err((8, format!("unsupported snapshot version {}", data[8])));
    }
    let meta_len = u32::from_le_bytes([data[9], data[10], data[11], data[12]]) as usize;
    if meta_len > body_end - FIXED - 8 {
        return Err((9, format!("metadata length {meta_len} exceeds the file")));
    }
    let meta_end = FIXED + meta_len;
    let meta = codec::decode_snapshot_meta(&data[FIXED..meta_end])
        .map_err(|e| (FIXED as u64, e.to_string()))?;
    let mut a = [0u8; 8];
    a.copy_from_slice(&data[meta_end..meta_end + 8]);
    let ks_len = u64::from_le_bytes(a);
    let ks_start = meta_end + 8;
    if ks_len != (body_end - ks_start) as u64 {
        return Err((
            meta_end as u64,
            format!(
                "keyspace length {ks_len} does not match the file ({} bytes)",
                body_end - ks_start
            ),
        ));
    }
    Ok((meta, &data[ks_start..body_end]))
}

/// Decodes a file image completely (metadata and keyspace).
pub fn decode_snapshot_file(data: &[u8]) -> std::result::Result<(Meta, Keyspace), (u64, String)> {
    let (meta, ks_bytes) = parse_snapshot_file(data)?;
    let ks_off = (data.len() - 4 - ks_bytes.len()) as u64;
    let ks = crate::keyspace::codec::decode(ks_bytes).map_err(|e| (ks_off, e.to_string()))?;
    Ok((meta, ks))
}

/// The snapshot directory.
#[derive(Debug)]
pub struct SnapshotDir {
    dir: PathBuf,
}

impl SnapshotDir {
    /// Creates `<data dir>/snapshots` if needed and removes leftover `.tmp` files.
    pub fn open(data_dir: &Path) -> Result<SnapshotDir> {
        let dir = data_dir.join("snapshots");
        fs::create_dir_all(&dir).map_err(|e| StorageError::io("create directory", &dir, e))?;
        let rd = fs::read_dir(&dir).map_err(|e| StorageError::io("list", &dir, e))?;
        for ent in rd {
            let ent = ent.map_err(|e| StorageError::io("list", &dir, e))?;
            if ent.file_name().to_string_lossy().ends_with(".tmp") {
                let p = ent.path();
                tracing::warn!(file = %p.display(), "removing leftover temporary snapshot");
                fs::remove_file(&p).map_err(|e| StorageError::io("remove", &p, e))?;
            }
        }
        Ok(SnapshotDir { dir })
    }

    /// The directory path.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Snapshot files, newest (highest `(term, index)`) first.
    pub fn list(&self) -> Result<Vec<((u64, u64), PathBuf)>> {
        let mut v = Vec::new();
        let rd = fs::read_dir(&self.dir).map_err(|e| StorageError::io("list", &self.dir, e))?;
        for ent in rd {
            let ent = ent.map_err(|e| StorageError::io("list", &self.dir, e))?;
            if let Some(k) = parse_name(&ent.file_name().to_string_lossy()) {
                v.push((k, ent.path()));
            }
        }
        v.sort_by_key(|e| std::cmp::Reverse(e.0));
        Ok(v)
    }

    /// Durably writes a file image for `meta` and prunes to the newest [`KEEP_SNAPSHOTS`].
    /// Returns the path, or `None` if `meta` has no log id (nothing is persisted).
    pub fn write(&self, meta: &Meta, image: &[u8]) -> Result<Option<PathBuf>> {
        let Some(name) = snapshot_file_name(meta) else {
            return Ok(None);
        };
        let path = self.dir.join(name);
        write_atomic(&path, image)?;
        let mut removed = false;
        for (_, old) in self.list()?.into_iter().skip(KEEP_SNAPSHOTS) {
            if old != path {
                fs::remove_file(&old).map_err(|e| StorageError::io("remove", &old, e))?;
                removed = true;
            }
        }
        if removed {
            fsync_dir(&self.dir)?;
        }
        Ok(Some(path))
    }

    /// Reads and verifies the file at `path` (metadata and checksum; the keyspace is not
    /// decoded). Returns the image.
    pub fn read_verified(&self, path: &Path) -> Result<(Meta, Vec<u8>)> {
        let data = fs::read(path).map_err(|e| StorageError::io("read", path, e))?;
        let meta = parse_snapshot_file(&data)
            .map_err(|(offset, reason)| StorageError::Corrupt {
                path: path.to_path_buf(),
                offset,
                reason,
            })?
            .0;
        Ok((meta, data))
    }

    /// Loads the newest valid snapshot. Damaged newer files are skipped with a warning; if files
    /// exist but none is valid, fails naming the newest.
    pub fn load_newest_valid(&self) -> Result<Option<(Meta, Keyspace, PathBuf)>> {
        let files = self.list()?;
        let mut first_err: Option<(PathBuf, String)> = None;
        for (_, path) in &files {
            let data = match fs::read(path) {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(file = %path.display(), error = %e, "cannot read snapshot; trying an older one");
                    first_err.get_or_insert((path.clone(), e.to_string()));
                    continue;
                }
            };
            match decode_snapshot_file(&data) {
                Ok((meta, ks)) => {
                    if snapshot_file_name(&meta).as_deref()
                        != path.file_name().and_then(|n| n.to_str())
                    {
                        let reason = format!("metadata {meta} does not match the file name");
                        tracing::warn!(file = %path.display(), %reason, "invalid snapshot; trying an older one");
                        first_err.get_or_insert((path.clone(), reason));
                        continue;
                    }
                    if let Some((bad, reason)) = &first_err {
                        tracing::warn!(
                            newest = %bad.display(), %reason, using = %path.display(),
                            "newest snapshot is unusable; falling back to an older one"
                        );
                    }
                    return Ok(Some((meta, ks, path.clone())));
                }
                Err((offset, reason)) => {
                    let reason = format!("at byte {offset}: {reason}");
                    tracing::warn!(file = %path.display(), %reason, "corrupt snapshot; trying an older one");
                    first_err.get_or_insert((path.clone(), reason));
                }
            }
        }
        match first_err {
            Some((path, reason)) => Err(StorageError::NoValidSnapshot { path, reason }),
            None => Ok(None),
        }
    }
}
