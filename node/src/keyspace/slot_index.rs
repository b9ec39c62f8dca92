//! [`SlotIndex`]: the user keys of each Redis Cluster hash slot, so `CLUSTER COUNTKEYSINSLOT`
//! and `CLUSTER GETKEYSINSLOT` cost O(keys in the slot) under the keyspace lock instead of a
//! scan of the whole keyspace (which stalls every write meanwhile).
//!
//! One ordered set of `(slot, key)` pairs: the keys of a slot are a contiguous range, in byte
//! order (deterministic, the same on every replica). The keys are clones of the keyspace's own
//! `Bytes` (a reference count, no copy). Reserved keys (`IDEMPOTENT` dedup records and the time
//! floor, under [`super::RESERVED_PREFIX`]) are never indexed: no user command can see them.
//!
//! Derived data: it is not in snapshots; decoding a snapshot rebuilds it as keys are inserted.
//! [`super::Keyspace`] keeps it in step wherever its map gains or loses a key (insert, remove,
//! RENAME, expiry, FLUSHALL, snapshot install); the property test `slot_index_matches_keys`
//! checks that.

use std::collections::BTreeSet;

use bytes::Bytes;

use crate::cluster::slot::key_slot;

/// Keys by hash slot (see the module docs).
#[derive(Clone, Debug, Default)]
pub struct SlotIndex {
    keys: BTreeSet<(u16, Bytes)>,
}

fn indexed(key: &[u8]) -> bool {
    !key.starts_with(super::RESERVED_PREFIX)
}

impl SlotIndex {
    /// Records `key` (a no-op for a reserved key or one already present).
    pub fn insert(&mut self, key: &Bytes) {
        if indexed(key) {
            self.keys.insert((key_slot(key), key.clone()));
        }
    }

    /// Forgets `key`.
    pub fn remove(&mut self, key: &Bytes) {
        if indexed(key) {
            self.keys.remove(&(key_slot(key), key.clone()));
        }
    }

    /// Forgets every key.
    pub fn clear(&mut self) {
        self.keys.clear();
    }

