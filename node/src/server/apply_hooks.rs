//! [`ApplyHooks`]: what the state machine tells the server after each applied batch
//! (`storage::ReadyKeys`) — blocked clients to wake ([`super::blocking`]), tracking
//! invalidations ([`super::tracking`]) and keyspace notifications ([`super::notify`]). One
//! hook, installed once at boot; every node runs it for what it applies itself.

use std::sync::Arc;

use bytes::Bytes;

use crate::storage::{Change, ReadyKeys};

use super::blocking::Registry;
use super::pubsub::PubSub;
use super::tracking::Tracking;

pub struct ApplyHooks {
    pub blocking: Arc<Registry>,
    pub tracking: Arc<Tracking>,
    pub pubsub: Arc<PubSub>,
}

impl ReadyKeys for ApplyHooks {
    fn any_waiting(&self) -> bool {
        self.blocking.any_waiting()
    }

    fn waits_on(&self, db: u32, key: &[u8]) -> bool {
        self.blocking.waits_on(db, key)
    }

    fn waited_keys(&self, db: u32) -> Vec<Bytes> {
        self.blocking.waited_keys(db)
    }

    fn ready(&self, keys: Vec<(u32, Bytes, bool)>) {
        self.blocking.ready(keys)
    }

    fn observes_changes(&self) -> bool {
        self.tracking.active() || super::notify::enabled()
    }

    fn changed(&self, changes: Vec<Change>) {
        self.tracking.changed(&changes);
        super::notify::publish(&self.pubsub, &changes);
    }
}
