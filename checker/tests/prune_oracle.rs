//! The search's own rules checked against independent oracles: the exact
//! pruning rules (`prune.rs`), dominance memoisation and forced moves
//! (`search.rs`) must never change a verdict. Random small histories where
//! the rules fire often — mostly unique values, many `info` ops, reads that
//! observe indeterminate writes — are checked three ways: with pruning, without
//! pruning, and by stateright's `LinearizabilityTester` (which shares none of
//! our search). All three must agree.
//!
//! `SDR_LONG=1` (make test-long) runs 10× the cases.

mod common;
use proptest::prelude::*;
use sdr_checker::gen::{generate, GenParams, Rng};
use sdr_checker::history::EventType;
use sdr_checker::models::{KvModel, ModelKind, RegisterModel};
use sdr_checker::op::{OpKind, Val};
use sdr_checker::{check, Options, Verdict};

fn cases() -> u32 {
    if std::env::var_os("SDR_LONG").is_some() {
        5000
    } else {
        500
    }
}

/// A history with mostly unique written values and many `info` ops, then a
/// few mutations: a read made to return the value of some write (often an
/// `info` one, so rule 2 fires; sometimes one that is not yet written, so the
/// history is illegal), or a cas result flipped.
fn random_history(model: ModelKind, seed: u64) -> String {
    let mut rng = Rng::new(seed);
    let p = GenParams {
        seed,
        ops: 1 + rng.below(18) as usize,
        keys: 1,
        clients: 2 + rng.below(4) as usize,
        info_rate: 0.3,
        fail_rate: 0.05,
        cas_rate: 0.3,
        values: if rng.below(4) == 0 { 3 } else { 1000 },
        model,
        max_latency: 10,
        max_gap: 4,
    };
    let mut events = generate(&p);
    let written: Vec<Val> = events
        .iter()
        .filter(|e| e.ty == EventType::Invoke)
        .filter_map(|e| match (e.f, &e.value) {
            (OpKind::Write, v) => Some(v.clone()),
            (OpKind::Cas, Val::List(l)) if l.len() == 2 => Some(l[1].clone()),
            _ => None,
        })
        .collect();
    for _ in 0..rng.below(3) {
        let i = rng.below(events.len() as u64) as usize;
        let e = &mut events[i];
        if e.ty == EventType::Ok && e.f == OpKind::Read && !written.is_empty() {
            e.value = written[rng.below(written.len() as u64) as usize].clone();
        } else {
            common::flip_cas(e);
        }
    }
    common::retimed_jsonl(&mut events)
}

fn agree(model: ModelKind, seed: u64) -> Result<(bool, usize), TestCaseError> {
    let text = random_history(model, seed);
    let h = common::parse(&text);
    let pruned = check(&h, model, &Options::default()).unwrap().verdict;
    let plain = check(
        &h,
        model,
        &Options {
            no_prune: true,
            ..Options::default()
        },
    )
    .unwrap()
    .verdict;
    let oracle = match model {
        ModelKind::Register => common::stateright_verdict(RegisterModel, &h),
        _ => common::stateright_verdict(KvModel, &h),
    };
    prop_assert_ne!(pruned, Verdict::Unknown);
    prop_assert_eq!(
        pruned,
        plain,
        "pruning changed the verdict, seed {}:\n{}",
        seed,
        text
    );
    prop_assert_eq!(
        pruned == Verdict::Linearizable,
        oracle,
        "disagrees with stateright, seed {}:\n{}",
        seed,
        text
    );
    // How often the rules fired (the guard test below wants them to).
    let ops: Vec<&sdr_checker::op::Op> = h.ops.iter().collect();
    let fired = match model {
        ModelKind::Register => {
            let s = sdr_checker::prune::prune(&RegisterModel, &ops).stats;
            s.collapsed + s.bounded + s.dropped
        }
        _ => {
            let s = sdr_checker::prune::prune(&KvModel, &ops).stats;
            s.collapsed + s.bounded + s.dropped
        }
    };
    Ok((oracle, fired))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]
    #[test]
    fn register_rules_keep_verdicts(seed in any::<u64>()) { agree(ModelKind::Register, seed)?; }
    #[test]
    fn kv_rules_keep_verdicts(seed in any::<u64>()) { agree(ModelKind::Kv, seed)?; }
}

/// The random histories exercise the rules (both fire) and both verdicts.
#[test]
fn rules_fire_and_verdicts_mix() {
    let (mut ok, mut bounded, mut collapsed, mut dropped) = (0, 0, 0, 0);
    for seed in 0..400 {
        let text = random_history(ModelKind::Register, seed);
        let h = common::parse(&text);
        let ops: Vec<&sdr_checker::op::Op> = h.ops.iter().collect();
        let s = sdr_checker::prune::prune(&RegisterModel, &ops).stats;
        bounded += s.bounded;
        dropped += s.dropped;
        collapsed += s.collapsed;
        if agree(ModelKind::Register, seed).unwrap().0 {
            ok += 1;
        }
    }
    assert!((80..=360).contains(&ok), "{ok}/400 linearizable");
    assert!(bounded >= 20, "rule 2 fired {bounded} times");
    assert!(collapsed >= 200, "rule 1 fired {collapsed} times");
    assert!(dropped >= 20, "rule 3 fired {dropped} times");
}
