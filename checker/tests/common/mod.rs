#![allow(dead_code)]
use sdr_checker::model::{Model, Spec};
use sdr_checker::models::ModelKind;
use sdr_checker::{check, history, CheckResult, History, Options};
use stateright::semantics::{ConsistencyTester, LinearizabilityTester};
use std::path::PathBuf;

pub fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

pub fn parse(s: &str) -> History {
    history::parse_jsonl_str(s).expect("valid history")
}

pub fn run(h: &History, m: ModelKind) -> CheckResult {
    check(h, m, &Options::default()).expect("checkable")
}

/// stateright's `LinearizabilityTester` verdict on `h` (one tester per key:
/// stateright has no partitions; linearizable iff every key is). The
/// independent oracle of the differential tests.
pub fn stateright_verdict<M: Model>(model: M, h: &History) -> bool {
    // One tester per key (stateright has no partitions); linearizable iff all are.
    (0..h.keys.len() as u32).all(|key| {
        let mut t = LinearizabilityTester::new(Spec::new(model.clone()));
        let mut ev: Vec<(i64, bool, usize)> = Vec::new();
        for (i, op) in h.ops.iter().enumerate().filter(|(_, o)| o.key == key) {
            ev.push((op.call, false, i));
            if !op.info {
                ev.push((op.ret, true, i));
            }
        }
        ev.sort();
        for (_, is_ret, i) in ev {
            let op = &h.ops[i];
            if is_ret {
                t.on_return(op.process, op.output.clone()).unwrap();
            } else {
                t.on_invoke(op.process, op.input.clone()).unwrap();
            }
        }
        t.is_consistent()
    })
}

/// Flips a cas completion between "swapped" (`ok`) and "compare failed"
/// (`fail`); other events are left alone. The differential tests' mutation.
pub fn flip_cas(e: &mut sdr_checker::gen::GenEvent) {
    use sdr_checker::history::EventType;
    if e.f == sdr_checker::op::OpKind::Cas && e.ty != EventType::Invoke && !e.error {
        e.ty = if e.ty == EventType::Ok {
            EventType::Fail
        } else {
            EventType::Ok
        };
    }
}

/// The events as JSON Lines with times renumbered to event indices
/// (distinct), so every checker sees the same real-time order.
pub fn retimed_jsonl(events: &mut [sdr_checker::gen::GenEvent]) -> String {
    for (i, e) in events.iter_mut().enumerate() {
        e.time = i as i64;
    }
    sdr_checker::gen::to_jsonl_string(events)
}
