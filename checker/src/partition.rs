//! P-compositionality: each key's sub-history is checked independently, in
//! parallel (rayon). Partitions are interleaved in rounds of growing step
//! budgets (1×, 4×, 16×, … steps each), so the cheapest violation ends the
//! check even when other keys are expensive to decide; the first illegal
//! partition cancels the others (unless `all`). A deadline or the memory
//! budget turns unfinished partitions into `unknown`, never a guess.

use crate::history::History;
use crate::model::Model;
use crate::op::Op;
use crate::prune::Pruned;
use crate::search::{Control, Failure, MemBudget, Outcome, Search};
use rayon::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Checker options.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Time budget for the whole check; past it the verdict is `unknown`.
    pub timeout: Option<Duration>,
    /// Check every partition even after one is found illegal.
    pub all: bool,
    /// Memory budget in bytes for the searches' caches; past it the
    /// verdict is `unknown` (`None`: [`default_max_memory`]; `Some(0)`:
    /// unlimited).
    pub max_memory: Option<usize>,
    /// Skip the exact simplifications of [`crate::prune`] (for testing
    /// them against the plain search).
    pub no_prune: bool,
}

/// Why a check ended with undecided keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UnknownReason {
    /// The `timeout` ran out.
    TimedOut,
    /// The memory budget (`max_memory`) ran out.
    OutOfMemory,
}

/// The default memory budget: half of the machine's physical memory (from
/// `/proc/meminfo`), or 4 GiB where that cannot be read.
pub fn default_max_memory() -> usize {
    let total_kib = std::fs::read_to_string("/proc/meminfo").ok().and_then(|s| {
        s.lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<usize>().ok())
    });
    match total_kib {
        Some(k) => k / 2 * 1024,
        None => 4 << 30,
    }
}

/// Steps every open partition gets in the first round; each later round
/// multiplies it by [`ROUND_GROWTH`].
const FIRST_ROUND_STEPS: u64 = 1 << 12;
const ROUND_GROWTH: u64 = 2;

/// Verdict of one key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyVerdict {
    Linearizable,
    NotLinearizable,
    Unknown,
    /// Not checked to the end because another key was already illegal.
    Skipped,
}

/// Result of one key (partition). Op references are global op ids.
#[derive(Clone, Debug)]
pub struct KeyResult {
    pub key: u32,
    /// Op ids of this key, in invocation order.
    pub ops: Vec<u32>,
    pub info: usize,
    pub verdict: KeyVerdict,
    pub time: Duration,
    /// The linearization found (op ids), if linearizable.
    pub linearization: Option<Vec<u32>>,
    /// Explanation, if not linearizable.
    pub failure: Option<Failure>,
}

/// The partition `ids` of `history`, simplified by [`crate::prune`] unless
/// `no_prune`.
fn prune_partition<M: Model>(history: &History, model: &M, ids: &[u32], no_prune: bool) -> Pruned {
    let ops: Vec<&Op> = ids.iter().map(|&i| &history.ops[i as usize]).collect();
    if no_prune {
        Pruned {
            kept: (0..ops.len() as u32).collect(),
            ops: ops.into_iter().cloned().collect(),
            stats: Default::default(),
        }
    } else {
        crate::prune::prune(model, &ops)
    }
}

