//! Storage conformance (openraft's own test suite) and crash-recovery tests for the WAL, the
//! vote file and snapshots.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use bytes::Bytes;
use openraft::storage::{RaftLogStorage, RaftStateMachine};
use openraft::testing::{StoreBuilder, Suite};
use openraft::{
    BasicNode, CommittedLeaderId, Entry, EntryPayload, LeaderId, LogId, Membership, RaftLogReader,
    RaftSnapshotBuilder, StorageError as RaftStorageError, Vote,
};
use sdr_node::keyspace::{Keyspace, SharedKeyspace, Value};
use sdr_node::raft::types::{Request, TypeConfig};
use sdr_node::storage::{self, FsyncPolicy, LogStore, StateMachineStore, StorageError, WalOptions};
use tempfile::TempDir;

// ---------------------------------------------------------------------------------------------
// openraft conformance
// ---------------------------------------------------------------------------------------------

struct Builder;

impl StoreBuilder<TypeConfig, LogStore, StateMachineStore, TempDir> for Builder {
    async fn build(&self) -> Result<(TempDir, LogStore, StateMachineStore), RaftStorageError<u64>> {
        let dir = tempfile::tempdir().expect("tempdir");
        let (log, sm) = storage::open(dir.path(), WalOptions::default(), new_keyspace())
            .map_err(|e| e.into_raft(openraft::ErrorSubject::Store, openraft::ErrorVerb::Read))?;
        Ok((dir, log, sm))
    }
}

#[test]
fn openraft_storage_suite() {
    Suite::test_all(Builder).expect("openraft storage suite");
}

// ---------------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------------

fn new_keyspace() -> SharedKeyspace {
    Arc::new(RwLock::new(Keyspace::default()))
}

fn lid(term: u64, index: u64) -> LogId<u64> {
    LogId::new(CommittedLeaderId::new(term, 1), index)
}

fn cmd(term: u64, index: u64) -> Entry<TypeConfig> {
    Entry {
        log_id: lid(term, index),
        payload: EntryPayload::Normal(Request::Command {
            now_ms: 1_000 + index,
            argv: vec![
                Bytes::from_static(b"SET"),
                Bytes::from(format!("key{index}")),
                Bytes::from(format!("value-{index}")),
            ],
        }),
    }
}

fn membership(term: u64, index: u64) -> Entry<TypeConfig> {
    let mut nodes = BTreeMap::new();
    nodes.insert(
        1,
        BasicNode {
            addr: "127.0.0.1:7001".into(),
        },
    );
    nodes.insert(
        2,
        BasicNode {
            addr: "127.0.0.1:7002".into(),
        },
    );
    Entry {
        log_id: lid(term, index),
        payload: EntryPayload::Membership(Membership::new(vec![BTreeSet::from([1, 2])], nodes)),
    }
}

fn opts(segment_bytes: u64) -> WalOptions {
    WalOptions {
        fsync: FsyncPolicy::Always,
        segment_bytes,
        ..WalOptions::default()
    }
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("wal"))
        .expect("wal dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "wal"))
        .collect();
    v.sort();
    v
}

/// `(offset, frame length)` of every frame in a segment file.
fn frames(path: &Path) -> Vec<(usize, usize)> {
    let data = std::fs::read(path).expect("read segment");
    let mut off = storage::wal::SEGMENT_HEADER_LEN;
    let mut v = Vec::new();
    while off + 8 <= data.len() {
        let len =
            u32::from_le_bytes([data[off], data[off + 1], data[off + 2], data[off + 3]]) as usize;
        v.push((off, 8 + len));
        off += 8 + len;
    }
    v
}

/// `(offset, frame length)` of entry frames only (record type 1).
fn entry_frames(path: &Path) -> Vec<(usize, usize)> {
    let data = std::fs::read(path).expect("read segment");
    frames(path)
        .into_iter()
        .filter(|&(o, _)| data[o + 8] == storage::wal::RECORD_ENTRY)
        .collect()
}

fn open_log(dir: &Path, segment_bytes: u64) -> Result<LogStore, StorageError> {
    LogStore::open(dir, opts(segment_bytes))
}

async fn fill(log: &LogStore, range: std::ops::RangeInclusive<u64>) {
    for i in range {
        log.append_and_wait(vec![cmd(1, i)]).await.expect("append");
    }
}

