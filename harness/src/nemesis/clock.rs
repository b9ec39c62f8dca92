//! Clock faults (Jepsen's clock nemesis): a node's wall clock offset for a while
//! (`clock-skew`, stop = back to the offset it had) or jumped at a moment
//! (`clock-bump`, cumulative; stop at the end = back to the offset it had). The nodes
//! run under libfaketime with a per-node offset file the system rewrites; only the
//! wall clock moves (`FAKETIME_DONT_FAKE_MONOTONIC=1`), so timers, Raft elections and
//! heartbeats keep real time, and the fault reaches what reads the wall clock: the
//! timestamps the leader stamps on commands (expiry, `TIME`).

use super::{names, resolve_nodes, Applied, BoxFuture, Ctx, Fault};
use crate::scenario::{FaultKind, Target};

/// `clock-skew` (set the offset) or `clock-bump` (add to it).
pub struct ClockFault {
    pub kind: FaultKind,
    pub target: Target,
    pub offset_ms: i64,
    /// `(node, offset before)`, to undo.
    pub(super) before: Vec<(u32, i64)>,
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
                let now = ctx.cluster.clock_offset(*id);
                let to = if self.kind == FaultKind::ClockBump {
                    now.saturating_add(self.offset_ms)
                } else {
                    self.offset_ms
                };
                match ctx.cluster.set_clock_offset(*id, to) {
                    Ok(prev) => {
                        self.before.push((*id, prev));
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
            let before = std::mem::take(&mut self.before);
            if before.is_empty() {
                return Applied::skipped("no clock to restore");
            }
            // Undo in reverse so overlapping faults on one node unwind in order.
            for (id, prev) in before.iter().rev() {
                let _ = ctx.cluster.set_clock_offset(*id, *prev);
            }
            let ids: Vec<u32> = before.iter().map(|(i, _)| *i).collect();
            Applied::ok(format!("clocks of {} restored", names(&ids)))
        })
    }
}
