//! Wing & Gong's linearizability search with Lowe's memoisation, as in
//! Porcupine: the history is a doubly linked list of call/return entries
//! sorted by time; linearizing an op *lifts* its call and return out of the
//! list, backtracking *unlifts* them. A cache of (linearized set, state)
//! pairs prunes configurations already explored.
//!
//! Semantics: intervals are closed (at equal times calls sort before
//! returns, so touching ops are concurrent). Indeterminate (`info`) ops
//! return at +∞: they may be linearized anywhere after their call, or never —
//! the search succeeds as soon as every determinate op is linearized.

use crate::bitset::Bitset;
use crate::model::Model;
use crate::op::Op;
use hashbrown::HashTable;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

const NIL: u32 = u32::MAX;
const HEAD: u32 = 0;

/// Stops a search early: cancellation (another partition failed) or a deadline.
#[derive(Clone, Copy)]
pub struct Control<'a> {
    pub cancel: Option<&'a AtomicBool>,
    pub deadline: Option<Instant>,
}

impl Control<'_> {
    pub const NONE: Control<'static> = Control {
        cancel: None,
        deadline: None,
    };

    /// Whether the search should stop right now (checked before starting).
    pub fn stop_now(&self) -> bool {
        self.stop().is_some()
    }

    fn stop(&self) -> Option<Outcome> {
        if let Some(c) = self.cancel {
            if c.load(Ordering::Relaxed) {
                return Some(Outcome::Cancelled);
            }
        }
        if let Some(d) = self.deadline {
            if Instant::now() >= d {
                return Some(Outcome::TimedOut);
            }
        }
        None
    }
}

/// Result of searching one partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Linearizable; the linearization as indices into the partition's ops
    /// (indeterminate ops that were never linearized are absent).
    Ok(Vec<u32>),
    Illegal,
    TimedOut,
    Cancelled,
    /// The check's memory budget ([`MemBudget`]) ran out.
    OutOfMemory,
}

/// Explanation of a violation, as indices into the partition's ops.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Failure {
    /// The longest linearizable prefix the search found.
    pub prefix: Vec<u32>,
    /// The op whose completion could not be reached: after `prefix`, no
    /// order of the pending ops lets this op take effect before it returned.
    pub offending: u32,
    /// Ops pending at that point (invoked before `offending` returned, not in
    /// `prefix`), including `offending`: none of them could be placed next.
    pub unplaced: Vec<u32>,
    /// The shortest window of the key's history found to be not
    /// linearizable on its own ([`crate::shrink`]), if one was found.
    pub window: Option<Vec<u32>>,
}

/// One memoised configuration. The linearized set is split in two: the
/// determinate ops (`det`, exact match) and the indeterminate ones (`inf`,
/// subset match: see [`Search`]'s dominance rule).
struct CacheEntry {
    hash: u64,
    /// First word of the compact determinate set (words before it are all ones).
    det_lo: u32,
    /// First word of the compact indeterminate set (words before it are zero).
    inf_lo: u32,
    /// Number of determinate words at the front of `words`.
    det_len: u32,
    /// Compact determinate words, then compact indeterminate words.
    words: Words,
    /// The model state, interned ([`States`]).
    state: u32,
}

impl CacheEntry {
    fn det(&self) -> &[u64] {
        &self.words.as_slice()[..self.det_len as usize]
    }
    fn inf(&self) -> &[u64] {
        &self.words.as_slice()[self.det_len as usize..]
    }
}

/// The words of a cache entry: most compact sets are a word or two (the
/// linearized set is a prefix plus a window of about the concurrency), so
/// those are kept inline, without an allocation of their own.
enum Words {
    Inline(u8, [u64; 2]),
    Heap(Box<[u64]>),
}

impl Words {
    fn new(a: &[u64], b: &[u64]) -> Words {
        let n = a.len() + b.len();
        if n <= 2 {
            let mut w = [0u64; 2];
            w[..a.len()].copy_from_slice(a);
            w[a.len()..n].copy_from_slice(b);
            Words::Inline(n as u8, w)
        } else {
            let mut v = Vec::with_capacity(n);
            v.extend_from_slice(a);
            v.extend_from_slice(b);
            Words::Heap(v.into_boxed_slice())
        }
    }
    fn as_slice(&self) -> &[u64] {
        match self {
            Words::Inline(n, w) => &w[..*n as usize],
            Words::Heap(b) => b,
        }
    }
    /// Heap bytes beyond the entry itself.
    fn heap_bytes(&self) -> usize {
        match self {
            Words::Inline(..) => 0,
            Words::Heap(b) => 16 + 8 * b.len(),
        }
    }
}