    /// Number of indexed keys (equals the number of user keys).
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The keys of `slot` in byte order, stored and logically expired alike (the caller
    /// filters by deadline). O(log n) to start, O(1) per key.
    pub fn keys_in(&self, slot: u16) -> impl Iterator<Item = &Bytes> + '_ {
        self.keys
            .range((slot, Bytes::new())..)
            .take_while(move |(s, _)| *s == slot)
            .map(|(_, k)| k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_of_a_slot_are_a_range_and_reserved_keys_are_skipped() {
        let mut ix = SlotIndex::default();
        // {a} tags put these in one slot; "b" elsewhere.
        for k in ["{a}2", "{a}1", "b", "\0sdr:req:x"] {
            ix.insert(&Bytes::copy_from_slice(k.as_bytes()));
        }
        assert_eq!(ix.len(), 3);
        let got: Vec<&[u8]> = ix.keys_in(key_slot(b"a")).map(|k| &k[..]).collect();
        assert_eq!(got, vec![&b"{a}1"[..], &b"{a}2"[..]]);
        ix.remove(&Bytes::from_static(b"{a}1"));
        assert_eq!(ix.keys_in(key_slot(b"a")).count(), 1);
        assert_eq!(ix.keys_in(key_slot(b"b")).count(), 1);
        let other = (0..crate::cluster::slot::SLOTS)
            .find(|s| *s != key_slot(b"a") && *s != key_slot(b"b"))
            .expect("a third slot");
        assert_eq!(ix.keys_in(other).count(), 0);
    }

    use crate::keyspace::{codec, Keyspace};
    use proptest::prelude::*;

    /// Keys in a few slots (hash tags), so slots hold several keys.
    const KEYS: &[&str] = &["{a}1", "{a}2", "{a}3", "{b}1", "{b}2", "c", "d"];

    /// One step of a random history: a write through the apply path, active expiry, time
    /// passing, or a snapshot install (encode, decode, replace the keyspace).
    #[derive(Clone, Debug)]
    enum Step {
        Cmd(Vec<String>),
        ActiveExpiry,
        Tick(u64),
        Install,
    }

    fn arb_step() -> impl Strategy<Value = Step> {
        let k = || proptest::sample::select(KEYS);
        prop_oneof![
            (k(), 1u64..50).prop_map(|(k, t)| Step::Cmd(vec![
                "set".into(),
                k.into(),
                "v".into(),
                "px".into(),
                t.to_string()
            ])),
            k().prop_map(|k| Step::Cmd(vec!["set".into(), k.into(), "v".into()])),
            k().prop_map(|k| Step::Cmd(vec!["del".into(), k.into()])),
            k().prop_map(|k| Step::Cmd(vec!["getdel".into(), k.into()])),
            (k(), k()).prop_map(|(a, b)| Step::Cmd(vec!["rename".into(), a.into(), b.into()])),
            (k(), k()).prop_map(|(a, b)| Step::Cmd(vec!["renamenx".into(), a.into(), b.into()])),
            k().prop_map(|k| Step::Cmd(vec!["pexpire".into(), k.into(), "0".into()])),
            (k(), 1u64..50).prop_map(|(k, t)| Step::Cmd(vec![
                "pexpire".into(),
                k.into(),
                t.to_string()
            ])),
            k().prop_map(|k| Step::Cmd(vec!["rpush".into(), k.into(), "x".into()])),
            k().prop_map(|k| Step::Cmd(vec!["lpop".into(), k.into()])),
            k().prop_map(|k| Step::Cmd(vec!["sadd".into(), k.into(), "m".into()])),
            k().prop_map(|k| Step::Cmd(vec!["srem".into(), k.into(), "m".into()])),
            (k(), 0u64..5).prop_map(|(k, n)| Step::Cmd(vec![
                "idempotent".into(),
                "cl".into(),
                n.to_string(),
                "set".into(),
                k.into(),
                "i".into()
            ])),
            Just(Step::Cmd(vec!["flushall".into()])),
            Just(Step::ActiveExpiry),
            (0u64..30).prop_map(Step::Tick),
            Just(Step::Install),
        ]
    }

    /// The index recomputed from the keyspace's map: every stored user key.
    fn recomputed(ks: &Keyspace) -> BTreeSet<(u16, Bytes)> {
        ks.map.keys().map(|k| (key_slot(k), k.clone())).collect()
    }

    proptest! {
        /// After any history of writes, expiries, renames, flushes and snapshot installs, the
        /// slot index holds exactly the stored user keys (no dedup record), and
        /// `keys_in_slot` is the live keys of the slot in byte order.
        #[test]
        fn slot_index_matches_keys(steps in proptest::collection::vec(arb_step(), 1..60)) {
            let mut ks = Keyspace::new();
            let mut now = 1u64;
            for step in steps {
                match step {
                    Step::Cmd(words) => {
                        let argv: Vec<Bytes> = words.iter().map(|w| Bytes::copy_from_slice(w.as_bytes())).collect();
                        crate::cmd::apply_argv(&mut ks, &argv, now);
                    }
                    Step::ActiveExpiry => {
                        let due = ks.sample_expired(now, 3);
                        ks.remove_expired(&due, now);
                    }
                    Step::Tick(t) => now += t,
                    Step::Install => {
                        let mut snap = Vec::new();
                        codec::encode(&ks, &mut snap);
                        ks = codec::decode(&snap).expect("own snapshot decodes");
                    }
                }
                prop_assert_eq!(&ks.slots.keys, &recomputed(&ks));
                prop_assert_eq!(ks.slots.len(), ks.len());
                for slot in ks.slots.keys.iter().map(|(s, _)| *s).collect::<BTreeSet<_>>() {
                    let got: Vec<&Bytes> = ks.keys_in_slot(slot, now).collect();
                    let mut want: Vec<&Bytes> = ks.keys(now).map(|(k, _)| k).filter(|k| key_slot(k) == slot).collect();
                    want.sort();
                    prop_assert_eq!(got, want);
                }
            }
        }
    }
}