fn indexes(log: &LogStore) -> Vec<u64> {
    log.entries(..)
        .expect("entries")
        .iter()
        .map(|e| e.log_id.index)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// WAL recovery
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn reopen_returns_same_entries_vote_and_committed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut written = vec![membership(1, 0)];
    written.extend((1..=20).map(|i| cmd(1, i)));
    written.push(Entry {
        log_id: lid(2, 21),
        payload: EntryPayload::Blank,
    });
    written.push(Entry {
        log_id: lid(2, 22),
        payload: EntryPayload::Normal(Request::Expire {
            now_ms: 5,
            keys: vec![Bytes::from_static(b"k")],
        }),
    });
    let vote = Vote {
        leader_id: LeaderId::new(2, 1),
        committed: true,
    };
    {
        let mut log = open_log(dir.path(), 1 << 20).expect("open");
        log.append_and_wait(written[..5].to_vec())
            .await
            .expect("append");
        log.append_and_wait(written[5..].to_vec())
            .await
            .expect("append");
        log.save_vote(&vote).await.expect("vote");
        log.save_committed(Some(lid(2, 21)))
            .await
            .expect("committed");
        log.sync().await.expect("sync");
    }
    let mut log = open_log(dir.path(), 1 << 20).expect("reopen");
    assert_eq!(log.entries(..).expect("entries"), written);
    assert_eq!(log.read_vote().await.expect("vote"), Some(vote));
    assert_eq!(
        log.read_committed().await.expect("committed"),
        Some(lid(2, 21))
    );
    let st = log.get_log_state().await.expect("state");
    assert_eq!(st.last_log_id, Some(lid(2, 22)));
    assert_eq!(st.last_purged_log_id, None);
    // And it keeps going.
    log.append_and_wait(vec![cmd(2, 23)])
        .await
        .expect("append after reopen");
    assert_eq!(
        log.try_get_log_entries(23..24).await.expect("read").len(),
        1
    );
}

#[tokio::test]
async fn torn_last_record_is_repaired() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let log = open_log(dir.path(), 1 << 20).expect("open");
        fill(&log, 1..=10).await;
    }
    let seg = segments(dir.path()).pop().expect("segment");
    let len = std::fs::metadata(&seg).expect("meta").len();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .expect("open");
    f.set_len(len - 3).expect("truncate");
    drop(f);
    {
        let log = open_log(dir.path(), 1 << 20).expect("torn tail is repaired");
        assert_eq!(indexes(&log), (1..=9).collect::<Vec<_>>());
        fill(&log, 10..=12).await;
    }
    let log = open_log(dir.path(), 1 << 20).expect("reopen after repair");
    assert_eq!(indexes(&log), (1..=12).collect::<Vec<_>>());
}

#[tokio::test]
async fn flipped_byte_in_last_record_is_repaired() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let log = open_log(dir.path(), 1 << 20).expect("open");
        fill(&log, 1..=10).await;
    }
    let seg = segments(dir.path()).pop().expect("segment");
    let mut bytes = std::fs::read(&seg).expect("read");
    let n = bytes.len();
    bytes[n - 2] ^= 0x40;
    std::fs::write(&seg, &bytes).expect("write");
    let log = open_log(dir.path(), 1 << 20).expect("bad-CRC last record is repaired");
    assert_eq!(indexes(&log), (1..=9).collect::<Vec<_>>());
    assert_eq!(
        std::fs::metadata(&seg).expect("meta").len() as usize,
        frames(&seg).last().map_or(0, |f| f.0 + f.1)
    );
}

#[tokio::test]
async fn trailing_zeros_are_repaired() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let log = open_log(dir.path(), 1 << 20).expect("open");
        fill(&log, 1..=5).await;
    }
    let seg = segments(dir.path()).pop().expect("segment");
    let len = std::fs::metadata(&seg).expect("meta").len();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .expect("open");
    f.set_len(len + 4096).expect("extend with zeros");
    drop(f);
    let log = open_log(dir.path(), 1 << 20).expect("zero tail is repaired");
    assert_eq!(indexes(&log), (1..=5).collect::<Vec<_>>());
    assert_eq!(std::fs::metadata(&seg).expect("meta").len(), len);
}

