//! Faults ("nemeses"): one [`Fault`] trait with an explicit outcome
//! (installed / skipped / indeterminate), a pure seeded [`plan`] that turns
//! the scenario's `nemesis:` into a timeline, and an [`Executor`] that runs
//! the timeline against a [`Cluster`] and records every start/stop in
//! `nemesis.jsonl` on the run's clock.

use crate::cluster::{Cluster, NodeState};
use crate::proxy::LinkState;
use crate::recorder::Recorder;
use crate::scenario::{FaultKind, LinkMode, NemesisSpec, Scenario, Step, Target, TearMode};
use crate::workload::Rng;
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
    fn ok(detail: impl Into<String>) -> Applied {
        Applied {
            outcome: Outcome::Installed,
            detail: detail.into(),
        }
    }
    fn skipped(why: impl Into<String>) -> Applied {
        let w = why.into();
        Applied {
            outcome: Outcome::Skipped(w.clone()),
            detail: w,
        }
    }
    fn indeterminate(detail: impl Into<String>, why: impl Into<String>) -> Applied {
        Applied {
            outcome: Outcome::Indeterminate(why.into()),
            detail: detail.into(),
        }
    }
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a fault may touch.
pub struct Ctx<'a> {
    pub cluster: &'a mut Cluster,
    pub rng: &'a mut Rng,
}

/// A fault: `start` installs it, `stop` undoes it (both idempotent enough to
/// be called in the heal phase).
pub trait Fault: Send {
    fn kind(&self) -> FaultKind;
    fn start<'a>(&'a mut self, ctx: &'a mut Ctx<'_>) -> BoxFuture<'a, Applied>;
    fn stop<'a>(&'a mut self, ctx: &'a mut Ctx<'_>) -> BoxFuture<'a, Applied>;
}

fn names(ids: &[u32]) -> String {
    ids.iter()
        .map(|i| format!("n{i}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Resolves a node-set target among nodes that are up (leaders: asks the cluster).
/// `leader` is the leader of a random shard in a sharded cluster.
async fn resolve_nodes(t: &Target, cluster: &Cluster, rng: &mut Rng) -> Result<Vec<u32>, String> {
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

/// kill / terminate; stop = restart the same nodes.
pub struct ProcessFault {
    pub kind: FaultKind,
    pub target: Target,
    nodes: Vec<u32>,
}

impl Fault for ProcessFault {
    fn kind(&self) -> FaultKind {
        self.kind
    }
    fn start<'a>(&'a mut self, ctx: &'a mut Ctx<'_>) -> BoxFuture<'a, Applied> {
        Box::pin(async move {
            let nodes = match resolve_nodes(&self.target, ctx.cluster, ctx.rng).await {
                Ok(n) => n,
                Err(e) => return Applied::skipped(e),
            };
            let mut done = Vec::new();
            for id in &nodes {
                let r = if self.kind == FaultKind::Terminate {
                    ctx.cluster.terminate(*id).await.map(|s| s.is_some())
                } else {
                    ctx.cluster.kill(*id).await
                };
                match r {
                    Ok(true) => done.push(*id),
                    Ok(false) => {}
                    Err(e) => return Applied::indeterminate(names(&nodes), e.to_string()),
                }
            }
            self.nodes = done.clone();
            if done.is_empty() {
                Applied::skipped(format!("{} already down", names(&nodes)))
            } else {
                Applied::ok(names(&done))
            }
        })
    }
    fn stop<'a>(&'a mut self, ctx: &'a mut Ctx<'_>) -> BoxFuture<'a, Applied> {
        Box::pin(async move {
            let nodes = std::mem::take(&mut self.nodes);
            for id in &nodes {
                if let Err(e) = ctx.cluster.restart(*id).await {
                    return Applied::indeterminate(names(&nodes), format!("restart failed: {e}"));
                }
            }
            if nodes.is_empty() {
                Applied::skipped("nothing to restart")
            } else {
                Applied::ok(names(&nodes))
            }
        })
    }
}

/// SIGSTOP / SIGCONT.
pub struct PauseFault {
    pub target: Target,
    nodes: Vec<u32>,
}

