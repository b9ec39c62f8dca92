//! `sdr-checker`: a Porcupine-class linearizability checker.
//!
//! Module map:
//! - [`op`] — values, op inputs/outputs, [`op::Op`].
//! - [`history`] — JSON Lines events → ops, validation with line numbers.
//! - [`event`] — one history event as a `Serialize`/`Deserialize` type (writers use it).
//! - [`edn`] — minimal EDN reader for Jepsen/Knossos histories.
//! - [`jepsen_log`] — reader for Jepsen's textual operation log (`jepsen.log`).
//! - [`model`] — the [`model::Model`] trait and its bridge to
//!   `stateright::semantics::SequentialSpec`.
//! - [`models`] — `register`, `kv` (Redis strings), `list` (Redis lists).
//! - [`bitset`] — linearized-set bitset with an incremental hash.
//! - [`search`] — Wing & Gong search with Lowe's memoisation (one partition),
//!   resumable, with dominance memoisation, forced moves and a memory budget.
//! - [`prune`] — exact simplifications of a partition before the search
//!   (unobserved values collapse; observed `info` writes get bounded; useless
//!   `info` writes are dropped).
//! - [`partition`] — per-key partitions interleaved in rounds of growing step
//!   budgets, in parallel; cancellation, deadline, memory budget.
//! - [`shrink`] — the shortest window of a violation that is already not
//!   linearizable (unknown initial state), for a small counterexample.
//! - [`report`] — `result.json` and the self-contained `report.html`.
//! - [`nemesis`] — fault intervals for the report.
//! - [`gen`] — seeded generator of linearizable-by-construction histories.
//! - [`txn`] — transactional histories (list-append, rw-register over
//!   `MULTI`/`EXEC`) and an Elle-class dependency-cycle checker with its
//!   own reports and generator.
//!
//! The public API is tiny, like Porcupine's:
//! ```
//! use sdr_checker::{check, history, models::ModelKind, Options, Verdict};
//! let h = history::parse_jsonl_str(r#"
//! {"process":0,"type":"invoke","f":"write","key":"a","value":1,"time":1}
//! {"process":0,"type":"ok","f":"write","key":"a","value":1,"time":2}
//! {"process":1,"type":"invoke","f":"read","key":"a","value":null,"time":3}
//! {"process":1,"type":"ok","f":"read","key":"a","value":1,"time":4}
//! "#).unwrap();
//! let r = check(&h, ModelKind::Kv, &Options::default()).unwrap();
//! assert_eq!(r.verdict, Verdict::Linearizable);
//! ```

pub mod bitset;
pub mod edn;
pub mod event;
pub mod gen;
pub mod history;
pub mod jepsen_log;
pub mod model;
pub mod models;
pub mod nemesis;
pub mod op;
pub mod partition;
pub mod prune;
pub mod report;
pub mod search;
pub mod shrink;
pub mod txn;

pub use history::{History, InputError};
pub use model::{Model, Spec};
pub use partition::{default_max_memory, KeyResult, KeyVerdict, Options, UnknownReason};

use models::{KvModel, ListModel, ModelKind, RegisterModel};
use std::time::{Duration, Instant};

/// Overall verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Linearizable,
    NotLinearizable,
    Unknown,
}

/// The history cannot be checked against the model.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("line {line}: op {f:?} is not supported by the {model} model")]
    Unsupported {
        line: u32,
        f: &'static str,
        model: &'static str,
    },
}

/// Result of [`check`].
#[derive(Clone, Debug)]
pub struct CheckResult {
    pub verdict: Verdict,
    pub model: ModelKind,
    /// One entry per non-empty key, ordered by key id.
    pub keys: Vec<KeyResult>,
    pub check_time: Duration,
    /// With an `unknown` verdict: what stopped the check.
    pub unknown_reason: Option<UnknownReason>,
}

impl CheckResult {
    /// Keys found not linearizable.
    pub fn violations(&self) -> impl Iterator<Item = &KeyResult> {
        self.keys
            .iter()
            .filter(|k| k.verdict == KeyVerdict::NotLinearizable)
    }
}

fn check_model<M: Model>(
    history: &History,
    model: &M,
    kind: ModelKind,
    opts: &Options,
) -> Result<CheckResult, CheckError> {
    if let Some(op) = history.ops.iter().find(|o| !model.supports(o.input.kind())) {
        return Err(CheckError::Unsupported {
            line: op.line,
            f: op.input.kind().name(),
            model: model.name(),
        });
    }
    let t0 = Instant::now();
    let (keys, unknown_reason) = partition::check_partitions(history, model, opts);
    let verdict = if keys
        .iter()
        .any(|k| k.verdict == KeyVerdict::NotLinearizable)
    {
        Verdict::NotLinearizable
    } else if keys.iter().any(|k| k.verdict != KeyVerdict::Linearizable) {
        Verdict::Unknown
    } else {
        Verdict::Linearizable
    };
    Ok(CheckResult {
        verdict,
        model: kind,
        keys,
        check_time: t0.elapsed(),
        unknown_reason: if verdict == Verdict::Unknown {
            unknown_reason
        } else {
            None
        },
    })
}

/// Checks `history` for linearizability against the model `kind`.
pub fn check(
    history: &History,
    kind: ModelKind,
    opts: &Options,
) -> Result<CheckResult, CheckError> {
    match kind {
        ModelKind::Register => check_model(history, &RegisterModel, kind, opts),
        ModelKind::Kv => check_model(history, &KvModel, kind, opts),
        ModelKind::List => check_model(history, &ListModel, kind, opts),
    }
}

fn replay<M: Model>(model: &M, history: &History, ids: &[u32]) -> Vec<String> {
    let mut s = model.init();
    let mut out = Vec::with_capacity(ids.len());
    for &i in ids {
        let op = &history.ops[i as usize];
        match model.step(&s, &op.input, &op.output) {
            Some(n) => s = n,
            None => {
                out.push("<illegal>".to_string());
                continue;
            }
        }
        out.push(model.describe_state(&s));
    }
    out
}

/// Describes the state after each op of a sequential order `ids` (op ids).
pub fn replay_states(kind: ModelKind, history: &History, ids: &[u32]) -> Vec<String> {
    match kind {
        ModelKind::Register => replay(&RegisterModel, history, ids),
        ModelKind::Kv => replay(&KvModel, history, ids),
        ModelKind::List => replay(&ListModel, history, ids),
    }
}

/// Describes the initial state of `kind`.
pub fn initial_state(kind: ModelKind) -> String {
    match kind {
        ModelKind::Register => RegisterModel.describe_state(&RegisterModel.init()),
        ModelKind::Kv => KvModel.describe_state(&KvModel.init()),
        ModelKind::List => ListModel.describe_state(&ListModel.init()),
    }
}