/// Checks every partition of `history`. Returns the per-key results (by
/// key id) and, if some keys stayed undecided, why.
pub fn check_partitions<M: Model>(
    history: &History,
    model: &M,
    opts: &Options,
) -> (Vec<KeyResult>, Option<UnknownReason>) {
    let start = Instant::now();
    let deadline = opts.timeout.map(|t| start + t);
    let cancel = AtomicBool::new(false);
    let mem = MemBudget::new(opts.max_memory.unwrap_or_else(default_max_memory));
    let mut parts: Vec<(u32, Vec<u32>)> = model
        .partition(&history.ops, history.keys.len())
        .into_iter()
        .enumerate()
        .filter(|(_, p)| !p.is_empty())
        .map(|(k, p)| (k as u32, p))
        .collect();
    parts.sort_by_key(|(k, p)| (std::cmp::Reverse(p.len()), *k));
    let pruned: Vec<Pruned> = parts
        .par_iter()
        .map(|(_, ids)| prune_partition(history, model, ids, opts.no_prune))
        .collect();
    let op_lists: Vec<Vec<&Op>> = pruned.iter().map(|p| p.ops.iter().collect()).collect();

    let ctl = Control {
        cancel: if opts.all { None } else { Some(&cancel) },
        deadline,
    };
    // (partition index, search, time spent on it)
    let mut live: Vec<(usize, Search<'_, M>, Duration)> = op_lists
        .iter()
        .enumerate()
        .map(|(i, ops)| {
            (
                i,
                Search::new(model, ops, false, Some(&mem)),
                Duration::ZERO,
            )
        })
        .collect();
    let mut outcomes: Vec<Option<(Outcome, Duration)>> = vec![None; parts.len()];
    let mut budget = FIRST_ROUND_STEPS;
    while !live.is_empty() {
        let round: Vec<Option<Outcome>> = live
            .par_iter_mut()
            .map(|(_, s, spent)| {
                let t0 = Instant::now();
                let o = if ctl.stop_now() {
                    Some(Outcome::Cancelled)
                } else {
                    s.run(budget, ctl)
                };
                *spent += t0.elapsed();
                o
            })
            .collect();
        let mut next = Vec::with_capacity(live.len());
        for ((i, s, spent), o) in live.into_iter().zip(round) {
            match o {
                None => next.push((i, s, spent)),
                Some(o) => {
                    if o == Outcome::Illegal {
                        cancel.store(true, Ordering::Relaxed);
                    }
                    outcomes[i] = Some((o, spent));
                }
            }
        }
        live = next;
        // Progress trace for diagnosing slow keys (docs/checker.md).
        if std::env::var_os("SDR_CHECK_DEBUG").is_some() {
            for (i, s, spent) in &live {
                eprintln!(
                    "round {budget}: partition {i} steps {} depth {} cache {} mem {} MiB, {spent:?}",
                    s.steps(),
                    s.depth(),
                    s.cache_len(),
                    mem.used() >> 20
                );
            }
        }
        budget = budget.saturating_mul(ROUND_GROWTH);
    }

    let mut reason = None;
    let mut results: Vec<KeyResult> = parts
        .into_iter()
        .zip(outcomes)
        .zip(&pruned)
        .map(|(((key, ids), o), p)| {
            let (outcome, time) = o.unwrap_or((Outcome::Cancelled, Duration::ZERO));
            let info = ids
                .iter()
                .filter(|&&i| history.ops[i as usize].info)
                .count();
            let (verdict, linearization) = match outcome {
                Outcome::Ok(lin) => (
                    KeyVerdict::Linearizable,
                    Some(
                        lin.iter()
                            .map(|&i| ids[p.kept[i as usize] as usize])
                            .collect(),
                    ),
                ),
                Outcome::Illegal => (KeyVerdict::NotLinearizable, None),
                Outcome::TimedOut => {
                    reason = Some(UnknownReason::TimedOut);
                    (KeyVerdict::Unknown, None)
                }
                Outcome::OutOfMemory => {
                    reason.get_or_insert(UnknownReason::OutOfMemory);
                    (KeyVerdict::Unknown, None)
                }
                Outcome::Cancelled => {
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        reason = Some(UnknownReason::TimedOut);
                        (KeyVerdict::Unknown, None)
                    } else {
                        (KeyVerdict::Skipped, None)
                    }
                }
            };
            KeyResult {
                key,
                ops: ids,
                info,
                verdict,
                time,
                linearization,
                failure: None,
            }
        })
        .collect();

    // Explain violations: rerun with tracking (only for illegal keys).
    let explain_deadline = opts
        .timeout
        .map(|t| Instant::now() + t.max(Duration::from_secs(5)));
    let explain_mem = MemBudget::new(opts.max_memory.unwrap_or_else(default_max_memory));
    results
        .par_iter_mut()
        .filter(|r| r.verdict == KeyVerdict::NotLinearizable)
        .for_each(|r| {
            let p = prune_partition(history, model, &r.ops, opts.no_prune);
            let ops: Vec<&Op> = p.ops.iter().collect();
            let global = |i: &u32| r.ops[p.kept[*i as usize] as usize];
            let mut s = Search::new(model, &ops, true, Some(&explain_mem));
            let ctl = Control {
                cancel: None,
                deadline: explain_deadline,
            };
            while s.run(u64::MAX, ctl).is_none() {}
            let failure = s.take_failure();
            let orig: Vec<&Op> = r.ops.iter().map(|&i| &history.ops[i as usize]).collect();
            let window_deadline = Some(
                Instant::now()
                    + opts
                        .timeout
                        .unwrap_or(Duration::from_secs(10))
                        .min(Duration::from_secs(10)),
            );
            let window = crate::shrink::shortest_window(model, &orig, window_deadline)
                .map(|w| w.iter().map(|&i| r.ops[i as usize]).collect());
            r.failure = failure.map(|f| Failure {
                prefix: f.prefix.iter().map(global).collect(),
                offending: global(&f.offending),
                unplaced: f.unplaced.iter().map(global).collect(),
                window,
            });
        });
    results.sort_by_key(|r| r.key);
    (results, reason)
}