impl Fault for PauseFault {
    fn kind(&self) -> FaultKind {
        FaultKind::Pause
    }
    fn start<'a>(&'a mut self, ctx: &'a mut Ctx<'_>) -> BoxFuture<'a, Applied> {
        Box::pin(async move {
            let nodes = match resolve_nodes(&self.target, ctx.cluster, ctx.rng).await {
                Ok(n) => n,
                Err(e) => return Applied::skipped(e),
            };
            for id in &nodes {
                match ctx.cluster.pause(*id) {
                    Ok(true) => self.nodes.push(*id),
                    Ok(false) => {}
                    Err(e) => return Applied::indeterminate(names(&nodes), e.to_string()),
                }
            }
            if self.nodes.is_empty() {
                Applied::skipped("nothing paused")
            } else {
                Applied::ok(names(&self.nodes))
            }
        })
    }
    fn stop<'a>(&'a mut self, ctx: &'a mut Ctx<'_>) -> BoxFuture<'a, Applied> {
        Box::pin(async move {
            let nodes = std::mem::take(&mut self.nodes);
            for id in &nodes {
                let _ = ctx.cluster.resume(*id);
            }
            if nodes.is_empty() {
                Applied::skipped("nothing to resume")
            } else {
                Applied::ok(names(&nodes))
            }
        })
    }
}

/// The directed links that cut `group` off from the other `ids` (both ways).
pub fn isolate(group: &[u32], ids: &[u32]) -> (BTreeSet<(u32, u32)>, String) {
    let rest: Vec<u32> = ids.iter().copied().filter(|i| !group.contains(i)).collect();
    let mut cut = BTreeSet::new();
    for x in group {
        for y in &rest {
            cut.insert((*x, *y));
            cut.insert((*y, *x));
        }
    }
    let mut g = group.to_vec();
    g.sort_unstable();
    (cut, format!("{} | {}", names(&g), names(&rest)))
}

/// Nodes that, with `cut`, reach at most half of their shard (themselves included):
/// their clients are cut too with `cut-clients`.
pub fn cut_off(cut: &BTreeSet<(u32, u32)>, shards: &[Vec<u32>]) -> Vec<u32> {
    let mut out = Vec::new();
    for members in shards {
        for x in members {
            let reach = 1 + members
                .iter()
                .filter(|y| *y != x && !cut.contains(&(*x, **y)) && !cut.contains(&(**y, *x)))
                .count();
            if reach * 2 <= members.len() {
                out.push(*x);
            }
        }
    }
    out.sort_unstable();
    out
}

/// The directed links to cut for a partition shape (`from`, `to`), and a description.
pub fn grudge(
    shape: &Target,
    ids: &[u32],
    leader: Option<u32>,
    rng: &mut Rng,
) -> Result<(BTreeSet<(u32, u32)>, String), String> {
    let n = ids.len();
    if n < 2 {
        return Err("a partition needs at least 2 nodes".into());
    }
    let mut shuffled = ids.to_vec();
    rng.shuffle(&mut shuffled);
    let mut cut = BTreeSet::new();
    let split = |a: &[u32], b: &[u32], cut: &mut BTreeSet<(u32, u32)>| {
        for x in a {
            for y in b {
                cut.insert((*x, *y));
                cut.insert((*y, *x));
            }
        }
    };
    let sides = |a: &[u32], b: &[u32]| {
        let mut a = a.to_vec();
        let mut b = b.to_vec();
        a.sort_unstable();
        b.sort_unstable();
        format!("{} | {}", names(&a), names(&b))
    };
    let detail = match shape {
        Target::MajorityMinority => {
            let (a, b) = shuffled.split_at(n / 2);
            split(a, b, &mut cut);
            sides(a, b)
        }
        Target::RandomHalves => {
            let k = 1 + rng.below(n as u64 - 1) as usize;
            let (a, b) = shuffled.split_at(k);
            split(a, b, &mut cut);
            sides(a, b)
        }
        Target::IsolateLeader | Target::Leader => {
            let l = leader.ok_or("no leader known")?;
            let rest: Vec<u32> = ids.iter().copied().filter(|i| *i != l).collect();
            split(&[l], &rest, &mut cut);
            sides(&[l], &rest)
        }
        Target::Node(id) => {
            if !ids.contains(id) {
                return Err(format!("no node {id}"));
            }
            let rest: Vec<u32> = ids.iter().copied().filter(|i| i != id).collect();
            split(&[*id], &rest, &mut cut);
            sides(&[*id], &rest)
        }
        Target::One | Target::Minority | Target::Majority => {
            let k = match shape {
                Target::One => 1,
                Target::Minority => (n - 1) / 2,
                _ => n / 2 + 1,
            }
            .clamp(1, n - 1);
            let (a, b) = shuffled.split_at(k);
            split(a, b, &mut cut);
            sides(a, b)
        }
        Target::Bridge => {
            if n < 3 {
                return Err("a bridge needs at least 3 nodes".into());
            }
            let bridge = shuffled[0];
            let rest = &shuffled[1..];
            let (a, b) = rest.split_at(rest.len() / 2);
            split(a, b, &mut cut);
            format!("{} <n{bridge}> {}", names(a), names(b))
        }
        Target::Ring => {
            if n < 4 {
                return Err("a ring needs at least 4 nodes".into());
            }
            for (i, x) in shuffled.iter().enumerate() {
                for (j, y) in shuffled.iter().enumerate() {
                    let d = (i as i64 - j as i64).rem_euclid(n as i64);
                    if i != j && d != 1 && d != n as i64 - 1 {
                        cut.insert((*x, *y));
                    }
                }
            }
            format!("ring {}", names(&shuffled))
        }
        Target::All | Target::ShardLeader(_) | Target::Leaders => {
            return Err(format!("{shape} must be resolved to nodes first"))
        }
    };
    Ok((cut, detail))
}

