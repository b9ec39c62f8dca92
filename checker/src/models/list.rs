//! `list`: a Redis list per key — rpush (returns the new length) and lrange
//! (returns the whole list; a missing key is the empty list). Elements
//! compare as Redis strings (5 equals "5").
//!
//! The state is a persistent (shared-tail) list with its length and a
//! rolling hash, so `rpush` is O(1) and states in the search cache share
//! their elements.

use super::{canon, redis_eq};
use crate::model::Model;
use crate::op::{Input, OpKind, Output, Val};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ListModel;

#[derive(Debug)]
struct Node {
    val: Val,
    prev: Option<Arc<Node>>,
}

/// A list state: newest element first, shared with older states.
#[derive(Clone, Debug, Default)]
pub struct ListState {
    len: u32,
    hash: u64,
    last: Option<Arc<Node>>,
}

impl ListState {
    /// Elements, oldest first.
    pub fn to_vec(&self) -> Vec<Val> {
        let mut out = Vec::with_capacity(self.len as usize);
        let mut n = self.last.as_ref();
        while let Some(node) = n {
            out.push(node.val.clone());
            n = node.prev.as_ref();
        }
        out.reverse();
        out
    }

    fn push(&self, v: Val) -> ListState {
        let mut h = rustc_hash::FxHasher::default();
        self.hash.hash(&mut h);
        v.hash(&mut h);
        ListState {
            len: self.len + 1,
            hash: h.finish(),
            last: Some(Arc::new(Node {
                val: v,
                prev: self.last.clone(),
            })),
        }
    }

    /// Whether the list equals `l` (Redis string equality).
    fn equals(&self, l: &[Val]) -> bool {
        if l.len() != self.len as usize {
            return false;
        }
        let mut n = self.last.as_ref();
        for v in l.iter().rev() {
            match n {
                Some(node) if redis_eq(v, &node.val) => n = node.prev.as_ref(),
                _ => return false,
            }
        }
        true
    }
}

impl PartialEq for ListState {
    fn eq(&self, other: &Self) -> bool {
        if self.len != other.len || self.hash != other.hash {
            return false;
        }
        let (mut a, mut b) = (self.last.as_ref(), other.last.as_ref());
        loop {
            match (a, b) {
                (None, None) => return true,
                (Some(x), Some(y)) => {
                    if Arc::ptr_eq(x, y) {
                        return true;
                    }
                    if x.val != y.val {
                        return false;
                    }
                    a = x.prev.as_ref();
                    b = y.prev.as_ref();
                }
                _ => return false,
            }
        }
    }
}
impl Eq for ListState {}

impl Hash for ListState {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
        state.write_u32(self.len);
    }
}

impl Model for ListModel {
    type State = ListState;

    fn name(&self) -> &'static str {
        "list"
    }

    fn supports(&self, kind: OpKind) -> bool {
        matches!(kind, OpKind::RPush | OpKind::LRange)
    }

    fn init(&self) -> ListState {
        ListState::default()
    }

    fn apply(&self, state: &ListState, input: &Input) -> (ListState, Output) {
        match input {
            Input::RPush(v) => {
                let next = state.push(canon(v));
                let n = next.len as i64;
                (next, Output::Count(n))
            }
            Input::LRange => (
                state.clone(),
                Output::Value(Val::List(state.to_vec().into())),
            ),
            _ => (state.clone(), Output::Error),
        }
    }

    fn output_matches(&self, observed: &Output, produced: &Output) -> bool {
        match (observed, produced) {
            (Output::Any, _) => true,
            (Output::Value(a), Output::Value(b)) => redis_eq(a, b),
            (a, b) => a == b,
        }
    }

    fn step(&self, state: &ListState, input: &Input, observed: &Output) -> Option<ListState> {
        match (input, observed) {
            (Input::LRange, Output::Value(Val::List(l))) => state.equals(l).then(|| state.clone()),
            (Input::LRange, Output::Any) => Some(state.clone()),
            (Input::RPush(v), Output::Count(n)) => {
                (*n == state.len as i64 + 1).then(|| state.push(canon(v)))
            }
            (Input::RPush(v), Output::Any) => Some(state.push(canon(v))),
            _ => None,
        }
    }

    fn describe_state(&self, state: &ListState) -> String {
        Val::List(state.to_vec().into()).to_string()
    }
}