/// Bytes one cache entry holds: the entry, its share of the table's control
/// bytes and spare capacity, and its word allocation.
fn entry_bytes(words: &Words) -> usize {
    (std::mem::size_of::<CacheEntry>() + 1) * 2 + words.heap_bytes()
}

/// Interned model states: every distinct state is stored once, and cache
/// entries refer to it by id, so comparing states is comparing ids and a
/// state reached along many paths (a long `append` string, say) costs its
/// memory once.
struct States<S> {
    all: Vec<S>,
    /// (state hash, id)
    index: HashTable<(u64, u32)>,
}

impl<S: Eq + Hash + Clone> States<S> {
    fn new() -> Self {
        States {
            all: Vec::new(),
            index: HashTable::new(),
        }
    }

    /// The id of `s` (`h` its hash), if interned.
    fn find(&self, h: u64, s: &S) -> Option<u32> {
        self.index
            .find(h, |&(hh, id)| hh == h && self.all[id as usize] == *s)
            .map(|&(_, id)| id)
    }

    /// Interns `s`; returns its id and whether it was new.
    fn intern(&mut self, h: u64, s: &S) -> (u32, bool) {
        if let Some(id) = self.find(h, s) {
            return (id, false);
        }
        let id = self.all.len() as u32;
        self.all.push(s.clone());
        self.index.insert_unique(h, (h, id), |&(hh, _)| hh);
        (id, true)
    }

    /// Keeps only the states whose ids `keep` marks; returns old id → new id.
    fn retain(&mut self, keep: &[bool]) -> Vec<u32> {
        let mut remap = vec![u32::MAX; self.all.len()];
        let old = std::mem::take(&mut self.all);
        let mut hashes = vec![0u64; old.len()];
        for &(h, id) in self.index.iter() {
            hashes[id as usize] = h;
        }
        self.index.clear();
        for (id, st) in old.into_iter().enumerate() {
            if keep[id] {
                let nid = self.all.len() as u32;
                remap[id] = nid;
                self.all.push(st);
                let h = hashes[id];
                self.index.insert_unique(h, (h, nid), |&(hh, _)| hh);
            }
        }
        remap
    }
}

/// The cache is first thinned at this many entries ([`Search::evict`]).
const EVICT_MIN_ENTRIES: usize = 1 << 20;
/// Configurations this many words (64 ops each) behind the current
/// determinate prefix are forgotten.
const EVICT_MARGIN_WORDS: u32 = 32;

/// Whether the compact set `(a_lo, a)` is a subset of the full set `b`.
#[inline]
fn compact_subset(a_lo: u32, a: &[u64], b: &[u64]) -> bool {
    a.iter().enumerate().all(|(j, &w)| {
        let bw = b.get(a_lo as usize + j).copied().unwrap_or(0);
        w & !bw == 0
    })
}

/// Compact form of a plain bitset: `(lo, words[lo..hi])`, zero words trimmed
/// at both ends.
#[inline]
fn compact_zeros(words: &[u64]) -> (u32, &[u64]) {
    let Some(lo) = words.iter().position(|&w| w != 0) else {
        return (0, &[]);
    };
    let hi = words.iter().rposition(|&w| w != 0).map_or(lo, |i| i + 1);
    (lo as u32, &words[lo..hi])
}

/// Memory accounting shared by every search of one check: bytes held by
/// the searches' caches, and the limit past which they stop with
/// [`Outcome::OutOfMemory`].
#[derive(Debug, Default)]
pub struct MemBudget {
    used: AtomicUsize,
    limit: usize,
}

