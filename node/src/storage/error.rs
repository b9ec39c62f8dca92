//! Storage errors, and their conversion to the error type openraft's traits demand.

use std::io;
use std::path::{Path, PathBuf};

use openraft::{AnyError, ErrorSubject, ErrorVerb, StorageIOError};

use crate::raft::types::NodeId;
use crate::storage::codec::CodecError;

/// openraft's storage error for our node id type.
pub type RaftStorageError = openraft::StorageError<NodeId>;

/// Everything that can go wrong in `storage`. Variants that concern on-disk data name the file
/// (and, for the WAL, the byte offset) so an operator can find the damage.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A system call failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Damaged data that recovery must not paper over (it is not a torn tail).
    #[error("corrupt {} at offset {offset}: {reason}", path.display())]
    Corrupt {
        path: PathBuf,
        offset: u64,
        reason: String,
    },
    /// No snapshot file could be loaded although some exist.
    #[error("no valid snapshot; newest {} is unusable: {reason}", path.display())]
    NoValidSnapshot { path: PathBuf, reason: String },
    /// The log and the snapshot do not join up (entries were purged past the snapshot we have).
    #[error("log gap: {0}")]
    Gap(String),
    /// A value failed to decode outside a file context (e.g. a received snapshot).
    #[error("decode: {0}")]
    Codec(#[from] CodecError),
    /// The snapshot store was asked to do something inconsistent.
    #[error("snapshot: {0}")]
    Snapshot(String),
    /// A caller broke the log contract (a hole, or truncating purged entries).
    #[error("invalid log operation: {0}")]
    InvalidOperation(String),
    /// The WAL writer hit an I/O error earlier (the WAL is now in an unknown state and refuses
    /// further writes) or has stopped.
    #[error("WAL writer unavailable: {0}")]
    WriterFailed(String),
    /// Another process holds the data directory.
    #[error("data directory {} is locked by another process", path.display())]
    Locked { path: PathBuf },
    /// A lock around shared in-memory state was poisoned by a panic elsewhere.
    #[error("{0} lock poisoned")]
    Poisoned(&'static str),
}

impl StorageError {
    /// True for an I/O failure caused by a resource running out that may come back (descriptors
    /// `EMFILE`/`ENFILE`, space `ENOSPC`/`EDQUOT`, memory `ENOMEM`, `EAGAIN`/`EINTR`): worth
    /// retrying, unlike damage or a failed fsync.
    pub fn is_transient_resource_error(&self) -> bool {
        match self {
            StorageError::Io { source, .. } => matches!(
                source.raw_os_error(),
                Some(
                    libc::EMFILE
                        | libc::ENFILE
                        | libc::ENOSPC
                        | libc::EDQUOT
                        | libc::ENOMEM
                        | libc::EAGAIN
                        | libc::EINTR
                )
            ),
            _ => false,
        }
    }

    /// Wraps an I/O error with the operation and path.
    pub fn io(op: &'static str, path: &Path, source: io::Error) -> Self {
        StorageError::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }

    /// Converts to openraft's error, tagging what was being done.
    pub fn into_raft(self, subject: ErrorSubject<NodeId>, verb: ErrorVerb) -> RaftStorageError {
        RaftStorageError::IO {
            source: StorageIOError::new(subject, verb, AnyError::new(&self)),
        }
    }

    /// `into_raft` for log writes.
    pub fn write_logs(self) -> RaftStorageError {
        self.into_raft(ErrorSubject::Logs, ErrorVerb::Write)
    }

    /// `into_raft` for log reads.
    pub fn read_logs(self) -> RaftStorageError {
        self.into_raft(ErrorSubject::Logs, ErrorVerb::Read)
    }
}

/// Convenience alias.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;
