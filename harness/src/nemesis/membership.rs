//! Membership faults: add a spare (learner, caught up, voter) and remove a
//! member, both with `sdr-node admin`; neither has anything to undo.

use super::{resolve_nodes, Applied, BoxFuture, Ctx, Fault};
use crate::scenario::{FaultKind, Target};

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
            let kind = ctx.cluster.kind();
            let Some(cluster) = ctx.cluster.as_sdr() else {
                return Applied::skipped(format!(
                    "add-node needs sdr-node admin; not system {}",
                    kind.name()
                ));
            };
            let spares = cluster.spare_ids();
            let id = match &self.target {
                Target::Node(id) if spares.contains(id) => *id,
                Target::Node(id) => {
                    return Applied::skipped(format!("n{id} is not an unused spare"))
                }
                _ if spares.is_empty() => return Applied::skipped("no spare left"),
                _ => spares[ctx.rng.below(spares.len() as u64) as usize],
            };
            match cluster.add_node(id).await {
                Ok(_) => Applied::ok(format!("n{id} added")),
                Err(e) => Applied::indeterminate(format!("n{id}"), e),
            }
        })
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
            let kind = ctx.cluster.kind();
            let Some(cluster) = ctx.cluster.as_sdr() else {
                return Applied::skipped(format!(
                    "remove-node needs sdr-node admin; not system {}",
                    kind.name()
                ));
            };
            match cluster.remove_node(id).await {
                Ok(_) => Applied::ok(format!("n{id} removed")),
                Err(e) => Applied::indeterminate(format!("n{id}"), e),
            }
        })
    }
}
