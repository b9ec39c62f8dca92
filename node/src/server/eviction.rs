//! `maxmemory` eviction, decided by the leader and carried out through the log.
//!
//! Redis evicts inside the command that finds memory over the limit, and its replicas delete
//! what the primary sends them. Here the node that proposes a `denyoom` write does the same
//! before proposing it: it picks victims by the policy (Redis's sampling approximation:
//! `maxmemory-samples` candidates per victim, the best by the policy kept), proposes one
//! ordinary `DEL` entry for them, waits for it to apply, and re-checks. Replicas never evict
//! on their own, so every replica holds the same keys; a follower's access times play no part.
//!
//! Access times ([`AccessClock`]) are kept only while an LRU policy is set, per node, keyed by
//! a 64-bit hash of the key (12 bytes of map entry per touched key, never the key itself),
//! with one-second resolution like Redis's LRU clock. The map is bounded: when it holds more
//! than [`ACCESS_CAPACITY_FACTOR`] × keyspace size (+ 1,024) entries, the older half is
//! forgotten (a forgotten key counts as idle since the node started — the first candidate).
//!
//! One eviction runs at a time ([`Evictor`]'s lock), so many writers over the limit at once do
//! not each evict on their own account.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::config::MaxmemoryPolicy;
use crate::keyspace::{scan_hash, Keyspace, SharedKeyspace};
use crate::resp::Frame;

use super::proposer::Proposer;

/// Candidates looked at per victim (Redis's `maxmemory-samples` default).
pub const SAMPLES: usize = 5;
/// Keys deleted per eviction entry at most.
const MAX_VICTIMS_PER_ENTRY: usize = 64;
/// Eviction entries one command may wait for before it is answered `-OOM`.
const MAX_ROUNDS: usize = 16;
/// See the module docs.
const ACCESS_CAPACITY_FACTOR: usize = 2;
const SHARDS: usize = 16;

/// Per-node last-access times (milliseconds since the node started) of recently touched keys.
pub struct AccessClock {
    started: Instant,
    shards: Vec<Mutex<HashMap<u64, u64>>>,
}

impl Default for AccessClock {
    fn default() -> Self {
        AccessClock {
            started: Instant::now(),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }
}

impl AccessClock {
    fn now(&self) -> u64 {
        // Starts at 1 so 0 means "not seen since the node started".
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX - 1) + 1
    }

    fn shard(&self, h: u64) -> std::sync::MutexGuard<'_, HashMap<u64, u64>> {
        let m = &self.shards[(h as usize) % SHARDS];
        match m.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Records an access to `key` now.
    pub fn touch(&self, key: &[u8], keyspace_len: usize) {
        let h = scan_hash(key);
        let now = self.now();
        let mut m = self.shard(h);
        m.insert(h, now);
        let cap = (keyspace_len * ACCESS_CAPACITY_FACTOR + 1024) / SHARDS + 1;
        if m.len() > cap {
            let mut times: Vec<u64> = m.values().copied().collect();
            let mid = times.len() / 2;
            let (_, median, _) = times.select_nth_unstable(mid);
            let cut = *median;
            m.retain(|_, t| *t > cut);
        }
    }

    /// Milliseconds since the last recorded access to `key` (large for a key never seen).
    pub fn idle(&self, key: &[u8]) -> u64 {
        let h = scan_hash(key);
        let last = self.shard(h).get(&h).copied().unwrap_or(0);
        self.now().saturating_sub(last)
    }
}

/// The node's evictor: one eviction at a time, and its access clock.
#[derive(Default)]
pub struct Evictor {
    pub access: AccessClock,
    running: tokio::sync::Mutex<()>,
    rng: Mutex<Option<sdr_seeded::Rng>>,
}

impl Evictor {
    /// An evictor whose sampling follows `seed` (tests).
    pub fn with_seed(seed: u64) -> Evictor {
        Evictor {
            rng: Mutex::new(Some(sdr_seeded::Rng::new(seed))),
            ..Evictor::default()
        }
    }

