//! A cluster-aware sdr client: routes each key to the node owning its hash slot, like Redis
//! Cluster clients do. It loads the slot table with `CLUSTER SLOTS` from its home endpoint,
//! keeps one connection per node, and learns from `-MOVED` (a moved slot is re-pointed, and the
//! table is reloaded, at most every `MIN_REFRESH`). Without it, a client writing keys of several shards
//! would bounce its single connection between them on every request.

use std::collections::HashMap;
use std::time::Duration;

use sdr_node::cluster::slot::key_slot;

use sdr_resp::Frame;

use crate::sdr::{command, moved_target};
use crate::sdr::{SdrConn, SdrError};

const SLOTS: usize = 16384;

pub struct SlotRouter {
    home: String,
    io_timeout: Duration,
    conns: HashMap<String, SdrConn>,
    /// Owner address per slot; `None` = unknown (go home, which redirects).
    owners: Vec<Option<String>>,
    stale: bool,
    last_refresh: Option<std::time::Instant>,
}

/// Reload the slot table at most this often; in between, `-MOVED` fixes single slots.
const MIN_REFRESH: Duration = Duration::from_millis(500);

impl SlotRouter {
    pub fn new(home: &str, io_timeout: Duration) -> SlotRouter {
        SlotRouter {
            home: home.to_string(),
            io_timeout,
            conns: HashMap::new(),
            owners: vec![None; SLOTS],
            stale: true,
            last_refresh: None,
        }
    }

    fn conn(&mut self, addr: &str) -> &mut SdrConn {
        let t = self.io_timeout;
        self.conns
            .entry(addr.to_string())
            .or_insert_with(|| SdrConn::new(addr, t))
    }

    /// Reloads the slot table from `CLUSTER SLOTS` (best effort: on failure the old table and
    /// `-MOVED` keep requests flowing).
    async fn refresh(&mut self) {
        let home = self.home.clone();
        let cmd = command(&[b"CLUSTER", b"SLOTS"]);
        if let Ok(Frame::Array(ranges)) = self.conn(&home).request(&cmd).await {
            for r in ranges {
                let Frame::Array(parts) = r else {
                    continue;
                };
                let (Some(Frame::Integer(a)), Some(Frame::Integer(b)), Some(Frame::Array(master))) =
                    (parts.first(), parts.get(1), parts.get(2))
                else {
                    continue;
                };
                let (Some(Frame::Bulk(host)), Some(Frame::Integer(port))) =
                    (master.first(), master.get(1))
                else {
                    continue;
                };
                let addr = format!("{}:{port}", String::from_utf8_lossy(host));
                for s in (*a).max(0) as usize..=((*b).max(0) as usize).min(SLOTS - 1) {
                    self.owners[s] = Some(addr.clone());
                }
            }
        }
        self.stale = false;
    }

    /// One `SET key value` attempt at the slot's owner. `-MOVED` updates the table and is
    /// returned so the caller retries.
    pub async fn set_once(&mut self, key: &[u8], value: &[u8]) -> Result<(), SdrError> {
        if self.stale && self.last_refresh.is_none_or(|t| t.elapsed() >= MIN_REFRESH) {
            self.last_refresh = Some(std::time::Instant::now());
            self.refresh().await;
        }
        let slot = key_slot(key) as usize;
        let addr = self.owners[slot]
            .clone()
            .unwrap_or_else(|| self.home.clone());
        let res = self.conn(&addr).set_once(key, value).await;
        if let Err(SdrError::Server { msg, .. }) = &res {
            if let Some(target) = moved_target(msg) {
                self.owners[slot] = Some(target);
                self.stale = true;
            }
        }
        if matches!(
            res,
            Err(SdrError::Connect { .. } | SdrError::Io { .. } | SdrError::Closed { .. })
        ) {
            self.owners[slot] = None;
            self.stale = true;
        }
        res
    }
}
