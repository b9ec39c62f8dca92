//! Transactional histories and an Elle-class checker for them.
//!
//! Per-key linearizability says nothing about multi-key transactions; this
//! module checks histories of `MULTI … EXEC` transactions for the anomalies of
//! Adya's generalized isolation levels, the way Elle does: infer each key's
//! version order from what reads observed, build a dependency graph between
//! transactions, and look for cycles in it.
//!
//! Module map:
//! - this file — the types ([`TxnHistory`], [`Txn`], [`Mop`], [`TxnResult`],
//!   [`Anomaly`], [`Step`], [`Level`]) and [`check`].
//! - [`parse`] — JSON Lines (docs/history-format.md "Transactional histories")
//!   or Jepsen/Elle EDN → [`TxnHistory`], errors with line numbers.
//! - [`infer`] — per-model inference: version orders, the non-cycle anomalies
//!   (G1a, G1b, internal, duplicates, garbage, incompatible order, lost
//!   update) and the ww / wr / rw edges ([`infer::list_append`],
//!   [`infer::rw_register`]).
//! - [`graph`] — the labelled dependency graph, real-time edges (transitively
//!   reduced), iterative Tarjan SCCs and the shortest-cycle search per class.
//! - [`report`] — `result.json` and `report.html` (an SVG drawing per cycle).
//! - [`gen`] — seeded list-append histories, serializable by construction,
//!   optionally with one planted G-single (benchmarks, `sdr-check-gen`).
//! - [`brute`] — brute-force serializability by enumerating serial orders
//!   (the oracle of the differential test; small histories only).
//!
//! Design and soundness notes: docs/transactions-checker.md.
//!
//! ```
//! use sdr_checker::txn::{self, TxnModel, TxnOptions};
//! let h = txn::parse_jsonl_str(r#"
//! {"process":0,"type":"invoke","f":"txn","value":[["append","x",1],["append","y",1]],"time":1}
//! {"process":1,"type":"invoke","f":"txn","value":[["r","x",null],["r","y",null]],"time":2}
//! {"process":0,"type":"ok","f":"txn","value":[["append","x",1],["append","y",1]],"time":3}
//! {"process":1,"type":"ok","f":"txn","value":[["r","x",[]],["r","y",[1]]],"time":4}
//! "#).unwrap();
//! let r = txn::check(&h, TxnModel::ListAppend, &TxnOptions::default());
//! // T1 saw T0's append to y but not its append to x.
//! assert!(!r.valid && r.levels.read_committed && !r.levels.snapshot_isolation);
//! assert_eq!(r.anomalies[0].class, "G-single");
//! assert_eq!(r.anomalies[0].cycle.len(), 2);
//! ```

pub mod brute;
pub mod gen;
pub mod graph;
pub mod infer;
pub mod parse;
pub mod report;

pub use crate::history::InputError;
pub use parse::{parse_edn_str, parse_jsonl, parse_jsonl_file, parse_jsonl_str};
pub use report::write_report;

use serde::Serialize;
use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

/// The data model the transactions operate on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TxnModel {
    /// Keys are lists; writes append unique integers (RPUSH), reads return
    /// the whole list (LRANGE 0 -1).
    ListAppend,
    /// Keys are registers; writes blindly set unique integers (SET), reads
    /// return the value or nil (GET).
    RwRegister,
}

impl TxnModel {
    pub fn name(self) -> &'static str {
        match self {
            TxnModel::ListAppend => "list-append",
            TxnModel::RwRegister => "rw-register",
        }
    }
}

impl fmt::Display for TxnModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for TxnModel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "list-append" => Ok(TxnModel::ListAppend),
            "rw-register" => Ok(TxnModel::RwRegister),
            _ => Err(format!(
                "unknown transactional model {s:?} (list-append or rw-register)"
            )),
        }
    }
}

/// Consistency levels, weakest first. Each forbids what the previous forbids
/// and more (see [`Level::forbids`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Level {
    ReadCommitted,
    SnapshotIsolation,
    Serializable,
    #[default]
    StrictSerializable,
}

