//! P-compositionality: each key's sub-history is checked independently, in
//! parallel (rayon), largest first. The first illegal partition cancels the
//! others (unless `all`); a deadline turns unfinished partitions into
//! `unknown`, never a guess.

use crate::history::History;
use crate::model::Model;
use crate::op::Op;
use crate::search::{search, Control, Failure, Outcome};
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
}

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

/// Checks every partition of `history`.
pub fn check_partitions<M: Model>(history: &History, model: &M, opts: &Options) -> Vec<KeyResult> {
    let start = Instant::now();
    let deadline = opts.timeout.map(|t| start + t);
    let cancel = AtomicBool::new(false);
    let mut parts: Vec<(u32, Vec<u32>)> = model
        .partition(&history.ops, history.keys.len())
        .into_iter()
        .enumerate()
        .filter(|(_, p)| !p.is_empty())
        .map(|(k, p)| (k as u32, p))
        .collect();
    parts.sort_by_key(|(k, p)| (std::cmp::Reverse(p.len()), *k));

    let ctl = Control {
        cancel: if opts.all { None } else { Some(&cancel) },
        deadline,
    };
    let mut results: Vec<KeyResult> = parts
        .into_par_iter()
        .map(|(key, ids)| {
            let t0 = Instant::now();
            let ops: Vec<&Op> = ids.iter().map(|&i| &history.ops[i as usize]).collect();
            let info = ops.iter().filter(|o| o.info).count();
            let (outcome, _) = if ctl.stop_now() {
                (Outcome::Cancelled, None)
            } else {
                search(model, &ops, ctl, false)
            };
            let (verdict, linearization) = match outcome {
                Outcome::Ok(lin) => (
                    KeyVerdict::Linearizable,
                    Some(lin.iter().map(|&i| ids[i as usize]).collect()),
                ),
                Outcome::Illegal => {
                    cancel.store(true, Ordering::Relaxed);
                    (KeyVerdict::NotLinearizable, None)
                }
                Outcome::TimedOut => (KeyVerdict::Unknown, None),
                Outcome::Cancelled => {
                    if deadline.is_some_and(|d| Instant::now() >= d) {
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
                time: t0.elapsed(),
                linearization,
                failure: None,
            }
        })
        .collect();

    // Explain violations: rerun with tracking (only for illegal keys).
    let explain_deadline = opts
        .timeout
        .map(|t| Instant::now() + t.max(Duration::from_secs(5)));
    results
        .par_iter_mut()
        .filter(|r| r.verdict == KeyVerdict::NotLinearizable)
        .for_each(|r| {
            let ops: Vec<&Op> = r.ops.iter().map(|&i| &history.ops[i as usize]).collect();
            let (_, failure) = search(
                model,
                &ops,
                Control {
                    cancel: None,
                    deadline: explain_deadline,
                },
                true,
            );
            r.failure = failure.map(|f| Failure {
                prefix: f.prefix.iter().map(|&i| r.ops[i as usize]).collect(),
                offending: r.ops[f.offending as usize],
                unplaced: f.unplaced.iter().map(|&i| r.ops[i as usize]).collect(),
            });
        });
    results.sort_by_key(|r| r.key);
    results
}
