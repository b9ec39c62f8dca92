//! Process faults: SIGKILL / SIGTERM (undone by a restart), SIGSTOP (undone
//! by SIGCONT), and a rolling restart of every node in turn.

use super::{names, resolve_nodes, Applied, BoxFuture, Ctx, Fault};
use crate::cluster::NodeState;
use crate::scenario::{FaultKind, Target};

/// kill / terminate; stop = restart the same nodes.
pub struct ProcessFault {
    pub kind: FaultKind,
    pub target: Target,
    pub(super) nodes: Vec<u32>,
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
    pub(super) nodes: Vec<u32>,
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
}
