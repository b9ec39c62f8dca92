//! Durability: the write-ahead log (openraft log storage), the vote file, snapshots, and the
//! openraft state machine over the in-memory keyspace.
//!
//! Module map:
//!
//! - [`options`]: [`FsyncPolicy`] and [`WalOptions`] (shared with the configuration).
//! - [`codec`]: the versioned binary encoding of entries, log ids, votes, memberships and
//!   snapshot metadata — used on disk and, later, by the gRPC transport.
//! - [`wal`]: segment files, record framing, crash recovery and the group-commit writer thread
//!   (which also writes the vote and purge files, so all write I/O is serialized).
//! - [`log_store`]: [`LogStore`], openraft's `RaftLogStorage`/`RaftLogReader`.
//! - [`snapshot`]: snapshot files (`snapshots/snap-<term>-<index>.bin`).
//! - [`state_machine`]: [`StateMachineStore`], openraft's `RaftStateMachine`/`RaftSnapshotBuilder`.
//! - [`error`]: [`StorageError`] and the conversion to openraft's error type.
//! - `fsutil`: atomic small-file writes, directory fsync, the data-dir lock.
//!
//! Data directory layout (byte formats in `docs/storage-format.md`):
//!
//! ```text
//! <dir>/LOCK                 flock'd while open
//! <dir>/vote                 current vote
//! <dir>/wal/<first>.wal      log segments
//! <dir>/wal/purged           last purged log id
//! <dir>/snapshots/snap-<term>-<index>.bin
//! ```
//!
//! Boot ([`open`]) = newest valid snapshot into the keyspace + WAL recovery; openraft then
//! re-applies the committed entries that follow the snapshot.

pub mod codec;
pub mod error;
mod fsutil;
pub mod log_store;
pub mod options;
pub mod snapshot;
pub mod state_machine;
pub mod wal;

use std::path::Path;

pub use error::StorageError;
pub use log_store::{AppendTicket, LogStore};
pub use options::{FsyncPolicy, WalOptions};
pub use state_machine::{Change, KeyChange, ReadyKeys, StateMachineStore};
pub use wal::WalStatsSnapshot;

use crate::keyspace::SharedKeyspace;

/// Opens the data directory `dir`: loads the newest valid snapshot into `keyspace` (replacing
/// its contents), recovers the WAL, and starts the WAL writer.
///
/// Fails (naming the file and, for the WAL, the byte offset) on damage that is not a torn tail,
/// if no snapshot is valid although some exist, or if the log was purged past the snapshot that
/// could be loaded (the entries in between are gone, so the state cannot be rebuilt).
pub fn open(
    dir: &Path,
    wal: WalOptions,
    keyspace: SharedKeyspace,
) -> Result<(LogStore, StateMachineStore), StorageError> {
    let log = LogStore::open(dir, wal)?;
    let sm = StateMachineStore::open(dir, keyspace)?;
    let purged = log.log_state()?.last_purged_log_id;
    let snap = sm.last_applied();
    if let Some(p) = purged {
        if snap.is_none_or(|s| s.index < p.index) {
            return Err(StorageError::Gap(format!(
                "the log is purged up to {p} but the newest usable snapshot ends at {}; \
                 the entries in between are lost (restore a snapshot or rejoin from a peer)",
                snap.map_or("nothing".to_string(), |s| s.to_string())
            )));
        }
    }
    Ok((log, sm))
}