/// Partition through the link proxies; stop = heal those links.
pub struct PartitionFault {
    pub shape: Target,
    pub mode: LinkMode,
    /// Also cut the client links of nodes cut off from their shard's majority.
    pub cut_clients: bool,
    cut: BTreeSet<(u32, u32)>,
    clients: Vec<u32>,
}

impl Fault for PartitionFault {
    fn kind(&self) -> FaultKind {
        FaultKind::Partition
    }
    fn start<'a>(&'a mut self, ctx: &'a mut Ctx<'_>) -> BoxFuture<'a, Applied> {
        Box::pin(async move {
            if !ctx.cluster.has_links() {
                return Applied::skipped("single node: no peer links to cut");
            }
            let ids = ctx.cluster.ids();
            let r = if matches!(
                self.shape,
                Target::IsolateLeader | Target::Leader | Target::ShardLeader(_) | Target::Leaders
            ) {
                match resolve_nodes(&self.shape, ctx.cluster, ctx.rng).await {
                    Ok(group) => Ok(isolate(&group, &ids)),
                    Err(e) => Err(e),
                }
            } else {
                grudge(&self.shape, &ids, None, ctx.rng)
            };
            let (cut, detail) = match r {
                Ok(x) => x,
                Err(e) => return Applied::skipped(e),
            };
            let state = match self.mode {
                LinkMode::Reject => LinkState::Reject,
                LinkMode::Blackhole => LinkState::Blackhole,
            };
            for (a, b) in &cut {
                ctx.cluster.set_link(*a, *b, state);
            }
            let mut detail = format!("{detail} ({:?})", self.mode).to_lowercase();
            if self.cut_clients {
                let shards: Vec<Vec<u32>> = (1..=ctx.cluster.shards())
                    .map(|s| ctx.cluster.shard_ids(s))
                    .collect();
                self.clients = cut_off(&cut, &shards);
                for id in &self.clients {
                    ctx.cluster.set_client_link(*id, state);
                }
                detail.push_str(&format!(
                    "; clients cut from {}",
                    if self.clients.is_empty() {
                        "none".into()
                    } else {
                        names(&self.clients)
                    }
                ));
            }
            self.cut = cut;
            Applied::ok(detail)
        })
    }
    fn stop<'a>(&'a mut self, ctx: &'a mut Ctx<'_>) -> BoxFuture<'a, Applied> {
        Box::pin(async move {
            let cut = std::mem::take(&mut self.cut);
            for (a, b) in &cut {
                ctx.cluster.set_link(*a, *b, LinkState::Pass);
            }
            for id in std::mem::take(&mut self.clients) {
                ctx.cluster.set_client_link(id, LinkState::Pass);
            }
            if cut.is_empty() {
                Applied::skipped("nothing to heal")
            } else {
                Applied::ok(format!("{} links healed", cut.len()))
            }
        })
    }
}

/// Added latency on every peer link from and to the targets.
pub struct LatencyFault {
    pub target: Target,
    pub latency: Duration,
    links: Vec<(u32, u32)>,
}

