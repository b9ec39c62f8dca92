//! The model trait (a sequential specification as data) and its bridge to
//! `stateright::semantics::SequentialSpec`, so one model drives both our
//! checker and stateright's `LinearizabilityTester`.

use crate::op::{Input, Op, OpKind, Output};
use std::fmt::Debug;
use std::hash::Hash;

/// A sequential specification of one partition (one key) of the store.
pub trait Model: Clone + Send + Sync + 'static {
    /// State of one partition. Equality and hash drive Lowe's memoisation.
    type State: Clone + Eq + Hash + Debug + Send + Sync;

    /// Model name (`register`, `kv`, `list`).
    fn name(&self) -> &'static str;

    /// Whether this model knows op `f`.
    fn supports(&self, kind: OpKind) -> bool;

    /// Initial state of every key (absent / empty).
    fn init(&self) -> Self::State;

    /// Sequential semantics: apply `input` to `state`, returning the new
    /// state and the result the specification returns.
    fn apply(&self, state: &Self::State, input: &Input) -> (Self::State, Output);

    /// Whether `observed` is an acceptable result for a result `produced` by [`Model::apply`].
    fn output_matches(&self, observed: &Output, produced: &Output) -> bool {
        matches!(observed, Output::Any) || observed == produced
    }

    /// One linearization step: `Some(new state)` if the op, observing
    /// `observed`, may take effect in `state`.
    fn step(&self, state: &Self::State, input: &Input, observed: &Output) -> Option<Self::State> {
        let (next, produced) = self.apply(state, input);
        if self.output_matches(observed, &produced) {
            Some(next)
        } else {
            None
        }
    }

    /// Whether the op `input` with result `observed` leaves every state it
    /// may take effect in unchanged (reads; a cas observed to fail). The
    /// search linearizes such an op as soon as it can, without trying
    /// alternatives, so a wrong `true` would make verdicts wrong.
    fn pure_op(&self, input: &Input, observed: &Output) -> bool {
        matches!(
            (input, observed),
            (Input::Read | Input::LRange, _) | (Input::Cas(..), Output::CasFail)
        )
    }

    /// Whether [`Model::pure_op`] ops stay state-preserving from `state` on
    /// (every state reachable from it). True for ordinary models; false for
    /// a window's unknown initial state, which a read *fixes*.
    fn pure_from(&self, _state: &Self::State) -> bool {
        true
    }

    /// Whether the exact simplifications of [`crate::prune`] hold for this
    /// model: its steps test the state only for equality with values that
    /// ops carry (reads, cas, delete). Default: no.
    fn prunable(&self) -> bool {
        false
    }

    /// The canonical form under which this model compares values (used by
    /// [`crate::prune`]); the identity by default.
    fn canon_value(&self, v: &crate::op::Val) -> crate::op::Val {
        v.clone()
    }

    /// One step from an *unknown* state (the start of a window of the
    /// history, [`crate::shrink`]): `None` if no state allows the op with
    /// this result, `Some(Some(s))` if the op leaves the state `s` whatever
    /// it was (a write, a read that returned `s`), `Some(None)` if it is
    /// allowed but the state stays unknown. The default is the most
    /// permissive answer, `Some(None)`, which is always sound there.
    fn step_unknown(&self, _input: &Input, _observed: &Output) -> Option<Option<Self::State>> {
        Some(None)
    }

    /// Heap bytes a state holds beyond its own size (for the memory
    /// budget); 0 by default.
    fn state_bytes(&self, _state: &Self::State) -> usize {
        0
    }

    /// Human-readable state for reports.
    fn describe_state(&self, state: &Self::State) -> String;

    /// Partition ops (by id) into independently checkable sub-histories.
    /// Every model here partitions per key (P-compositionality).
    fn partition(&self, ops: &[Op], nkeys: usize) -> Vec<Vec<u32>> {
        let mut parts: Vec<Vec<u32>> = vec![Vec::new(); nkeys];
        for op in ops {
            if let Some(p) = parts.get_mut(op.key as usize) {
                p.push(op.id);
            }
        }
        parts
    }
}

/// Bridge: a model plus its state is a stateright `SequentialSpec`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Spec<M: Model> {
    pub model: M,
    pub state: M::State,
}

impl<M: Model> Spec<M> {
    pub fn new(model: M) -> Self {
        let state = model.init();
        Spec { model, state }
    }
}

impl<M: Model> stateright::semantics::SequentialSpec for Spec<M> {
    type Op = Input;
    type Ret = Output;

    fn invoke(&mut self, op: &Input) -> Output {
        let (s, out) = self.model.apply(&self.state, op);
        self.state = s;
        out
    }

    fn is_valid_step(&mut self, op: &Input, ret: &Output) -> bool {
        match self.model.step(&self.state, op, ret) {
            Some(s) => {
                self.state = s;
                true
            }
            None => false,
        }
    }
}
