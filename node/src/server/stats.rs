//! Process-wide counters reported by INFO. Relaxed atomics: these are statistics, not
//! synchronisation.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct Stats {
    pub connections_received: AtomicU64,
    pub connected_clients: AtomicU64,
    pub rejected_connections: AtomicU64,
    pub commands_processed: AtomicU64,
    pub writes_proposed: AtomicU64,
    pub reads_confirmed: AtomicU64,
    pub read_barriers: AtomicU64,
    pub protocol_errors: AtomicU64,
    pub expired_keys: AtomicU64,
    /// Keys removed by a `maxmemory-policy` (through the log).
    pub evicted_keys: AtomicU64,
    pub net_input_bytes: AtomicU64,
    pub net_output_bytes: AtomicU64,
}

impl Stats {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// CONFIG RESETSTAT: zero the cumulative counters (gauges such as connected_clients stay).
    pub fn reset(&self) {
        for c in [
            &self.connections_received,
            &self.rejected_connections,
            &self.commands_processed,
            &self.writes_proposed,
            &self.reads_confirmed,
            &self.read_barriers,
            &self.protocol_errors,
            &self.expired_keys,
            &self.evicted_keys,
            &self.net_input_bytes,
            &self.net_output_bytes,
        ] {
            c.store(0, Ordering::Relaxed);
        }
    }
}