impl Fault for LatencyFault {
    fn kind(&self) -> FaultKind {
        FaultKind::Latency
    }
    fn start<'a>(&'a mut self, ctx: &'a mut Ctx<'_>) -> BoxFuture<'a, Applied> {
        Box::pin(async move {
            if !ctx.cluster.has_links() {
                return Applied::skipped("single node: no peer links");
            }
            let nodes = match resolve_nodes(&self.target, ctx.cluster, ctx.rng).await {
                Ok(n) => n,
                Err(e) => return Applied::skipped(e),
            };
            for a in &nodes {
                for b in ctx.cluster.ids() {
                    for (x, y) in [(*a, b), (b, *a)] {
                        if x != y && ctx.cluster.set_link_latency(x, y, self.latency) {
                            self.links.push((x, y));
                        }
                    }
                }
            }
            Applied::ok(format!(
                "{} +{} ms",
                names(&nodes),
                self.latency.as_millis()
            ))
        })
    }
    fn stop<'a>(&'a mut self, ctx: &'a mut Ctx<'_>) -> BoxFuture<'a, Applied> {
        Box::pin(async move {
            let links = std::mem::take(&mut self.links);
            for (x, y) in &links {
                ctx.cluster.set_link_latency(*x, *y, Duration::ZERO);
            }
            if links.is_empty() {
                Applied::skipped("no latency to remove")
            } else {
                Applied::ok(format!("{} links", links.len()))
            }
        })
    }
}

/// Tears the tail of a WAL segment: truncates the last `bytes` bytes, or flips
/// one byte among them. Returns a description.
pub fn tear_file(
    path: &std::path::Path,
    tear: TearMode,
    bytes: u64,
    rng: &mut Rng,
) -> std::io::Result<String> {
    let len = std::fs::metadata(path)?.len();
    if len == 0 {
        return Err(std::io::Error::other("segment is empty"));
    }
    let k = bytes.min(len);
    match tear {
        TearMode::Truncate => {
            let f = std::fs::OpenOptions::new().write(true).open(path)?;
            f.set_len(len - k)?;
            f.sync_all()?;
            Ok(format!("truncated {k} of {len} bytes"))
        }
        TearMode::Flip => {
            use std::io::{Read, Seek, SeekFrom, Write};
            let off = len - 1 - rng.below(k);
            let mut f = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(path)?;
            f.seek(SeekFrom::Start(off))?;
            let mut b = [0u8; 1];
            f.read_exact(&mut b)?;
            b[0] ^= 0xFF;
            f.seek(SeekFrom::Start(off))?;
            f.write_all(&b)?;
            f.sync_all()?;
            Ok(format!("flipped byte {off} of {len}"))
        }
    }
}

/// Kill, tear the newest WAL segment, and (on stop) restart.
pub struct TornWalFault {
    pub target: Target,
    pub tear: TearMode,
    pub bytes: u64,
    nodes: Vec<u32>,
}

impl Fault for TornWalFault {
    fn kind(&self) -> FaultKind {
        FaultKind::TornWal
    }
    fn start<'a>(&'a mut self, ctx: &'a mut Ctx<'_>) -> BoxFuture<'a, Applied> {
        Box::pin(async move {
            let nodes = match resolve_nodes(&self.target, ctx.cluster, ctx.rng).await {
                Ok(n) => n,
                Err(e) => return Applied::skipped(e),
            };
            let mut details = Vec::new();
            for id in &nodes {
                match ctx.cluster.kill(*id).await {
                    Ok(true) => self.nodes.push(*id),
                    Ok(false) => continue,
                    Err(e) => return Applied::indeterminate(names(&nodes), e.to_string()),
                }
                let seg = match ctx.cluster.newest_wal_segment(*id) {
                    Ok(Some(s)) => s,
                    Ok(None) => {
                        details.push(format!("n{id}: killed, no WAL segment to tear"));
                        continue;
                    }
                    Err(e) => return Applied::indeterminate(names(&nodes), e.to_string()),
                };
                match tear_file(&seg, self.tear, self.bytes, ctx.rng) {
                    Ok(d) => details.push(format!(
                        "n{id}: {} {d}",
                        seg.file_name()
                            .map(|f| f.to_string_lossy().into_owned())
                            .unwrap_or_default()
                    )),
                    Err(e) => {
                        return Applied::indeterminate(
                            names(&nodes),
                            format!("tearing {}: {e}", seg.display()),
                        )
                    }
                }
            }
            if self.nodes.is_empty() {
                Applied::skipped("no running target")
            } else {
                Applied::ok(details.join("; "))
            }
        })
    }
    fn stop<'a>(&'a mut self, ctx: &'a mut Ctx<'_>) -> BoxFuture<'a, Applied> {
        Box::pin(async move {
            let nodes = std::mem::take(&mut self.nodes);
            for id in &nodes {
                if let Err(e) = ctx.cluster.restart(*id).await {
                    return Applied::indeterminate(
                        names(&nodes),
                        format!("restart after torn WAL failed: {e}"),
                    );
                }
            }
            if nodes.is_empty() {
                Applied::skipped("nothing to restart")
            } else {
                Applied::ok(names(&nodes))
            }
        })
    }
}