impl Level {
    pub const ALL: [Level; 4] = [
        Level::ReadCommitted,
        Level::SnapshotIsolation,
        Level::Serializable,
        Level::StrictSerializable,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Level::ReadCommitted => "read-committed",
            Level::SnapshotIsolation => "snapshot-isolation",
            Level::Serializable => "serializable",
            Level::StrictSerializable => "strict-serializable",
        }
    }

    /// The weakest level that forbids anomaly class `class`. Classes that make
    /// the history meaningless under any level (internal inconsistency,
    /// garbage, duplicates, incompatible orders, aborted/intermediate reads)
    /// are forbidden from read committed up.
    pub fn weakest_forbidding(class: &str) -> Level {
        match class {
            "G-single" | "lost-update" => Level::SnapshotIsolation,
            // A cyclic component whose cycle the budget did not extract:
            // at least serializability is violated (it may be weaker).
            "G2-item" | "cycle-search-timeout" => Level::Serializable,
            "realtime-cycle-search-timeout" => Level::StrictSerializable,
            c if c.ends_with("-realtime") || c.ends_with("-process") => Level::StrictSerializable,
            _ => Level::ReadCommitted,
        }
    }

    /// Whether this level forbids anomaly class `class`.
    pub fn forbids(self, class: &str) -> bool {
        Level::weakest_forbidding(class) <= self
    }
}

impl FromStr for Level {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Level::ALL
            .into_iter()
            .find(|l| l.name() == s)
            .ok_or_else(|| {
                format!("unknown consistency level {s:?} (read-committed, snapshot-isolation, serializable, strict-serializable)")
            })
    }
}

/// How a transaction completed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TxnType {
    /// Committed; the reads carry what they observed.
    Ok,
    /// Definitely did not commit: its writes must never be observed.
    Fail,
    /// Unknown: may have committed at any time after its invocation.
    Info,
}

/// One micro-operation. Values are integers (unique per key for writes).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum Mop {
    /// list-append: RPUSH `v` to `key`.
    Append { key: u32, v: i64 },
    /// rw-register: SET `key` to `v`.
    Write { key: u32, v: i64 },
    /// A read of `key`. `value`: `None` = not observed (invocation, `fail`,
    /// `info`); list-append: the list read (`[]` = empty/absent);
    /// rw-register: `[]` = nil, `[v]` = the value read.
    Read { key: u32, value: Option<Vec<i64>> },
}

impl Mop {
    pub fn key(&self) -> u32 {
        match self {
            Mop::Append { key, .. } | Mop::Write { key, .. } | Mop::Read { key, .. } => *key,
        }
    }
    /// The value written, if this is a write.
    pub fn written(&self) -> Option<i64> {
        match self {
            Mop::Append { v, .. } | Mop::Write { v, .. } => Some(*v),
            Mop::Read { .. } => None,
        }
    }
}

/// One transaction.
#[derive(Clone, Debug, Serialize)]
pub struct Txn {
    /// Position in [`TxnHistory::txns`] (invocation order).
    pub index: u32,
    pub process: i64,
    #[serde(rename = "type")]
    pub ty: TxnType,
    /// The completion's micro-ops for `ok`, the invocation's otherwise.
    pub mops: Vec<Mop>,
    /// Invocation time (ns; the line number if the history has no times).
    pub call: i64,
    /// Completion time; `None` for `info` / never completed (= unknown, ∞).
    pub ret: Option<i64>,
    /// Line of the invocation.
    pub line: u32,
}

/// A parsed transactional history.
#[derive(Clone, Debug, Default)]
pub struct TxnHistory {
    /// In invocation order.
    pub txns: Vec<Txn>,
    /// Key names; [`Mop::key`] indexes this.
    pub keys: Vec<String>,
    /// Lines read.
    pub events: usize,
    /// Where each micro-op shape first occurs ([`TxnHistory::check_model`]).
    pub shapes: parse::Shapes,
}

impl TxnHistory {
    pub fn key_name(&self, key: u32) -> &str {
        self.keys
            .get(key as usize)
            .map(String::as_str)
            .unwrap_or("?")
    }

    /// `[["append","x",1],["r","y",[1,2]]]`-style text of a transaction's mops.
    pub fn describe_mops(&self, t: &Txn, model: TxnModel) -> String {
        let parts: Vec<String> = t
            .mops
            .iter()
            .map(|m| match m {
                Mop::Append { key, v } => format!("append {} {v}", self.key_name(*key)),
                Mop::Write { key, v } => format!("w {} {v}", self.key_name(*key)),
                Mop::Read { key, value } => format!(
                    "r {} {}",
                    self.key_name(*key),
                    read_text(value.as_deref(), model)
                ),
            })
            .collect();
        format!("[{}]", parts.join(", "))
    }
}

