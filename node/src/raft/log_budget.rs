//! The Raft log bounded by bytes, not only by entry count.
//!
//! openraft snapshots every `snapshot-every` entries and then purges all but that many entries
//! behind the snapshot. With large values that is unbounded in bytes: 100,000 entries of 4 MB
//! are 400 GB of log, held in memory (the log store serves reads from RAM) and on disk. This
//! task watches the log store's byte count ([`LogStore::bytes_after`]) and
//!
//! - triggers a snapshot once the entries after the last snapshot exceed `snapshot-log-bytes`;
//! - once the whole live log exceeds it, asks openraft to purge up to the *older* of the two
//!   snapshot files kept (or the only one), so boot can still fall back to the previous
//!   snapshot if the newest is damaged (the entries between the two are kept).
//!
//! The live log therefore stays near twice the limit (the entries between the two snapshots
//! plus those since the newest), and the WAL on disk within one more segment of that. openraft
//! may delay a purge while a replication task still reads the entries; a follower that far
//! behind gets a snapshot instead.

use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::storage::{LogStore, StateMachineStore};

use super::types::Raft;

/// The byte counts are checked after every append, and at least this often.
const POLL: Duration = Duration::from_millis(100);
/// After triggering a snapshot, how long to wait for it before triggering again.
const SNAPSHOT_PATIENCE: Duration = Duration::from_secs(30);

/// What the budget asks of openraft at one point in time.
#[derive(Debug, PartialEq, Eq)]
pub struct Decision {
    pub snapshot: bool,
    pub purge_upto: Option<u64>,
}

/// Pure decision: `since_snapshot` and `live` are the log's bytes after the newest snapshot
/// and in total; `snapshots` the indexes of the snapshot files (any order); `purged` the last
/// purged index.
pub fn decide(
    limit: u64,
    since_snapshot: u64,
    live: u64,
    snapshots: &[u64],
    purged: Option<u64>,
) -> Decision {
    let snapshot = since_snapshot > limit;
    let mut sorted = snapshots.to_vec();
    sorted.sort_unstable();
    // The older of the newest two: the log between it and the newest is what a fallback boot
    // needs.
    let keep_from = match sorted.len() {
        0 => None,
        1 => Some(sorted[0]),
        n => Some(sorted[n - 2]),
    };
    let purge_upto = match keep_from {
        Some(p) if live > limit && purged.is_none_or(|q| q < p) => Some(p),
        _ => None,
    };
    Decision {
        snapshot,
        purge_upto,
    }
}

/// Runs until `stop` changes or Raft shuts down.
pub async fn run(
    raft: Raft,
    log: LogStore,
    sm: StateMachineStore,
    limit: u64,
    mut stop: watch::Receiver<bool>,
) {
    let mut waiting_since: Option<(Option<u64>, Instant)> = None;
    let mut last_purge_request: Option<u64> = None;
    loop {
        tokio::select! {
            _ = log.appended() => {}
            _ = tokio::time::sleep(POLL) => {}
            _ = stop.changed() => return,
        }
        let (snap, state) = {
            let m = raft.metrics().borrow().clone();
            (m.snapshot.map(|l| l.index), m.state)
        };
        if state == openraft::ServerState::Shutdown {
            return;
        }
        let (Ok(since), Ok(live), Ok(ls)) = (
            log.bytes_after(snap),
            log.bytes_after(None),
            log.log_state(),
        ) else {
            continue;
        };
        let files = sm.snapshot_indexes();
        let d = decide(
            limit,
            since,
            live,
            &files,
            ls.last_purged_log_id.map(|l| l.index),
        );
        if d.snapshot {
            let busy =
                waiting_since.is_some_and(|(at, t)| at == snap && t.elapsed() < SNAPSHOT_PATIENCE);
            if !busy {
                tracing::info!(
                    bytes_since_snapshot = since,
                    limit,
                    "log since the last snapshot exceeds snapshot-log-bytes; snapshotting"
                );
                if raft.trigger().snapshot().await.is_err() {
                    return;
                }
                waiting_since = Some((snap, Instant::now()));
            }
        }
        if let Some(upto) = d.purge_upto {
            if last_purge_request != Some(upto) {
                tracing::info!(
                    live_log_bytes = live,
                    limit,
                    upto,
                    "live log exceeds snapshot-log-bytes; purging behind the previous snapshot"
                );
                if raft.trigger().purge_log(upto).await.is_err() {
                    return;
                }
                last_purge_request = Some(upto);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_when_the_log_since_the_last_one_is_too_large() {
        assert!(decide(100, 101, 101, &[], None).snapshot);
        assert!(!decide(100, 100, 500, &[10], Some(10)).snapshot);
    }

    #[test]
    fn purge_keeps_the_log_behind_the_previous_snapshot() {
        // Two snapshots: purge up to the older one, not the newer.
        assert_eq!(decide(100, 0, 300, &[20, 10], None).purge_upto, Some(10));
        // One: up to it.
        assert_eq!(decide(100, 0, 300, &[10], None).purge_upto, Some(10));
        // Already purged that far, within budget, or no snapshot: nothing.
        assert_eq!(decide(100, 0, 300, &[20, 10], Some(10)).purge_upto, None);
        assert_eq!(decide(100, 0, 90, &[20, 10], None).purge_upto, None);
        assert_eq!(decide(100, 0, 300, &[], None).purge_upto, None);
    }
}