/// Restarts every node in turn (SIGTERM, start, wait until it serves); `stop` is a no-op.
pub struct RollingRestart;

impl Fault for RollingRestart {
    fn kind(&self) -> FaultKind {
        FaultKind::RollingRestart
    }
    fn start<'a>(&'a mut self, ctx: &'a mut Ctx<'_>) -> BoxFuture<'a, Applied> {
        Box::pin(async move {
            let mut done = Vec::new();
            for id in ctx.cluster.ids() {
                if ctx.cluster.state(id) != NodeState::Up {
                    continue;
                }
                if let Err(e) = ctx.cluster.terminate(id).await {
                    return Applied::indeterminate(names(&done), e.to_string());
                }
                if let Err(e) = ctx.cluster.restart(id).await {
                    return Applied::indeterminate(
                        names(&done),
                        format!("restart of n{id} failed: {e}"),
                    );
                }
                done.push(id);
            }
            Applied::ok(names(&done))
        })
    }
    fn stop<'a>(&'a mut self, _ctx: &'a mut Ctx<'_>) -> BoxFuture<'a, Applied> {
        Box::pin(async move { Applied::skipped("rolling restart has nothing to undo") })
    }
}

/// `add-node`: start a spare and add it with `sdr-node admin add`; nothing to undo.
pub struct AddNode {
    pub target: Target,
}

impl Fault for AddNode {
    fn kind(&self) -> FaultKind {
        FaultKind::AddNode
    }
    fn start<'a>(&'a mut self, ctx: &'a mut Ctx<'_>) -> BoxFuture<'a, Applied> {
        Box::pin(async move {
            let spares = ctx.cluster.spare_ids();
            let id = match &self.target {
                Target::Node(id) if spares.contains(id) => *id,
                Target::Node(id) => {
                    return Applied::skipped(format!("n{id} is not an unused spare"))
                }
                _ if spares.is_empty() => return Applied::skipped("no spare left"),
                _ => spares[ctx.rng.below(spares.len() as u64) as usize],
            };
            match ctx.cluster.add_node(id).await {
                Ok(_) => Applied::ok(format!("n{id} added")),
                Err(e) => Applied::indeterminate(format!("n{id}"), e),
            }
        })
    }
    fn stop<'a>(&'a mut self, _ctx: &'a mut Ctx<'_>) -> BoxFuture<'a, Applied> {
        Box::pin(async move { Applied::skipped("add-node has nothing to undo") })
    }
}

/// `remove-node`: remove a member with `sdr-node admin remove`, then stop it; nothing to undo.
pub struct RemoveNode {
    pub target: Target,
}

impl Fault for RemoveNode {
    fn kind(&self) -> FaultKind {
        FaultKind::RemoveNode
    }
    fn start<'a>(&'a mut self, ctx: &'a mut Ctx<'_>) -> BoxFuture<'a, Applied> {
        Box::pin(async move {
            if ctx.cluster.size() <= 2 {
                return Applied::skipped("keeping at least 2 members");
            }
            let nodes = match resolve_nodes(&self.target, ctx.cluster, ctx.rng).await {
                Ok(n) => n,
                Err(e) => return Applied::skipped(e),
            };
            let id = nodes[0];
            match ctx.cluster.remove_node(id).await {
                Ok(_) => Applied::ok(format!("n{id} removed")),
                Err(e) => Applied::indeterminate(format!("n{id}"), e),
            }
        })
    }
    fn stop<'a>(&'a mut self, _ctx: &'a mut Ctx<'_>) -> BoxFuture<'a, Applied> {
        Box::pin(async move { Applied::skipped("remove-node has nothing to undo") })
    }
}

