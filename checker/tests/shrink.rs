//! The smallest-counterexample search (`shrink.rs`): a window of a
//! linearizable history is never reported illegal (soundness, on random
//! windows of by-construction histories), and a planted stale read is
//! reported with a small window that contains it.

mod common;
use sdr_checker::gen::{generate, to_jsonl_string, GenParams, Rng};
use sdr_checker::history::EventType;
use sdr_checker::models::{KvModel, ListModel, ModelKind, RegisterModel};
use sdr_checker::op::{Input, Op, OpKind};
use sdr_checker::shrink::window_illegal;
use sdr_checker::Verdict;

fn params(model: ModelKind, seed: u64) -> GenParams {
    GenParams {
        seed,
        ops: 300,
        keys: 1,
        clients: 5,
        info_rate: 0.05,
        cas_rate: 0.3,
        values: if seed % 2 == 0 { 4 } else { 1000 },
        model,
        ..GenParams::default()
    }
}

#[test]
fn windows_of_linearizable_histories_are_never_illegal() {
    for model in [ModelKind::Register, ModelKind::Kv, ModelKind::List] {
        for seed in 0..12u64 {
            let h = common::parse(&to_jsonl_string(&generate(&params(model, seed))));
            assert_eq!(common::run(&h, model).verdict, Verdict::Linearizable);
            let ops: Vec<&Op> = h.ops.iter().collect();
            let (lo, hi) = (ops[0].call, ops.iter().map(|o| o.call).max().unwrap());
            let mut rng = Rng::new(seed);
            for _ in 0..25 {
                let a = lo + rng.below((hi - lo + 1) as u64) as i64;
                let b = a + rng.below((hi - a + 1) as u64) as i64;
                let bad = match model {
                    ModelKind::Register => window_illegal(&RegisterModel, &ops, a, b),
                    ModelKind::Kv => window_illegal(&KvModel, &ops, a, b),
                    ModelKind::List => window_illegal(&ListModel, &ops, a, b),
                };
                assert!(
                    !bad,
                    "{model:?} seed {seed}: window [{a}, {b}] reported illegal"
                );
            }
        }
    }
}

#[test]
fn a_planted_stale_read_gets_a_small_window() {
    let mut found = 0;
    for seed in 0..10u64 {
        let mut events = generate(&GenParams {
            ops: 3000,
            info_rate: 0.02,
            values: 1_000_000_000,
            ..params(ModelKind::Register, 2 * seed + 1)
        });
        // A late read returns a value written long before: stale.
        let first_write = events
            .iter()
            .find(|e| e.ty == EventType::Invoke && e.f == OpKind::Write)
            .map(|e| e.value.clone())
            .unwrap();
        let n = events.len();
        let Some(e) = events[n * 3 / 4..]
            .iter_mut()
            .find(|e| e.ty == EventType::Ok && e.f == OpKind::Read && e.value != first_write)
        else {
            continue;
        };
        e.value = first_write;
        let stale_ret = e.time;
        let h = common::parse(&to_jsonl_string(&events));
        let r = common::run(&h, ModelKind::Register);
        if r.verdict != Verdict::NotLinearizable {
            continue;
        }
        let stale = h
            .ops
            .iter()
            .find(|o| o.ret == stale_ret && o.input == Input::Read)
            .unwrap()
            .id;
        let k = r.violations().next().unwrap();
        let Some(w) = k.failure.as_ref().unwrap().window.as_ref() else {
            continue;
        };
        assert!(
            w.len() < 60,
            "window of {} ops for a single stale read",
            w.len()
        );
        assert!(
            w.contains(&stale),
            "the window {w:?} holds the stale read {stale}"
        );
        found += 1;
    }
    assert!(
        found >= 5,
        "only {found} of 10 planted stale reads got a window"
    );
}
