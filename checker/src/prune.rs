//! Exact history simplifications applied to one partition before the
//! search. Each rule keeps the set of valid linearizations of the partition
//! (it neither adds nor removes a verdict); the proofs are in
//! `docs/checker.md` ("Pruning"), and `tests/prune_oracle.rs` checks them
//! against the unpruned search on random histories.
//!
//! The rules apply to keys whose ops are only read / write / cas / delete
//! (registers and Redis strings without `incr` / `append`, whose results
//! depend on the earlier value's content, not only on its identity):
//!
//! 1. **Unobserved values collapse.** A value written (by `write`, or as a
//!    `cas`'s new value) that no `read` returns and no `cas` compares against
//!    is replaced by one fresh value ⊥. Every step of these models tests the
//!    state only for equality with observed values (read results, cas
//!    expected values) or with absence (`delete`), so a state holding an
//!    unobserved value and a state holding ⊥ admit exactly the same steps.
//!    Configurations that differed only in *which* unobserved value is
//!    current now coincide in the memo cache, and indeterminate writes of ⊥
//!    become interchangeable twins.
//! 2. **Observed indeterminate writes become determinate.** If an `info`
//!    write (or `info` cas) is the only op that writes value `v`, and some
//!    completed op observed `v` (a read returned it, or a cas succeeded
//!    comparing against it), that op must have taken effect before the
//!    observer's linearization point, hence before the observer returned.
//!    So it is treated as completed, returning at the earliest such
//!    observer's return (a cas as having succeeded). This bounds its
//!    interval, which keeps it from staying pending for the rest of the
//!    history.
//! 3. **Useless indeterminate writes are dropped** (keys without `delete`).
//!    An `info` op whose written value is unobserved (⊥ after rule 1) can
//!    only matter by making the state ⊥, and a state ⊥ admits more steps
//!    than another state only for a failed cas (⊥ ≠ anything it compares
//!    against). So an `info` cas `e → ⊥` is dropped if no failed cas
//!    compares against `e`, and an `info` write of ⊥ if the key has no
//!    failed cas at all: from any linearization that uses it, removing it
//!    (with the `info` ops that were no-ops while the state was ⊥) leaves a
//!    linearization.
//!
//! Failed ops and indeterminate reads were already dropped by the parser:
//! they constrain nothing.

use crate::model::Model;
use crate::op::{Input, Op, Output, Val};
use rustc_hash::{FxHashMap, FxHashSet};
use std::sync::Arc;

/// What pruning did to one partition.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PruneStats {
    /// Ops whose written value was replaced by ⊥ (rule 1).
    pub collapsed: usize,
    /// Indeterminate ops made determinate (rule 2).
    pub bounded: usize,
    /// Indeterminate ops dropped (rule 3).
    pub dropped: usize,
}

/// A simplified partition.
#[derive(Clone, Debug)]
pub struct Pruned {
    /// The ops kept, simplified, in the input's order.
    pub ops: Vec<Op>,
    /// For each kept op, its index in the input.
    pub kept: Vec<u32>,
    pub stats: PruneStats,
}

/// Applies the rules to one partition's ops (in invocation order) for
/// `model`. Keys the rules do not apply to come back unchanged.
pub fn prune<M: Model>(model: &M, ops: &[&Op]) -> Pruned {
    prune_from(model, ops, i64::MIN)
}

/// [`prune`] for a window of a history whose initial state is unknown
/// ([`crate::shrink`]): rule 2 is applied only to ops invoked at or after
/// `window_start` (an op invoked before it may have taken effect before the
/// window, so the window's first state may already hold its value). Rules 1
/// and 3 hold from any initial state.
pub fn prune_from<M: Model>(model: &M, ops: &[&Op], window_start: i64) -> Pruned {
    let (out, stats) = simplify(model, ops, window_start);
    let kept_all = || (0..out.len() as u32).collect::<Vec<u32>>();
    if stats.dropped == 0 {
        let kept = kept_all();
        return Pruned {
            ops: out,
            kept,
            stats,
        };
    }
    let mut ops_kept = Vec::with_capacity(out.len() - stats.dropped);
    let mut kept = Vec::with_capacity(out.len() - stats.dropped);
    for (i, o) in out.into_iter().enumerate() {
        if o.ret != DROPPED {
            kept.push(i as u32);
            ops_kept.push(o);
        }
    }
    Pruned {
        ops: ops_kept,
        kept,
        stats,
    }
}

