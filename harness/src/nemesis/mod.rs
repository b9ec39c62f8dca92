//! Faults ("nemeses"), laid out like etcd's robustness `failpoint/` and
//! Jepsen's `nemesis/*`: one [`Fault`] trait with an explicit [`Outcome`]
//! (installed / skipped / indeterminate), one file per fault family, a pure
//! seeded [`plan()`] that turns the scenario's `nemesis:` into a timeline, and an
//! [`Executor`] that runs the timeline against a [`System`] and records every
//! start/stop in `nemesis.jsonl` on the run's clock.
//!
//! - [`process`] — kill / terminate (stop = restart), pause (stop = SIGCONT),
//!   rolling restart.
//! - [`network`] — grudges (which directed links a partition shape cuts),
//!   partitions (proxies, or nftables with `network: netns`), added latency
//!   (proxies), netem (netns: `tc netem`).
//! - [`clock`] — clock-skew / clock-bump (libfaketime offsets, wall clock only).
//! - [`disk`] — torn WAL tails (kill, truncate or flip bytes, restart).
//! - [`membership`] — add a spare / remove a member with `sdr-node admin`.
//! - [`plan`](mod@plan) — the timeline (pure: scenario + seed ⇒ the same actions).
//! - [`executor`] — applies the timeline, keeps open faults, heals them.
//!
//! Faults use the cluster (and, through it, the proxies) and the recorder only
//! through the executor; `plan` uses neither.

pub mod clock;
pub mod disk;
pub mod executor;
pub mod membership;
pub mod network;
pub mod plan;
pub mod process;

pub use clock::ClockFault;
pub use disk::{tear_file, TornWalFault};
pub use executor::Executor;
pub use membership::{AddNode, RemoveNode};
pub use network::{cut_off, grudge, isolate, LatencyFault, NetemFault, PartitionFault};
pub use plan::{plan, Action, Planned};
pub use process::{PauseFault, ProcessFault, RollingRestart};

use crate::cluster::NodeState;
use crate::scenario::{FaultKind, Step, Target};
use crate::system::System;
use sdr_seeded::Rng;
use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// How applying a fault went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The fault is in effect (or was undone, for a stop).
    Installed,
    /// Nothing was done (no such target, nothing to undo, not applicable).
    Skipped(String),
    /// Something was attempted and may or may not have taken effect.
    Indeterminate(String),
}

impl Outcome {
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Installed => "installed",
            Outcome::Skipped(_) => "skipped",
            Outcome::Indeterminate(_) => "indeterminate",
        }
    }
}

/// Result of a start or stop: outcome plus a human-readable detail.
#[derive(Clone, Debug)]
pub struct Applied {
    pub outcome: Outcome,
    pub detail: String,
}

impl Applied {
    pub(crate) fn ok(detail: impl Into<String>) -> Applied {
        Applied {
            outcome: Outcome::Installed,
            detail: detail.into(),
        }
    }
    pub(crate) fn skipped(why: impl Into<String>) -> Applied {
        let w = why.into();
        Applied {
            outcome: Outcome::Skipped(w.clone()),
            detail: w,
        }
    }
    pub(crate) fn indeterminate(detail: impl Into<String>, why: impl Into<String>) -> Applied {
        Applied {
            outcome: Outcome::Indeterminate(why.into()),
            detail: detail.into(),
        }
    }
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a fault may touch.
pub struct Ctx<'a> {
    /// The system under test (any adapter; sdr-only faults use [`System::as_sdr`]).
    pub cluster: &'a mut dyn System,
    pub rng: &'a mut Rng,
}

/// A fault: `start` installs it, `stop` undoes it (both idempotent enough to
/// be called in the heal phase).
pub trait Fault: Send {
    fn kind(&self) -> FaultKind;
    fn start<'a>(&'a mut self, ctx: &'a mut Ctx<'_>) -> BoxFuture<'a, Applied>;
    /// Undoes the fault. The default is for faults that are over when `start`
    /// returns (rolling restart, membership changes): nothing to undo.
    fn stop<'a>(&'a mut self, _ctx: &'a mut Ctx<'_>) -> BoxFuture<'a, Applied> {
        let why = format!("{} has nothing to undo", self.kind().name());
        Box::pin(async move { Applied::skipped(why) })
    }
}

