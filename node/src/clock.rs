//! Wall-clock time in milliseconds since the Unix epoch.
//!
//! Only the leader reads the clock: it stamps the value into every log entry, and the state
//! machine decides expiry from the stamped value (floored by the largest stamp applied,
//! `Keyspace::advance_clock`), never from its own clock, so every replica applies the log
//! identically. Stamps and reads use `Keyspace::timeline(now_ms())`, never earlier than that
//! floor.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch (0 if the clock is before 1970).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