/// Marks an op dropped by rule 3 (in `ret`; such ops are `info`, whose
/// `ret` is otherwise `i64::MAX`).
const DROPPED: i64 = i64::MIN;

fn simplify<M: Model>(model: &M, ops: &[&Op], window_start: i64) -> (Vec<Op>, PruneStats) {
    let mut out: Vec<Op> = ops.iter().map(|o| (*o).clone()).collect();
    let mut stats = PruneStats::default();
    if !model.prunable() {
        return (out, stats);
    }
    let simple = ops.iter().all(|o| {
        matches!(
            o.input,
            Input::Read | Input::Write(_) | Input::Cas(..) | Input::Delete
        )
    });
    if !simple {
        return (out, stats);
    }
    let c = |v: &Val| model.canon_value(v);

    // Observed values, and the earliest return of an observer of each.
    let mut observed: FxHashSet<Val> = FxHashSet::default();
    let mut first_observer: FxHashMap<Val, i64> = FxHashMap::default();
    let note_observer = |v: Val, ret: i64, map: &mut FxHashMap<Val, i64>| {
        let e = map.entry(v).or_insert(ret);
        *e = (*e).min(ret);
    };
    for o in ops {
        match (&o.input, &o.output) {
            (Input::Read, Output::Value(v)) => {
                let v = c(v);
                observed.insert(v.clone());
                if !o.info {
                    note_observer(v, o.ret, &mut first_observer);
                }
            }
            (Input::Cas(e, _), out) => {
                let e = c(e);
                observed.insert(e.clone());
                if !o.info && *out == Output::CasOk {
                    note_observer(e, o.ret, &mut first_observer);
                }
            }
            _ => {}
        }
    }
    // Writers per value.
    let mut writers: FxHashMap<Val, u32> = FxHashMap::default();
    for o in ops {
        match &o.input {
            Input::Write(v) | Input::Cas(_, v) => *writers.entry(c(v)).or_default() += 1,
            _ => {}
        }
    }
    // A fresh ⊥: a string no op of this key observes.
    let mut bottom = String::from("\u{22a5}sdr-unobserved");
    while observed.contains(&c(&Val::str(&bottom))) {
        bottom.push('\u{22a5}');
    }
    let bottom = Val::Str(Arc::from(bottom));

    for o in out.iter_mut() {
        let written = match &o.input {
            Input::Write(v) | Input::Cas(_, v) => c(v),
            _ => continue,
        };
        if written != Val::Null && !observed.contains(&written) {
            // Rule 1.
            match &mut o.input {
                Input::Write(v) | Input::Cas(_, v) => *v = bottom.clone(),
                _ => {}
            }
            stats.collapsed += 1;
        } else if o.info
            && o.call >= window_start
            && writers.get(&written) == Some(&1)
            && written != Val::Null
        {
            // Rule 2.
            if let Some(&ret) = first_observer.get(&written) {
                if ret >= o.call {
                    o.info = false;
                    o.ret = ret;
                    o.output = match o.input {
                        Input::Cas(..) => Output::CasOk,
                        _ => Output::Done,
                    };
                    stats.bounded += 1;
                }
            }
        }
    }
    // Rule 3.
    let has_delete = ops.iter().any(|o| o.input == Input::Delete);
    if !has_delete {
        let fail_expected: FxHashSet<Val> = ops
            .iter()
            .filter(|o| o.output == Output::CasFail)
            .filter_map(|o| match &o.input {
                Input::Cas(e, _) => Some(c(e)),
                _ => None,
            })
            .collect();
        for o in out.iter_mut().filter(|o| o.info) {
            let useless = match &o.input {
                Input::Write(v) => *v == bottom && fail_expected.is_empty(),
                Input::Cas(e, n) => *n == bottom && !fail_expected.contains(&c(e)),
                _ => false,
            };
            if useless {
                o.ret = DROPPED;
                stats.dropped += 1;
            }
        }
    }
    (out, stats)
}