pub(crate) fn names(ids: &[u32]) -> String {
    ids.iter()
        .map(|i| format!("n{i}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Resolves a node-set target among nodes that are up (leaders: asks the cluster).
/// `leader` is the leader of a random shard in a sharded cluster.
pub(crate) async fn resolve_nodes(
    t: &Target,
    cluster: &dyn System,
    rng: &mut Rng,
) -> Result<Vec<u32>, String> {
    let up: Vec<u32> = cluster
        .ids()
        .into_iter()
        .filter(|i| cluster.state(*i) == NodeState::Up)
        .collect();
    let n = cluster.size() as usize;
    let mut shuffled = up.clone();
    rng.shuffle(&mut shuffled);
    let pick = |k: usize, v: &Vec<u32>| -> Vec<u32> {
        let mut x: Vec<u32> = v.iter().copied().take(k).collect();
        x.sort_unstable();
        x
    };
    let out = match t {
        Target::One => pick(1, &shuffled),
        Target::All => pick(n, &shuffled),
        Target::Majority => pick(n / 2 + 1, &shuffled),
        Target::Minority => pick((n / 2).max(1), &shuffled),
        Target::Node(id) => up.iter().copied().filter(|i| i == id).collect(),
        Target::Leader | Target::IsolateLeader => {
            let s = 1 + rng.below(cluster.shards().max(1) as u64) as u32;
            match cluster.leader_of(s).await {
                Some(l) => vec![l],
                None => return Err(format!("no leader known in shard {s}")),
            }
        }
        Target::ShardLeader(s) => match cluster.leader_of(*s).await {
            Some(l) => vec![l],
            None => return Err(format!("no leader known in shard {s}")),
        },
        Target::Leaders => cluster.leaders().await,
        other => return Err(format!("{other} is not a node set")),
    };
    if out.is_empty() {
        return Err(format!("no running node matches {t}"));
    }
    Ok(out)
}

/// Builds the fault object for a step.
pub fn build(step: &Step) -> Box<dyn Fault> {
    let target = step.target.clone().unwrap_or(match step.fault {
        FaultKind::Partition => Target::MajorityMinority,
        _ => Target::One,
    });
    match step.fault {
        FaultKind::Kill | FaultKind::Terminate => Box::new(ProcessFault {
            kind: step.fault,
            target,
            nodes: vec![],
        }),
        FaultKind::Pause => Box::new(PauseFault {
            target,
            nodes: vec![],
        }),
        FaultKind::Partition => Box::new(PartitionFault {
            shape: target,
            mode: step.mode.unwrap_or_default(),
            cut_clients: step.cut_clients.unwrap_or(false),
            cut: BTreeSet::new(),
            clients: vec![],
        }),
        FaultKind::AddNode => Box::new(AddNode { target }),
        FaultKind::RemoveNode => Box::new(RemoveNode { target }),
        FaultKind::Latency => Box::new(LatencyFault {
            target,
            latency: step
                .latency
                .map(|d| d.0)
                .unwrap_or(Duration::from_millis(100)),
            links: vec![],
        }),
        FaultKind::TornWal => Box::new(TornWalFault {
            target,
            tear: step.tear.unwrap_or_default(),
            bytes: step.bytes.unwrap_or(16),
            nodes: vec![],
        }),
        FaultKind::Netem => Box::new(NetemFault {
            target,
            spec: crate::netns::NetemSpec {
                loss: step.loss.map(|p| p.0),
                delay_ms: step.delay.map(|d| d.0.as_millis() as u64),
                jitter_ms: step.jitter.map(|d| d.0.as_millis() as u64),
                duplicate: step.duplicate.map(|p| p.0),
                reorder: step.reorder.map(|p| p.0),
            },
            nodes: vec![],
        }),
        FaultKind::ClockSkew | FaultKind::ClockBump => Box::new(ClockFault {
            kind: step.fault,
            target,
            offset_ms: step.offset.map(|o| o.0).unwrap_or(0),
            nodes: vec![],
        }),
        FaultKind::RollingRestart | FaultKind::Restart | FaultKind::Resume | FaultKind::Heal => {
            Box::new(RollingRestart)
        }
    }
}
