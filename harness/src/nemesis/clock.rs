//! Clock faults (Jepsen's clock nemesis): a node's wall clock offset for a while
//! (`clock-skew`, undone at `heal-after` or the end) or jumped at a moment (`clock-bump`,
//! undone only at the end). Offsets add up: each fault adds its `offset` to the
//! node's current one and its stop subtracts it again, so overlapping faults commute
//! and every clock is back to real time after the heal phase. The nodes
//! run under libfaketime with a per-node offset file the system rewrites; only the
//! wall clock moves (`FAKETIME_DONT_FAKE_MONOTONIC=1`), so timers, Raft elections and
//! heartbeats keep real time, and the fault reaches what reads the wall clock: the
//! timestamps the leader stamps on commands (expiry, `TIME`).

use super::{resolve_nodes, Applied, BoxFuture, Ctx, Fault};
use crate::scenario::{FaultKind, Target};

/// `clock-skew` or `clock-bump`: adds `offset_ms` to the targets' wall-clock offsets.
pub struct ClockFault {
    pub kind: FaultKind,
    pub target: Target,
    pub offset_ms: i64,
    /// The nodes it moved, to undo.
    pub(super) nodes: Vec<u32>,
}

fn fmt_ms(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "+" };
    let a = ms.unsigned_abs();
    if a % 1000 == 0 {
        format!("{sign}{}s", a / 1000)
    } else {
        format!("{sign}{a}ms")
    }
}

impl Fault for ClockFault {
    fn kind(&self) -> FaultKind {
        self.kind
    }
    fn start<'a>(&'a mut self, ctx: &'a mut Ctx<'_>) -> BoxFuture<'a, Applied> {
        Box::pin(async move {
            let nodes = match resolve_nodes(&self.target, ctx.cluster, ctx.rng).await {
                Ok(n) => n,
                Err(e) => return Applied::skipped(e),
            };
            let mut parts = Vec::new();
            for id in &nodes {
                let to = ctx.cluster.clock_offset(*id).saturating_add(self.offset_ms);
                match ctx.cluster.set_clock_offset(*id, to) {
                    Ok(_) => {
                        self.nodes.push(*id);
                        parts.push(format!("n{id} clock {}", fmt_ms(to)));
                    }
                    Err(e) => return Applied::skipped(e),
                }
            }
            Applied::ok(parts.join(", "))
        })
    }
    fn stop<'a>(&'a mut self, ctx: &'a mut Ctx<'_>) -> BoxFuture<'a, Applied> {
        Box::pin(async move {
            let nodes = std::mem::take(&mut self.nodes);
            if nodes.is_empty() {
                return Applied::skipped("no clock to restore");
            }
            let mut parts = Vec::new();
            for id in &nodes {
                let to = ctx.cluster.clock_offset(*id).saturating_sub(self.offset_ms);
                if let Err(e) = ctx.cluster.set_clock_offset(*id, to) {
                    return Applied::indeterminate(parts.join(", "), e);
                }
                parts.push(format!("n{id} clock {}", fmt_ms(to)));
            }
            Applied::ok(format!(
                "{} undone: {}",
                fmt_ms(self.offset_ms),
                parts.join(", ")
            ))
        })
    }
}
