//! A smaller counterexample: the shortest window of a non-linearizable key's
//! history that is already not linearizable on its own, so a report can show
//! a dozen ops instead of thousands.
//!
//! A window `[S, T]` of a key's ops (invocation and completion times) is
//! checked as a history of its own:
//! - ops invoked in `[S, T]` are kept; those completing after `T` become
//!   indeterminate (`info`);
//! - ops invoked before `S` that complete at or after `S` (*straddlers*)
//!   become indeterminate too; ops completed before `S` are dropped;
//! - indeterminate pure ops (reads) are dropped: they constrain nothing;
//! - the initial state is *unknown*: the first op that determines the
//!   state (a read returning `v`, a write, a successful cas…) fixes it
//!   ([`Model::step_unknown`]), and ops that cannot fix it leave it unknown
//!   (permissive: an unknown state allows whatever some state would);
//! - the window is simplified by [`crate::prune::prune_from`] (rule 2 only
//!   for ops invoked inside the window).
//!
//! **Soundness** (a window found illegal proves the whole history illegal):
//! from a linearization `L` of the whole key, keep the window's ops in `L`'s
//! order and leave out the straddlers placed before the first window op.
//! Every op completed before `S` precedes, in `L`, every op invoked at or
//! after `S`, so the window ops all start from the one state `X` that `L`
//! reaches before them; the permissive unknown initial state can become `X`
//! at the first op that observes it, and the rest of the steps are those of
//! `L`. An op completing after `T` may take effect later in `L` or not at
//! all, which is what `info` allows. So the window is linearizable whenever
//! the whole key is. The search below only ever reports a window it has
//! verified illegal; the binary searches may miss a shorter one, never
//! report a wrong one.

use crate::model::Model;
use crate::op::{Op, Output};
use crate::search::{Control, Outcome, Search};
use std::time::Instant;

/// Steps one window check may take; a window not decided within them is
/// treated as "not shown illegal".
const WINDOW_STEPS: u64 = 400_000;
/// Steps one prefix check may take (prefixes are checked like the whole key).
const PREFIX_STEPS: u64 = 20_000_000;

/// The initial state of a window: unknown until an op fixes it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Window<S> {
    Unknown,
    Known(S),
}

/// A model whose initial state is unknown ([`Window::Unknown`]).
#[derive(Clone)]
pub struct Permissive<M>(pub M);

impl<M: Model> Model for Permissive<M> {
    type State = Window<M::State>;

    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn supports(&self, kind: crate::op::OpKind) -> bool {
        self.0.supports(kind)
    }
    fn init(&self) -> Self::State {
        Window::Unknown
    }
    fn apply(&self, state: &Self::State, input: &crate::op::Input) -> (Self::State, Output) {
        match state {
            Window::Known(s) => {
                let (n, o) = self.0.apply(s, input);
                (Window::Known(n), o)
            }
            Window::Unknown => (Window::Unknown, Output::Any),
        }
    }
    fn step(
        &self,
        state: &Self::State,
        input: &crate::op::Input,
        observed: &Output,
    ) -> Option<Self::State> {
        match state {
            Window::Known(s) => self.0.step(s, input, observed).map(Window::Known),
            Window::Unknown => match self.0.step_unknown(input, observed) {
                None => None,
                Some(Some(s)) => Some(Window::Known(s)),
                Some(None) => Some(Window::Unknown),
            },
        }
    }
    fn pure_op(&self, input: &crate::op::Input, observed: &Output) -> bool {
        self.0.pure_op(input, observed)
    }
    fn pure_from(&self, state: &Self::State) -> bool {
        // A read *fixes* an unknown state; once known, a state stays known.
        matches!(state, Window::Known(_))
    }
    fn describe_state(&self, state: &Self::State) -> String {
        match state {
            Window::Unknown => "?".into(),
            Window::Known(s) => self.0.describe_state(s),
        }
    }
}

/// The ops of window `[s, t]` of `ops` (one key, invocation order), as
/// indices into `ops` and the rewritten ops.
fn window_ops(ops: &[&Op], s: i64, t: i64) -> (Vec<u32>, Vec<Op>) {
    let mut idx = Vec::new();
    let mut out = Vec::new();
    for (i, o) in ops.iter().enumerate() {
        if o.call > t {
            continue;
        }
        let straddler = o.call < s;
        if straddler && o.ret < s {
            continue;
        }
        let mut w = (*o).clone();
        if straddler || w.ret > t {
            w.info = true;
            w.ret = i64::MAX;
            w.output = Output::Any;
            if w.input.kind().is_pure_read() {
                continue;
            }
        }
        idx.push(i as u32);
        out.push(w);
    }
    (idx, out)
}