/// Faults that are over when `start` returns (their interval is the time `start` took).
fn instantaneous(kind: FaultKind) -> bool {
    matches!(
        kind,
        FaultKind::RollingRestart | FaultKind::AddNode | FaultKind::RemoveNode
    )
}

/// One timeline entry.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Start fault number `id` built from `step`.
    Start { id: usize, step: Step },
    /// Undo fault `id` (if still open).
    Stop { id: usize },
    /// Undo every open fault of these kinds (restart / resume / heal steps).
    StopKinds(Vec<FaultKind>),
}

/// A timeline entry at an offset from the start of the load phase.
#[derive(Clone, Debug, PartialEq)]
pub struct Planned {
    pub at: Duration,
    pub action: Action,
}

fn random_step(kind: FaultKind, mode: Option<LinkMode>) -> Step {
    Step {
        at: None,
        every: None,
        fault: kind,
        target: Some(match kind {
            FaultKind::Partition => Target::RandomHalves,
            _ => Target::One,
        }),
        mode: if kind == FaultKind::Partition {
            mode
        } else {
            None
        },
        latency: (kind == FaultKind::Latency)
            .then_some(crate::scenario::Dur(Duration::from_millis(100))),
        restart_after: None,
        resume_after: None,
        heal_after: None,
        tear: None,
        bytes: None,
        cut_clients: None,
    }
}

/// The fault timeline of a scenario (pure; the seed picks random faults).
pub fn plan(sc: &Scenario, seed: u64) -> Vec<Planned> {
    let end = sc.duration.0;
    let mut rng = Rng::new(seed ^ 0x4E45_4D45_5349_5321);
    let mut out = Vec::new();
    let mut next_id = 0usize;
    let mut push_fault =
        |at: Duration, step: &Step, after: Option<Duration>, out: &mut Vec<Planned>| {
            let id = next_id;
            next_id += 1;
            out.push(Planned {
                at,
                action: Action::Start {
                    id,
                    step: step.clone(),
                },
            });
            if let Some(a) = after {
                if at + a < end {
                    out.push(Planned {
                        at: at + a,
                        action: Action::Stop { id },
                    });
                }
            }
        };
    match &sc.nemesis {
        NemesisSpec::None => {}
        NemesisSpec::Random(r) => {
            let lasts = r.lasts.map(|d| d.0).unwrap_or(r.every.0 / 2);
            let mut t = r.every.0;
            while t < end {
                let kind = r.faults[rng.below(r.faults.len() as u64) as usize];
                let step = random_step(kind, r.mode);
                let after = match kind {
                    // A torn WAL is "installed" while the node is down; restart quickly.
                    FaultKind::TornWal => Some(lasts.min(Duration::from_secs(1))),
                    _ => Some(lasts),
                };
                push_fault(t, &step, after, &mut out);
                t += r.every.0;
            }
        }
        NemesisSpec::Schedule(steps) => {
            for s in steps {
                let after = s
                    .restart_after
                    .or(s.resume_after)
                    .or(s.heal_after)
                    .map(|d| d.0)
                    .or(if s.fault == FaultKind::TornWal {
                        Some(Duration::from_secs(1))
                    } else {
                        None
                    });
                let global = match s.fault {
                    FaultKind::Restart => Some(vec![
                        FaultKind::Kill,
                        FaultKind::Terminate,
                        FaultKind::TornWal,
                    ]),
                    FaultKind::Resume => Some(vec![FaultKind::Pause]),
                    FaultKind::Heal => Some(vec![
                        FaultKind::Partition,
                        FaultKind::Latency,
                        FaultKind::Pause,
                    ]),
                    _ => None,
                };
                let times: Vec<Duration> = match (s.at, s.every) {
                    (Some(at), _) => vec![at.0],
                    (None, Some(e)) => {
                        let mut v = Vec::new();
                        let mut t = e.0;
                        while t < end {
                            v.push(t);
                            t += e.0;
                        }
                        v
                    }
                    _ => vec![],
                };
                for t in times {
                    match &global {
                        Some(kinds) => out.push(Planned {
                            at: t,
                            action: Action::StopKinds(kinds.clone()),
                        }),
                        None => push_fault(t, s, after, &mut out),
                    }
                }
            }
        }
    }
    out.sort_by_key(|p| p.at);
    out
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
        FaultKind::RollingRestart | FaultKind::Restart | FaultKind::Resume | FaultKind::Heal => {
            Box::new(RollingRestart)
        }
    }
}

