//! Runs a timeline against the cluster: starts faults, keeps the open ones,
//! undoes them on their stop, a global stop step, or the heal phase, and
//! records every start/stop in `nemesis.jsonl`.

use super::{build, Action, Applied, Ctx, Fault, Outcome};
use crate::recorder::Recorder;
use crate::scenario::FaultKind;
use crate::system::System;
use sdr_seeded::Rng;

/// Faults that are over when `start` returns (their interval is the time `start` took).
fn instantaneous(kind: FaultKind) -> bool {
    matches!(
        kind,
        FaultKind::RollingRestart | FaultKind::AddNode | FaultKind::RemoveNode
    )
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
    pub async fn apply(
        &mut self,
        action: &Action,
        cluster: &mut dyn System,
        rec: &Recorder,
    ) -> usize {
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
    pub async fn stop_all(&mut self, cluster: &mut dyn System, rec: &Recorder) {
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