#[tokio::test]
async fn corruption_before_the_tail_refuses_to_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let log = open_log(dir.path(), 1 << 20).expect("open");
        fill(&log, 1..=10).await;
    }
    let seg = segments(dir.path()).pop().expect("segment");
    let (off, len) = entry_frames(&seg)[3];
    for (what, pos) in [
        ("payload", off + len / 2),
        ("length", off),
        ("checksum", off + 5),
    ] {
        let mut bytes = std::fs::read(&seg).expect("read");
        bytes[pos] ^= 0xff;
        let backup = std::fs::read(&seg).expect("read");
        std::fs::write(&seg, &bytes).expect("write");
        let err =
            open_log(dir.path(), 1 << 20).expect_err("mid-log corruption must refuse to open");
        let msg = err.to_string();
        assert!(
            msg.contains(&seg.display().to_string()),
            "{what}: names the file: {msg}"
        );
        assert!(
            msg.contains(&format!("offset {off}")),
            "{what}: names offset {off}: {msg}"
        );
        // The file was not modified by the failed open.
        assert_eq!(std::fs::read(&seg).expect("read"), bytes);
        std::fs::write(&seg, &backup).expect("restore");
    }
    let log = open_log(dir.path(), 1 << 20).expect("restored file opens");
    assert_eq!(indexes(&log), (1..=10).collect::<Vec<_>>());
}

#[tokio::test]
async fn damaged_header_or_missing_segment_refuses_to_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let log = open_log(dir.path(), 200).expect("open");
        fill(&log, 1..=30).await;
    }
    let segs = segments(dir.path());
    assert!(segs.len() >= 4, "small segments roll: {segs:?}");

    // A gap: the second segment disappears.
    let moved = dir.path().join("moved");
    std::fs::rename(&segs[1], &moved).expect("move");
    let err = open_log(dir.path(), 200)
        .expect_err("gap must refuse")
        .to_string();
    assert!(
        err.contains("gap") && err.contains(&segs[2].display().to_string()),
        "{err}"
    );
    std::fs::rename(&moved, &segs[1]).expect("restore");

    // An unreadable header of a non-last segment.
    let backup = std::fs::read(&segs[0]).expect("read");
    let mut bytes = backup.clone();
    bytes[2] ^= 0x01;
    std::fs::write(&segs[0], &bytes).expect("write");
    let err = open_log(dir.path(), 200)
        .expect_err("bad header must refuse")
        .to_string();
    assert!(
        err.contains(&segs[0].display().to_string()) && err.contains("offset 0"),
        "{err}"
    );
    std::fs::write(&segs[0], &backup).expect("restore");

    let log = open_log(dir.path(), 200).expect("intact again");
    assert_eq!(indexes(&log), (1..=30).collect::<Vec<_>>());
}

#[tokio::test]
async fn segments_roll_and_truncate_survives_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let mut log = open_log(dir.path(), 300).expect("open");
        fill(&log, 1..=40).await;
        let before = segments(dir.path()).len();
        // Cut in the middle of the log: later segments go, the holding one is cut.
        log.truncate(lid(1, 17)).await.expect("truncate");
        assert!(segments(dir.path()).len() < before);
        assert_eq!(indexes(&log), (1..=16).collect::<Vec<_>>());
        // A new leader's entries replace the conflicting suffix.
        for i in 17..=20 {
            log.append_and_wait(vec![cmd(2, i)]).await.expect("append");
        }
    }
    let mut log = open_log(dir.path(), 300).expect("reopen");
    assert_eq!(indexes(&log), (1..=20).collect::<Vec<_>>());
    assert_eq!(
        log.get_log_state().await.expect("state").last_log_id,
        Some(lid(2, 20))
    );
    // Truncating at a segment's first entry removes that whole file.
    let segs = segments(dir.path());
    let first_of_last: u64 = segs
        .last()
        .and_then(|p| p.file_stem())
        .and_then(|s| s.to_str())
        .and_then(|s| s.parse().ok())
        .expect("segment name");
    if first_of_last > 1 {
        log.truncate(lid(2, first_of_last))
            .await
            .expect("truncate at segment start");
        assert_eq!(segments(dir.path()).len(), segs.len() - 1);
        drop(log);
        let log = open_log(dir.path(), 300).expect("reopen");
        assert_eq!(indexes(&log), (1..first_of_last).collect::<Vec<_>>());
    }
}