impl MemBudget {
    /// A budget of `limit` bytes (`0`: unlimited).
    pub fn new(limit: usize) -> Self {
        MemBudget {
            used: AtomicUsize::new(0),
            limit,
        }
    }
    /// Bytes currently accounted.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }
    /// The limit in bytes (`0`: unlimited).
    pub fn limit(&self) -> usize {
        self.limit
    }
    fn add(&self, n: usize) -> bool {
        let now = self.used.fetch_add(n, Ordering::Relaxed) + n;
        self.limit == 0 || now <= self.limit
    }
    fn sub(&self, n: usize) {
        self.used.fetch_sub(n, Ordering::Relaxed);
    }
}

fn fx_hash<T: Hash>(t: &T) -> u64 {
    let mut h = rustc_hash::FxHasher::default();
    t.hash(&mut h);
    h.finish()
}

/// The call/return list.
struct Entries {
    next: Vec<u32>,
    prev: Vec<u32>,
    /// For an indeterminate op: the previous (in call order) indeterminate
    /// op with an identical input, or NIL. Such twins are interchangeable once
    /// both are invoked, so only the earliest unlinearized twin is tried
    /// (symmetry reduction: the linearized twins are always a prefix).
    prev_twin: Vec<u32>,
}

#[inline]
fn is_call(e: u32) -> bool {
    (e - 1) % 2 == 0
}
#[inline]
fn op_of(e: u32) -> u32 {
    (e - 1) / 2
}
#[inline]
fn call_of(i: u32) -> u32 {
    1 + 2 * i
}

impl Entries {
    fn new(ops: &[&Op]) -> Entries {
        // (time, 0 = call / 1 = return, entry)
        let mut ev: Vec<(i64, u8, u32)> = Vec::with_capacity(ops.len() * 2);
        for (i, op) in ops.iter().enumerate() {
            let c = call_of(i as u32);
            ev.push((op.call, 0, c));
            ev.push((if op.info { i64::MAX } else { op.ret }, 1, c + 1));
        }
        ev.sort_unstable();
        let n = ops.len() * 2 + 1;
        let mut next = vec![NIL; n];
        let mut prev = vec![NIL; n];
        let mut last = HEAD;
        let mut prev_twin = vec![NIL; ops.len()];
        let mut last_twin: rustc_hash::FxHashMap<&crate::op::Input, u32> = Default::default();
        for &(_, _, e) in &ev {
            next[last as usize] = e;
            prev[e as usize] = last;
            last = e;
            if is_call(e) {
                let i = op_of(e);
                let op = ops[i as usize];
                if op.info {
                    if let Some(t) = last_twin.insert(&op.input, i) {
                        prev_twin[i as usize] = t;
                    }
                }
            }
        }
        Entries {
            next,
            prev,
            prev_twin,
        }
    }

    #[inline]
    fn remove(&mut self, e: u32) {
        let (p, n) = (self.prev[e as usize], self.next[e as usize]);
        self.next[p as usize] = n;
        if n != NIL {
            self.prev[n as usize] = p;
        }
    }

    #[inline]
    fn restore(&mut self, e: u32) {
        let (p, n) = (self.prev[e as usize], self.next[e as usize]);
        self.next[p as usize] = e;
        if n != NIL {
            self.prev[n as usize] = e;
        }
    }

    #[inline]
    fn lift(&mut self, call: u32) {
        self.remove(call);
        self.remove(call + 1);
    }

    #[inline]
    fn unlift(&mut self, call: u32) {
        self.restore(call + 1);
        self.restore(call);
    }
}