/// Whether `ops` (simplified by [`crate::prune::prune_from`] with `model`'s
/// inner model `inner`, rule 2 from `window_start`) are shown not
/// linearizable under `model` within `steps`.
fn refuted<M: Model, N: Model>(
    model: &M,
    inner: &N,
    ops: &[Op],
    window_start: i64,
    steps: u64,
    deadline: Option<Instant>,
) -> bool {
    let refs: Vec<&Op> = ops.iter().collect();
    let pruned = crate::prune::prune_from(inner, &refs, window_start);
    let refs: Vec<&Op> = pruned.ops.iter().collect();
    let mut s = Search::new(model, &refs, false, None);
    let ctl = Control {
        cancel: None,
        deadline,
    };
    matches!(s.run(steps, ctl), Some(Outcome::Illegal))
}

/// A window (`(start, ops)`) checked from an unknown initial state.
fn illegal<M: Model>(
    model: &Permissive<M>,
    window: (i64, &[Op]),
    deadline: Option<Instant>,
) -> bool {
    refuted(model, &model.0, window.1, window.0, WINDOW_STEPS, deadline)
}

/// Whether window `[s, t]` of `ops` (one key, invocation order) is shown not
/// linearizable on its own (within the step budget).
pub fn window_illegal<M: Model>(model: &M, ops: &[&Op], s: i64, t: i64) -> bool {
    illegal(
        &Permissive(model.clone()),
        (s, &window_ops(ops, s, t).1),
        None,
    )
}

/// Whether the prefix of `ops` up to time `t` (ops invoked by then; those
/// completing later indeterminate) is not linearizable from the model's own
/// initial state. A failing prefix proves the whole history fails (the same
/// argument as for a window, with the state known).
fn prefix_illegal<M: Model>(model: &M, ops: &[&Op], t: i64, deadline: Option<Instant>) -> bool {
    let (_, w) = window_ops(ops, i64::MIN, t);
    refuted(model, model, &w, i64::MIN, PREFIX_STEPS, deadline)
}

/// The shortest window found that is already not linearizable, as indices
/// into `ops` (one non-linearizable key, invocation order): first the
/// shortest failing prefix (binary search on its end), then the latest
/// start from which the window still fails with an unknown initial state
/// (galloping back from the end, then binary search). If no later start is
/// shown to fail, the window is that prefix. `None` if not even the whole
/// key failed within the budget.
pub fn shortest_window<M: Model>(
    model: &M,
    ops: &[&Op],
    deadline: Option<Instant>,
) -> Option<Vec<u32>> {
    let pm = Permissive(model.clone());
    // Candidate end times: completions of determinate ops, sorted.
    let mut ends: Vec<i64> = ops.iter().filter(|o| !o.info).map(|o| o.ret).collect();
    ends.sort_unstable();
    ends.dedup();
    let full = ops.iter().map(|o| o.call).max()?.max(*ends.last()?);
    if !prefix_illegal(model, ops, full, deadline) {
        return None;
    }
    // Smallest end T with the prefix up to T illegal.
    let (mut lo, mut hi) = (0usize, ends.len());
    let mut best_t = full;
    while lo < hi {
        let mid = (lo + hi) / 2;
        if prefix_illegal(model, ops, ends[mid], deadline) {
            best_t = ends[mid];
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    // Largest start S with [S, best_t] illegal.
    let mut starts: Vec<i64> = ops
        .iter()
        .map(|o| o.call)
        .filter(|&c| c <= best_t)
        .collect();
    starts.sort_unstable();
    starts.dedup();
    // Gallop back from the end (small windows are cheap to check and the
    // step budget favours them), then binary-search between the last start
    // shown illegal and the first one not shown.
    let check = |i: usize| {
        illegal(
            &pm,
            (starts[i], &window_ops(ops, starts[i], best_t).1),
            deadline,
        )
    };
    // starts[lo] is shown illegal (index 0: the prefix verified above, with
    // the known initial state); starts[hi..] are not.
    let (mut lo, mut hi) = (0usize, starts.len());
    let mut step = 1usize;
    loop {
        let j = starts.len().saturating_sub(step);
        if j == 0 {
            break;
        }
        if check(j) {
            lo = j;
            break;
        }
        hi = j;
        step *= 2;
    }
    while lo + 1 < hi {
        let mid = (lo + hi) / 2;
        if check(mid) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let best_s = starts[lo];
    let (idx, _) = window_ops(ops, best_s, best_t);
    Some(idx)
}