#[tokio::test]
async fn purge_survives_reopen_and_deletes_segments() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let log = open_log(dir.path(), 300).expect("open");
        fill(&log, 1..=50).await;
        let before = segments(dir.path()).len();
        log.purge_and_wait(lid(1, 25)).await.expect("purge");
        let after = segments(dir.path());
        assert!(after.len() < before, "fully purged segments are deleted");
        // The oldest remaining segment still holds index 26.
        let first: u64 = after[0]
            .file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| s.parse().ok())
            .expect("name");
        assert!(first <= 26);
        assert_eq!(indexes(&log), (26..=50).collect::<Vec<_>>());
    }
    {
        let mut log = open_log(dir.path(), 300).expect("reopen");
        let st = log.get_log_state().await.expect("state");
        assert_eq!(st.last_purged_log_id, Some(lid(1, 25)));
        assert_eq!(st.last_log_id, Some(lid(1, 50)));
        assert_eq!(indexes(&log), (26..=50).collect::<Vec<_>>());
        // Purge past the end: the log is empty, the next entry follows the purge point.
        log.purge_and_wait(lid(3, 60)).await.expect("purge all");
        assert!(segments(dir.path()).is_empty());
        log.append_and_wait(vec![cmd(3, 61)])
            .await
            .expect("append after purge");
    }
    let log = open_log(dir.path(), 300).expect("reopen");
    assert_eq!(indexes(&log), vec![61]);
    assert_eq!(
        log.log_state().expect("state").last_purged_log_id,
        Some(lid(3, 60))
    );
}

#[tokio::test]
async fn vote_file_corruption_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let mut log = open_log(dir.path(), 1 << 20).expect("open");
        log.save_vote(&Vote::new(3, 2)).await.expect("vote");
    }
    let path = dir.path().join("vote");
    let mut bytes = std::fs::read(&path).expect("read");
    bytes[9] ^= 0x01;
    std::fs::write(&path, &bytes).expect("write");
    let err = open_log(dir.path(), 1 << 20)
        .expect_err("corrupt vote")
        .to_string();
    assert!(err.contains(&path.display().to_string()), "{err}");
}

#[tokio::test]
async fn data_dir_is_locked_while_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = open_log(dir.path(), 1 << 20).expect("open");
    assert!(matches!(
        open_log(dir.path(), 1 << 20),
        Err(StorageError::Locked { .. })
    ));
    drop(log);
    open_log(dir.path(), 1 << 20).expect("reopen after close");
}

#[tokio::test]
async fn holes_are_rejected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = open_log(dir.path(), 1 << 20).expect("open");
    fill(&log, 1..=3).await;
    assert!(log.append_and_wait(vec![cmd(1, 5)]).await.is_err());
    assert!(log
        .append_and_wait(vec![cmd(1, 4), cmd(1, 6)])
        .await
        .is_err());
    assert_eq!(indexes(&log), vec![1, 2, 3]);
}

// ---------------------------------------------------------------------------------------------
// Snapshots and the state machine
// ---------------------------------------------------------------------------------------------

fn put(ks: &SharedKeyspace, key: &str, val: &str) {
    ks.write().expect("lock").insert(
        Bytes::from(key.to_string()),
        Value::Str(Bytes::from(val.to_string())),
        None,
        0,
    );
}

fn blank(term: u64, index: u64) -> Entry<TypeConfig> {
    Entry {
        log_id: lid(term, index),
        payload: EntryPayload::Blank,
    }
}

fn snapshot_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("snapshots"))
        .expect("snapshots dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn snapshot_round_trip_through_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ks = new_keyspace();
    let expected = {
        let (_log, mut sm) = storage::open(dir.path(), opts(1 << 20), ks.clone()).expect("open");
        put(&ks, "a", "1");
        put(&ks, "b", "2");
        sm.apply(vec![membership(1, 1), blank(1, 2)])
            .await
            .expect("apply");
        let snap = sm
            .get_snapshot_builder()
            .await
            .build_snapshot()
            .await
            .expect("build");
        assert_eq!(snap.meta.last_log_id, Some(lid(1, 2)));
        assert_eq!(snap.meta.last_membership.log_id(), &Some(lid(1, 1)));
        let files = snapshot_files(dir.path());
        assert_eq!(files.len(), 1);
        assert!(files[0].ends_with("snap-1-2.bin"), "{files:?}");
        let cur = sm
            .get_current_snapshot()
            .await
            .expect("current")
            .expect("some");
        assert_eq!(cur.meta, snap.meta);
        let guard = ks.read().expect("lock");
        guard.clone()
    };
    let ks2 = new_keyspace();
    let (_log, mut sm) = storage::open(dir.path(), opts(1 << 20), ks2.clone()).expect("reopen");
    assert_eq!(*ks2.read().expect("lock"), expected);
    let (applied, mem) = sm.applied_state().await.expect("applied");
    assert_eq!(applied, Some(lid(1, 2)));
    assert_eq!(mem.log_id(), &Some(lid(1, 1)));
    assert_eq!(sm.last_applied(), Some(lid(1, 2)));
}

