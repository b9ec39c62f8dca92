//! Sampling keys without scanning, for the leader's `maxmemory` eviction policies: a key near
//! a position of the SCAN order (uniform enough for random sampling: positions are hashes),
//! a key near a deadline of the expiry index, and what removing a key would free.
//!
//! These only choose candidates; the chosen keys are removed through the log (an ordinary
//! `DEL` entry), so replicas never evict on their own and stay identical.

use bytes::Bytes;

use super::{entry_cost, Keyspace};

impl Keyspace {
    /// The first user key at or after SCAN position `pos`, wrapping to the start; `None` when
    /// the keyspace is empty.
    pub fn key_near(&self, pos: u64) -> Option<&Bytes> {
        self.order
            .range((pos, Bytes::new())..)
            .next()
            .or_else(|| self.order.iter().next())
            .map(|(_, k)| k)
    }

    /// The key with a deadline whose deadline is the first at or after `deadline`, wrapping;
    /// `None` when no key has a deadline.
    pub fn expiring_near(&self, deadline: u64) -> Option<&Bytes> {
        self.expiries
            .range((deadline, Bytes::new())..)
            .next()
            .or_else(|| self.expiries.iter().next())
            .map(|(_, k)| k)
    }

    /// The earliest and latest deadlines, `None` when no key has one.
    pub fn deadline_span(&self) -> Option<(u64, u64)> {
        let first = self.expiries.iter().next()?.0;
        let last = self.expiries.iter().next_back()?.0;
        Some((first, last))
    }

    /// The deadline of `key`, if it has one.
    pub fn deadline_of(&self, key: &[u8]) -> Option<u64> {
        self.map.get(key)?.expire_at
    }

    /// What removing `key` would take off [`Keyspace::approx_memory_bytes`] (0 if absent).
    pub fn key_cost(&self, key: &[u8]) -> usize {
        self.map
            .get_key_value(key)
            .map_or(0, |(k, e)| entry_cost(k, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyspace::Value;

    fn ks_with(keys: &[(&str, Option<u64>)]) -> Keyspace {
        let mut ks = Keyspace::new();
        for (k, d) in keys {
            ks.insert(
                Bytes::copy_from_slice(k.as_bytes()),
                Value::Str(Bytes::from_static(b"v")),
                *d,
                0,
            );
        }
        ks
    }

    #[test]
    fn sampling_finds_keys_and_wraps() {
        assert!(Keyspace::new().key_near(7).is_none());
        let ks = ks_with(&[("a", None), ("b", Some(100)), ("c", Some(300))]);
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..64u64 {
            let pos = i.wrapping_mul(0x0400_0000_0000_0000);
            seen.insert(ks.key_near(pos).cloned().expect("non-empty"));
        }
        assert_eq!(seen.len(), 3, "positions reach every key: {seen:?}");
        assert_eq!(ks.key_near(u64::MAX).map(|_| ()), Some(()));
        assert_eq!(ks.deadline_span(), Some((100, 300)));
        assert_eq!(ks.expiring_near(101).map(|k| &k[..]), Some(&b"c"[..]));
        assert_eq!(ks.expiring_near(301).map(|k| &k[..]), Some(&b"b"[..]));
        assert_eq!(ks.deadline_of(b"b"), Some(100));
        assert_eq!(ks.deadline_of(b"a"), None);
        let before = ks.approx_memory_bytes();
        let cost = ks.key_cost(b"a");
        let mut ks = ks;
        ks.remove(b"a");
        assert_eq!(ks.approx_memory_bytes(), before - cost);
        assert_eq!(ks.key_cost(b"zz"), 0);
    }
}
