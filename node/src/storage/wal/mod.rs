//! The write-ahead log: segment files, record framing, crash recovery and the group-commit
//! writer thread.
//!
//! - [`format`]: segment names and headers, frames, record payloads.
//! - [`recovery`]: [`recover`] — the durable state back from disk.
//! - [`writer`]: the writer thread and [`WalHandle`].
//!
//! Layout (see `docs/storage-format.md` for the bytes):
//!
//! ```text
//! <dir>/wal/00000000000000000001.wal   segment; name = index of its first entry (20 digits)
//! <dir>/wal/00000000000000004711.wal
//! <dir>/wal/purged                     last purged log id (small checksummed file)
//! <dir>/vote                           the vote (small checksummed file)
//! ```
//!
//! A segment is `header | frame*`; a frame is `len u32 | crc32c(payload) u32 | payload`, and a
//! payload is `type u8 | body` (an entry, or a committed log id).
//!
//! **Truncation is physical**: `truncate(i)` cuts the segment holding entry `i` at that entry's
//! offset (`ftruncate` + fsync) and deletes later segments, so the files only ever contain the
//! current log. **Purge is logical then physical**: the purged log id is written to `wal/purged`
//! first (durably), then fully purged segments are deleted; entries at or below the purged index
//! that remain in a partially purged segment are skipped at recovery.
//!
//! All write I/O (appends, committed markers, truncate, purge, vote) goes through one writer
//! thread fed by a FIFO channel, which is what serializes it as openraft requires. The writer
//! drains everything queued, writes it with one `write(2)` per segment, fsyncs once (policy
//! `always`) and then completes every callback of the batch: that is group commit.

pub mod format;
pub mod recovery;
pub mod writer;

pub use format::*;
pub(crate) use recovery::recover;
pub use writer::*;