#[tokio::test]
async fn corrupt_newest_snapshot_falls_back_then_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ks = new_keyspace();
    {
        let (_log, mut sm) = storage::open(dir.path(), opts(1 << 20), ks.clone()).expect("open");
        put(&ks, "a", "1");
        sm.apply(vec![blank(1, 1)]).await.expect("apply");
        sm.get_snapshot_builder()
            .await
            .build_snapshot()
            .await
            .expect("build 1");
        put(&ks, "b", "2");
        sm.apply(vec![blank(1, 2)]).await.expect("apply");
        sm.get_snapshot_builder()
            .await
            .build_snapshot()
            .await
            .expect("build 2");
        put(&ks, "c", "3");
        sm.apply(vec![blank(1, 3)]).await.expect("apply");
        sm.get_snapshot_builder()
            .await
            .build_snapshot()
            .await
            .expect("build 3");
    }
    let files = snapshot_files(dir.path());
    assert_eq!(files.len(), 2, "only the newest two are kept: {files:?}");
    let newest = dir.path().join("snapshots/snap-1-3.bin");
    let mut bytes = std::fs::read(&newest).expect("read");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x10;
    std::fs::write(&newest, &bytes).expect("write");
    {
        let ks2 = new_keyspace();
        let (_log, sm) = storage::open(dir.path(), opts(1 << 20), ks2.clone()).expect("falls back");
        assert_eq!(sm.last_applied(), Some(lid(1, 2)));
        let g = ks2.read().expect("lock");
        assert!(g.contains(b"b", 0) && !g.contains(b"c", 0));
    }
    let older = dir.path().join("snapshots/snap-1-2.bin");
    std::fs::write(&older, b"garbage").expect("write");
    let err = storage::open(dir.path(), opts(1 << 20), new_keyspace())
        .expect_err("no valid snapshot")
        .to_string();
    assert!(err.contains(&newest.display().to_string()), "{err}");
}

#[tokio::test]
async fn purged_past_the_snapshot_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let (log, _sm) = storage::open(dir.path(), opts(1 << 20), new_keyspace()).expect("open");
        fill(&log, 1..=10).await;
        log.purge_and_wait(lid(1, 5)).await.expect("purge");
    }
    let err = storage::open(dir.path(), opts(1 << 20), new_keyspace())
        .expect_err("gap")
        .to_string();
    assert!(err.contains("gap"), "{err}");
}

#[tokio::test]
async fn install_snapshot_replaces_the_shared_keyspace_in_place() {
    let leader_dir = tempfile::tempdir().expect("tempdir");
    let follower_dir = tempfile::tempdir().expect("tempdir");
    let lks = new_keyspace();
    let fks = new_keyspace();
    let (_l, mut leader) =
        storage::open(leader_dir.path(), opts(1 << 20), lks.clone()).expect("open");
    let (_f, mut follower) =
        storage::open(follower_dir.path(), opts(1 << 20), fks.clone()).expect("open");
    put(&lks, "x", "leader");
    put(&fks, "stale", "follower");
    leader
        .apply(vec![membership(2, 7), blank(2, 8)])
        .await
        .expect("apply");
    let snap = leader
        .get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .expect("build");

    // A corrupted transfer is rejected without touching the keyspace.
    let mut bad = snap.snapshot.get_ref().clone();
    let n = bad.len();
    bad[n / 2] ^= 1;
    let mut rx = follower.begin_receiving_snapshot().await.expect("begin");
    *rx = std::io::Cursor::new(bad);
    assert!(follower.install_snapshot(&snap.meta, rx).await.is_err());
    assert!(fks.read().expect("lock").contains(b"stale", 0));

    let mut rx = follower.begin_receiving_snapshot().await.expect("begin");
    *rx = std::io::Cursor::new(snap.snapshot.get_ref().clone());
    follower
        .install_snapshot(&snap.meta, rx)
        .await
        .expect("install");
    {
        let g = fks.read().expect("lock");
        assert!(g.contains(b"x", 0) && !g.contains(b"stale", 0));
    }
    assert_eq!(
        follower.applied_state().await.expect("applied").0,
        Some(lid(2, 8))
    );
    assert_eq!(
        follower
            .get_current_snapshot()
            .await
            .expect("cur")
            .expect("some")
            .meta,
        snap.meta
    );
    assert!(follower_dir.path().join("snapshots/snap-2-8.bin").exists());
}