/// The search over one partition, resumable: [`Search::run`] advances it by a
/// bounded number of steps, so a scheduler can interleave many partitions
/// and the cheapest violation is found first (`partition.rs`).
///
/// Memoisation with *dominance*: a configuration is (determinate ops
/// linearized `D`, indeterminate ops linearized `I`, model state `s`). If
/// `(D, I₁, s)` was explored, then `(D, I₂, s)` with `I₁ ⊆ I₂` needs no
/// exploring: every continuation of the latter is a continuation of the
/// former (the ops of `I₂ \ I₁` return at +∞, so they never block another
/// op, and they need not be linearized at all). A failed `(D, I₁, s)` thus
/// refutes `(D, I₂, s)`; see docs/checker.md for the proof. This is what
/// keeps many indeterminate ops from multiplying the search space: once an
/// `info` write's value is overwritten, the configurations with and without
/// it coincide.
pub struct Search<'a, M: Model> {
    model: &'a M,
    ops: &'a [&'a Op],
    track: bool,
    list: Entries,
    /// Ordinal of each op among the determinate (or indeterminate) ops.
    ord: Vec<u32>,
    /// Ops that never change the state ([`Model::pure_op`]).
    pure: Vec<bool>,
    det: Bitset,
    inf: Vec<u64>,
    cache: HashTable<CacheEntry>,
    states: States<M::State>,
    /// (call entry, state before it, scan pass it was linearized in)
    calls: Vec<(u32, M::State, u8)>,
    /// Pass 0 looks for a *forced move*: a pure op (one that never changes
    /// the state, in any state: a read, a cas that failed) that may take
    /// effect now. If some linearization exists from here, one starts with
    /// that op (moving it to the front keeps every later step, since it
    /// changes nothing, and every real-time order, since it is invoked before
    /// any pending op returns), so no alternative is tried. Pass 1 tries the other candidates in list
    /// order, as Porcupine does.
    pass: u8,
    state: M::State,
    entry: u32,
    remaining: usize,
    best: Option<Failure>,
    /// Bytes of cache accounted locally, not yet reported to the budget.
    pending_bytes: usize,
    /// Bytes reported to the budget (released on drop).
    reported_bytes: usize,
    mem: Option<&'a MemBudget>,
    steps: u64,
    finished: Option<Outcome>,
    /// Cache size at which [`Search::evict`] runs next.
    evict_at: usize,
}

impl<M: Model> Drop for Search<'_, M> {
    fn drop(&mut self) {
        if let Some(m) = self.mem {
            m.sub(self.reported_bytes);
        }
    }
}

