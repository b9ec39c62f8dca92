//! `register`: one value per key; read / write / cas. Values compare
//! structurally (the integer 1 and the string "1" differ).

use crate::model::Model;
use crate::op::{Input, OpKind, Output, Val};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RegisterModel;

impl Model for RegisterModel {
    type State = Val;

    fn name(&self) -> &'static str {
        "register"
    }

    fn supports(&self, kind: OpKind) -> bool {
        matches!(kind, OpKind::Read | OpKind::Write | OpKind::Cas)
    }

    fn init(&self) -> Val {
        Val::Null
    }

    fn apply(&self, state: &Val, input: &Input) -> (Val, Output) {
        match input {
            Input::Read => (state.clone(), Output::Value(state.clone())),
            Input::Write(v) => (v.clone(), Output::Done),
            Input::Cas(e, n) => {
                if state == e {
                    (n.clone(), Output::CasOk)
                } else {
                    (state.clone(), Output::CasFail)
                }
            }
            _ => (state.clone(), Output::Error),
        }
    }

    fn step(&self, state: &Val, input: &Input, observed: &Output) -> Option<Val> {
        match (input, observed) {
            (Input::Read, Output::Value(v)) => (v == state).then(|| state.clone()),
            (Input::Read, Output::Any) => Some(state.clone()),
            (Input::Write(v), Output::Done | Output::Any) => Some(v.clone()),
            (Input::Cas(e, n), Output::CasOk) => (state == e).then(|| n.clone()),
            (Input::Cas(e, _), Output::CasFail) => (state != e).then(|| state.clone()),
            (Input::Cas(e, n), Output::Any) => {
                Some(if state == e { n.clone() } else { state.clone() })
            }
            _ => None,
        }
    }

    fn step_unknown(&self, input: &Input, observed: &Output) -> Option<Option<Val>> {
        Some(match (input, observed) {
            (Input::Read, Output::Value(v)) => Some(v.clone()),
            (Input::Write(v), _) => Some(v.clone()),
            (Input::Cas(_, n), Output::CasOk) => Some(n.clone()),
            _ => None,
        })
    }

    fn prunable(&self) -> bool {
        true
    }

    fn describe_state(&self, state: &Val) -> String {
        state.to_string()
    }
}