/// Text of a read result: `[1 2 3]` (list), `5` / `nil` (register), `?` unknown.
pub fn read_text(v: Option<&[i64]>, model: TxnModel) -> String {
    match (v, model) {
        (None, _) => "?".into(),
        (Some([]), TxnModel::RwRegister) => "nil".into(),
        (Some([x]), TxnModel::RwRegister) => x.to_string(),
        (Some(l), _) => format!(
            "[{}]",
            l.iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        ),
    }
}

/// Check options.
#[derive(Clone, Debug)]
pub struct TxnOptions {
    /// `valid` is true iff no anomaly this level forbids was found.
    pub consistency: Level,
    /// Per strongly connected component and anomaly class, at most this many
    /// starting edges are tried by the shortest-cycle search (each try is one
    /// BFS inside the component). Verdicts stay exact for "is there a cycle";
    /// past the budget a class may be reported as a stronger one (e.g. a
    /// G-single seen as G2-item) — `search_truncated` says when it happened.
    pub max_cycle_search: usize,
    /// Edge visits all cycle searches of one check may make together
    /// (bounds the time on huge cyclic components of a badly broken
    /// system); past it the search stops and `search_truncated` is set. The
    /// "is it serializable" verdict stays exact (a cyclic component is
    /// proof); only the class of its cycle may be reported stronger.
    pub max_search_steps: u64,
    /// Most anomalies reported per class (all are counted).
    pub max_anomalies_per_class: usize,
}

impl Default for TxnOptions {
    fn default() -> Self {
        TxnOptions {
            consistency: Level::StrictSerializable,
            max_cycle_search: 10_000,
            max_search_steps: 200_000_000,
            max_anomalies_per_class: 8,
        }
    }
}

/// Edge kinds of the dependency graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum EdgeKind {
    /// Write-write: the source wrote a version the target overwrote.
    Ww,
    /// Write-read: the target read a version the source wrote.
    Wr,
    /// Read-write (anti-dependency): the source read a version the target overwrote.
    Rw,
    /// Same process, the source completed before the target was invoked.
    Process,
    /// The source completed before the target was invoked (other processes).
    Realtime,
}

impl EdgeKind {
    pub fn name(self) -> &'static str {
        match self {
            EdgeKind::Ww => "ww",
            EdgeKind::Wr => "wr",
            EdgeKind::Rw => "rw",
            EdgeKind::Process => "process",
            EdgeKind::Realtime => "realtime",
        }
    }
    /// Data dependency (ww/wr/rw), as opposed to a time order.
    pub fn is_data(self) -> bool {
        matches!(self, EdgeKind::Ww | EdgeKind::Wr | EdgeKind::Rw)
    }
}

/// A transaction as reported.
#[derive(Clone, Debug, Serialize)]
pub struct TxnRef {
    pub index: u32,
    pub line: u32,
    pub process: i64,
    #[serde(rename = "type")]
    pub ty: TxnType,
    /// The micro-ops as text, e.g. `[append x 1, r y [1 2]]`.
    pub mops: String,
}

/// One step of a cycle: `txn` and the edge leading from it to the next
/// step's txn (the last step's edge leads back to the first).
#[derive(Clone, Debug, Serialize)]
pub struct Step {
    pub txn: TxnRef,
    pub edge: EdgeKind,
    /// Why the edge exists, in words.
    pub why: String,
}

/// One anomaly.
#[derive(Clone, Debug, Serialize)]
pub struct Anomaly {
    /// Class as Elle spells it (`G0`, `G1a`, `G-single`, `incompatible-order`, …).
    #[serde(rename = "type")]
    pub class: String,
    /// The weakest consistency level it violates.
    pub violates: Level,
    /// For cycle anomalies: the cycle, shortest found.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cycle: Vec<Step>,
    /// Transactions involved (non-cycle anomalies).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub txns: Vec<TxnRef>,
    /// The anomaly in words.
    pub explanation: String,
}

/// Counts of transactions by completion.
#[derive(Clone, Debug, Default, Serialize)]
pub struct TxnCounts {
    pub ok: usize,
    pub fail: usize,
    pub info: usize,
}

/// Verdict for each consistency level.
#[derive(Clone, Debug, Serialize)]
pub struct Levels {
    #[serde(rename = "read-committed")]
    pub read_committed: bool,
    #[serde(rename = "snapshot-isolation")]
    pub snapshot_isolation: bool,
    pub serializable: bool,
    #[serde(rename = "strict-serializable")]
    pub strict_serializable: bool,
}

impl Levels {
    pub fn get(&self, l: Level) -> bool {
        match l {
            Level::ReadCommitted => self.read_committed,
            Level::SnapshotIsolation => self.snapshot_isolation,
            Level::Serializable => self.serializable,
            Level::StrictSerializable => self.strict_serializable,
        }
    }
}