impl<'a, M: Model> Search<'a, M> {
    /// A search of `ops` (one partition). With `track`, it also records the
    /// [`Failure`] explanation (the deepest dead end) when the partition is
    /// not linearizable. `mem` is the shared memory budget, if any.
    pub fn new(model: &'a M, ops: &'a [&'a Op], track: bool, mem: Option<&'a MemBudget>) -> Self {
        let mut ord = Vec::with_capacity(ops.len());
        let (mut nd, mut ni) = (0u32, 0u32);
        for op in ops {
            if op.info {
                ord.push(ni);
                ni += 1;
            } else {
                ord.push(nd);
                nd += 1;
            }
        }
        let list = Entries::new(ops);
        let entry = list.next[HEAD as usize];
        let pure = ops
            .iter()
            .map(|o| model.pure_op(&o.input, &o.output))
            .collect();
        Search {
            model,
            ops,
            track,
            list,
            ord,
            pure,
            det: Bitset::new(nd as usize),
            inf: vec![0; (ni as usize).div_ceil(64)],
            cache: HashTable::new(),
            states: States::new(),
            calls: Vec::new(),
            pass: 0,
            state: model.init(),
            entry,
            remaining: nd as usize,
            best: None,
            pending_bytes: 0,
            reported_bytes: 0,
            mem,
            steps: 0,
            finished: None,
            evict_at: EVICT_MIN_ENTRIES,
        }
    }

    /// Steps taken so far (each step tries one candidate or backtracks once).
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Ops linearized on the current path.
    pub fn depth(&self) -> usize {
        self.calls.len()
    }

    /// Configurations memoised so far.
    pub fn cache_len(&self) -> usize {
        self.cache.len()
    }

    /// The explanation recorded so far (with `track`).
    pub fn take_failure(&mut self) -> Option<Failure> {
        self.best.take()
    }

    #[inline]
    fn set_bit(&mut self, i: u32) {
        let o = self.ord[i as usize];
        if self.ops[i as usize].info {
            self.inf[(o / 64) as usize] |= 1 << (o % 64);
        } else {
            self.det.set(o);
        }
    }

    #[inline]
    fn clear_bit(&mut self, i: u32) {
        let o = self.ord[i as usize];
        if self.ops[i as usize].info {
            self.inf[(o / 64) as usize] &= !(1 << (o % 64));
        } else {
            self.det.clear(o);
        }
    }

    #[inline]
    fn is_linearized(&self, i: u32) -> bool {
        let o = self.ord[i as usize];
        if self.ops[i as usize].info {
            self.inf[(o / 64) as usize] & (1 << (o % 64)) != 0
        } else {
            self.det.get(o)
        }
    }

    /// Looks the current sets with `state` up in the cache; inserts them if
    /// no dominating configuration is there. Returns whether it was new.
    fn memoise(&mut self, state: &M::State) -> bool {
        let sh = fx_hash(state);
        let h = self.det.hash() ^ sh.wrapping_mul(0x2545_F491_4F6C_DD1D);
        let (dlo, dwords) = self.det.compact();
        let inf = &self.inf;
        if let Some(sid) = self.states.find(sh, state) {
            let dominated = self
                .cache
                .find(h, |c| {
                    c.hash == h
                        && c.state == sid
                        && c.det_lo == dlo
                        && c.det() == dwords
                        && compact_subset(c.inf_lo, c.inf(), inf)
                })
                .is_some();
            if dominated {
                return false;
            }
        }
        let (sid, new_state) = self.states.intern(sh, state);
        let (ilo, iwords) = compact_zeros(inf);
        let words = Words::new(dwords, iwords);
        self.pending_bytes += entry_bytes(&words);
        if new_state {
            self.pending_bytes += 48 + self.model.state_bytes(state);
        }
        self.cache.insert_unique(
            h,
            CacheEntry {
                hash: h,
                det_lo: dlo,
                inf_lo: ilo,
                det_len: dwords.len() as u32,
                words,
                state: sid,
            },
            |c| c.hash,
        );
        true
    }

    /// Drops memoised configurations whose determinate prefix lies more
    /// than [`EVICT_MARGIN_WORDS`] words behind the current one. Forgetting
    /// a configuration is always sound (the cache only prunes; the search
    /// may redo work if it ever backtracks that far), and it keeps the
    /// memory of a long single-key history proportional to its
    /// concurrency, not its length.
    fn evict(&mut self) {
        let cur = self.det.compact().0;
        let mut freed = 0usize;
        self.cache.retain(|c| {
            let keep = c.det_lo.saturating_add(EVICT_MARGIN_WORDS) >= cur;
            if !keep {
                freed += entry_bytes(&c.words);
            }
            keep
        });
        // Forget the states no remaining entry refers to.
        let mut used = vec![false; self.states.all.len()];
        for c in self.cache.iter() {
            used[c.state as usize] = true;
        }
        for (id, st) in self.states.all.iter().enumerate() {
            if !used[id] {
                freed += 48 + self.model.state_bytes(st);
            }
        }
        let remap = self.states.retain(&used);
        for c in self.cache.iter_mut() {
            c.state = remap[c.state as usize];
        }
        // Release the freed bytes: first from what is not yet reported.
        let from_pending = freed.min(self.pending_bytes);
        self.pending_bytes -= from_pending;
        let rest = (freed - from_pending).min(self.reported_bytes);
        self.reported_bytes -= rest;
        if let Some(m) = self.mem {
            m.sub(rest);
        }
        self.evict_at = (self.cache.len() * 2).max(EVICT_MIN_ENTRIES);
    }

    fn linearization(&self) -> Vec<u32> {
        self.calls.iter().map(|(e, _, _)| op_of(*e)).collect()
    }

    /// Advances the search by at most `budget` steps. `None`: not finished
    /// (call again); otherwise the outcome (also on every later call).
    pub fn run(&mut self, budget: u64, ctl: Control<'_>) -> Option<Outcome> {
        if let Some(o) = &self.finished {
            return Some(o.clone());
        }
        let o = self.run_inner(budget, ctl);
        if let Some(o) = &o {
            if !matches!(
                o,
                Outcome::TimedOut | Outcome::Cancelled | Outcome::OutOfMemory
            ) {
                self.finished = Some(o.clone());
            }
        }
        o
    }

    fn flush_bytes(&mut self) -> bool {
        let n = std::mem::take(&mut self.pending_bytes);
        self.reported_bytes += n;
        match self.mem {
            Some(m) => m.add(n),
            None => true,
        }
    }

    fn run_inner(&mut self, budget: u64, ctl: Control<'_>) -> Option<Outcome> {
        let ops = self.ops;
        let end = self.steps.saturating_add(budget);
        // Set when the current configuration is known to fail (its forced
        // move led to a memoised, refuted configuration): backtrack.
        let mut dead = false;
        loop {
            if self.remaining == 0 {
                return Some(Outcome::Ok(self.linearization()));
            }
            self.steps += 1;
            if self.steps % 4096 == 0 {
                if let Some(o) = ctl.stop() {
                    return Some(o);
                }
                if self.cache.len() >= self.evict_at {
                    self.evict();
                }
                if !self.flush_bytes() {
                    return Some(Outcome::OutOfMemory);
                }
            }
            if self.steps > end && !dead {
                return None;
            }
            let entry = self.entry;
            if !dead && entry != NIL && is_call(entry) {
                let i = op_of(entry);
                let op = ops[i as usize];
                let twin = self.list.prev_twin[i as usize];
                let symmetric = twin != NIL && !self.is_linearized(twin);
                let safe = self.pure[i as usize] && self.model.pure_from(&self.state);
                // Pass 0 takes only pure ops; pass 1 only the others (a pure
                // op that can step was taken in pass 0).
                if !symmetric && safe == (self.pass == 0) {
                    if let Some(next_state) = self.model.step(&self.state, &op.input, &op.output) {
                        // An indeterminate op that changes nothing here is
                        // dominated by leaving it out: skip it.
                        let useless = op.info && next_state == self.state;
                        if !useless {
                            self.set_bit(i);
                            if self.memoise(&next_state) {
                                let old = std::mem::replace(&mut self.state, next_state);
                                self.calls.push((entry, old, self.pass));
                                self.list.lift(entry);
                                if !op.info {
                                    self.remaining -= 1;
                                }
                                self.entry = self.list.next[HEAD as usize];
                                self.pass = 0;
                                continue;
                            }
                            self.clear_bit(i);
                            if safe {
                                // The forced move is refuted, so is this
                                // configuration.
                                dead = true;
                                continue;
                            }
                        }
                    }
                }
                self.entry = self.list.next[entry as usize];
            } else {
                // A return (or the end of the list): every candidate has been
                // scanned. Pass 0 looks for a state-preserving op (a forced
                // move), pass 1 tries the others in list order.
                if !dead && self.pass == 0 {
                    self.pass = 1;
                    self.entry = self.list.next[HEAD as usize];
                    continue;
                }
                // The ops before it cannot be ordered so that this op takes
                // effect before it returned.
                if self.track && !dead && entry != NIL {
                    let depth = self.calls.len();
                    if self.best.as_ref().is_none_or(|b| depth > b.prefix.len()) {
                        let mut unplaced = Vec::new();
                        let mut e = self.list.next[HEAD as usize];
                        while e != NIL && e != entry {
                            if is_call(e) {
                                unplaced.push(op_of(e));
                            }
                            e = self.list.next[e as usize];
                        }
                        self.best = Some(Failure {
                            prefix: self.linearization(),
                            offending: op_of(entry),
                            unplaced,
                            window: None,
                        });
                    }
                }
                let Some((call, old, p)) = self.calls.pop() else {
                    return Some(Outcome::Illegal);
                };
                self.state = old;
                let i = op_of(call);
                self.clear_bit(i);
                self.list.unlift(call);
                if !ops[i as usize].info {
                    self.remaining += 1;
                }
                // A forced move (pass 0) was the only child worth trying:
                // its failure refutes the parent as well.
                dead = p == 0;
                self.pass = 1;
                self.entry = self.list.next[call as usize];
            }
        }
    }
}

/// Checks one partition to the end (or until `ctl` stops it). With `track`,
/// also returns the [`Failure`] explanation when the partition is not
/// linearizable (slower: it copies the stack at every new deepest dead end).
pub fn search<M: Model>(
    model: &M,
    ops: &[&Op],
    ctl: Control<'_>,
    track: bool,
) -> (Outcome, Option<Failure>) {
    let mut s = Search::new(model, ops, track, None);
    loop {
        if let Some(o) = s.run(u64::MAX, ctl) {
            let f = s.take_failure();
            return (o, f);
        }
    }
}
