//! Network faults: grudges (the directed links a partition shape cuts, always both
//! ways), partitions and added latency (through the link proxies, or as nftables rules
//! with `network: netns`), and `netem` (netns only: `tc netem` on node interfaces).

use super::{names, resolve_nodes, Applied, BoxFuture, Ctx, Fault};
use crate::netns::NetemSpec;
use crate::proxy::LinkState;
use crate::scenario::{FaultKind, LinkMode, Target};
use sdr_seeded::Rng;
use std::collections::BTreeSet;
use std::time::Duration;

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
    pub(super) cut: BTreeSet<(u32, u32)>,
    pub(super) clients: Vec<u32>,
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
    pub(super) links: Vec<(u32, u32)>,
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

/// `tc netem` on the targets' interfaces (network: netns); stop = remove it.
pub struct NetemFault {
    pub target: Target,
    pub spec: NetemSpec,
    pub(super) nodes: Vec<u32>,
}

impl Fault for NetemFault {
    fn kind(&self) -> FaultKind {
        FaultKind::Netem
    }
    fn start<'a>(&'a mut self, ctx: &'a mut Ctx<'_>) -> BoxFuture<'a, Applied> {
        Box::pin(async move {
            let nodes = match resolve_nodes(&self.target, ctx.cluster, ctx.rng).await {
                Ok(n) => n,
                Err(e) => return Applied::skipped(e),
            };
            let mut done = Vec::new();
            let mut errors = Vec::new();
            for id in &nodes {
                match ctx.cluster.set_netem(*id, Some(&self.spec)) {
                    Ok(d) => done.push(format!("n{id}: {d}")),
                    Err(e) => errors.push(format!("n{id}: {e}")),
                }
            }
            self.nodes = nodes;
            match (done.is_empty(), errors.is_empty()) {
                (_, true) => Applied::ok(done.join("; ")),
                (true, false) => Applied::skipped(errors.join("; ")),
                (false, false) => Applied::indeterminate(
                    done.join("; "),
                    format!("partly applied: {}", errors.join("; ")),
                ),
            }
        })
    }
    fn stop<'a>(&'a mut self, ctx: &'a mut Ctx<'_>) -> BoxFuture<'a, Applied> {
        Box::pin(async move {
            let nodes = std::mem::take(&mut self.nodes);
            if nodes.is_empty() {
                return Applied::skipped("no netem to remove");
            }
            for id in &nodes {
                let _ = ctx.cluster.set_netem(*id, None);
            }
            Applied::ok(format!("netem removed from {}", names(&nodes)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