/// Runs a timeline and keeps the open faults.
pub struct Executor {
    open: Vec<(usize, Box<dyn Fault>)>,
    rng: Rng,
}

impl Executor {
    pub fn new(seed: u64) -> Executor {
        Executor {
            open: Vec::new(),
            rng: Rng::new(seed ^ 0x5441_5247_4554_5321),
        }
    }

    fn record(rec: &Recorder, ty: &str, kind: FaultKind, a: &Applied) {
        Self::record_opt(rec, None, ty, kind, a)
    }
    fn record_at(rec: &Recorder, time: i64, ty: &str, kind: FaultKind, a: &Applied) {
        Self::record_opt(rec, Some(time), ty, kind, a)
    }
    fn record_opt(rec: &Recorder, time: Option<i64>, ty: &str, kind: FaultKind, a: &Applied) {
        // An indeterminate outcome keeps its reason in the detail.
        let detail = match &a.outcome {
            Outcome::Indeterminate(why) if !why.is_empty() && *why != a.detail => {
                format!("{}: {why}", a.detail)
            }
            _ => a.detail.clone(),
        };
        if let Err(e) = rec.nemesis_at(time, ty, kind.name(), &detail, a.outcome.name()) {
            tracing::warn!("recording nemesis event: {e}");
        }
    }

    /// Applies one action; returns the number of faults installed.
    pub async fn apply(&mut self, action: &Action, cluster: &mut Cluster, rec: &Recorder) -> usize {
        match action {
            Action::Start { id, step } => {
                let mut f = build(step);
                let kind = f.kind();
                // The fault begins when the action begins (a kill or an admin call takes time).
                let t0 = rec.clock().now_ns();
                let a = f
                    .start(&mut Ctx {
                        cluster,
                        rng: &mut self.rng,
                    })
                    .await;
                Self::record_at(rec, t0, "start", kind, &a);
                match a.outcome {
                    Outcome::Skipped(_) => {
                        Self::record(rec, "stop", kind, &Applied::skipped("not installed"));
                        0
                    }
                    _ if instantaneous(kind) => {
                        Self::record(rec, "stop", kind, &Applied::ok("done"));
                        1
                    }
                    _ => {
                        self.open.push((*id, f));
                        1
                    }
                }
            }
            Action::Stop { id } => {
                if let Some(pos) = self.open.iter().position(|(i, _)| i == id) {
                    let (_, mut f) = self.open.remove(pos);
                    let a = f
                        .stop(&mut Ctx {
                            cluster,
                            rng: &mut self.rng,
                        })
                        .await;
                    Self::record(rec, "stop", f.kind(), &a);
                }
                0
            }
            Action::StopKinds(kinds) => {
                let mut keep = Vec::new();
                for (i, mut f) in std::mem::take(&mut self.open) {
                    if kinds.contains(&f.kind()) {
                        let a = f
                            .stop(&mut Ctx {
                                cluster,
                                rng: &mut self.rng,
                            })
                            .await;
                        Self::record(rec, "stop", f.kind(), &a);
                    } else {
                        keep.push((i, f));
                    }
                }
                self.open = keep;
                0
            }
        }
    }

