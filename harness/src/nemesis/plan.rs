//! The fault timeline: a pure function of the scenario and the seed.

use crate::scenario::{FaultKind, LinkMode, NemesisSpec, Scenario, Step, Target};
use sdr_seeded::Rng;
use std::time::Duration;

/// One timeline entry.
#[derive(Clone, Debug, PartialEq)]
// A timeline holds tens of actions: boxing the step would buy nothing.
#[allow(clippy::large_enum_variant)]
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
        loss: None,
        delay: None,
        jitter: None,
        duplicate: None,
        reorder: None,
        offset: None,
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
                        FaultKind::Netem,
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

    /// Published seeds replay the same fault timeline: `random-mix`'s plan for
    /// seed 1 (the
    /// generator in `sdr-seeded` was checked identical to the harness's former
    /// copy on seeds 0..2000; see its `pinned_outputs`).
    #[test]
    fn published_seed_replays_the_same_faults() {
        let s = sc("nemesis: {random: {every: 4s, faults: [kill, pause, partition], for: 2s}}\n");
        let kinds: Vec<&str> = plan(&s, 1)
            .iter()
            .filter_map(|p| match &p.action {
                Action::Start { step, .. } => Some(step.fault.name()),
                _ => None,
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "partition",
                "kill",
                "pause",
                "kill",
                "kill",
                "partition",
                "partition"
            ]
        );
    }
}
