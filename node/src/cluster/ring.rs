//! Consistent-hash placement of the 16,384 hash slots onto shards (Raft groups).
//!
//! Each shard contributes `vnodes` points to a 64-bit ring at `mix(fnv1a64("shard-<id>#<i>"))`
//! for i in 0..vnodes (FNV-1a 64 followed by the SplitMix64 finalizer, so that similar
//! strings land far apart). Slot `s` sits at the evenly spaced position `s · 2^64 / 16384` and
//! belongs to the shard owning the first point at or after it (wrapping). Placing slots at even
//! positions, rather than hashing them, removes sampling noise: a shard's slot count tracks its
//! arc length, whose relative spread is about 1/√vnodes.
//!
//! Properties (tested below): deterministic from the shard list alone; with the default 2,048
//! vnodes every shard of 2–16 owns 16384/S ± 10% of the slots; adding a shard moves only slots
//! *to* the new shard (about 1/(S+1) of them); removing a shard moves only *its* slots.

use super::slot::SLOTS;

/// Default virtual nodes per shard.
pub const DEFAULT_VNODES: u32 = 2048;

/// Why a ring cannot be built.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RingError {
    #[error("a ring needs at least one shard")]
    NoShards,
    #[error("shard id {0} appears twice")]
    DuplicateShard(u64),
    #[error("vnodes must be at least 1")]
    NoVnodes,
}

/// The slot → shard table derived from a shard list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ring {
    owners: Vec<u64>,
}

fn fnv1a64(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Ring position of virtual node `i` of `shard`.
pub fn vnode_point(shard: u64, i: u32) -> u64 {
    splitmix64(fnv1a64(format!("shard-{shard}#{i}").as_bytes()))
}

/// Ring position of a slot.
pub fn slot_point(slot: u16) -> u64 {
    (slot as u64) << (64 - 14)
}

impl Ring {
    /// Builds the placement for `shards` (order does not matter).
    pub fn new(shards: &[u64], vnodes: u32) -> Result<Ring, RingError> {
        if shards.is_empty() {
            return Err(RingError::NoShards);
        }
        if vnodes == 0 {
            return Err(RingError::NoVnodes);
        }
        let mut sorted = shards.to_vec();
        sorted.sort_unstable();
        if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
            return Err(RingError::DuplicateShard(w[0]));
        }
        // (point, shard); ties (astronomically unlikely) broken by shard id for determinism.
        let mut points: Vec<(u64, u64)> = Vec::with_capacity(sorted.len() * vnodes as usize);
        for &s in &sorted {
            for i in 0..vnodes {
                points.push((vnode_point(s, i), s));
            }
        }
        points.sort_unstable();
        let owners = (0..SLOTS)
            .map(|slot| {
                let p = slot_point(slot);
                let idx = points.partition_point(|&(q, _)| q < p);
                points.get(idx).unwrap_or(&points[0]).1
            })
            .collect();
        Ok(Ring { owners })
    }

    /// The shard that owns `slot` (slots ≥ 16384 wrap).
    pub fn owner(&self, slot: u16) -> u64 {
        self.owners[(slot % SLOTS) as usize]
    }

    /// Contiguous slot ranges `(first, last, shard)` in slot order, as CLUSTER SLOTS lists them.
    pub fn ranges(&self) -> Vec<(u16, u16, u64)> {
        let mut out: Vec<(u16, u16, u64)> = Vec::new();
        for (slot, &shard) in self.owners.iter().enumerate() {
            match out.last_mut() {
                Some(r) if r.2 == shard && r.1 as usize + 1 == slot => r.1 = slot as u16,
                _ => out.push((slot as u16, slot as u16, shard)),
            }
        }
        out
    }

    /// Number of slots owned by `shard`.
    pub fn count(&self, shard: u64) -> usize {
        self.owners.iter().filter(|&&s| s == shard).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ids(n: u64) -> Vec<u64> {
        (1..=n).collect()
    }

    #[test]
    fn every_shard_gets_its_share_for_2_to_16_shards() {
        for s in 2..=16u64 {
            let ring = Ring::new(&ids(s), DEFAULT_VNODES).unwrap();
            let fair = SLOTS as f64 / s as f64;
            for shard in ids(s) {
                let n = ring.count(shard) as f64;
                assert!(
                    (n - fair).abs() <= fair * 0.10,
                    "{s} shards: shard {shard} owns {n}, fair share {fair:.0}"
                );
            }
        }
    }

    #[test]
    fn deterministic_and_order_independent() {
        let a = Ring::new(&[3, 1, 2], 64).unwrap();
        let b = Ring::new(&[1, 2, 3], 64).unwrap();
        assert_eq!(a, b);
        let ranges = a.ranges();
        assert_eq!(ranges.first().map(|r| r.0), Some(0));
        assert_eq!(ranges.last().map(|r| r.1), Some(SLOTS - 1));
        assert_eq!(
            ranges
                .iter()
                .map(|r| (r.1 - r.0) as usize + 1)
                .sum::<usize>(),
            SLOTS as usize
        );
    }

    #[test]
    fn invalid_rings_are_errors() {
        assert_eq!(Ring::new(&[], 8), Err(RingError::NoShards));
        assert_eq!(Ring::new(&[1, 1], 8), Err(RingError::DuplicateShard(1)));
        assert_eq!(Ring::new(&[1], 0), Err(RingError::NoVnodes));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// Adding a shard moves slots only to the new shard, about 1/(S+1) of them; removing it
        /// again restores the old placement exactly (so removal moves only its slots).
        #[test]
        fn adding_and_removing_a_shard_moves_only_its_slots(
            shards in proptest::collection::btree_set(1u64..1000, 2..16usize),
            new in 1000u64..2000,
        ) {
            let before: Vec<u64> = shards.into_iter().collect();
            let mut after = before.clone();
            after.push(new);
            let a = Ring::new(&before, DEFAULT_VNODES).unwrap();
            let b = Ring::new(&after, DEFAULT_VNODES).unwrap();
            let mut moved = 0usize;
            for slot in 0..SLOTS {
                if a.owner(slot) != b.owner(slot) {
                    prop_assert_eq!(b.owner(slot), new, "slot {} moved to an old shard", slot);
                    moved += 1;
                }
            }
            let expected = SLOTS as f64 / after.len() as f64;
            prop_assert!((moved as f64 - expected).abs() <= expected * 0.15,
                "moved {} slots, expected about {:.0}", moved, expected);
            let back = Ring::new(&before, DEFAULT_VNODES).unwrap();
            prop_assert_eq!(back, a);
        }
    }
}