    /// Undoes every open fault (the heal phase).
    pub async fn stop_all(&mut self, cluster: &mut Cluster, rec: &Recorder) {
        for (_, mut f) in std::mem::take(&mut self.open).into_iter().rev() {
            let a = f
                .stop(&mut Ctx {
                    cluster,
                    rng: &mut self.rng,
                })
                .await;
            Self::record(rec, "stop", f.kind(), &a);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sc(nemesis: &str) -> Scenario {
        let y = format!("name: t\ncluster: {{nodes: 5}}\nworkload: {{model: kv}}\nduration: 30s\nexpect: linearizable\n{nemesis}");
        Scenario::from_yaml(&y, "t.yaml").expect("valid")
    }

    #[test]
    fn schedule_plan() {
        let s = sc("nemesis:\n  - {at: 10s, fault: partition, target: majority-minority}\n  - {at: 25s, fault: heal}\n  - {every: 8s, fault: kill, target: leader, restart-after: 3s}\n");
        let p = plan(&s, 1);
        let at: Vec<u64> = p.iter().map(|x| x.at.as_secs()).collect();
        assert_eq!(at, vec![8, 10, 11, 16, 19, 24, 25, 27]);
        assert!(matches!(
            p[1].action,
            Action::Start {
                step: Step {
                    fault: FaultKind::Partition,
                    ..
                },
                ..
            }
        ));
        assert!(matches!(&p[6].action, Action::StopKinds(k) if k.contains(&FaultKind::Partition)));
        assert_eq!(
            plan(&s, 1),
            plan(&s, 2),
            "a schedule does not depend on the seed"
        );
    }

    #[test]
    fn random_plan_is_seeded() {
        let s = sc("nemesis: {random: {every: 2s, faults: [kill, pause, partition]}}\n");
        let a = plan(&s, 7);
        assert_eq!(a, plan(&s, 7));
        assert_ne!(a, plan(&s, 8));
        let starts = a
            .iter()
            .filter(|p| matches!(p.action, Action::Start { .. }))
            .count();
        let stops = a
            .iter()
            .filter(|p| matches!(p.action, Action::Stop { .. }))
            .count();
        assert_eq!(starts, 14);
        assert_eq!(stops, 14);
    }

    #[test]
    fn grudges() {
        let ids = [1, 2, 3, 4, 5];
        let mut rng = Rng::new(3);
        let (cut, d) = grudge(&Target::MajorityMinority, &ids, None, &mut rng).expect("ok");
        assert_eq!(cut.len(), 2 * 2 * 3, "{d}");
        let (cut, _) = grudge(&Target::IsolateLeader, &ids, Some(4), &mut rng).expect("ok");
        assert!(cut.iter().all(|(a, b)| *a == 4 || *b == 4));
        assert_eq!(cut.len(), 8);
        let (cut, d) = grudge(&Target::Bridge, &ids, None, &mut rng).expect("ok");
        // 2 x 2 cut both ways; the bridge node keeps every link.
        assert_eq!(cut.len(), 8, "{d}");
        let (cut, _) = grudge(&Target::Ring, &ids, None, &mut rng).expect("ok");
        // Each node keeps 2 of 4 neighbours.
        assert_eq!(cut.len(), 5 * 2);
        assert!(grudge(&Target::MajorityMinority, &[1], None, &mut rng).is_err());
        assert!(grudge(&Target::IsolateLeader, &ids, None, &mut rng).is_err());
    }

    #[test]
    fn isolation_and_client_cut_off() {
        let ids = [1, 2, 3, 4, 5, 6];
        let (cut, d) = isolate(&[2, 5], &ids);
        assert_eq!(cut.len(), 2 * 2 * 4, "{d}");
        assert!(cut.contains(&(2, 1)) && cut.contains(&(1, 2)) && !cut.contains(&(2, 5)));
        // Two shards of three: n2 is alone in shard 1 (cut off), n5 alone in shard 2.
        let shards = vec![vec![1, 2, 3], vec![4, 5, 6]];
        assert_eq!(cut_off(&cut, &shards), vec![2, 5]);
        // A 2|3 split of five nodes: the two-node side is cut off.
        let (cut, _) = isolate(&[1, 2], &[1, 2, 3, 4, 5]);
        assert_eq!(cut_off(&cut, &[vec![1, 2, 3, 4, 5]]), vec![1, 2]);
        assert!(cut_off(&BTreeSet::new(), &shards).is_empty());
    }

    #[test]
    fn tear_truncates_and_flips() {
        let d = tempfile::tempdir().expect("tempdir");
        let p = d.path().join("0.wal");
        std::fs::write(&p, vec![0u8; 100]).expect("write");
        let mut rng = Rng::new(1);
        tear_file(&p, TearMode::Truncate, 16, &mut rng).expect("truncate");
        assert_eq!(std::fs::metadata(&p).expect("meta").len(), 84);
        tear_file(&p, TearMode::Flip, 8, &mut rng).expect("flip");
        let b = std::fs::read(&p).expect("read");
        assert_eq!(b.len(), 84);
        let flipped: Vec<usize> = b
            .iter()
            .enumerate()
            .filter(|(_, x)| **x != 0)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(flipped.len(), 1);
        assert!(flipped[0] >= 76);
    }
}
