//! Histories linearizable by construction must pass; changing one read to a
//! never-written value must fail.

mod common;
use sdr_checker::gen::{generate, to_jsonl_string, GenParams};
use sdr_checker::history::EventType;
use sdr_checker::models::ModelKind;
use sdr_checker::op::{OpKind, Val};
use sdr_checker::Verdict;
use std::sync::Arc;

fn params(model: ModelKind, seed: u64) -> GenParams {
    GenParams {
        seed,
        ops: 2000,
        keys: 4,
        clients: 6,
        info_rate: 0.01,
        fail_rate: 0.02,
        cas_rate: 0.2,
        values: 4,
        model,
        ..GenParams::default()
    }
}

#[test]
fn by_construction_pass_and_mutation_fails() {
    for model in [ModelKind::Register, ModelKind::Kv, ModelKind::List] {
        for seed in 0..6u64 {
            let mut events = generate(&params(model, seed));
            let h = common::parse(&to_jsonl_string(&events));
            let r = common::run(&h, model);
            assert_eq!(r.verdict, Verdict::Linearizable, "{model:?} seed {seed}");
            // Change one ok read to a value never written.
            let reads: Vec<usize> = events
                .iter()
                .enumerate()
                .filter(|(_, e)| {
                    e.ty == EventType::Ok && matches!(e.f, OpKind::Read | OpKind::LRange)
                })
                .map(|(i, _)| i)
                .collect();
            let i = reads[(seed as usize * 7919) % reads.len()];
            events[i].value = if events[i].f == OpKind::LRange {
                Val::List(Arc::from(vec![Val::str("never-written")]))
            } else {
                Val::str("never-written")
            };
            let h = common::parse(&to_jsonl_string(&events));
            let r = common::run(&h, model);
            assert_eq!(
                r.verdict,
                Verdict::NotLinearizable,
                "{model:?} seed {seed} mutated"
            );
            let f = r.violations().next().unwrap().failure.clone().unwrap();
            // The mutated read is the op that cannot be placed... or one of the pending ops.
            assert!(
                f.unplaced
                    .iter()
                    .any(|&o| h.ops[o as usize].describe().contains("never-written")),
                "{model:?} seed {seed}"
            );
        }
    }
}

#[test]
fn timeout_zero_is_unknown_never_a_guess() {
    let events = generate(&params(ModelKind::Kv, 1));
    let h = common::parse(&to_jsonl_string(&events));
    let opts = sdr_checker::Options {
        timeout: Some(std::time::Duration::ZERO),
        all: false,
        ..Default::default()
    };
    let r = sdr_checker::check(&h, ModelKind::Kv, &opts).unwrap();
    assert_eq!(r.verdict, Verdict::Unknown);
}
