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
use std::sync::atomic::{AtomicBool, Ordering};
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
}

struct CacheEntry<S> {
    hash: u64,
    /// Compact linearized set (see [`Bitset::compact`]).
    lo: u32,
    bits: Box<[u64]>,
    state: S,
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

/// Checks one partition. With `track`, also returns the [`Failure`]
/// explanation when the partition is not linearizable (slower: it copies the
/// stack at every new deepest dead end).
pub fn search<M: Model>(
    model: &M,
    ops: &[&Op],
    ctl: Control<'_>,
    track: bool,
) -> (Outcome, Option<Failure>) {
    let n = ops.len();
    let mut remaining = ops.iter().filter(|o| !o.info).count();
    if remaining == 0 {
        return (Outcome::Ok(Vec::new()), None);
    }
    let mut list = Entries::new(ops);
    let mut bits = Bitset::new(n);
    let mut cache: HashTable<CacheEntry<M::State>> = HashTable::new();
    // (call entry, state before it, scan pass it was linearized in)
    let mut calls: Vec<(u32, M::State, u8)> = Vec::new();
    // Pass 0 tries determinate candidates, pass 1 indeterminate ones: an
    // info op is linearized only when the determinate ones cannot proceed.
    let mut pass: u8 = 0;
    let mut state = model.init();
    let mut entry = list.next[HEAD as usize];
    let mut best: Option<Failure> = None;
    let mut iter: u32 = 0;

    loop {
        if remaining == 0 {
            let lin = calls.iter().map(|(e, _, _)| op_of(*e)).collect();
            return (Outcome::Ok(lin), None);
        }
        iter = iter.wrapping_add(1);
        if iter % 4096 == 0 {
            if let Some(o) = ctl.stop() {
                return (o, best);
            }
        }
        if entry != NIL && is_call(entry) {
            let i = op_of(entry);
            let op = ops[i as usize];
            let twin = list.prev_twin[i as usize];
            let symmetric = twin != NIL && !bits.get(twin);
            if op.info != (pass == 1) || symmetric {
                // Not this pass; or an identical earlier indeterminate op is
                // still pending: try that one instead.
            } else if let Some(next_state) = model.step(&state, &op.input, &op.output) {
                bits.set(i);
                let h = bits.hash() ^ fx_hash(&next_state).wrapping_mul(0x2545_F491_4F6C_DD1D);
                let (lo, words) = bits.compact();
                let seen = cache
                    .find(h, |c| {
                        c.hash == h && c.lo == lo && *c.bits == *words && c.state == next_state
                    })
                    .is_some();
                if !seen {
                    cache.insert_unique(
                        h,
                        CacheEntry {
                            hash: h,
                            lo,
                            bits: words.into(),
                            state: next_state.clone(),
                        },
                        |c| c.hash,
                    );
                    let old = std::mem::replace(&mut state, next_state);
                    calls.push((entry, old, pass));
                    list.lift(entry);
                    if !op.info {
                        remaining -= 1;
                    }
                    entry = list.next[HEAD as usize];
                    pass = 0;
                    continue;
                }
                bits.clear(i);
            }
            entry = list.next[entry as usize];
        } else {
            // A return (or the end of the list): every candidate has been
            // tried in pass 0; now try the indeterminate ones.
            if pass == 0 {
                pass = 1;
                entry = list.next[HEAD as usize];
                continue;
            }
            // The ops before it cannot be ordered so that this op takes
            // effect before it returned.
            if track && entry != NIL {
                let depth = calls.len();
                if best.as_ref().is_none_or(|b| depth > b.prefix.len()) {
                    let mut unplaced = Vec::new();
                    let mut e = list.next[HEAD as usize];
                    while e != NIL && e != entry {
                        if is_call(e) {
                            unplaced.push(op_of(e));
                        }
                        e = list.next[e as usize];
                    }
                    best = Some(Failure {
                        prefix: calls.iter().map(|(e, _, _)| op_of(*e)).collect(),
                        offending: op_of(entry),
                        unplaced,
                    });
                }
            }
            let Some((call, old, p)) = calls.pop() else {
                return (Outcome::Illegal, best);
            };
            state = old;
            pass = p;
            let i = op_of(call);
            bits.clear(i);
            list.unlift(call);
            if !ops[i as usize].info {
                remaining += 1;
            }
            entry = list.next[call as usize];
        }
    }
}
