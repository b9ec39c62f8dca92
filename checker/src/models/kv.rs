//! `kv`: Redis strings per key — read (GET), write (SET), cas, delete (DEL),
//! incr (INCRBY), append (APPEND).
//!
//! Values follow Redis: every value is a byte string, so the integer 5 and
//! the string "5" are equal (canonical form: [`super::canon`]). `incr` on a
//! missing key starts from 0. `incr` on a value that is not an integer (or
//! that would overflow) is an error in Redis with no effect: the
//! specification returns `Output::Error`, so an `ok` incr cannot be
//! linearized at such a point and an indeterminate one is a no-op there.
//! `append` lengths are byte lengths (Redis `STRLEN`).

use super::canon;
use crate::model::Model;
use crate::op::{Input, OpKind, Output, Val};
use std::sync::Arc;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct KvModel;

/// State: canonical value (`Null` = absent, `Int`, or a non-integer `Str`).
pub type KvState = Val;

fn as_string(v: &Val) -> String {
    match v {
        Val::Null => String::new(),
        Val::Int(i) => i.to_string(),
        Val::Str(s) => s.to_string(),
        Val::List(_) => String::new(),
    }
}

impl Model for KvModel {
    type State = KvState;

    fn name(&self) -> &'static str {
        "kv"
    }

    fn supports(&self, kind: OpKind) -> bool {
        !matches!(kind, OpKind::RPush | OpKind::LRange)
    }

    fn init(&self) -> Val {
        Val::Null
    }

    fn apply(&self, state: &Val, input: &Input) -> (Val, Output) {
        match input {
            Input::Read => (state.clone(), Output::Value(state.clone())),
            Input::Write(v) => (canon(v), Output::Done),
            Input::Cas(e, n) => {
                if *state == canon(e) {
                    (canon(n), Output::CasOk)
                } else {
                    (state.clone(), Output::CasFail)
                }
            }
            Input::Delete => {
                let n = if *state == Val::Null { 0 } else { 1 };
                (Val::Null, Output::Count(n))
            }
            Input::Incr(d) => {
                let cur = match state {
                    Val::Null => Some(0),
                    Val::Int(i) => Some(*i),
                    _ => None,
                };
                match cur.and_then(|c| c.checked_add(*d)) {
                    Some(n) => (Val::Int(n), Output::Count(n)),
                    None => (state.clone(), Output::Error),
                }
            }
            Input::Append(s) => {
                let mut cur = as_string(state);
                cur.push_str(&as_string(s));
                let len = cur.len() as i64;
                (canon(&Val::Str(Arc::from(cur))), Output::Count(len))
            }
            Input::RPush(_) | Input::LRange => (state.clone(), Output::Error),
        }
    }

    fn output_matches(&self, observed: &Output, produced: &Output) -> bool {
        match (observed, produced) {
            (Output::Any, _) => true,
            (Output::Value(a), Output::Value(b)) => super::redis_eq(a, b),
            (a, b) => a == b,
        }
    }

    fn step(&self, state: &Val, input: &Input, observed: &Output) -> Option<Val> {
        // Fast paths for the common ops (no allocation); the rest via apply.
        match (input, observed) {
            (Input::Read, Output::Value(v)) => super::redis_eq(v, state).then(|| state.clone()),
            (Input::Write(v), Output::Done | Output::Any) => Some(canon(v)),
            (Input::Cas(e, n), Output::CasOk) => super::redis_eq(e, state).then(|| canon(n)),
            (Input::Cas(e, _), Output::CasFail) => {
                (!super::redis_eq(e, state)).then(|| state.clone())
            }
            _ => {
                let (next, produced) = self.apply(state, input);
                self.output_matches(observed, &produced).then_some(next)
            }
        }
    }

    fn step_unknown(&self, input: &Input, observed: &Output) -> Option<Option<Val>> {
        Some(match (input, observed) {
            (Input::Read, Output::Value(v)) => Some(canon(v)),
            (Input::Write(v), _) => Some(canon(v)),
            (Input::Cas(_, n), Output::CasOk) => Some(canon(n)),
            (Input::Delete, _) => Some(Val::Null),
            (Input::Incr(_), Output::Count(n)) => Some(Val::Int(*n)),
            _ => None,
        })
    }

    fn state_bytes(&self, state: &Val) -> usize {
        match state {
            Val::Str(s) => s.len() + 16,
            _ => 0,
        }
    }

    fn prunable(&self) -> bool {
        true
    }

    fn canon_value(&self, v: &Val) -> Val {
        canon(v)
    }

    fn describe_state(&self, state: &Val) -> String {
        state.to_string()
    }
}