// ---------------------------------------------------------------------------------------------
// Group commit
// ---------------------------------------------------------------------------------------------

/// Many concurrent 1-entry appends with fsync `always` must share fsyncs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_commit_batches_concurrent_appends() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = open_log(dir.path(), 64 << 20).expect("open");

    // Baseline: one caller, each append waits for its own fsync.
    let n_seq = 200u64;
    let t = Instant::now();
    fill(&log, 1..=n_seq).await;
    let seq_rate = n_seq as f64 / t.elapsed().as_secs_f64();
    let base = log.wal_stats();

    // Concurrent: 64 tasks; index assignment + submission under one lock, waiting outside it.
    let tasks = 64u64;
    let per_task = 100u64;
    let next = Arc::new(Mutex::new(n_seq + 1));
    let t = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let log = log.clone();
        let next = next.clone();
        handles.push(tokio::spawn(async move {
            for _ in 0..per_task {
                let ticket = {
                    let mut n = next.lock().expect("lock");
                    let i = *n;
                    *n += 1;
                    log.append_nowait(vec![cmd(1, i)]).expect("submit")
                };
                ticket.wait().await.expect("durable");
            }
        }));
    }
    for h in handles {
        h.await.expect("task");
    }
    let elapsed = t.elapsed().as_secs_f64();
    let total = tasks * per_task;
    let s = log.wal_stats();
    let fsyncs = s.fsyncs - base.fsyncs;
    let rate = total as f64 / elapsed;
    println!(
        "group commit (fsync=always): sequential {seq_rate:.0} appends/s; {tasks} concurrent callers: \
         {rate:.0} appends/s, {total} appends in {fsyncs} fsyncs ({:.1} appends/fsync)",
        total as f64 / fsyncs.max(1) as f64
    );
    assert!(
        fsyncs < total / 4,
        "appends share fsyncs: {total} appends, {fsyncs} fsyncs"
    );
    assert_eq!(indexes(&log).len() as u64, n_seq + total);
}

// ---------------------------------------------------------------------------------------------
// State machine apply and fsync policies
// ---------------------------------------------------------------------------------------------

fn argv_entry(index: u64, now_ms: u64, argv: &[&str]) -> Entry<TypeConfig> {
    Entry {
        log_id: lid(1, index),
        payload: EntryPayload::Normal(Request::Command {
            now_ms,
            argv: argv.iter().map(|a| Bytes::from(a.to_string())).collect(),
        }),
    }
}

#[tokio::test]
async fn apply_runs_commands_at_the_stamped_time_and_expires() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ks = new_keyspace();
    let (_log, mut sm) = storage::open(dir.path(), opts(1 << 20), ks.clone()).expect("open");
    let replies = sm
        .apply(vec![
            membership(1, 1),
            argv_entry(2, 1_000, &["SET", "a", "1", "PX", "100"]),
            argv_entry(3, 1_000, &["SET", "b", "2"]),
        ])
        .await
        .expect("apply");
    assert_eq!(replies.len(), 3);
    assert!(replies.iter().all(|r| !r.0.is_error()), "{replies:?}");
    assert!(ks.read().expect("lock").contains(b"a", 1_050));
    let replies = sm
        .apply(vec![
            Entry {
                log_id: lid(1, 4),
                payload: EntryPayload::Normal(Request::Expire {
                    now_ms: 1_200,
                    keys: vec![Bytes::from_static(b"a"), Bytes::from_static(b"b")],
                }),
            },
            blank(1, 5),
        ])
        .await
        .expect("apply");
    assert_eq!(replies.len(), 2);
    let g = ks.read().expect("lock");
    assert!(
        !g.contains(b"a", 0),
        "expired key removed by the Expire entry"
    );
    assert!(g.contains(b"b", 0), "key without deadline kept");
    drop(g);
    assert_eq!(sm.last_applied(), Some(lid(1, 5)));
}

