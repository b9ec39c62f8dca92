//! Active expiry, driven by the leader through the log.
//!
//! Expired keys are already invisible to every command (reads use the leader's clock, writes the
//! stamped entry time). To reclaim their memory the leader periodically samples expired keys and
//! proposes `Request::Expire { now_ms, keys }`; applying it removes each key only if it is still
//! expired at the stamped time. Because deletion goes through the log, every replica — including
//! one added later from a snapshot — holds exactly the same keys.

use std::sync::Arc;
use std::time::Duration;

use crate::clock;
use crate::raft::Request;

use super::state::Node;
use super::stats::Stats;
use super::write_path;

/// Keys deleted per proposed entry.
const BATCH: usize = 256;
/// Entries proposed per tick at most, so expiry cannot starve client writes.
const MAX_BATCHES_PER_TICK: usize = 16;

/// Runs until shutdown.
pub async fn run(node: Arc<Node>) {
    let mut tick =
        tokio::time::interval(Duration::from_millis(node.config.active_expire_interval_ms));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut shutdown = node.shutdown_signal();
    loop {
        tokio::select! {
            _ = tick.tick() => {},
            _ = shutdown.changed() => return,
        }
        if !node.raft.metrics().borrow().state.is_leader()
            || !node
                .active_expire
                .load(std::sync::atomic::Ordering::Relaxed)
        {
            continue;
        }
        for _ in 0..MAX_BATCHES_PER_TICK {
            // Every database: the first (by index) with expired keys gets this entry.
            let (now, db, keys) = {
                let k = match node.keyspace.read() {
                    Ok(k) => k,
                    Err(p) => p.into_inner(),
                };
                let now = k.timeline(clock::now_ms());
                let found = k.databases().into_iter().find_map(|(n, d)| {
                    let keys = d.sample_expired(now, BATCH);
                    (!keys.is_empty()).then_some((n, keys))
                });
                match found {
                    Some((db, keys)) => (now, db, keys),
                    None => (now, 0, Vec::new()),
                }
            };
            if keys.is_empty() {
                break;
            }
            let n = keys.len();
            let deadline = tokio::time::Instant::now() + node.request_timeout();
            let req = Request::in_db(db, Request::Expire { now_ms: now, keys });
            let reply = match write_path::propose(&node.raft, req).await {
                Ok(p) => write_path::await_reply(p, deadline, node.request_timeout()).await,
                Err(e) => e,
            };
            if reply.is_error() {
                tracing::debug!(?reply, "active expiry entry failed; will retry next tick");
                break;
            }
            Stats::add(&node.stats.expired_keys, n as u64);
            if n < BATCH {
                break;
            }
        }
    }
}