    fn draw(&self) -> u64 {
        let mut g = match self.rng.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let rng = g.get_or_insert_with(|| {
            // Which keys are sampled needs no agreement (the choice goes into the log as
            // explicit keys), so the seed may come from the clock.
            sdr_seeded::Rng::new(crate::clock::now_ms() ^ (std::process::id() as u64) << 32)
        });
        rng.next_u64()
    }

    /// Up to [`MAX_VICTIMS_PER_ENTRY`] keys whose removal brings `used + growth` under
    /// `maxmemory`, chosen by `policy`; empty when the policy has nothing to evict (noeviction,
    /// or a volatile policy with no key carrying a TTL).
    fn victims(&self, ks: &Keyspace, policy: MaxmemoryPolicy, mut excess: usize) -> Vec<Bytes> {
        let mut out: Vec<Bytes> = Vec::new();
        while excess > 0 && out.len() < MAX_VICTIMS_PER_ENTRY {
            let mut best: Option<(u64, Bytes)> = None;
            for _ in 0..SAMPLES {
                let cand = match policy {
                    MaxmemoryPolicy::NoEviction => return out,
                    MaxmemoryPolicy::AllKeysLru | MaxmemoryPolicy::AllKeysRandom => {
                        ks.key_near(self.draw())
                    }
                    MaxmemoryPolicy::VolatileLru
                    | MaxmemoryPolicy::VolatileRandom
                    | MaxmemoryPolicy::VolatileTtl => match ks.deadline_span() {
                        None => return out,
                        Some((lo, hi)) => ks.expiring_near(lo + self.draw() % (hi - lo + 1)),
                    },
                };
                let Some(k) = cand else { return out };
                if out.contains(k) {
                    continue;
                }
                // Higher score = better victim.
                let score = match policy {
                    MaxmemoryPolicy::AllKeysLru | MaxmemoryPolicy::VolatileLru => {
                        self.access.idle(k)
                    }
                    MaxmemoryPolicy::VolatileTtl => {
                        u64::MAX - ks.deadline_of(k).unwrap_or(u64::MAX)
                    }
                    _ => 0,
                };
                if best.as_ref().is_none_or(|(s, _)| score > *s) {
                    best = Some((score, k.clone()));
                }
                if matches!(
                    policy,
                    MaxmemoryPolicy::AllKeysRandom | MaxmemoryPolicy::VolatileRandom
                ) {
                    break;
                }
            }
            let Some((_, k)) = best else {
                // Every sample was already chosen: the keyspace is nearly exhausted.
                break;
            };
            excess = excess.saturating_sub(ks.key_cost(&k).max(1));
            out.push(k);
        }
        out
    }