/// A stamp from a leader whose clock is behind (failover, NTP step back) applies at the
/// group's floor, the largest stamp applied so far, so a key seen expired never comes back;
/// reads use the same timeline, and snapshots carry the floor.
#[tokio::test]
async fn stamps_are_monotonic_per_group_and_reads_share_the_timeline() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ks = new_keyspace();
    let (_log, mut sm) = storage::open(dir.path(), opts(1 << 20), ks.clone()).expect("open");
    let replies = sm
        .apply(vec![
            membership(1, 1),
            argv_entry(2, 1_000, &["SET", "a", "1", "PX", "100"]),
            argv_entry(3, 1_200, &["SET", "b", "1"]),
            // The next leader's clock is 150 ms behind: `a` expired at 1_100 stays expired.
            argv_entry(4, 1_050, &["SETNX", "a", "new"]),
            argv_entry(5, 1_050, &["SET", "c", "1", "PX", "100"]),
        ])
        .await
        .expect("apply");
    assert_eq!(
        replies[3].0,
        sdr_node::resp::Frame::Integer(1),
        "a was expired: {replies:?}"
    );
    let g = ks.read().expect("lock");
    assert_eq!(g.clock_floor(), 1_200);
    assert_eq!(
        g.timeline(1_050),
        1_200,
        "reads never go back before the floor"
    );
    assert_eq!(g.timeline(5_000), 5_000);
    // c's deadline is relative to the floor (1_200 + 100), not to the stale stamp.
    assert!(g.contains(b"c", g.timeline(1_250)));
    assert!(!g.contains(b"c", g.timeline(1_300)));
    let mut buf = Vec::new();
    sdr_node::keyspace::codec::encode(&g, &mut buf);
    let back = sdr_node::keyspace::codec::decode(&buf).expect("decodes");
    assert_eq!(back.clock_floor(), 1_200, "snapshots carry the floor");
    assert_eq!(back.len(), g.len(), "the floor is not a user key");
}

#[tokio::test]
async fn fsync_policies_no_and_everysec() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let log = LogStore::open(
            dir.path(),
            WalOptions {
                fsync: FsyncPolicy::No,
                segment_bytes: 1 << 20,
                ..WalOptions::default()
            },
        )
        .expect("open");
        fill(&log, 1..=50).await;
        assert_eq!(log.wal_stats().fsyncs, 0, "policy no never fsyncs appends");
    }
    let log = LogStore::open(
        dir.path(),
        WalOptions {
            fsync: FsyncPolicy::Everysec,
            segment_bytes: 1 << 20,
            ..WalOptions::default()
        },
    )
    .expect("reopen");
    assert_eq!(indexes(&log), (1..=50).collect::<Vec<_>>());
    fill(&log, 51..=100).await;
    let deadline = Instant::now() + std::time::Duration::from_secs(3);
    while log.wal_stats().fsyncs == 0 {
        assert!(
            Instant::now() < deadline,
            "everysec fsyncs within a second or so"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(log.wal_stats().fsyncs <= 3);
}

#[tokio::test]
async fn truncating_the_whole_log_survives_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let mut log = open_log(dir.path(), 1 << 20).expect("open");
        fill(&log, 1..=5).await;
        log.truncate(lid(1, 1)).await.expect("truncate all");
        assert!(indexes(&log).is_empty());
        assert!(segments(dir.path()).is_empty());
        assert_eq!(log.get_log_state().await.expect("state").last_log_id, None);
        for i in 1..=3 {
            log.append_and_wait(vec![cmd(2, i)]).await.expect("append");
        }
    }
    let log = open_log(dir.path(), 1 << 20).expect("reopen");
    let got: Vec<_> = log
        .entries(..)
        .expect("entries")
        .iter()
        .map(|e| e.log_id)
        .collect();
    assert_eq!(got, vec![lid(2, 1), lid(2, 2), lid(2, 3)]);
}