/// Result of [`check`].
#[derive(Clone, Debug, Serialize)]
pub struct TxnResult {
    /// No anomaly that [`TxnOptions::consistency`] forbids.
    pub valid: bool,
    pub model: TxnModel,
    pub consistency: Level,
    /// Reported anomalies (at most [`TxnOptions::max_anomalies_per_class`] per class).
    pub anomalies: Vec<Anomaly>,
    /// Every class found, with how many instances were found.
    pub anomaly_counts: std::collections::BTreeMap<String, usize>,
    pub levels: Levels,
    pub txns: TxnCounts,
    /// Dependency-graph size.
    pub edges: usize,
    /// Strongly connected components with more than one transaction.
    pub cyclic_components: usize,
    /// The cycle search budget ran out somewhere (see [`TxnOptions::max_cycle_search`]).
    pub search_truncated: bool,
    #[serde(rename = "check_s", serialize_with = "ser_secs")]
    pub check_time: Duration,
}

fn ser_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1e6).round() / 1e6)
}

impl TxnResult {
    /// One-line verdict for the CLI.
    pub fn summary(&self) -> String {
        let counts = format!(
            "{} txns ({} ok, {} fail, {} info)",
            self.txns.ok + self.txns.fail + self.txns.info,
            self.txns.ok,
            self.txns.fail,
            self.txns.info
        );
        let secs = self.check_time.as_secs_f64();
        if self.anomaly_counts.is_empty() {
            return format!(
                "{}: no anomalies; {counts}, {secs:.2} s",
                self.consistency.name()
            );
        }
        let classes: Vec<String> = self
            .anomaly_counts
            .iter()
            .map(|(c, n)| format!("{c} ×{n}"))
            .collect();
        let holds: Vec<&str> = Level::ALL
            .into_iter()
            .filter(|&l| self.levels.get(l))
            .map(Level::name)
            .collect();
        format!(
            "{}: {} — {}; holds: {}; {counts}, {secs:.2} s",
            if self.valid { "valid" } else { "INVALID" },
            self.consistency.name(),
            classes.join(", "),
            if holds.is_empty() {
                "none".to_string()
            } else {
                holds.join(", ")
            }
        )
    }
}

pub(crate) fn txn_ref(h: &TxnHistory, t: &Txn, model: TxnModel) -> TxnRef {
    TxnRef {
        index: t.index,
        line: t.line,
        process: t.process,
        ty: t.ty,
        mops: h.describe_mops(t, model),
    }
}

/// Checks a transactional history. Never panics on any parsed history.
pub fn check(h: &TxnHistory, model: TxnModel, opts: &TxnOptions) -> TxnResult {
    let t0 = Instant::now();
    let mut counts = TxnCounts::default();
    for t in &h.txns {
        match t.ty {
            TxnType::Ok => counts.ok += 1,
            TxnType::Fail => counts.fail += 1,
            TxnType::Info => counts.info += 1,
        }
    }
    let inferred = match model {
        TxnModel::ListAppend => infer::list_append(h),
        TxnModel::RwRegister => infer::rw_register(h),
    };
    let mut found: Vec<Anomaly> = inferred.anomalies;
    let g = graph::Graph::build(h, inferred.edges, &inferred.committed);
    let cyc = graph::find_cycles(h, model, &g, opts);
    found.extend(cyc.anomalies);

    let mut anomaly_counts = std::collections::BTreeMap::new();
    let mut anomalies = Vec::new();
    for a in found {
        let n = anomaly_counts.entry(a.class.clone()).or_insert(0usize);
        *n += 1;
        if *n <= opts.max_anomalies_per_class {
            anomalies.push(a);
        }
    }
    let holds = |l: Level| !anomaly_counts.keys().any(|c| l.forbids(c));
    let levels = Levels {
        read_committed: holds(Level::ReadCommitted),
        snapshot_isolation: holds(Level::SnapshotIsolation),
        serializable: holds(Level::Serializable),
        strict_serializable: holds(Level::StrictSerializable),
    };
    TxnResult {
        valid: levels.get(opts.consistency),
        model,
        consistency: opts.consistency,
        anomalies,
        anomaly_counts,
        levels,
        txns: counts,
        edges: g.edge_count(),
        cyclic_components: cyc.cyclic_components,
        search_truncated: cyc.truncated,
        check_time: t0.elapsed(),
    }
}