    /// Makes room for a write that may add `growth` bytes: evicts by `policy` until the
    /// keyspace's estimate plus `growth` fits under `maxmemory`, each round one `DEL` entry
    /// proposed through `proposer` and awaited (at most `timeout`). Returns whether it fits
    /// (false: answer `-OOM`, as under `noeviction`) and how many keys were evicted.
    pub async fn make_room(
        &self,
        keyspace: &SharedKeyspace,
        proposer: &Proposer,
        policy: MaxmemoryPolicy,
        maxmemory: u64,
        growth: u64,
        timeout: Duration,
    ) -> (bool, u64) {
        let used = || match keyspace.read() {
            Ok(k) => k.approx_memory_bytes() as u64,
            Err(p) => p.into_inner().approx_memory_bytes() as u64,
        };
        if used().saturating_add(growth) <= maxmemory {
            return (true, 0);
        }
        if policy == MaxmemoryPolicy::NoEviction || growth > maxmemory {
            return (false, 0);
        }
        let _one = self.running.lock().await;
        let mut evicted = 0u64;
        for _ in 0..MAX_ROUNDS {
            let now = used();
            if now.saturating_add(growth) <= maxmemory {
                return (true, evicted);
            }
            let excess = (now.saturating_add(growth) - maxmemory) as usize;
            // Victims come from the database holding the most memory (every database is
            // subject to eviction, as in Redis; one DEL entry is one database's).
            let (db, victims) = {
                let ks = match keyspace.read() {
                    Ok(k) => k,
                    Err(p) => p.into_inner(),
                };
                let (db, dks) = ks
                    .databases()
                    .into_iter()
                    .max_by_key(|(n, d)| (d.db_memory_bytes(), std::cmp::Reverse(*n)))
                    .unwrap_or((0, &*ks));
                (db, self.victims(dks, policy, excess))
            };
            if victims.is_empty() {
                return (false, evicted);
            }
            let mut argv = Vec::with_capacity(victims.len() + 1);
            argv.push(Bytes::from_static(b"DEL"));
            argv.extend(victims);
            let rx = proposer.submit_run(db, vec![argv]);
            match tokio::time::timeout(timeout, rx).await {
                Ok(Ok(replies)) => match replies.first() {
                    Some(Frame::Integer(n)) => evicted += (*n).max(0) as u64,
                    _ => return (false, evicted),
                },
                _ => return (false, evicted),
            }
        }
        (used().saturating_add(growth) <= maxmemory, evicted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyspace::Value;

    fn filled(n: usize, ttl_every: usize) -> Keyspace {
        let mut ks = Keyspace::new();
        for i in 0..n {
            let d = (ttl_every > 0 && i % ttl_every == 0).then_some(1_000 + i as u64);
            ks.insert(
                Bytes::from(format!("k{i}")),
                Value::Str(Bytes::from(vec![b'x'; 100])),
                d,
                0,
            );
        }
        ks
    }

    /// How often each policy picks the one idle key among 20 touched ones, from one seed.
    fn idle_picks(policy: MaxmemoryPolicy) -> usize {
        let e = Evictor::with_seed(42);
        let ks = filled(20, 0);
        for i in 0..20 {
            if i != 7 {
                e.access.touch(format!("k{i}").as_bytes(), ks.len());
            }
        }
        (0..400)
            .filter(|_| e.victims(&ks, policy, 1) == [Bytes::from_static(b"k7")])
            .count()
    }

    #[test]
    fn lru_prefers_idle_keys() {
        let lru = idle_picks(MaxmemoryPolicy::AllKeysLru);
        let random = idle_picks(MaxmemoryPolicy::AllKeysRandom);
        // Random picks k7 about 1 time in 20; LRU whenever one of its 5 samples is k7.
        assert!(
            lru >= 3 * random.max(1),
            "lru {lru} vs random {random} of 400"
        );
    }

    #[test]
    fn volatile_policies_only_pick_keys_with_a_ttl_and_ttl_picks_the_soonest() {
        let e = Evictor::default();
        let ks = filled(100, 10);
        for policy in [
            MaxmemoryPolicy::VolatileLru,
            MaxmemoryPolicy::VolatileRandom,
            MaxmemoryPolicy::VolatileTtl,
        ] {
            let v = e.victims(&ks, policy, 10_000);
            assert!(!v.is_empty());
            assert!(v.iter().all(|k| ks.deadline_of(k).is_some()), "{policy:?}");
        }
        assert!(e
            .victims(&super::Keyspace::new(), MaxmemoryPolicy::AllKeysLru, 10)
            .is_empty());
        assert!(e
            .victims(&filled(10, 0), MaxmemoryPolicy::VolatileTtl, 10)
            .is_empty());
        assert!(e.victims(&ks, MaxmemoryPolicy::NoEviction, 10).is_empty());
        // Enough victims to cover the excess, no duplicates.
        let v = e.victims(&filled(100, 0), MaxmemoryPolicy::AllKeysRandom, 1_000);
        let unique: std::collections::BTreeSet<_> = v.iter().collect();
        assert_eq!(unique.len(), v.len());
        assert!(
            v.len() >= 4,
            "{} victims for 1000 bytes of ~200-byte keys",
            v.len()
        );
    }

    #[test]
    fn access_map_stays_bounded() {
        let c = AccessClock::default();
        for i in 0..100_000u32 {
            c.touch(&i.to_le_bytes(), 10);
        }
        let total: usize = c
            .shards
            .iter()
            .map(|s| s.lock().map_or(0, |m| m.len()))
            .sum();
        assert!(total < 4_000, "{total} entries for a 10-key keyspace");
    }
}