/// Flips every byte of a small WAL in turn. Recovery must never panic; damage in the last frame
/// is repaired keeping every earlier entry; damage anywhere else refuses to open.
#[tokio::test]
async fn every_single_byte_flip_is_repaired_or_refused() {
    let src = tempfile::tempdir().expect("tempdir");
    {
        let log = open_log(src.path(), 1 << 20).expect("open");
        fill(&log, 1..=6).await;
    }
    let seg = segments(src.path()).pop().expect("segment");
    let name = seg.file_name().expect("name").to_owned();
    let original = std::fs::read(&seg).expect("read");
    let fr = frames(&seg);
    let (last_off, _) = *fr.last().expect("frames");
    for pos in 0..original.len() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("wal")).expect("mkdir");
        let mut bytes = original.clone();
        bytes[pos] ^= 0x5a;
        std::fs::write(dir.path().join("wal").join(&name), &bytes).expect("write");
        let res = open_log(dir.path(), 1 << 20);
        if pos >= last_off {
            let log = res.unwrap_or_else(|e| {
                panic!("flip at {pos} in the last frame must be repaired: {e}")
            });
            assert_eq!(indexes(&log), (1..=5).collect::<Vec<_>>(), "flip at {pos}");
        } else {
            let err = res
                .expect_err("damage before the last frame must refuse")
                .to_string();
            assert!(err.contains("offset"), "flip at {pos}: {err}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// the log bounded by bytes
// ---------------------------------------------------------------------------------------------

fn big(index: u64, len: usize) -> Entry<TypeConfig> {
    Entry {
        log_id: lid(1, index),
        payload: EntryPayload::Normal(Request::Command {
            now_ms: 1_000,
            argv: vec![
                Bytes::from_static(b"SET"),
                Bytes::from(format!("k{index}")),
                Bytes::from(vec![b'x'; len]),
            ],
        }),
    }
}

/// Replication reads (`limited_get_log_entries`) stop at 8 MiB but always return one entry,
/// and the log's byte count follows appends, purges, truncation and reopening.
#[tokio::test]
async fn log_reads_and_byte_count_are_bounded_by_bytes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mb3 = 3 * 1024 * 1024;
    let mut log = open_log(dir.path(), 64 * 1024 * 1024).expect("open");
    let batch: Vec<_> = (1..=10).map(|i| big(i, mb3)).collect();
    log.append_and_wait(batch).await.expect("append");

    // 3 + 3 MiB fit in 8 MiB, a third does not.
    let got = log.limited_get_log_entries(1, 11).await.expect("read");
    assert_eq!(
        got.iter().map(|e| e.log_id.index).collect::<Vec<_>>(),
        vec![1, 2]
    );
    let got = log.limited_get_log_entries(9, 11).await.expect("read");
    assert_eq!(got.len(), 2);
    // One entry larger than the budget still goes alone.
    log.append_and_wait(vec![big(11, 9 * 1024 * 1024)])
        .await
        .expect("append");
    let got = log.limited_get_log_entries(11, 12).await.expect("read");
    assert_eq!(got.len(), 1);
    let got = log.limited_get_log_entries(10, 12).await.expect("read");
    assert_eq!(
        got.len(),
        1,
        "10 (3 MiB) then 11 (9 MiB) would exceed 8 MiB"
    );

    let per = storage::codec::entry_size_hint(&big(1, mb3)) as u64;
    let all = log.bytes_after(None).expect("bytes");
    assert!(all >= 10 * per + 9 * 1024 * 1024, "{all}");
    assert_eq!(log.bytes_after(Some(8)).expect("bytes"), all - 8 * per);
    assert_eq!(log.bytes_after(Some(11)).expect("bytes"), 0);
    assert_eq!(log.bytes_after(Some(0)).expect("bytes"), all);

    log.purge_and_wait(lid(1, 4)).await.expect("purge");
    assert_eq!(log.bytes_after(None).expect("bytes"), all - 4 * per);
    assert_eq!(log.bytes_after(Some(2)).expect("bytes"), all - 4 * per);
    log.truncate_from(9).await.expect("truncate");
    assert_eq!(log.bytes_after(None).expect("bytes"), 4 * per, "5..=8 left");
    assert_eq!(log.bytes_after(Some(6)).expect("bytes"), 2 * per);
    drop(log);

    // Reopened: the same count, recomputed from the recovered entries.
    let log = open_log(dir.path(), 64 * 1024 * 1024).expect("reopen");
    assert_eq!(log.bytes_after(None).expect("bytes"), 4 * per);
}

/// The size hint bounds the real encoding of normal entries.
#[test]
fn entry_size_hint_bounds_the_encoding() {
    for e in [cmd(1, 7), big(2, 1000), big(3, 200_000), blank(1, 4)] {
        let mut b = Vec::new();
        storage::codec::encode_entry(&e, &mut b);
        assert!(storage::codec::entry_size_hint(&e) >= b.len());
    }
}
